"""A published port answers other containers through the host: a peer on the same network and a container on another
network, each through its own gateway and through the host's other address.

Twice: on the real host (br_netfilter loaded here: bridged packets see conntrack), and in a namespace standing in for
a host where bridged packets bypass iptables/nftables (`bridge-nf-call-iptables=0`, a per-namespace sysctl), where
only composer's hairpin masquerade brings a same-network peer's reply back through the host.

And a container reaching its own published port: the DNATed packet goes back out of the bridge port it came in on,
which `hairpin_mode` on the veth allows.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.runtime.engine.enginefix import BASE, EngineEnv
from tests.runtime.engine.test_ports_cli import HTTPD

pytestmark = [pytest.mark.root, pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables")]

POOL = ipaddress.IPv4Network("10.213.216.0/21")  # this file's part of the test pool
PORTS = range(29110, 29190)  # this file's host ports (bench/ports.py: 29101-29104, test_dockerd_coexist: 29190)
BODY = "hello-from-composer\n"
BR_NF = "/proc/sys/net/bridge/bridge-nf-call-iptables"


def subnets(count: int) -> list[str]:
    """Free random /24s of POOL (checked against the host's routes)."""
    from composer.runtime.net.host_routes import host_networks

    taken = host_networks()
    free = [s for s in POOL.subnets(new_prefix=24) if not any(s.overlaps(t) for t in taken)]
    if len(free) < count:
        pytest.skip(f"fewer than {count} free /24s in {POOL}")
    return [str(s) for s in random.sample(free, count)]


def free_port() -> int:
    """A random host port of PORTS that nothing binds now."""
    for port in random.sample(PORTS, len(PORTS)):
        with socket.socket() as sock:
            try:
                sock.bind(("0.0.0.0", port))
            except OSError:
                continue
            return port
    pytest.skip(f"no free host port in {PORTS.start}-{PORTS.stop - 1}")


def host_address(text: str) -> str | None:
    """The first global IPv4 address in `ip -4 -o addr` output outside bridges and veths."""
    for line in text.splitlines():
        fields = line.split()
        if not fields[1].startswith(("cmp", "docker", "br-", "veth", "virbr")):
            return fields[3].split("/")[0]
    return None


@dataclass
class Place:
    """The host the scenario runs on: the real one (`ns` None) or a namespace standing in for one."""

    eng: EngineEnv
    ns: Path | None

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        prefix = ["nsenter", f"--net={self.ns}"] if self.ns else []
        result = subprocess.run([*prefix, *argv], capture_output=True, text=True, timeout=60,
                                env={**os.environ, **self.eng.env}, cwd=self.eng.tmp)
        if check:
            assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr[-2000:]}"
        return result

    def composer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "composer", *args, check=check)

    def fetch(self, url: str, ref: str | None = None, tries: int = 3) -> str:
        """The body at `url` from the host (or from container `ref`); "" if nothing answered."""
        # busybox wget -T crashes (1.35): bound it with busybox timeout instead
        wget = ["busybox", "timeout", "3", "wget", "-q", "-O", "-", url]
        argv = [sys.executable, "-m", "composer", "container", "exec", ref, *wget] if ref else wget
        for _ in range(tries):
            got = self.run(*argv, check=False)
            if got.returncode == 0:
                return got.stdout
            time.sleep(0.2)
        return ""


@pytest.fixture(params=["host", "no-br-netfilter"])
def place(request: pytest.FixtureRequest, eng: EngineEnv) -> Iterator[Place]:
    if request.param == "host":
        yield Place(eng, None)
        return
    from composer.runtime.net import netns

    nsdir = eng.tmp / "hostns"
    where = Place(eng, netns.create(nsdir, "host"))
    try:
        if Path(BR_NF).exists():
            where.run("sh", "-c", f"echo 0 > {BR_NF}")
        yield where
    finally:
        ids = where.composer("container", "ls", "-aq", check=False).stdout.split()
        if ids:
            where.composer("container", "rm", "-f", *ids, check=False)
        for name in where.composer("network", "ls", "-q", check=False).stdout.split():
            where.composer("network", "rm", name, check=False)
        netns.delete(nsdir, "host")  # its bridges, nftables table and sysctls go with it
        netns.release_dir(nsdir)


def _gateway(place: Place, network: str) -> str:
    return str(json.loads(place.composer("network", "inspect", network).stdout)[0]["IPAM"]["Config"][0]["Gateway"])


def test_published_port_answers_other_containers_through_the_host(place: Place) -> None:
    one, two = subnets(2)
    tag = place.eng.tag
    first, second = f"{tag}-a", f"{tag}-b"
    place.composer("network", "create", "--subnet", one, first)
    place.composer("network", "create", "--subnet", two, second)
    port = free_port()
    place.composer("container", "run", "-d", "--name", "web", "--network", first, "-p", f"{port}:80", BASE,
                   "sh", "-c", HTTPD)
    place.composer("container", "run", "-d", "--name", "peer", "--network", first, BASE, "sleep", "100")
    place.composer("container", "run", "-d", "--name", "other", "--network", second, BASE, "sleep", "100")
    assert place.fetch(f"http://127.0.0.1:{port}/index.html", tries=30) == BODY
    gw_first, gw_second = _gateway(place, first), _gateway(place, second)
    assert place.fetch(f"http://{gw_first}:{port}/index.html", "peer") == BODY  # same network, through the host
    assert place.fetch(f"http://{gw_second}:{port}/index.html", "other") == BODY  # another network, its gateway
    assert place.fetch(f"http://{gw_first}:{port}/index.html", "web") == BODY  # itself, through the host (hairpin)
    address = host_address(place.run("ip", "-4", "-o", "addr", "show", "scope", "global").stdout)
    if address is not None:
        assert place.fetch(f"http://{address}:{port}/index.html") == BODY
        assert place.fetch(f"http://{address}:{port}/index.html", "other") == BODY
    # the published port is the only way in: the other network still cannot reach the container's address
    doc = json.loads(place.composer("container", "inspect", "web").stdout)[0]
    web_ip = doc["NetworkSettings"]["Networks"][first]["IPAddress"]
    assert place.fetch(f"http://{web_ip}:80/index.html", "other", tries=1) == ""
    place.composer("container", "rm", "-f", "web", "peer", "other")
    place.composer("network", "rm", first, second)
