"""Crash safety of `up`, `down` and recreate (issue 5 §4): composer killed with SIGKILL at every named step,
then the same command run again, ends in the desired state with nothing leaked and no named-volume data lost.

Also the supervisor (killing it disturbs no container; the next command brings a fresh one that restarts a
`restart: always` container), and `down` while `up` runs (it waits for the project lock, then cleans up).
Subnets 10.213.236.0/22 (one /27 per test), host ports 29200-29299, projects `crash*`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runtime.engine.enginefix import EngineEnv, nft_table

pytestmark = pytest.mark.root

STACK = """
name: {project}
services:
  db:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    environment: {{GEN: "{gen}"}}
    volumes: [data:/data]
    networks: [back]
  web:
    image: composer-fixture/app:latest
    depends_on: [db]
    environment: {{GEN: "{web_gen}"}}
    ports: ["127.0.0.1:{port}:8080"]
    volumes: [site:/srv/www]
    networks: [front, back]
    stop_grace_period: 1s
networks:
  front:
    ipam: {{config: [{{subnet: "{front}"}}]}}
  back:
    ipam: {{config: [{{subnet: "{back}"}}]}}
volumes:
  data: {{}}
  site: {{}}
"""

UP_POINTS = ["up.after-network", "up.after-volume", "create.after-record", "create.after-mount",
             "create.after-runtime", "up.after-create", "start.before-start"]
RECREATE_POINTS = ["create.after-record", "create.after-mount", "create.after-runtime", "recreate.after-create",
                   "stop.after-term", "down.after-stop", "rm.after-intent", "recreate.after-remove",
                   "recreate.after-rename", "start.before-start"]
DOWN_POINTS = ["stop.after-term", "down.after-stop", "rm.after-intent", "down.before-network", "down.after-network"]
DOWN_V_POINTS = ["rm.after-intent", "down.after-network", "down.before-volume"]
# one /27 of 10.213.236.0/22 and one host port per test
UP_BASE, COLD_SLOT, RECREATE_BASE, DOWN_BASE, DOWN_V_BASE, SUPERVISOR_SLOT, SERIALIZE_SLOT = 0, 7, 8, 18, 23, 26, 27
PORT_RECREATE_SLOT, HALF_NETWORK_SLOT = 28, 29


def composer(env: EngineEnv, *args: str, failpoint: str | None = None,
             timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """`composer ARGS` as its own process (a failpoint kills it), in the test's directory."""
    extra = {"COMPOSER_FAILPOINTS": failpoint} if failpoint else {}
    environ = {k: v for k, v in os.environ.items() if k != "COMPOSER_FAILPOINTS"}
    return subprocess.run([sys.executable, "-m", "composer", *args], env={**environ, **env.env, **extra},
                          capture_output=True, text=True, timeout=timeout, cwd=env.tmp)


def ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"exit {result.returncode}: {result.stderr}"


def killed(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == -signal.SIGKILL, f"not killed (exit {result.returncode}): {result.stderr}"


def _volume_root(env: EngineEnv) -> Path:
    return env.engine.roots.state_root / "volumes"


def nft_rules(env: EngineEnv) -> list[object]:
    """What networks and containers put in the test's nftables table: port rules (commented with a container ID)
    and set elements (bridges, subnets). The table's own chains and fixed rules may stay."""
    out = subprocess.run(["nft", "-j", "list", "table", "inet", nft_table(env.tag)], capture_output=True, text=True)
    if out.returncode != 0:
        return []  # no table at all
    items = json.loads(out.stdout)["nftables"]
    found: list[object] = [item["rule"] for item in items if "rule" in item and "comment" in item["rule"]]
    found += [item["set"] for item in items if "set" in item and item["set"].get("elem")]
    return found


@dataclass
class Stack:
    env: EngineEnv
    slot: int

    @property
    def project(self) -> str:
        return f"crash{self.slot:02d}"

    @property
    def port(self) -> int:
        return 29200 + self.slot

    def write(self, gen: int, web_gen: int | None = None) -> None:
        base = self.slot * 32  # offset in 10.213.236.0/22
        third, fourth = 236 + base // 256, base % 256
        (self.env.tmp / "compose.yaml").write_text(STACK.format(
            project=self.project, gen=gen, web_gen=gen if web_gen is None else web_gen, port=self.port,
            front=f"10.213.{third}.{fourth}/28", back=f"10.213.{third}.{fourth + 16}/28"))

    def name(self, service: str) -> str:
        return f"{self.project}-{service}-1"

    def mark_path(self) -> Path:
        return _volume_root(self.env) / f"{self.project}_data" / "_data" / "mark"

    def write_mark(self) -> None:
        """A file in the named volume, written from inside the container."""
        result = self.env.cli_process("exec", self.name("db"), "sh", "-c", f"echo kept-{self.project} > /data/mark")
        assert result.returncode == 0, result.stderr
        assert self.mark_path().read_text().strip() == f"kept-{self.project}"

    def check_mark(self) -> None:
        assert self.mark_path().read_text().strip() == f"kept-{self.project}"
        result = self.env.cli_process("exec", self.name("db"), "cat", "/data/mark")
        assert result.stdout.strip() == f"kept-{self.project}", result.stderr

    def check_desired(self, gen: int, web_gen: int | None = None) -> None:
        """Exactly the project's two containers, running, with their labels, the config of `gen`, reachable."""
        from composer.planner import desired as d

        containers = self.env.engine.list(all=True)
        assert sorted(c.name for c in containers) == [self.name("db"), self.name("web")]  # no `<id>_<name>` left
        for c in containers:
            service = c.name.split("-")[1]
            assert c.status == "running", (c.name, c.status)
            labels = c.record.labels
            assert labels[d.PROJECT] == self.project
            assert labels[d.SERVICE] == service
            assert labels[d.NUMBER] == "1"
            assert labels[d.ONEOFF] == "False"
            assert labels[d.IMAGE] == c.record.image_id
            result = self.env.cli_process("exec", c.name, "sh", "-c", "echo $GEN")
            want = web_gen if service == "web" and web_gen is not None else gen
            assert result.stdout.strip() == str(want), (c.name, result.stdout, result.stderr)
        plan = composer(self.env, "up", "-d", "--dry-run")
        ok(plan)
        lines = plan.stdout.splitlines()
        assert sorted(lines) == ["db-1: keep (up to date)", "web-1: keep (up to date)"], plan.stdout
        deadline = time.monotonic() + 10
        while True:  # the published port reaches the (new) web container
            try:
                page = urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2).read().decode()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)
        assert "hello from composer" in page

    def down_and_check(self) -> None:
        """`down -v` (as a fresh process), then nothing of the project remains."""
        from composer.runtime.compose.supervisor import supervisor_pid
        from composer.runtime.engine.volumes import VolumeStore

        bridges = [r.bridge for r in self.env.engine.networks.records()]
        result = composer(self.env, "down", "-v", "-t", "1")
        ok(result)
        assert self.env.engine.list(all=True) == []
        assert self.env.engine.networks.records() == []
        assert [v.name for v in VolumeStore(self.env.engine.roots.state_root).all()] == []
        assert [b for b in bridges if Path(f"/sys/class/net/{b}").exists()] == []
        assert nft_rules(self.env) == []
        assert supervisor_pid(self.env.engine, self.project) is None


def _finish(stack: Stack) -> None:
    stack.down_and_check()


@pytest.mark.parametrize("point", UP_POINTS)
def test_up_killed_at_each_step_then_run_again(eng: EngineEnv, point: str) -> None:
    """A second `up` (db exists, with data) killed while it makes web's network, volume and container."""
    stack = Stack(eng, UP_BASE + UP_POINTS.index(point))
    stack.write(gen=1)
    try:
        ok(composer(eng, "up", "-d", "db"))
        stack.write_mark()
        killed(composer(eng, "up", "-d", failpoint=point))
        ok(composer(eng, "up", "-d"))
        stack.check_desired(gen=1)
        stack.check_mark()
    finally:
        _finish(stack)


def test_cold_up_killed_after_the_first_network_then_run_again(eng: EngineEnv) -> None:
    stack = Stack(eng, COLD_SLOT)
    stack.write(gen=1)
    try:
        killed(composer(eng, "up", "-d", failpoint="up.after-network"))
        ok(composer(eng, "up", "-d"))
        stack.check_desired(gen=1)
    finally:
        _finish(stack)


def test_down_after_an_up_killed_inside_network_creation_removes_the_half_made_network(eng: EngineEnv) -> None:
    stack = Stack(eng, HALF_NETWORK_SLOT)
    stack.write(gen=1)
    try:
        killed(composer(eng, "up", "-d", failpoint="network.after-record"))
        assert [r.phase for r in eng.engine.networks.records()] == ["creating"]
    finally:
        _finish(stack)  # `down -v`, then nothing of the project may be left


@pytest.mark.parametrize("point", RECREATE_POINTS)
def test_recreate_killed_at_each_step_then_run_again(eng: EngineEnv, point: str) -> None:
    stack = Stack(eng, RECREATE_BASE + RECREATE_POINTS.index(point))
    stack.write(gen=1)
    try:
        ok(composer(eng, "up", "-d"))
        stack.write_mark()
        stack.write(gen=2)
        killed(composer(eng, "up", "-d", failpoint=point))
        ok(composer(eng, "up", "-d"))
        stack.check_desired(gen=2)
        stack.check_mark()
    finally:
        _finish(stack)


def test_recreate_of_the_publishing_service_killed_after_create_then_run_again(eng: EngineEnv) -> None:
    """Left: the old web and its replacement (temporary name) both holding the published port. The next `up`
    removes the replacement first (its name is the one the new recreate takes), and the port check does not
    count a container the plan removes as the port's holder."""
    stack = Stack(eng, PORT_RECREATE_SLOT)
    stack.write(gen=1)
    try:
        ok(composer(eng, "up", "-d"))
        stack.write_mark()
        stack.write(gen=1, web_gen=2)
        killed(composer(eng, "up", "-d", failpoint="recreate.after-create"))
        assert len(eng.engine.list(all=True)) == 3
        plan = composer(eng, "up", "-d", "--dry-run")
        assert "web-1: recreate (environment changed)" in plan.stdout, plan.stdout
        assert "web-1: remove (duplicate)" in plan.stdout, plan.stdout
        ok(composer(eng, "up", "-d"))
        stack.check_desired(gen=1, web_gen=2)
        stack.check_mark()
    finally:
        _finish(stack)


@pytest.mark.parametrize("point", DOWN_POINTS)
def test_down_killed_at_each_step_then_run_again(eng: EngineEnv, point: str) -> None:
    """`down` keeps named volumes: after the second one, no container, no network, the data still there."""
    from composer.runtime.engine.volumes import VolumeStore

    stack = Stack(eng, DOWN_BASE + DOWN_POINTS.index(point))
    stack.write(gen=1)
    try:
        ok(composer(eng, "up", "-d"))
        stack.write_mark()
        killed(composer(eng, "down", "-t", "1", failpoint=point))
        ok(composer(eng, "down", "-t", "1"))
        assert eng.engine.list(all=True) == []
        assert eng.engine.networks.records() == []
        ok(composer(eng, "volume", "prune", "-f"))  # web's anonymous /data: `down` without -v keeps it, as Docker
        names = {v.name for v in VolumeStore(eng.engine.roots.state_root).all()}
        assert {f"{stack.project}_data", f"{stack.project}_site"} <= names
        assert stack.mark_path().read_text().strip() == f"kept-{stack.project}"
        ok(composer(eng, "up", "-d"))  # and the stack comes back with its data
        stack.check_desired(gen=1)
        stack.check_mark()
    finally:
        _finish(stack)


@pytest.mark.parametrize("point", DOWN_V_POINTS)
def test_down_v_killed_at_each_step_then_run_again(eng: EngineEnv, point: str) -> None:
    stack = Stack(eng, DOWN_V_BASE + DOWN_V_POINTS.index(point))
    stack.write(gen=1)
    try:
        ok(composer(eng, "up", "-d"))
        killed(composer(eng, "down", "-v", "-t", "1", failpoint=point))
    finally:
        _finish(stack)  # the same command again, then nothing is left


KEEPER = """
name: {project}
services:
  keeper:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    restart: always
    network_mode: none
"""


def _wait(what: str, cond: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_killed_supervisor_disturbs_nothing_and_the_next_command_brings_a_fresh_one(eng: EngineEnv) -> None:
    from composer.runtime.compose.supervisor import supervisor_pid

    project = f"crash{SUPERVISOR_SLOT:02d}"
    (eng.tmp / "compose.yaml").write_text(KEEPER.format(project=project))
    name = f"{project}-keeper-1"
    try:
        ok(composer(eng, "up", "-d"))
        first = supervisor_pid(eng.engine, project)
        assert first is not None
        before = eng.engine.get(name)
        assert before.status == "running"
        os.kill(first, signal.SIGKILL)
        _wait("the supervisor to die", lambda: supervisor_pid(eng.engine, project) is None)
        time.sleep(1.5)
        after = eng.engine.get(name)
        assert (after.id, after.status, after.state.pid) == (before.id, "running", before.state.pid)
        ok(composer(eng, "up", "-d"))
        second = supervisor_pid(eng.engine, project)
        assert second is not None
        assert second != first
        assert eng.engine.get(name).state.pid == before.state.pid  # the no-op up touched nothing
        init = before.state.pid
        assert init
        os.kill(init, signal.SIGKILL)  # not a user stop: the container's own process dies

        def restarted() -> bool:
            c = eng.engine.get(name)
            return c.status == "running" and bool(c.state.pid) and c.state.pid != init

        _wait("the fresh supervisor to restart the container", restarted)
        assert eng.engine.get(name).id == before.id
    finally:
        result = composer(eng, "down", "-v", "-t", "1")
    ok(result)
    assert eng.engine.list(all=True) == []
    _wait("the supervisor to go", lambda: supervisor_pid(eng.engine, project) is None, timeout=10)


SLOW = """
name: {project}
services:
  slow:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3; touch /tmp/ready; while true; do sleep 0.2; done"]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ready"]
      interval: 1s
      start_interval: 200ms
      start_period: 10s
  app:
    image: composer-fixture/base:latest
    command: ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]
    depends_on: {{slow: {{condition: service_healthy}}}}
networks:
  default:
    ipam: {{config: [{{subnet: "{subnet}"}}]}}
"""


def test_down_during_up_waits_for_it_then_leaves_nothing(eng: EngineEnv) -> None:
    project = f"crash{SERIALIZE_SLOT:02d}"
    base = SERIALIZE_SLOT * 32
    subnet = f"10.213.{236 + base // 256}.{base % 256}/27"
    (eng.tmp / "compose.yaml").write_text(SLOW.format(project=project, subnet=subnet))
    environ = {**{k: v for k, v in os.environ.items() if k != "COMPOSER_FAILPOINTS"}, **eng.env}
    up = subprocess.Popen([sys.executable, "-m", "composer", "up", "-d"], cwd=eng.tmp, env=environ,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    down: subprocess.Popen[str] | None = None
    try:
        # up holds the project lock while it waits for `slow` to be healthy
        _wait("slow to run", lambda: any(c.status == "running" for c in eng.engine.list()), timeout=30)
        assert up.poll() is None
        down = subprocess.Popen([sys.executable, "-m", "composer", "down", "-v", "-t", "1"], cwd=eng.tmp,
                                env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        _out, up_err = up.communicate(timeout=60)
        assert up.returncode == 0, up_err
        _out, down_err = down.communicate(timeout=60)
        assert down.returncode == 0, down_err
        assert f"waiting for composer process {up.pid} (up), which holds the lock on project {project}" in down_err
        assert f"{project}-app-1" in up_err  # up went on to its last container before down ran
    finally:
        for proc in (up, down):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.communicate()
        if down is None or down.returncode != 0:
            composer(eng, "down", "-v", "-t", "1")
    assert eng.engine.list(all=True) == []
    assert eng.engine.networks.records() == []
    assert nft_rules(eng) == []
