"""A published port against the container's own address: throughput and latency, side by side (as root).

    .venv/bin/python bench/ports.py [--runs N] [--mib 256] [--round-trips 5000] [--json]

Sets up, with the composer CLI itself, on a private state root, cgroup parent and nftables table: a bridge network
(a /24 of 10.213.216.0/21) and one busybox container running two `nc -ll` servers, a sink (reads to EOF) and an
echo (`cat`), published with `-p 127.0.0.1:29101:5001 -p 127.0.0.1:29102:5002` (and on the host's first
non-loopback address, ports 29103/29104, when it has one). The client is this process, on the host:

- throughput: stream `--mib` MiB into the sink and wait for its end-of-stream answer (MB/s, 10^6 bytes);
- latency: `--round-trips` 64-byte request/response round trips on one TCP_NODELAY connection (median, p99),
  and connection set-up (connect, one echoed byte, close; median);

each against (a) 127.0.0.1:published port (DNAT in `output`, masqueraded into the bridge), (b) the host's
non-loopback address:published port (DNAT in `output`), (c) the container's address directly (no NAT).
Targets are measured interleaved, run after run; medians over `--runs`. Everything is removed at the end,
also on Ctrl-C.
"""

from __future__ import annotations

import argparse
import contextlib
import ipaddress
import json
import os
import platform
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

IMAGE = "composer-fixture/base"
POOL = ipaddress.IPv4Network("10.213.216.0/21")  # the part of the test pool this benchmark may use
SINK, ECHO = 5001, 5002
LOOP_SINK, LOOP_ECHO, HOST_SINK, HOST_ECHO = 29101, 29102, 29103, 29104
SERVERS = (f"nc -ll -p {SINK} -e sh -c 'cat > /dev/null; echo bye' & "
           f"exec nc -ll -p {ECHO} -e cat")
CHUNK = memoryview(os.urandom(1 << 20))


class Setup:
    """The composer CLI on private roots; remembers what it made so `close` removes exactly that."""

    def __init__(self) -> None:
        self.tag = f"composer-bench-{secrets.token_hex(3)}"
        self.work = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))
        self.table = "cmpb" + self.tag.rsplit("-", 1)[-1]
        self.env = {**os.environ, "COMPOSER_ROOT": str(self.work / "state"),
                    "COMPOSER_RUN_ROOT": str(self.work / "run"), "COMPOSER_CGROUP_PARENT": f"/{self.tag}",
                    "COMPOSER_NFT_TABLE": self.table}
        self.network = f"{self.tag}-net"
        self.made_network = False
        self.made_container = False

    def cli(self, *args: str, check: bool = True) -> str:
        result = subprocess.run([sys.executable, "-m", "composer", *args], env=self.env, capture_output=True,
                                text=True, cwd=self.work)
        if check and result.returncode != 0:
            raise SystemExit(f"composer {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def start(self, host_addr: str | None) -> str:
        """Network and container; the container's address."""
        images = self.work / "images"
        subprocess.run([sys.executable, str(ROOT / "fixtures/images/build.py"), str(images)], check=True,
                       capture_output=True)
        self.cli("image", "load", "-i", str(images / "busybox-docker.tar"))
        self.cli("network", "create", "--subnet", free_subnet(), self.network)
        self.made_network = True
        publish = ["-p", f"127.0.0.1:{LOOP_SINK}:{SINK}", "-p", f"127.0.0.1:{LOOP_ECHO}:{ECHO}"]
        if host_addr:
            publish += ["-p", f"{host_addr}:{HOST_SINK}:{SINK}", "-p", f"{host_addr}:{HOST_ECHO}:{ECHO}"]
        self.made_container = True
        self.cli("container", "run", "-d", "--name", "sink", "--network", self.network, *publish, IMAGE,
                 "sh", "-c", SERVERS)
        doc = json.loads(self.cli("container", "inspect", "sink"))[0]
        return str(doc["NetworkSettings"]["Networks"][self.network]["IPAddress"])

    def close(self) -> None:
        if self.made_container:
            self.cli("container", "rm", "-f", "sink", check=False)
        if self.made_network:
            self.cli("network", "rm", self.network, check=False)
        subprocess.run(["nft", "delete", "table", "inet", self.table], capture_output=True)
        for cg in [*Path("/sys/fs/cgroup").glob(f"*/{self.tag}"), *Path("/sys/fs/cgroup").glob(self.tag)]:
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()
        shutil.rmtree(self.work, ignore_errors=True)


def free_subnet() -> str:
    """A /24 of POOL that overlaps nothing the host routes (another run or test may hold some)."""
    from composer.runtime.net.host_routes import host_networks

    taken = host_networks()
    candidates = list(POOL.subnets(new_prefix=24))
    random.shuffle(candidates)
    for candidate in candidates:
        if not any(candidate.overlaps(t) for t in taken):
            return str(candidate)
    raise SystemExit(f"no free /24 in {POOL}")


def host_address() -> str | None:
    """The first global IPv4 address of a physical-looking interface (not loopback, bridges or veths)."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        fields = line.split()
        name = fields[1]
        if name.startswith(("cmp", "docker", "br-", "veth", "virbr")):
            continue
        return fields[3].split("/")[0]
    return None


def wait_for(address: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((address, port), timeout=1) as sock:
                sock.sendall(b".")
                sock.shutdown(socket.SHUT_WR)
                sock.recv(16)
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"nothing answers at {address}:{port}") from None
            time.sleep(0.1)


def throughput(address: str, port: int, mib: int) -> float:
    """MB/s (10^6 bytes) of `mib` MiB into the sink, until it has read them all."""
    started = time.perf_counter()
    with socket.create_connection((address, port)) as sock:
        for _ in range(mib):
            sock.sendall(CHUNK)
        sock.shutdown(socket.SHUT_WR)
        answer = sock.recv(16)
    elapsed = time.perf_counter() - started
    if answer != b"bye\n":
        raise SystemExit(f"sink at {address}:{port} answered {answer!r}")
    return mib * (1 << 20) / elapsed / 1e6


def round_trips(address: str, port: int, count: int) -> list[float]:
    """Seconds per 64-byte request/response on one connection (after 100 unmeasured)."""
    message = b"x" * 64
    out = []
    with socket.create_connection((address, port)) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for i in range(count + 100):
            started = time.perf_counter()
            sock.sendall(message)
            got = 0
            while got < len(message):
                data = sock.recv(4096)
                if not data:
                    raise SystemExit(f"echo at {address}:{port} closed")
                got += len(data)
            if i >= 100:
                out.append(time.perf_counter() - started)
    return out


def connects(address: str, port: int, count: int) -> list[float]:
    """Seconds per connect + one echoed byte + close (a fresh conntrack entry, and NAT, each time)."""
    out = []
    for _ in range(count):
        started = time.perf_counter()
        with socket.create_connection((address, port)) as sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            sock.sendall(b"x")
            sock.recv(1)
        out.append(time.perf_counter() - started)
    return out


def p99(values: list[float]) -> float:
    return sorted(values)[min(len(values) - 1, int(len(values) * 0.99))]


def machine() -> str:
    model = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{model}, {os.cpu_count()} cpus, Linux {platform.release()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=256, help="MiB streamed per throughput run")
    parser.add_argument("--round-trips", type=int, default=5000, help="round trips per latency run")
    parser.add_argument("--connects", type=int, default=200, help="connections per set-up latency run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/ports.py needs root")
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # clean up on kill as on Ctrl-C

    setup = Setup()
    host_addr = host_address()
    samples: dict[str, dict[str, list[float]]] = {}
    try:
        container_ip = setup.start(host_addr)
        targets = [("a) 127.0.0.1:published", "127.0.0.1", LOOP_SINK, LOOP_ECHO)]
        if host_addr:
            targets.append((f"b) {host_addr}:published", host_addr, HOST_SINK, HOST_ECHO))
        targets.append((f"c) {container_ip} direct", container_ip, SINK, ECHO))
        for _, address, sink, _echo in targets:
            wait_for(address, sink)
            throughput(address, sink, 16)  # warm up (conntrack, caches, the server's first fork)
        for label, *_ in targets:
            samples[label] = {"mbps": [], "rtt": [], "rtt_median": [], "connect": []}
        for _ in range(args.runs):
            for label, address, sink, echo in targets:
                s = samples[label]
                s["mbps"].append(throughput(address, sink, args.mib))
                rtts = round_trips(address, echo, args.round_trips)
                s["rtt"] += rtts
                s["rtt_median"].append(statistics.median(rtts))
                s["connect"] += connects(address, echo, args.connects)
    finally:
        setup.close()

    direct = statistics.median(samples[targets[-1][0]]["mbps"])
    figures: dict[str, Any] = {"machine": machine(), "runs": args.runs, "mib": args.mib, "targets": {}}
    print(f"published port (DNAT) against the container's address; {machine()}")
    print(f"medians of {args.runs} runs; {args.mib} MiB per stream, {args.round_trips} round trips of 64 B per run")
    print(f"{'target':<34}{'MB/s':>9}{'% direct':>10}{'rtt med us':>12}{'rtt p99 us':>12}{'connect us':>12}")
    for label, *_ in targets:
        s = samples[label]
        row = {"mbps": statistics.median(s["mbps"]), "mbps_runs": [round(v) for v in s["mbps"]],
               "pct_direct": 100 * statistics.median(s["mbps"]) / direct,
               "rtt_median_us": statistics.median(s["rtt_median"]) * 1e6, "rtt_p99_us": p99(s["rtt"]) * 1e6,
               "connect_median_us": statistics.median(s["connect"]) * 1e6}
        figures["targets"][label] = row
        print(f"{label:<34}{row['mbps']:>9.0f}{row['pct_direct']:>9.1f}%{row['rtt_median_us']:>12.1f}"
              f"{row['rtt_p99_us']:>12.1f}{row['connect_median_us']:>12.1f}")
    worst = min(r["pct_direct"] for label, r in figures["targets"].items() if label != targets[-1][0])
    print(f"target: published >= 90% of direct throughput: {'met' if worst >= 90 else 'NOT met'} "
          f"(worst published {worst:.1f}%)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("bench/ports.py: interrupted (everything it made is removed)")
