"""`network_mode: service:x`, external networks and external volumes, from the CLI."""

from __future__ import annotations

import pytest

from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

STACK = """
name: modes
services:
  web:
    image: composer-fixture/app:latest
    networks: [shared]
    volumes: [keep:/data]
    stop_signal: SIGKILL
  sidecar:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    network_mode: service:web
    stop_signal: SIGKILL
networks:
  shared:
    external: true
    name: modes-shared
volumes:
  keep:
    external: true
    name: modes-keep
"""


def test_sidecar_shares_the_namespace_and_externals_are_used_not_owned(eng: EngineEnv) -> None:
    (eng.tmp / "compose.yaml").write_text(STACK)
    missing = compose(eng, "up", "-d")
    assert missing.code == 1
    assert "network modes-shared declared as external, but could not be found" in missing.stderr
    assert eng.engine.list(all=True) == []
    from tests.cli.harness import run_cli

    made = run_cli(eng.tmp, ["network", "create", "--subnet", "10.213.235.0/26", "modes-shared"], env=eng.env)
    assert made.code == 0, made.stderr
    missing = compose(eng, "up", "-d")
    assert missing.code == 1
    assert 'external volume "modes-keep" not found' in missing.stderr
    assert run_cli(eng.tmp, ["volume", "create", "modes-keep"], env=eng.env).code == 0
    try:
        result = compose(eng, "up", "-d")
        assert result.code == 0, result.stderr
        # the sidecar is in web's network namespace: web's httpd answers on its localhost
        fetched = eng.cli_process("exec", "modes-sidecar-1", "wget", "-q", "-O", "-", "http://127.0.0.1:8080/")
        assert "hello from composer" in fetched.stdout, fetched.stderr
        web_ns = eng.cli_process("exec", "modes-web-1", "readlink", "/proc/1/ns/net").stdout
        side_ns = eng.cli_process("exec", "modes-sidecar-1", "readlink", "/proc/1/ns/net").stdout
        assert web_ns == side_ns
        assert eng.cli_process("exec", "modes-web-1", "sh", "-c", "echo kept > /data/f").returncode == 0
    finally:
        result = compose(eng, "down", "-v", "-t", "0")
    assert result.code == 0, result.stderr
    # external resources belong to someone else: down -v leaves them
    assert [r.name for r in eng.engine.networks.records()] == ["modes-shared"]
    from composer.runtime.engine.volumes import VolumeStore

    assert [v.name for v in VolumeStore(eng.engine.roots.state_root).all()] == ["modes-keep"]
    assert run_cli(eng.tmp, ["network", "rm", "modes-shared"], env=eng.env).code == 0
    assert run_cli(eng.tmp, ["volume", "rm", "modes-keep"], env=eng.env).code == 0
    down_all(eng, "modes")
