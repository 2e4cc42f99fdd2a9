"""composer's networks with a real dockerd running beside them (issue 4 §1).

dockerd turns the iptables FORWARD policy to DROP (it does so itself when it has to turn on ip_forward; here it is
set explicitly, as it would be on a fresh Docker host) and makes its `DOCKER-USER` chain; without composer's accepts
in that chain, nothing would cross its bridges. The test proves, with dockerd running: two containers on one network
reach each other, a published port answers on 127.0.0.1, and egress through NAT reaches a namespace that stands in
for the outside world; and that it is composer's accepts in `DOCKER-USER` that make the first work.

Where: dockerd and composer both run in a throw-away network namespace that stands in for the host (its iptables,
nftables, links, sysctls are its own), with dockerd's data root, exec root, pid file and socket in a temp dir and
`--bridge=none`. So a running suite's other tests never see a DROP policy or Docker's chains, and removing the
namespace removes all dockerd left (the test checks the real host's iptables gained nothing). Skipped only when
dockerd is not installed (Debian: `apt-get install -y docker.io`, which `scripts/setup` does).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.runtime.engine.enginefix import BASE, EngineEnv
from tests.runtime.engine.test_ports_cli import HTTPD

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(shutil.which("nft") is None, reason="needs nftables"),
    pytest.mark.skipif(shutil.which("iptables") is None, reason="needs iptables"),
]

POOL = ipaddress.IPv4Network("10.213.216.0/21")  # this file's part of the test pool
OUTSIDE_POOL = ipaddress.IPv4Network("198.51.100.0/24")  # TEST-NET-2: the stand-in outside world
HOST_PORT = 29190


@dataclass
class DockerHost:
    """A namespace standing in for the host, with dockerd running in it; commands run inside it."""

    ns: Path
    outside: Path
    base: Path
    eng: EngineEnv
    far: str = ""
    dockerd: subprocess.Popen[bytes] | None = None
    networks: list[str] = field(default_factory=list)

    def run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(["nsenter", f"--net={self.ns}", *argv], capture_output=True, text=True,
                                timeout=60, env={**os.environ, **self.eng.env}, cwd=self.eng.tmp)
        if check:
            assert result.returncode == 0, f"{' '.join(argv)}: {result.stderr[-2000:]}"
        return result

    def composer(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run(sys.executable, "-m", "composer", *args, check=check)

    def ping(self, ref: str, address: str, tries: int = 2) -> bool:
        argv = ["nsenter", f"--net={self.ns}", sys.executable, "-m", "composer", "container", "exec", ref,
                "busybox", "ping", "-c1", "-W1", address]
        for _ in range(tries):
            if subprocess.run(argv, capture_output=True, env={**os.environ, **self.eng.env}, cwd=self.eng.tmp,
                              timeout=30).returncode == 0:
                return True
        return False


def _wait_for_dockerd(host: DockerHost, sock: Path, log: Path) -> None:
    """Until dockerd answers `GET /_ping` on its socket (30 s), or fail with its log."""
    deadline = time.monotonic() + 30
    assert host.dockerd is not None
    while time.monotonic() < deadline:
        if host.dockerd.poll() is not None:
            pytest.fail(f"dockerd exited with {host.dockerd.returncode}: {log.read_text()[-3000:]}")
        answer = b""
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as client:
            client.settimeout(2)
            client.connect(str(sock))
            client.sendall(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")
            while chunk := client.recv(4096):  # HTTP/1.0: the server closes after its answer
                answer += chunk
        if answer.split(b"\r\n", 1)[0].endswith(b" 200 OK") and answer.endswith(b"\r\n\r\nOK"):
            return
        time.sleep(0.2)
    pytest.fail(f"dockerd did not answer in 30 s: {log.read_text()[-3000:]}")


def _outside_world(host: DockerHost) -> None:
    """A namespace behind a veth of the stand-in host, on a documentation /30; no route to any container subnet."""
    from pyroute2 import IPRoute

    subnet = random.choice(list(OUTSIDE_POOL.subnets(new_prefix=30)))
    near, far = (str(a) for a in subnet.hosts())
    tag = host.eng.tag.rsplit("-", 1)[-1][:6]
    near_end, far_end = f"cmpt{tag}x", f"cmpt{tag}y"
    with IPRoute(netns=str(host.ns), flags=0) as ipr:
        ipr.link("add", ifname=near_end, kind="veth", peer=far_end)
        fd = os.open(host.outside, os.O_RDONLY)
        try:
            ipr.link("set", index=ipr.link_lookup(ifname=far_end)[0], net_ns_fd=fd)
        finally:
            os.close(fd)
        index = ipr.link_lookup(ifname=near_end)[0]
        ipr.addr("add", index=index, address=near, prefixlen=30)
        ipr.link("set", index=index, state="up")
    with IPRoute(netns=str(host.outside), flags=0) as inside:
        index = inside.link_lookup(ifname=far_end)[0]
        inside.addr("add", index=index, address=far, prefixlen=30)
        inside.link("set", index=index, state="up")
    host.far = far


def _stop_dockerd(host: DockerHost) -> None:
    """SIGTERM (dockerd then stops its own containerd), SIGKILL after 20 s; then any process left in its dirs."""
    if host.dockerd is not None and host.dockerd.poll() is None:
        host.dockerd.send_signal(signal.SIGTERM)
        try:
            host.dockerd.wait(timeout=20)
        except subprocess.TimeoutExpired:
            host.dockerd.kill()
            host.dockerd.wait()
    marker = str(host.base).encode()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        with contextlib.suppress(OSError):
            if marker in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(int(pid), signal.SIGKILL)


def _host_iptables() -> str:
    return subprocess.run(["iptables-save"], capture_output=True, text=True).stdout


@pytest.fixture
def docker_host(eng: EngineEnv) -> Iterator[DockerHost]:
    """dockerd (private roots, `--bridge=none`) in a stand-in host namespace; all of it removed afterwards."""
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        pytest.skip("dockerd is not installed (apt-get install -y docker.io)")
    from composer.runtime.net import netns

    host_rules_before = _host_iptables()
    run_docker_existed = Path("/run/docker").exists()
    base = Path(tempfile.mkdtemp(prefix="cmptd", dir="/tmp"))  # short: a unix socket path has 108 bytes
    nsdir = base / "ns"
    host = DockerHost(netns.create(nsdir, "host"), netns.create(nsdir, "outside"), base, eng)
    log = base / "dockerd.log"
    try:
        with log.open("wb") as out:
            host.dockerd = subprocess.Popen(
                ["nsenter", f"--net={host.ns}", dockerd, "--data-root", str(base / "data"),
                 "--exec-root", str(base / "exec"), "--pidfile", str(base / "dockerd.pid"),
                 "-H", f"unix://{base / 'docker.sock'}", "--bridge=none"],
                stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
        _wait_for_dockerd(host, base / "docker.sock", log)
        _outside_world(host)
        yield host
    finally:
        with contextlib.suppress(Exception):
            ids = host.composer("container", "ls", "-aq", check=False).stdout.split()
            if ids:
                host.composer("container", "rm", "-f", *ids, check=False)
            for name in host.networks:
                host.composer("network", "rm", name, check=False)
        _stop_dockerd(host)
        netns.delete(nsdir, "host")  # everything dockerd made lived in it: chains, policy, links
        netns.delete(nsdir, "outside")
        netns.release_dir(nsdir)
        for line in Path("/proc/self/mountinfo").read_text().splitlines():
            point = line.split(" ")[4]
            if point.startswith(str(base)):
                subprocess.run(["umount", "-l", point], capture_output=True)
        shutil.rmtree(base, ignore_errors=True)
        if not run_docker_existed:  # dockerd makes /run/docker/plugins whatever its exec root
            for leftover in ("/run/docker/plugins", "/run/docker"):
                with contextlib.suppress(OSError):
                    os.rmdir(leftover)
    assert "DOCKER" in host_rules_before or "DOCKER" not in _host_iptables(), "dockerd touched the real host"


def test_composer_networks_work_with_dockerd_running(docker_host: DockerHost) -> None:
    host = docker_host
    host.run("iptables", "-w", "-P", "FORWARD", "DROP")  # what dockerd leaves on a host where it enabled forwarding
    rules = host.run("iptables", "-w", "-S").stdout
    assert "-N DOCKER-USER" in rules
    assert "-P FORWARD DROP" in rules
    subnet = str(random.choice(list(POOL.subnets(new_prefix=24))))
    net = f"{host.eng.tag}-d"
    host.networks.append(net)
    host.composer("network", "create", "--subnet", subnet, net)
    accepts = host.run("iptables", "-w", "-S", "DOCKER-USER").stdout
    assert "-A DOCKER-USER -i cmp-+ -j ACCEPT" in accepts
    assert "-A DOCKER-USER -o cmp-+ -j ACCEPT" in accepts

    host.composer("container", "run", "-d", "--name", "web", "--network", net, "-p",
                  f"127.0.0.1:{HOST_PORT}:80", BASE, "sh", "-c", HTTPD)
    host.composer("container", "run", "-d", "--name", "client", "--network", net, BASE, "sleep", "300")
    # same network: by name, through the bridge (br_netfilter hands bridged packets to iptables' FORWARD too)
    assert host.ping("client", "web")
    # a published port on the stand-in host's 127.0.0.1
    fetch = ["busybox", "timeout", "3", "wget", "-q", "-O", "-", f"http://127.0.0.1:{HOST_PORT}/index.html"]
    body = ""
    for _ in range(30):
        got = host.run(*fetch, check=False)
        if got.returncode == 0:
            body = got.stdout
            break
        time.sleep(0.2)
    assert body == "hello-from-composer\n"
    # egress, masqueraded: the outside has no route back to the container subnet
    assert host.ping("client", host.far)
    assert "default" not in subprocess.run(["nsenter", f"--net={host.outside}", "ip", "-4", "route"],
                                           capture_output=True, text=True).stdout

    # without composer's accepts, dockerd's DROP policy wins: the accepts are what made the above work
    for rule in (["-i", "cmp-+", "-j", "ACCEPT"], ["-o", "cmp-+", "-j", "ACCEPT"]):
        host.run("iptables", "-w", "-D", "DOCKER-USER", *rule)
    assert not host.ping("client", host.far, tries=1)
    assert not host.ping("client", "web", tries=1)
    for rule in (["-i", "cmp-+", "-j", "ACCEPT"], ["-o", "cmp-+", "-j", "ACCEPT"]):
        host.run("iptables", "-w", "-I", "DOCKER-USER", "1", *rule)
    assert host.ping("client", host.far)

    host.composer("container", "rm", "-f", "web", "client")
    host.composer("network", "rm", net)
    host.networks.clear()
    assert "cmp-" not in host.run("ip", "-br", "link").stdout
