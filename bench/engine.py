"""The native engine against its floor, bare `runc run -d`, side by side in one run (as root).

    .venv/bin/python bench/engine.py [--runs N] [--parallel 50]

Measures, with medians over N runs:
- one container: `composer container run -d` as a whole process (CLI start-up included), the engine's
  create+start called in-process, and `runc run -d` of an equivalent bundle (the same config.json
  composer generated, its own pre-mounted overlay rootfs: mounting is not charged to runc);
- 50 containers started in parallel: composer's async runtime (trio, worker threads) against 50
  concurrent `runc run -d`;
- memory per running container: the proportional set size (PSS) of conmon and of the container's
  process, against the container's process alone under bare runc (which has no monitor).

Everything lives under a fresh temporary state root and cgroup parent and is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from composer.runtime.engine.engine import CreateRequest, Engine  # noqa: E402
from composer.runtime.oci.rootfs import mount_rootfs, unmount_rootfs  # noqa: E402

IMAGE = "composer-fixture/base"
COMMAND = ["sleep", "3600"]


def pss_kib(pid: int) -> int:
    """Proportional set size: shared pages (libc, the busybox binary) divided among their users."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


class Bare:
    """Bundles for `runc run -d` with the config composer generated, each on its own overlay."""

    def __init__(self, work: Path, template: dict[str, Any], layers: list[Path], cgroup_parent: str) -> None:
        self.work = work
        self.template = template
        self.layers = layers
        self.cgroup_parent = cgroup_parent
        self.root = work / "runc-root"
        self.ids: list[str] = []

    def prepare(self, cid: str) -> Path:
        bundle = self.work / "bundles" / cid
        rootfs = bundle / "rootfs"
        mount_rootfs(self.layers, bundle / "upper", bundle / "work", rootfs)
        spec = json.loads(json.dumps(self.template))
        spec["root"]["path"] = str(rootfs)
        spec["linux"]["cgroupsPath"] = f"{self.cgroup_parent}/{cid}"
        spec["mounts"] = [m for m in spec["mounts"] if not m["destination"].startswith("/etc/")]
        (bundle / "config.json").write_text(json.dumps(spec))
        self.ids.append(cid)
        return bundle

    def run_argv(self, cid: str, bundle: Path) -> list[str]:
        return ["runc", f"--root={self.root}", "run", "-d", "--bundle", str(bundle), cid]

    def pid(self, cid: str) -> int:
        out = subprocess.run(["runc", f"--root={self.root}", "state", cid], capture_output=True, text=True)
        return int(json.loads(out.stdout)["pid"])

    def cleanup(self) -> None:
        for cid in self.ids:
            subprocess.run(["runc", f"--root={self.root}", "delete", "--force", cid], capture_output=True)
            unmount_rootfs(self.work / "bundles" / cid / "rootfs")
        self.ids.clear()
        shutil.rmtree(self.work / "bundles", ignore_errors=True)


def timed(fn: Callable[[], Any]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def median_ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def remove_all(engine: Engine) -> None:
    for c in engine.list(all=True):
        engine.remove(c.id, force=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--parallel", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/engine.py needs root")

    tag = f"composer-bench-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    env = {**os.environ, "COMPOSER_ROOT": str(work / "state"), "COMPOSER_RUN_ROOT": str(work / "run"),
           "COMPOSER_CGROUP_PARENT": f"/{tag}"}
    engine = Engine(work / "state", work / "run", cgroup_parent=f"/{tag}")
    subprocess.run([sys.executable, str(ROOT / "fixtures/images/build.py"), str(work / "images")], check=True,
                   capture_output=True)
    engine.images.load(str(work / "images" / "busybox-docker.tar"))
    layers = engine.images.layer_dirs(IMAGE)
    figures: dict[str, Any] = {}
    try:
        probe = engine.create(CreateRequest(IMAGE, {"command": COMMAND}))
        template = json.loads(engine.roots.container(probe.id).config.read_text())
        engine.remove(probe.id, force=True)
        bare = Bare(work, template, layers, f"/{tag}-bare")

        # -- one container ---------------------------------------------------------------------
        cli, api, floor = [], [], []
        for i in range(args.runs):
            argv = [sys.executable, "-m", "composer", "container", "run", "-d", IMAGE, *COMMAND]
            cli.append(timed(lambda argv=argv: subprocess.run(argv, env=env, check=True, capture_output=True)))  # type: ignore[misc]
            api.append(timed(lambda: engine.start(engine.create(CreateRequest(IMAGE, {"command": COMMAND})).id)))
            bundle = bare.prepare(f"{tag}-one-{i}")
            run = bare.run_argv(f"{tag}-one-{i}", bundle)
            # runc run -d hands its stdio to the container: /dev/null, or the pipe would never close
            floor.append(timed(lambda run=run: subprocess.run(run, check=True, stdin=subprocess.DEVNULL,  # type: ignore[misc]
                                                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)))
            remove_all(engine)
            bare.cleanup()
        figures["one"] = {"cli_ms": median_ms(cli), "engine_ms": median_ms(api), "runc_ms": median_ms(floor)}

        # -- N in parallel ---------------------------------------------------------------------
        import trio

        from composer.runtime.native import NativeRuntime

        async def composer_parallel(n: int) -> None:
            runtime = NativeRuntime(engine, parallel=n)

            async def one() -> None:
                cid = await runtime.create(CreateRequest(IMAGE, {"command": COMMAND}))
                await runtime.start(cid)

            async with trio.open_nursery() as nursery:
                for _ in range(n):
                    nursery.start_soon(one)

        def bare_parallel(n: int, round_: int) -> float:
            bundles = [(f"{tag}-p{round_}-{j}", bare.prepare(f"{tag}-p{round_}-{j}")) for j in range(n)]
            started = time.perf_counter()
            procs = [subprocess.Popen(bare.run_argv(cid, b), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL) for cid, b in bundles]
            for p in procs:
                p.wait()
            return time.perf_counter() - started

        comp_n, bare_n = [], []
        rounds = args.runs
        for r in range(rounds):
            time.sleep(1.0)  # let the kernel finish tearing down the previous round (cgroups, mounts)
            comp_n.append(timed(lambda: trio.run(composer_parallel, args.parallel)))
            if r == rounds - 1:
                conmons = [pss_kib(int(c.paths.conmon_pidfile.read_text())) for c in engine.list()]
                procs = [pss_kib(c.state.pid) for c in engine.list()]
            remove_all(engine)
            time.sleep(1.0)
            bare_n.append(bare_parallel(args.parallel, r))
            if r == rounds - 1:
                bare_procs = [pss_kib(bare.pid(cid)) for cid in bare.ids]
            bare.cleanup()
        figures["parallel"] = {"n": args.parallel, "composer_ms": median_ms(comp_n), "runc_ms": median_ms(bare_n),
                               "composer_rounds_ms": [round(t * 1000) for t in comp_n],
                               "runc_rounds_ms": [round(t * 1000) for t in bare_n]}
        figures["memory_kib"] = {
            "conmon_pss": statistics.median(conmons),
            "container_pss": statistics.median(procs),
            "bare_container_pss": statistics.median(bare_procs),
        }
    finally:
        with contextlib.suppress(Exception):
            remove_all(engine)
        with contextlib.suppress(Exception):
            bare.cleanup()
        for cg in [*Path("/sys/fs/cgroup").glob(f"*/{tag}*"), *Path("/sys/fs/cgroup").glob(f"{tag}*")]:
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()
        shutil.rmtree(work, ignore_errors=True)

    one, par, mem = figures["one"], figures["parallel"], figures["memory_kib"]
    print(f"runs: {args.runs}; medians")
    print(f"{'one container, create+start':<44}{'ms':>10}{'x runc':>10}")
    print(f"{'  bare runc run -d':<44}{one['runc_ms']:>10.1f}{1:>10.2f}")
    print(f"{'  composer engine (in-process)':<44}{one['engine_ms']:>10.1f}{one['engine_ms'] / one['runc_ms']:>10.2f}")
    cli_ratio = one["cli_ms"] / one["runc_ms"]
    print(f"{'  composer container run -d (whole CLI)':<44}{one['cli_ms']:>10.1f}{cli_ratio:>10.2f}")
    print(f"{par['n']} containers in parallel")
    print(f"{'  bare runc run -d':<44}{par['runc_ms']:>10.1f}{1:>10.2f}")
    print(f"{'  composer (async runtime)':<44}{par['composer_ms']:>10.1f}{par['composer_ms'] / par['runc_ms']:>10.2f}")
    print("memory per running container (PSS, KiB)")
    print(f"  conmon {mem['conmon_pss']:.0f}, container {mem['container_pss']:.0f} "
          f"(bare runc: container {mem['bare_container_pss']:.0f}, no monitor)")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
