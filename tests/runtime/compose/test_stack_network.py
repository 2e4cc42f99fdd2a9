"""Issue 4's fixture stack, from the CLI: a web front on `front` and `back`, a database on `back` only
with a named volume, a client on `front`, and a service on an internal network.

Names resolve on shared networks only, `front` cannot reach the database, the published port answers on
127.0.0.1, the internal network has no egress while a normal one is NATed to a namespace that stands in
for the outside world, data in the named volume survives re-creating its container, copy-up fills a
fresh volume from the image, and `down -v` leaves nothing behind.
"""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import urllib.request
from collections.abc import Iterator

import pytest

from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

STACK = """
name: netstack
services:
  web:
    image: composer-fixture/app:latest
    ports: ["127.0.0.1:{port}:8080"]
    networks: [front, back]
    volumes: [appdata:/data]
  db:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    networks: [back]
    volumes: [dbdata:/var/lib/db]
  client:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    networks: [front]
  sealed:
    image: composer-fixture/base:latest
    command: [sleep, "3600"]
    stop_signal: SIGKILL
    networks: [inside]
networks:
  front:
    ipam: {{config: [{{subnet: 10.213.233.0/26}}]}}
  back:
    ipam: {{config: [{{subnet: 10.213.233.64/26}}]}}
  inside:
    internal: true
    ipam: {{config: [{{subnet: 10.213.233.128/26}}]}}
volumes:
  appdata: {{}}
  dbdata: {{}}
"""

OUTSIDE_HOST, OUTSIDE_FAR = "198.51.100.233", "198.51.100.234"  # documentation range, /30


@pytest.fixture
def outside(eng: EngineEnv) -> Iterator[str]:
    """A namespace behind a host veth: the "internet" a container's NATed packets reach. Its address."""
    from pyroute2 import IPRoute

    from composer.runtime.net import netns

    tag = "cmpt" + secrets.token_hex(3)
    netns_dir = eng.tmp / "outside-ns"
    path = netns.create(netns_dir, tag + "o")
    host_end, peer = tag + "x", tag + "y"
    try:
        with IPRoute() as ipr:
            ipr.link("add", ifname=host_end, kind="veth", peer=peer)
            fd = os.open(path, os.O_RDONLY)
            try:
                ipr.link("set", index=ipr.link_lookup(ifname=peer)[0], net_ns_fd=fd)
            finally:
                os.close(fd)
            index = ipr.link_lookup(ifname=host_end)[0]
            ipr.addr("add", index=index, address=OUTSIDE_HOST, prefixlen=30)
            ipr.link("set", index=index, state="up")
        with IPRoute(netns=str(path), flags=0) as inside:
            index = inside.link_lookup(ifname=peer)[0]
            inside.addr("add", index=index, address=OUTSIDE_FAR, prefixlen=30)
            inside.link("set", index=index, state="up")
        yield OUTSIDE_FAR
    finally:
        with IPRoute() as ipr:
            for index in ipr.link_lookup(ifname=host_end):
                ipr.link("del", index=index)
        netns.delete(netns_dir, tag + "o")
        netns.release_dir(netns_dir)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _sh(eng: EngineEnv, container: str, script: str) -> subprocess.CompletedProcess[str]:
    return eng.cli_process("exec", "-u", "0", container, "sh", "-c", script, timeout=30)


def test_fixture_stack(eng: EngineEnv, outside: str) -> None:
    port = _free_port()
    (eng.tmp / "compose.yaml").write_text(STACK.format(port=port))
    try:
        result = compose(eng, "up", "-d")
        assert result.code == 0, result.stderr
        # names resolve where networks are shared, and only there
        assert _sh(eng, "netstack-client-1", "ping -c1 -W2 web").returncode == 0
        assert _sh(eng, "netstack-web-1", "ping -c1 -W2 db").returncode == 0
        refused = _sh(eng, "netstack-client-1", "ping -c1 -W1 db")
        assert refused.returncode != 0
        assert "bad address" in refused.stderr + refused.stdout  # not even a name for it
        db_ip = eng.engine.get("netstack-db-1").record.networks["netstack_back"]["IPAddress"]
        assert _sh(eng, "netstack-client-1", f"ping -c1 -W1 {db_ip}").returncode != 0  # nor a route
        # the published port, from the host
        page = urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read().decode()
        assert "hello from composer" in page
        # egress: NAT for a normal network, nothing out of an internal one
        assert _sh(eng, "netstack-client-1", f"ping -c1 -W2 {outside}").returncode == 0
        assert _sh(eng, "netstack-sealed-1", f"ping -c1 -W1 {outside}").returncode != 0
        # copy-up: a fresh named volume gets the image's content at the mount point
        seeded = _sh(eng, "netstack-web-1", "cat /data/seed.txt")
        assert seeded.stdout == "copied up into new volumes\n", seeded.stderr
        # named volume data survives re-creating the container
        assert _sh(eng, "netstack-db-1", "echo precious > /var/lib/db/row").returncode == 0
        old = eng.engine.get("netstack-db-1").id
        result = compose(eng, "up", "-d", "--force-recreate", "db")
        assert result.code == 0, result.stderr
        assert eng.engine.get("netstack-db-1").id != old
        assert _sh(eng, "netstack-db-1", "cat /var/lib/db/row").stdout == "precious\n"
        assert _sh(eng, "netstack-web-1", "ping -c1 -W2 db").returncode == 0  # the new address resolves
    finally:
        result = compose(eng, "down", "-v", "-t", "0")
    assert result.code == 0, result.stderr
    assert eng.engine.list(all=True) == []
    assert eng.engine.networks.records() == []
    from composer.runtime.engine.volumes import VolumeStore

    assert VolumeStore(eng.engine.roots.state_root).all() == []
    rules = subprocess.run(["nft", "list", "table", "inet", eng.env["COMPOSER_NFT_TABLE"]], capture_output=True,
                           text=True).stdout
    assert "10.213.233." not in rules, rules


def test_down_without_file_uses_labels(eng: EngineEnv) -> None:
    """`down -p NAME` from a directory with no Compose file removes the project found by its labels."""
    (eng.tmp / "compose.yaml").write_text(STACK.format(port=_free_port()).replace(
        "  web:\n", "  web:\n    profiles: [off]\n"))
    assert compose(eng, "up", "-d", "client").code == 0
    elsewhere = eng.tmp / "elsewhere"
    elsewhere.mkdir()
    result = compose(eng, "-p", "netstack", "down", "-t", "0", cwd=elsewhere)
    assert result.code == 0, result.stderr
    assert eng.engine.list(all=True) == []
    assert eng.engine.networks.records() == []
    down_all(eng, "netstack")

