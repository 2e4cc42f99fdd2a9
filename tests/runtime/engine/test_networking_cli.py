"""Containers on bridge networks from the CLI: addresses, reachability, isolation, internal networks, teardown."""

from __future__ import annotations

import ipaddress
import json
import secrets
import shutil
import subprocess

import pytest

from tests.cli.harness import run_cli
from tests.runtime.engine.enginefix import BASE, EngineEnv

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables")]


def _subnets(count: int) -> list[str]:
    """Free /24s from the test pool 10.213.0.0/16, checked against the host's routes."""
    from composer.runtime.net.host_routes import host_networks

    taken = host_networks()
    out: list[str] = []
    while len(out) < count:
        candidate = ipaddress.IPv4Network(f"10.213.{secrets.randbelow(256)}.0/24")
        if str(candidate) not in out and not any(candidate.overlaps(t) for t in taken):
            out.append(str(candidate))
    return out


def _network(eng: EngineEnv, *args: str) -> str:
    r = run_cli(eng.tmp, ["network", *args], env=eng.env)
    assert r.code == 0, r.stderr
    return r.stdout.strip()


def _ping(eng: EngineEnv, ref: str, address: str, tries: int = 1) -> bool:
    command = f"ping -c1 -W1 {address}"
    return any(eng.cli_process("exec", ref, "sh", "-c", command).returncode == 0 for _ in range(tries))


def _ip(eng: EngineEnv, ref: str, network: str) -> str:
    doc = json.loads(eng.cli("inspect", ref).stdout)[0]
    return str(doc["NetworkSettings"]["Networks"][network]["IPAddress"])


def test_front_and_back(eng: EngineEnv) -> None:
    front_net, back_net = _subnets(2)
    front, back = f"{eng.tag}-front", f"{eng.tag}-back"
    _network(eng, "create", "--subnet", front_net, front)
    _network(eng, "create", "--subnet", back_net, "--internal", back)
    fixed = str(ipaddress.IPv4Network(back_net).network_address + 50)
    assert eng.cli("run", "-d", "--name", "web", "--network", front, BASE, "sleep", "100").code == 0
    assert eng.cli("run", "-d", "--name", "db", "--network", back, "--ip", fixed, BASE, "sleep", "100").code == 0
    r = eng.cli("run", "-d", "--name", "client", "--network", front, BASE, "sleep", "100")
    assert r.code == 0, r.stderr
    web_ip, db_ip = _ip(eng, "web", front), _ip(eng, "db", back)
    assert db_ip == fixed
    assert _ping(eng, "client", web_ip, tries=2)  # same network
    assert not _ping(eng, "client", db_ip)  # other network: isolated
    hosts = eng.cli_process("exec", "web", "cat", "/etc/hosts").stdout
    own = eng.engine.get("web").record.hostname
    assert f"{web_ip}\t{own}" in hosts.splitlines()  # its own address and hostname, as Docker writes them
    routes = eng.cli_process("exec", "db", "sh", "-c", "ip route").stdout
    assert "default" not in routes  # internal: no way out
    assert "default via" in eng.cli_process("exec", "web", "sh", "-c", "ip route").stdout
    busy = run_cli(eng.tmp, ["network", "rm", back], env=eng.env)
    assert busy.code == 1
    assert "active endpoints" in busy.stderr
    from composer.planner.ipam import veth_host_name

    veths = [veth_host_name(eng.engine.get(c).id, n["NetworkID"])
             for c in ("web", "db", "client") for n in eng.engine.get(c).record.networks.values()]
    assert all(v in subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout for v in veths)
    assert eng.cli("rm", "-f", "web", "db", "client").code == 0
    links = subprocess.run(["ip", "-br", "link"], capture_output=True, text=True).stdout
    assert not [v for v in veths if v in links]
    assert not list((eng.engine.roots.run_root / "netns").glob("*"))
    _network(eng, "rm", front, back)


def test_address_conflicts_are_one_line(eng: EngineEnv) -> None:
    (subnet,) = _subnets(1)
    net = f"{eng.tag}-n"
    _network(eng, "create", "--subnet", subnet, net)
    fixed = str(ipaddress.IPv4Network(subnet).network_address + 9)
    assert eng.cli("run", "-d", "--name", "a", "--network", net, "--ip", fixed, BASE, "sleep", "100").code == 0
    r = eng.cli("run", "-d", "--name", "b", "--network", net, "--ip", fixed, BASE, "sleep", "100")
    assert r.code == 1
    assert "already in use" in r.stderr
    r = eng.cli("run", "-d", "--network", "no-such-net", BASE, "true")
    assert r.code == 1
    assert "network no-such-net not found" in r.stderr
    assert eng.cli("ls", "-aq").stdout.count("\n") == 1  # the failed ones left nothing


def test_names_resolve_on_shared_networks_and_follow_changes(eng: EngineEnv) -> None:
    one, two = _subnets(2)
    front, back = f"{eng.tag}-f", f"{eng.tag}-b"
    _network(eng, "create", "--subnet", one, front)
    _network(eng, "create", "--subnet", two, back)
    eng.cli("run", "-d", "--name", "client", "--network", front, BASE, "sleep", "100")
    eng.cli("run", "-d", "--name", "web", "--network", front, "--network-alias", "www", BASE, "sleep", "100")
    eng.cli("run", "-d", "--name", "db", "--network", back, BASE, "sleep", "100")
    assert _ping(eng, "client", "web", tries=2)  # by name
    assert _ping(eng, "client", "www")  # by alias
    hosts = eng.cli_process("exec", "client", "cat", "/etc/hosts").stdout
    assert "db" not in hosts.split()  # another network's names do not resolve
    old = _ip(eng, "web", front)
    assert eng.cli("rm", "-f", "web").code == 0
    assert "web" not in eng.cli_process("exec", "client", "cat", "/etc/hosts").stdout.split()
    fixed = str(ipaddress.IPv4Network(one).network_address + 77)
    eng.cli("run", "-d", "--name", "web", "--network", front, "--ip", fixed, BASE, "sleep", "100")
    assert fixed != old
    lines = eng.cli_process("exec", "client", "cat", "/etc/hosts").stdout.splitlines()
    assert any(line.startswith(fixed) and "web" in line.split() for line in lines)  # no restart of client
    assert _ping(eng, "client", "web", tries=2)
    assert eng.cli("rm", "-f", "client", "web", "db").code == 0
    _network(eng, "rm", front, back)


def test_network_connect_and_disconnect(eng: EngineEnv) -> None:
    one, two = _subnets(2)
    first, second = f"{eng.tag}-1", f"{eng.tag}-2"
    _network(eng, "create", "--subnet", one, first)
    _network(eng, "create", "--subnet", two, second)
    eng.cli("run", "-d", "--name", "a", "--network", first, BASE, "sleep", "100")
    eng.cli("run", "-d", "--name", "b", "--network", second, BASE, "sleep", "100")
    assert not _ping(eng, "a", "b")  # no shared network, no name
    _network(eng, "connect", "--alias", "alpha", second, "a")
    assert set(json.loads(eng.cli("inspect", "a").stdout)[0]["NetworkSettings"]["Networks"]) == {first, second}
    assert "eth1" in eng.cli_process("exec", "a", "sh", "-c", "ip -o link").stdout
    assert _ping(eng, "a", "b", tries=2)
    assert _ping(eng, "b", "alpha", tries=2)
    again = run_cli(eng.tmp, ["network", "connect", second, "a"], env=eng.env)
    assert again.code == 1
    assert "already connected" in again.stderr
    _network(eng, "disconnect", second, "a")
    assert "eth1" not in eng.cli_process("exec", "a", "sh", "-c", "ip -o link").stdout
    assert "alpha" not in eng.cli_process("exec", "b", "cat", "/etc/hosts").stdout
    assert eng.cli("rm", "-f", "a", "b").code == 0
    _network(eng, "rm", first, second)
