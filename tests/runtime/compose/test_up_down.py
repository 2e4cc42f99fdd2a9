"""`composer up/ps/stop/start/down` from the CLI on real runc, conmon, bridges and volumes."""

from __future__ import annotations

import json
import socket
import time
import urllib.request
from pathlib import Path

import pytest

from tests.runtime.compose.composefix import compose, compose_process, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

STACK = """
name: {project}
services:
  web:
    image: composer-fixture/app:latest
    ports: ["127.0.0.1:{port}:8080"]
    volumes: [site:/srv/www]
    networks: [front, back]
    depends_on:
      seed: {{condition: service_completed_successfully}}
      db: {{condition: service_healthy}}
  db:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "echo ready > /var/lib/db/status && exec httpd -f -p 5432 -h /var/lib/db"]
    volumes: [dbdata:/var/lib/db]
    networks: [back]
    healthcheck:
      test: ["CMD", "wget", "-q", "-O", "/dev/null", "http://127.0.0.1:5432/status"]
      interval: 1s
      start_interval: 100ms
      start_period: 5s
  seed:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "echo hello-{project} > /srv/www/index.html"]
    volumes: [site:/srv/www]
    network_mode: none
  client:
    image: composer-fixture/base:latest
    command: ["sleep", "3600"]
    networks: [front]
    stop_grace_period: 1s
networks:
  front:
    ipam: {{config: [{{subnet: "10.213.{net}.0/26"}}]}}
  back:
    ipam: {{config: [{{subnet: "10.213.{net}.64/26"}}]}}
volumes:
  site: {{}}
  dbdata: {{}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_stack(env: EngineEnv, project: str, net: int, port: int, text: str = STACK) -> Path:
    path = env.tmp / "compose.yaml"
    path.write_text(text.format(project=project, net=net, port=port))
    return path


def ps_json(env: EngineEnv, *args: str) -> list[dict[str, object]]:
    result = compose(env, "ps", "--format", "json", *args)
    assert result.code == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def test_up_wait_ps_and_down_leave_nothing(eng: EngineEnv) -> None:
    port = free_port()
    write_stack(eng, "stack1", 230, port)
    try:
        result = compose(eng, "up", "-d", "--wait")
        assert result.code == 0, result.stderr
        assert " Container stack1-db-1  Healthy" in result.stderr
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert page.strip() == "hello-stack1"
        rows = {r["Service"]: r for r in ps_json(eng)}
        assert set(rows) == {"web", "db", "client"}  # seed exited: only with -a
        assert rows["db"]["Health"] == "healthy"
        assert rows["db"]["Name"] == "stack1-db-1"
        assert rows["web"]["Publishers"] == [{"URL": "127.0.0.1", "TargetPort": 8080, "PublishedPort": port,
                                              "Protocol": "tcp"}]
        all_rows = {r["Service"]: r for r in ps_json(eng, "-a")}
        assert all_rows["seed"]["State"] == "exited"
        assert all_rows["seed"]["ExitCode"] == 0
        labels = eng.engine.get("stack1-web-1").record.labels
        assert labels["com.docker.compose.project"] == "stack1"
        assert labels["com.docker.compose.container-number"] == "1"
        assert labels["com.docker.compose.oneoff"] == "False"
        assert labels["com.docker.compose.project.config_files"] == str(eng.tmp / "compose.yaml")
        assert labels["com.docker.compose.image"] == eng.engine.get("stack1-web-1").record.image_id
        # names resolve on shared networks only: web reaches db on back; client (front only) cannot
        web = eng.cli_process("exec", "stack1-web-1", "wget", "-q", "-O", "-", "http://db:5432/status")
        assert web.returncode == 0, web.stderr
        assert web.stdout.strip() == "ready"
        client = eng.cli_process("exec", "stack1-client-1", "sh", "-c", "ping -c1 -W1 db")
        assert client.returncode != 0
        client = eng.cli_process("exec", "stack1-client-1", "wget", "-q", "-O", "-", "http://web:8080/")
        assert client.stdout.strip() == "hello-stack1"
        # a no-op up changes nothing
        again = compose(eng, "up", "-d", "--dry-run")
        assert again.code == 0
        assert "create" not in again.stdout, again.stdout
    finally:
        result = compose(eng, "down", "-v", "-t", "1")
    assert result.code == 0, result.stderr
    assert " Network stack1_front  Removed" in result.stderr
    assert eng.engine.list(all=True) == []
    assert [r.name for r in eng.engine.networks.records()] == []


def test_recreate_on_change_keeps_named_volume_data(eng: EngineEnv) -> None:
    port = free_port()
    write_stack(eng, "stack2", 231, port)
    try:
        assert compose(eng, "up", "-d", "--wait", "db").code == 0
        eng.cli_process("exec", "stack2-db-1", "sh", "-c", "echo kept > /var/lib/db/mark")
        old = eng.engine.get("stack2-db-1").id
        text = (eng.tmp / "compose.yaml").read_text().replace("interval: 1s", "interval: 2s")
        (eng.tmp / "compose.yaml").write_text(text)
        plan = compose(eng, "up", "-d", "--dry-run", "db")
        assert "db-1: recreate (healthcheck changed)" in plan.stdout, plan.stdout
        result = compose(eng, "up", "-d", "--wait", "db")
        assert result.code == 0, result.stderr
        new = eng.engine.get("stack2-db-1")
        assert new.id != old
        assert new.status == "running"
        mark = eng.cli_process("exec", "stack2-db-1", "cat", "/var/lib/db/mark")
        assert mark.stdout.strip() == "kept"
        # stop / start / restart / ps filters
        assert compose(eng, "stop", "-t", "1", "db").code == 0
        assert [r["State"] for r in ps_json(eng, "-a", "db")] == ["exited"]
        assert ps_json(eng, "--status", "exited")[0]["Service"] == "db"
        assert compose(eng, "start", "db").code == 0
        assert [r["State"] for r in ps_json(eng, "db")] == ["running"]
    finally:
        down_all(eng, "stack2")
    assert "stack2_dbdata" not in {v.name for v in _volumes(eng)}


def _volumes(env: EngineEnv) -> list[object]:
    from composer.runtime.engine.volumes import VolumeStore

    return VolumeStore(env.engine.roots.state_root).all()  # type: ignore[return-value]


def test_scale_and_orphans(eng: EngineEnv) -> None:
    (eng.tmp / "compose.yaml").write_text("""
name: stack3
services:
  app:
    image: composer-fixture/base:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
  extra:
    image: composer-fixture/base:latest
    command: ["sleep", "3600"]
    stop_grace_period: 1s
networks:
  default:
    ipam: {config: [{subnet: "10.213.232.0/26"}]}
""")
    try:
        assert compose(eng, "up", "-d", "--scale", "app=3").code == 0
        names = sorted(str(r["Name"]) for r in ps_json(eng))
        assert names == ["stack3-app-1", "stack3-app-2", "stack3-app-3", "stack3-extra-1"]
        result = compose(eng, "up", "-d", "--scale", "app=1", "--dry-run")
        assert "app-2: remove (scale down)" in result.stdout
        assert compose(eng, "up", "-d", "--scale", "app=1").code == 0
        assert sorted(str(r["Name"]) for r in ps_json(eng)) == ["stack3-app-1", "stack3-extra-1"]
        (eng.tmp / "compose.yaml").write_text((eng.tmp / "compose.yaml").read_text().split("  extra:")[0]
                                              + "networks:" + (eng.tmp / "compose.yaml").read_text().split(
                                                  "networks:")[1])
        result = compose(eng, "up", "-d")
        assert "Found orphan containers (stack3-extra-1)" in result.stderr
        result = compose(eng, "up", "-d", "--remove-orphans")
        assert result.code == 0
        assert [r["Name"] for r in ps_json(eng)] == ["stack3-app-1"]
    finally:
        down_all(eng, "stack3")


def test_two_commands_serialize_on_the_project_lock(eng: EngineEnv) -> None:
    from composer.runtime.compose.lock import project_lock

    (eng.tmp / "compose.yaml").write_text("name: stack4\nservices:\n  a:\n    image: composer-fixture/base:latest\n"
                                          "    command: [sleep, '3600']\n    network_mode: none\n")
    with project_lock(eng.engine.roots.run_root, "stack4", "test"):
        import os
        import subprocess
        import sys

        proc = subprocess.Popen([sys.executable, "-m", "composer", "up", "-d"], cwd=eng.tmp,
                                env={**os.environ, **eng.env}, stderr=subprocess.PIPE, text=True)
        time.sleep(1.5)
        assert proc.poll() is None  # waiting for us
    try:
        _out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert f"waiting for composer process {os.getpid()} (test)" in err
    finally:
        result = compose_process(eng, "down", "-t", "1")
        assert result.returncode == 0, result.stderr


def test_published_port_taken_is_found_before_anything_is_made_and_recreate_keeps_it(eng: EngineEnv) -> None:
    port = free_port()
    (eng.tmp / "compose.yaml").write_text(f"""
name: stack5
services:
  web:
    image: composer-fixture/app:latest
    ports: ["127.0.0.1:{port}:8080"]
    stop_signal: SIGKILL
networks:
  default:
    ipam: {{config: [{{subnet: "10.213.234.0/26"}}]}}
""")
    holder = socket.socket()
    holder.bind(("127.0.0.1", port))
    holder.listen()
    try:
        result = compose(eng, "up", "-d")
        assert result.code == 1
        assert f'service "web": port 127.0.0.1:{port}/tcp is already in use (by python' in result.stderr, result.stderr
        assert eng.engine.list(all=True) == []
        assert eng.engine.networks.records() == []  # nothing was made
    finally:
        holder.close()
    try:
        assert compose(eng, "up", "-d", "--wait").code == 0
        result = compose(eng, "up", "-d", "--force-recreate", "--wait")
        assert result.code == 0, result.stderr
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "hello from composer" in page
    finally:
        down_all(eng, "stack5")
