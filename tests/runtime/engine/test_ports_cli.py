"""Published ports from the CLI: DNAT from 127.0.0.1 into a bridge, `port`, random host ports, busy ports, teardown."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request

import pytest

from tests.runtime.engine.enginefix import BASE, EngineEnv, nft_table
from tests.runtime.engine.test_networking_cli import _network, _subnets

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables")]

HTTPD = "mkdir -p /www && echo hello-from-composer > /www/index.html && exec busybox httpd -f -p 80 -h /www"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _fetch(url: str, tries: int = 50) -> str:
    """The body at `url`, retried while the server starts."""
    for _ in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return str(response.read().decode())
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"nothing answered at {url}")


def _owned_rules(eng: EngineEnv, container_id: str) -> list[dict[str, object]]:
    listing = subprocess.run(["nft", "-j", "list", "table", "inet", nft_table(eng.tag)], capture_output=True,
                             text=True)
    items = json.loads(listing.stdout)["nftables"] if listing.returncode == 0 else []
    return [i["rule"] for i in items if "rule" in i and i["rule"].get("comment") == container_id]


def test_published_port_serves_from_loopback(eng: EngineEnv) -> None:
    (subnet,) = _subnets(1)
    net = f"{eng.tag}-p"
    _network(eng, "create", "--subnet", subnet, net)
    host_port = _free_port()
    r = eng.cli("run", "-d", "--name", "web", "--network", net, "-p", f"127.0.0.1:{host_port}:80",
                "-p", "8081/udp", BASE, "sh", "-c", HTTPD)
    assert r.code == 0, r.stderr
    cid = r.stdout.strip()
    assert _fetch(f"http://127.0.0.1:{host_port}/index.html") == "hello-from-composer\n"
    ports = eng.cli("port", "web")
    assert ports.code == 0, ports.stderr
    lines = ports.stdout.splitlines()
    assert lines[0] == f"80/tcp -> 127.0.0.1:{host_port}"
    assert lines[1].startswith("8081/udp -> 0.0.0.0:")
    random_port = int(lines[1].rsplit(":", 1)[1])
    assert random_port > 1024
    assert eng.cli("port", "web", "80").stdout == f"127.0.0.1:{host_port}\n"
    doc = json.loads(eng.cli("inspect", "web").stdout)[0]
    assert doc["NetworkSettings"]["Ports"]["80/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(host_port)}]
    row = json.loads(eng.cli("ls", "--format", "json").stdout)
    assert row["Ports"] == f"127.0.0.1:{host_port}->80/tcp, 0.0.0.0:{random_port}->8081/udp"
    assert len(_owned_rules(eng, cid)) == 4  # prerouting + output, per port
    assert eng.cli("rm", "-f", "web").code == 0
    assert _owned_rules(eng, cid) == []
    _network(eng, "rm", net)


def test_random_host_port(eng: EngineEnv) -> None:
    (subnet,) = _subnets(1)
    net = f"{eng.tag}-r"
    _network(eng, "create", "--subnet", subnet, net)
    r = eng.cli("run", "-d", "--name", "web", "--network", net, "-p", "127.0.0.1::80", BASE, "sh", "-c", HTTPD)
    assert r.code == 0, r.stderr
    mapped = eng.cli("port", "web", "80/tcp").stdout.strip()
    host, _, port = mapped.rpartition(":")
    assert host == "127.0.0.1"
    assert int(port) > 1024
    assert _fetch(f"http://127.0.0.1:{port}/index.html") == "hello-from-composer\n"
    taken = eng.cli("run", "-d", "--network", net, "-p", f"{port}:80", BASE, "sleep", "100")
    assert taken.code == 1
    assert f"port 0.0.0.0:{port}/tcp is already in use (by container web)" in taken.stderr  # DNAT holds no socket
    assert eng.cli("ls", "-aq").stdout.count("\n") == 1
    assert eng.cli("rm", "-f", "web").code == 0
    _network(eng, "rm", net)


def test_port_in_use_is_refused_before_anything_exists(eng: EngineEnv) -> None:
    (subnet,) = _subnets(1)
    net = f"{eng.tag}-u"
    _network(eng, "create", "--subnet", subnet, net)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        r = eng.cli("run", "-d", "--network", net, "-p", f"127.0.0.1:{port}:80", BASE, "sleep", "100")
        assert r.code == 1
        assert f"port 127.0.0.1:{port}/tcp is already in use" in r.stderr
        assert "pid " in r.stderr  # this test's own process holds it
    assert eng.cli("ls", "-aq").stdout == ""
    _network(eng, "rm", net)


def test_ports_need_a_network(eng: EngineEnv) -> None:
    r = eng.cli("create", "-p", "8080:80", BASE, "true")
    assert r.code == 1
    assert "needs a bridge network" in r.stderr
    r = eng.cli("create", "-p", "80/xyz", BASE, "true")
    assert r.code == 1
    assert "invalid port" in r.stderr
