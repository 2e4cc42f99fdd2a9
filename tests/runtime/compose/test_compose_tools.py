"""`composer logs/exec/run/top/port/images/events/wait/ls/cp` on real containers of a project."""

from __future__ import annotations

import json
import os
import re
import selectors
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.runtime.compose.composefix import compose, compose_process, down_all
from tests.runtime.engine.enginefix import BASE, EngineEnv

pytestmark = pytest.mark.root

P, S, N, ONE = ("com.docker.compose.project", "com.docker.compose.service", "com.docker.compose.container-number",
              "com.docker.compose.oneoff")


def member(env: EngineEnv, service: str, number: int, *command: str, project: str = "demo") -> str:
    """A container labelled as `project`'s `service` replica `number`, as `up` would name it."""
    result = env.cli("run", "-d", "--name", f"{project}-{service}-{number}", "-l", f"{P}={project}",
                     "-l", f"{S}={service}", "-l", f"{N}={number}", "-l", f"{ONE}=False", BASE, *command)
    assert result.code == 0, result.stderr
    return result.stdout.strip()


def web_stopped(text: str, container_id: str) -> bool:
    """Whether `events --json` output holds a whole `stop` line for the container."""
    return any(json.loads(line)["id"] == container_id for line in text.splitlines()
               if '"stop"' in line and line.rstrip().endswith("}"))


def popen(env: EngineEnv, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "composer", *args], env={**os.environ, **env.env},
                            cwd=env.tmp, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def read_until(proc: subprocess.Popen[bytes], wanted: str, timeout: float = 20) -> str:
    """What `proc` printed on stdout until `wanted` appeared (fails after `timeout`)."""
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(proc.stdout, selectors.EVENT_READ)
        while wanted.encode() not in seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{wanted!r} not in {seen.decode()!r}"
            if sel.select(left):
                chunk = os.read(proc.stdout.fileno(), 65536)
                assert chunk or proc.poll() is None, f"ended before {wanted!r}: {seen.decode()!r}"
                seen += chunk
    return seen.decode()


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def test_logs_prefix_and_follow_picks_up_new_containers(eng: EngineEnv) -> None:
    member(eng, "web", 1, "sh", "-c", "echo hello; echo oops >&2; exec sleep 60")
    time.sleep(0.5)
    shown = compose(eng, "-p", "demo", "logs", "--no-color")
    assert shown.code == 0, shown.stderr
    assert shown.stdout == "web-1  | hello\n"
    assert shown.stderr == "web-1  | oops\n"
    assert compose(eng, "-p", "demo", "logs", "--no-log-prefix", "web").stdout == "hello\n"
    stamped = compose(eng, "-p", "demo", "logs", "-t").stdout
    assert re.fullmatch(r"web-1  \| \d{4}-\d\d-\d\dT[\d:.]+Z hello\n", stamped), stamped

    follower = popen(eng, "-p", "demo", "logs", "-f", "--no-color")
    try:
        read_until(follower, "web-1  | hello")
        member(eng, "worker", 1, "sh", "-c", "echo second; exec sleep 60")
        text = read_until(follower, "second")
        assert "worker-1  | second" in text
        eng.cli("rm", "-f", "demo-worker-1")
        member(eng, "worker", 1, "sh", "-c", "echo recreated; exec sleep 60")  # a recreation: new id, same name
        assert "worker-1  | recreated" in read_until(follower, "recreated")
        assert follower.poll() is None, "logs -f ends only when interrupted"
    finally:
        stop(follower)
    tail = compose(eng, "-p", "demo", "logs", "--tail", "1", "--index", "1", "worker").stdout
    assert tail == "worker-1  | recreated\n"


def test_exec_wait_top_cp_ls_images_and_events(eng: EngineEnv) -> None:
    web = member(eng, "web", 1, "sleep", "60")
    member(eng, "web", 2, "sleep", "60")
    code = compose_process(eng, "-p", "demo", "exec", "-T", "web", "sh", "-c", "echo in-$HOSTNAME; exit 5",
                           stdin=subprocess.DEVNULL)
    assert code.returncode == 5, code.stderr
    assert code.stdout.startswith("in-")
    second = compose_process(eng, "-p", "demo", "exec", "-T", "--index", "2", "-e", "X=two", "web", "sh", "-c",
                             "echo $X", stdin=subprocess.DEVNULL)
    assert (second.returncode, second.stdout) == (0, "two\n"), second.stderr
    missing = compose(eng, "-p", "demo", "exec", "-T", "db", "true")
    assert missing.code == 1
    assert 'service "db" is not running' in missing.stderr

    top = compose(eng, "-p", "demo", "top", "web")
    assert top.code == 0, top.stderr
    lines = top.stdout.splitlines()
    assert lines[0].split()[:3] == ["SERVICE", "#", "UID"]
    assert lines[0].split()[-1] == "CMD"
    assert {(line.split()[0], line.split()[1]) for line in lines[1:]} == {("web", "1"), ("web", "2")}

    (eng.tmp / "note.txt").write_text("copied\n")
    assert compose(eng, "-p", "demo", "cp", "note.txt", "web:/tmp/note.txt").code == 0
    back = compose(eng, "-p", "demo", "cp", "--index", "2", "web:/tmp/note.txt", str(eng.tmp / "back.txt"))
    assert back.code == 0, back.stderr
    assert (eng.tmp / "back.txt").read_text() == "copied\n"

    listed = compose(eng, "ls", "--format", "json")
    assert json.loads(listed.stdout) == [{"Name": "demo", "Status": "running(2)", "ConfigFiles": ""}]
    table = compose(eng, "ls").stdout.splitlines()
    assert table[0].split() == ["NAME", "STATUS", "CONFIG", "FILES"]
    assert table[1].split() == ["demo", "running(2)"]
    assert compose(eng, "ls", "-q", "--filter", "name=^nomatch").stdout == ""

    images = compose(eng, "-p", "demo", "images", "--format", "json")
    rows = json.loads(images.stdout)
    assert [r["ContainerName"] for r in rows] == ["demo-web-1", "demo-web-2"]
    assert rows[0]["Repository"] == BASE
    assert rows[0]["Tag"] == "latest"
    assert rows[0]["ID"].startswith("sha256:")
    quiet = compose(eng, "-p", "demo", "images", "-q").stdout.split()
    assert quiet == [rows[0]["ID"].removeprefix("sha256:")]
    header = compose(eng, "-p", "demo", "images").stdout.splitlines()[0]
    assert header.split() == ["CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE", "ID", "SIZE", "CREATED"]

    watcher = popen(eng, "-p", "demo", "events", "--json")
    try:
        time.sleep(1.0)
        member(eng, "job", 1, "sh", "-c", "sleep 1; exit 4")
        waited = compose(eng, "-p", "demo", "wait", "job")
        assert waited.code == 4, waited.stderr
        text = read_until(watcher, '"die"')
        events = [json.loads(line) for line in text.splitlines() if line.strip()]
        actions = [(e["action"], e["service"]) for e in events]
        assert ("create", "job") in actions
        assert ("start", "job") in actions
        assert ("die", "job") in actions
        die = next(e for e in events if e["action"] == "die")
        assert die["attributes"]["exitCode"] == "4"
        assert die["attributes"]["name"] == "demo-job-1"
        assert die["type"] == "container"
        assert len(die["id"]) == 64
        assert compose(eng, "-p", "demo", "stop", "-t", "1", "web").code == 0  # stopped by the user: die, stop
        stopped = ""  # other containers' late events (a one-off's die, stop, destroy) may come first
        for _ in range(5):
            stopped += read_until(watcher, '"stop"')
            if web_stopped(stopped, web):
                break
        assert web_stopped(stopped, web), stopped
    finally:
        stop(watcher)
    assert compose(eng, "-p", "demo", "ls", "-a", "--format", "json").stdout.count("exited(") == 1


STACK = """
name: tools
services:
  web:
    image: composer-fixture/app:latest
    ports: ["127.0.0.1:{port}:8080"]
    networks: [front]
    stop_grace_period: 1s
  job:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "echo job-default"]
    depends_on: [web]
    network_mode: none
    labels: {{tier: batch}}
networks:
  front:
    ipam: {{config: [{{subnet: "10.213.240.0/26"}}]}}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_run_one_off_and_port(eng: EngineEnv) -> None:
    port = free_port()
    (eng.tmp / "compose.yaml").write_text(STACK.format(port=port))
    try:
        done = compose_process(eng, "run", "--rm", "-e", "X=hi", "job", "sh", "-c", "echo $X; exit 7",
                               stdin=subprocess.DEVNULL)
        assert done.returncode == 7, done.stderr
        assert done.stdout == "hi\n"
        names = [c.name for c in eng.engine.list(all=True)]
        assert names == ["tools-web-1"], names  # --rm took the one-off; web was started as a dependency
        assert compose(eng, "port", "web", "8080").stdout == f"127.0.0.1:{port}\n"
        unknown = compose(eng, "port", "--protocol", "udp", "web", "8080")
        assert unknown.code == 1
        assert "no port 8080/udp for container tools-web-1" in unknown.stderr

        detached = compose_process(eng, "run", "-d", "--no-deps", "-l", "extra=1", "job", "sleep", "30",
                                   stdin=subprocess.DEVNULL)
        assert detached.returncode == 0, detached.stderr
        c = eng.engine.get(detached.stdout.strip())
        assert re.fullmatch(r"tools-job-run-[0-9a-f]{12}", c.name), c.name
        labels = c.record.labels
        assert (labels[ONE], labels[S], labels[P], labels["extra"], labels["tier"]) == ("True", "job", "tools", "1",
                                                                                    "batch")
        assert not c.record.ports
        ps = compose(eng, "ps", "--format", "json").stdout
        assert c.name not in ps
        default = compose_process(eng, "run", "--rm", "--no-deps", "-T", "job", stdin=subprocess.DEVNULL)
        assert (default.returncode, default.stdout) == (0, "job-default\n"), default.stderr
        eng.cli("rm", "-f", c.id)
    finally:
        down_all(eng, "tools")


def test_foreground_up_prints_prefixed_logs_until_the_services_exit(eng: EngineEnv) -> None:
    (eng.tmp / "compose.yaml").write_text("""
name: fg
services:
  one:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "echo from-one"]
    network_mode: none
  second:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "sleep 0.5; echo from-second"]
    network_mode: none
""")
    try:
        done = compose_process(eng, "up", "--no-color", stdin=subprocess.DEVNULL, timeout=60)
        assert done.returncode == 0, done.stderr
        assert "one-1     | from-one\n" in done.stdout
        assert "second-1  | from-second\n" in done.stdout
    finally:
        down_all(eng, "fg")
