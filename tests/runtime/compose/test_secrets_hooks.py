"""Issue 7's fixture stack from the CLI: secrets from a file and the environment, configs from a file and
inline content, `post_start`/`pre_stop` hooks; changing a config's bytes recreates exactly its users."""

from __future__ import annotations

import json
import stat

import pytest

from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

STACK = """
name: files
services:
  app:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    network_mode: none
    environment:
      PRICE: "$$5"
    volumes: ["./out:/out"]
    secrets:
      - db_password
      - source: api_token
        target: token
        uid: "1000"
        gid: "1000"
        mode: 0400
    configs:
      - app_conf
      - source: banner
        target: /etc/banner.txt
    post_start:
      - command: ["sh", "-c", "echo started-as-$(id -u) > /out/post_start"]
        user: root
    pre_stop:
      - command: ["sh", "-c", "echo stopping > /out/pre_stop"]
  other:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    network_mode: none
    secrets: [db_password]
secrets:
  db_password:
    file: ./db_password.txt
  api_token:
    environment: API_TOKEN
configs:
  app_conf:
    file: ./app.conf
  banner:
    content: "welcome to $${PROJECT}"
"""


def _sh(eng: EngineEnv, container: str, script: str) -> str:
    result = eng.cli_process("exec", "-u", "0", container, "sh", "-c", script, timeout=30)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_secrets_configs_and_hooks(eng: EngineEnv) -> None:
    (eng.tmp / "compose.yaml").write_text(STACK)
    (eng.tmp / "db_password.txt").write_text("hunter2")
    (eng.tmp / "app.conf").write_text("level=1\n")
    env = {"API_TOKEN": "tok-from-env"}
    try:
        result = compose(eng, "up", "-d", extra_env=env)
        assert result.code == 0, result.stderr
        assert _sh(eng, "files-app-1", "cat /run/secrets/db_password") == "hunter2"
        assert _sh(eng, "files-app-1", "cat /run/secrets/token") == "tok-from-env"
        assert _sh(eng, "files-app-1", "stat -c '%u:%g %a' /run/secrets/token").strip() == "1000:1000 400"
        assert _sh(eng, "files-app-1", "stat -c '%a' /run/secrets/db_password /app_conf").split() == ["444", "444"]
        assert _sh(eng, "files-app-1", "cat /app_conf") == "level=1\n"
        assert _sh(eng, "files-app-1", "cat /etc/banner.txt") == "welcome to ${PROJECT}"
        assert _sh(eng, "files-app-1", "echo $PRICE").strip() == "$5"
        assert eng.cli_process("exec", "-u", "0", "files-app-1", "sh", "-c",
                               "echo x > /run/secrets/db_password").returncode != 0  # read-only
        assert (eng.tmp / "out" / "post_start").read_text() == "started-as-0\n"
        # values appear nowhere they should not: config output (environment source), inspect, world-readable files
        config = compose(eng, "config", extra_env=env)
        assert "tok-from-env" not in config.stdout
        inspect = eng.cli("inspect", "files-app-1")
        assert "tok-from-env" not in inspect.stdout
        assert "hunter2" not in inspect.stdout
        for path in eng.engine.roots.state_root.rglob("*"):
            if path.is_file() and not path.is_symlink() and path.stat().st_size < 100_000:
                data = path.read_bytes()
                if b"tok-from-env" in data:
                    parent_modes = [p.stat().st_mode for p in path.parents if eng.engine.roots.state_root in
                                    [p, *p.parents]]
                    assert any(not (m & stat.S_IXOTH) for m in parent_modes), f"{path} is reachable by anyone"
        # changing a config's bytes recreates exactly the services that use it, and says why
        (eng.tmp / "app.conf").write_text("level=2\n")
        plan = compose(eng, "up", "-d", "--dry-run", extra_env=env)
        assert plan.stdout == "app-1: recreate (config app_conf changed)\nother-1: keep (up to date)\n"
        other = eng.engine.get("files-other-1").id
        app = eng.engine.get("files-app-1").id
        result = compose(eng, "up", "-d", extra_env=env)
        assert result.code == 0, result.stderr
        assert eng.engine.get("files-other-1").id == other
        assert eng.engine.get("files-app-1").id != app
        assert _sh(eng, "files-app-1", "cat /app_conf") == "level=2\n"
        assert (eng.tmp / "out" / "pre_stop").read_text() == "stopping\n"  # the old one ran its pre_stop
        # a changed secret from the environment recreates too
        plan = compose(eng, "up", "-d", "--dry-run", extra_env={"API_TOKEN": "rotated"})
        assert "app-1: recreate (secret api_token changed)" in plan.stdout
    finally:
        result = compose(eng, "down", "-t", "0", extra_env=env)
    assert result.code == 0, result.stderr
    assert not (eng.engine.roots.state_root / "compose" / "files").exists()


def test_failing_post_start_fails_up_with_its_output(eng: EngineEnv) -> None:
    (eng.tmp / "compose.yaml").write_text("""
name: hookfail
services:
  app:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    network_mode: none
    post_start:
      - command: ["sh", "-c", "echo the-hook-said-no >&2; exit 3"]
""")
    try:
        result = compose(eng, "up", "-d")
        assert result.code == 1
        assert "post_start hook" in result.stderr
        assert "the-hook-said-no" in result.stderr
        assert "exit 3" in result.stderr
    finally:
        down_all(eng, "hookfail")


def test_external_secret_from_the_engine_store(eng: EngineEnv) -> None:
    from tests.cli.harness import run_cli

    created = run_cli(eng.tmp, ["secret", "create", "shared_key", "-"], env=eng.env, stdin=b"from-the-store")
    assert created.code == 0, created.stderr
    listed = run_cli(eng.tmp, ["secret", "ls", "--format", "json"], env=eng.env)
    assert [json.loads(line)["Name"] for line in listed.stdout.splitlines()] == ["shared_key"]
    assert "from-the-store" not in run_cli(eng.tmp, ["secret", "inspect", "shared_key"], env=eng.env).stdout
    (eng.tmp / "compose.yaml").write_text("""
name: extsec
services:
  app:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    network_mode: none
    secrets: [shared_key]
secrets:
  shared_key:
    external: true
""")
    try:
        assert compose(eng, "up", "-d").code == 0
        assert _sh(eng, "extsec-app-1", "cat /run/secrets/shared_key") == "from-the-store"
    finally:
        down_all(eng, "extsec")
    assert run_cli(eng.tmp, ["secret", "rm", "shared_key"], env=eng.env).code == 0
    missing = compose(eng, "up", "-d")
    assert missing.code == 1
    assert "no such secret: shared_key" in missing.stderr
