"""`links` / `--link`: the linked container's name and alias resolve (managed /etc/hosts) on a shared network."""

from __future__ import annotations

import json
import shutil

import pytest

from composer.errors import ComposerError
from composer.runtime.engine.engine import _parse_links
from tests.cli.harness import run_cli
from tests.runtime.engine.enginefix import BASE, EngineEnv

NET_A = "10.213.201.0/24"
NET_B = "10.213.202.0/24"


def test_parse_links() -> None:
    assert _parse_links(["db:database", "cache", "/x:y"]) == [("db", "database"), ("cache", "cache"), ("x", "y")]
    assert _parse_links(None) == []
    with pytest.raises(ComposerError, match="no container named"):
        _parse_links([":alias"])


def _network(eng: EngineEnv, *args: str) -> None:
    r = run_cli(eng.tmp, ["network", *args], env=eng.env)
    assert r.code == 0, r.stderr


def _ip(eng: EngineEnv, ref: str, network: str) -> str:
    doc = json.loads(eng.cli("inspect", ref).stdout)[0]
    return str(doc["NetworkSettings"]["Networks"][network]["IPAddress"])


def _hosts(eng: EngineEnv, ref: str) -> list[str]:
    return eng.cli_process("exec", ref, "cat", "/etc/hosts").stdout.splitlines()


@pytest.mark.root
@pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables")
def test_link_alias_resolves_and_follows_recreation(eng: EngineEnv) -> None:
    net, other = f"{eng.tag}-a", f"{eng.tag}-b"
    _network(eng, "create", "--subnet", NET_A, net)
    _network(eng, "create", "--subnet", NET_B, other)
    assert eng.cli("run", "-d", "--name", "db", "--network", net, BASE, "sleep", "100").code == 0
    r = eng.cli("run", "-d", "--name", "app", "--network", net, "--link", "db:database", "--link", "db",
                BASE, "sleep", "100")
    assert r.code == 0, r.stderr
    db_ip = _ip(eng, "db", net)
    assert f"{db_ip}\tdatabase db" in _hosts(eng, "app")
    ping = eng.cli_process("exec", "app", "sh", "-c", "ping -c1 -W2 database")
    assert ping.returncode == 0, ping.stdout + ping.stderr
    # the linked container is re-created with another address: the alias follows, nobody restarts
    assert eng.cli("rm", "-f", "db").code == 0
    assert not [line for line in _hosts(eng, "app") if "database" in line]
    assert eng.cli("run", "-d", "--name", "filler", "--network", net, BASE, "sleep", "100").code == 0
    assert eng.cli("run", "-d", "--name", "db", "--network", net, BASE, "sleep", "100").code == 0
    new_ip = _ip(eng, "db", net)
    assert new_ip != db_ip
    assert f"{new_ip}\tdatabase db" in _hosts(eng, "app")
    # no shared network: one clear error, nothing made
    assert eng.cli("run", "-d", "--name", "lonely", "--network", other, BASE, "sleep", "100").code == 0
    r = eng.cli("run", "--rm", "--network", net, "--link", "lonely:l", BASE, "true")
    assert r.code == 1
    assert r.stderr.strip().splitlines() == [
        "composer: error: links: container 'lonely' shares no network with this container: "
        "connect both to one network"]
    r = eng.cli("run", "--rm", "--link", "db", BASE, "true")
    assert r.code == 1
    assert "can only be linked over a network" in r.stderr
    r = eng.cli("run", "--rm", "--network", net, "--link", "nosuch:x", BASE, "true")
    assert r.code == 1
    assert "No such container: nosuch" in r.stderr
    assert sorted(eng.cli("ls", "-a", "--format", "{{.Names}}").stdout.split()) == ["app", "db", "filler", "lonely"]
    assert eng.cli("rm", "-f", "app", "db", "filler", "lonely").code == 0
    _network(eng, "rm", net, other)
