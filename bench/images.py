"""Image pulls from a local registry against skopeo, and a no-change rebuild, in one run (as root).

    .venv/bin/python bench/images.py [--runs N] [--mib 160] [--layers 4] [--json]

Measures, with medians over N runs:
- pull throughput: Debian's docker-registry on 127.0.0.1 (plain HTTP, its own storage in a
  temporary directory) holds an image of the fixture busybox base plus LAYERS layers of random
  bytes (MIB MiB in all), built with `composer image build` and pushed with `composer image push`.
  Timed: `composer image pull` (the whole CLI process) into a fresh state root, against
  `skopeo copy docker://... oci:DIR` of the same image from the same registry into a fresh
  directory. MB/s is the bytes of the image's blobs (layers and config) over the wall time.
  composer also unpacks every layer and fsyncs the blobs it stores; skopeo only writes the blobs.
  With dockerd installed (unless --no-docker), also `docker pull` on a private dockerd (bench/compose.py's:
  own containerd, data root and socket, no bridge, no iptables), the image removed between runs.
- no-change rebuild: a 10-instruction Dockerfile (RUN, COPY, ENV, WORKDIR, LABEL, CMD) built once,
  then `composer image build` of the unchanged context timed (the whole CLI process; every step
  is a cache hit).

Everything lives under a fresh temporary directory (state root, registry storage) and is removed at the end.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
REGISTRY = "/usr/bin/docker-registry"
PORTS = range(29400, 29450)
BASE = "composer-fixture/base:latest"

REBUILD_DOCKERFILE = """\
FROM composer-fixture/base:latest
ENV GREETING=hello
WORKDIR /app
COPY a.txt /app/a.txt
RUN echo one > /app/one.txt
COPY b.txt /app/b.txt
RUN echo two > /app/two.txt
LABEL bench=rebuild
COPY c.txt /app/c.txt
RUN cat /app/a.txt /app/b.txt > /app/ab.txt
CMD ["cat", "/app/ab.txt"]
"""


def free_port() -> int:
    for port in PORTS:
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    sys.exit("no free port in 29400-29449")


def start_registry(work: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    storage = work / "registry"
    storage.mkdir()
    config = work / "registry.yml"
    config.write_text(f"""version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: {storage}
http:
  addr: 127.0.0.1:{port}
""")
    log = open(work / "registry.log", "wb")  # noqa: SIM115
    process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=2)
            return process, f"127.0.0.1:{port}"
        except urllib.error.HTTPError:
            return process, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    sys.exit(f"the registry did not start: {(work / 'registry.log').read_text()[-2000:]}")


def _dockerd_class() -> Any:
    """bench/compose.py's private dockerd (own containerd, roots, socket; no bridge, no iptables)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("bench_compose", ROOT / "bench" / "compose.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_compose"] = module  # its dataclasses look themselves up there
    spec.loader.exec_module(module)
    return module.Dockerd


def timed(argv: list[str], env: dict[str, str]) -> float:
    os.sync()  # no run pays for the write-back of the one before
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def composer(*args: str) -> list[str]:
    return [sys.executable, "-m", "composer", *args]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--mib", type=int, default=160, help="random bytes in the image, MiB")
    parser.add_argument("--layers", type=int, default=4, help="layers the random bytes are spread over")
    parser.add_argument("--no-docker", action="store_true", help="skip `docker pull` on a private dockerd")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/images.py needs root")
    if not Path(REGISTRY).is_file():
        sys.exit("docker-registry is not installed (apt-get install -y docker-registry)")
    skopeo = shutil.which("skopeo")

    tag = f"composer-bench-{secrets.token_hex(3)}"
    work = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    env = {**os.environ, "COMPOSER_ROOT": str(work / "state"), "COMPOSER_RUN_ROOT": str(work / "run"),
           "COMPOSER_CGROUP_PARENT": f"/{tag}", "COMPOSER_CONFIG": str(work / "cc"),
           "DOCKER_CONFIG": str(work / "dc"), "PYTHONPATH": str(ROOT)}
    figures: dict[str, Any] = {}
    registry: subprocess.Popen[bytes] | None = None
    dockerd: Any = None
    try:
        subprocess.run([sys.executable, str(ROOT / "fixtures/images/build.py"), str(work / "images")], check=True,
                       capture_output=True)
        subprocess.run(composer("image", "load", "-i", str(work / "images" / "busybox-docker.tar")), env=env,
                       check=True, capture_output=True)
        registry, host = start_registry(work)

        # -- the image: the base and random layers, built and pushed by composer ----------------
        big = work / "big"
        big.mkdir()
        lines = [f"FROM {BASE}"]
        per_layer = args.mib * (1 << 20) // args.layers
        for n in range(args.layers):
            with open(big / f"random-{n}.bin", "wb") as out:
                left = per_layer
                while left:
                    chunk = min(left, 8 << 20)
                    out.write(os.urandom(chunk))
                    left -= chunk
            lines.append(f"COPY random-{n}.bin /data/random-{n}.bin")
        (big / "Dockerfile").write_text("\n".join(lines) + "\n")
        image = f"{host}/bench/big:1"
        subprocess.run(composer("image", "build", "-q", "-t", image, str(big)), env=env, check=True,
                       capture_output=True)
        subprocess.run(composer("image", "push", "-q", image), env=env, check=True, capture_output=True)
        manifest = json.loads(subprocess.run(composer("image", "inspect", image), env=env, check=True,
                                             capture_output=True, text=True).stdout)[0]
        sys.path.insert(0, str(ROOT))
        from composer.runtime.images import ImageStore

        stored = ImageStore(work / "state" / "images").get(image)
        size = sum(d.size for d in stored.manifest.layers) + stored.manifest.config.size
        figures["image"] = {"bytes": size, "layers": len(stored.manifest.layers), "id": manifest["Id"]}

        if shutil.which("dockerd") and shutil.which("containerd") and shutil.which("docker") and not args.no_docker:
            dockerd = _dockerd_class()(work / "docker", f"/{tag}-docker")
            dockerd.start()
        pulls, copies, docker_pulls = [], [], []
        for i in range(args.runs):
            if dockerd is not None:
                docker_pulls.append(timed(["docker", "pull", "-q", image], dockerd.env))
                dockerd.docker("rmi", image)
            fresh = {**env, "COMPOSER_ROOT": str(work / f"pull-{i}")}
            pulls.append(timed(composer("image", "pull", "-q", image), fresh))
            shutil.rmtree(work / f"pull-{i}")
            if skopeo:
                dest = work / f"skopeo-{i}"
                copies.append(timed([skopeo, "copy", "-q", "--src-tls-verify=false", f"docker://{image}",
                                     f"oci:{dest}:1"], env))
                shutil.rmtree(dest)
        mb = size / 1e6
        if docker_pulls:
            median = statistics.median(docker_pulls)
            figures["docker_pull"] = {"s": median, "mb_s": mb / median, "runs_s": [round(t, 3) for t in docker_pulls]}
        figures["pull"] = {"composer_s": statistics.median(pulls), "composer_mb_s": mb / statistics.median(pulls),
                           "composer_runs_s": [round(t, 3) for t in pulls]}
        if copies:
            figures["pull"].update({"skopeo_s": statistics.median(copies),
                                    "skopeo_mb_s": mb / statistics.median(copies),
                                    "skopeo_runs_s": [round(t, 3) for t in copies]})

        # -- no-change rebuild ---------------------------------------------------------------------
        ctx = work / "rebuild"
        ctx.mkdir()
        (ctx / "Dockerfile").write_text(REBUILD_DOCKERFILE)
        for name in ("a", "b", "c"):
            (ctx / f"{name}.txt").write_text(f"{name}\n")
        build = composer("image", "build", "-q", "-t", "bench/rebuild:1", str(ctx))
        cold = timed(build, env)
        warm = [timed(build, env) for _ in range(args.runs)]
        figures["rebuild"] = {"steps": 10, "cold_s": cold, "nochange_s": statistics.median(warm),
                              "nochange_runs_s": [round(t, 3) for t in warm]}
    finally:
        if dockerd is not None:
            dockerd.stop()
        if registry is not None:
            registry.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                registry.wait(timeout=10)
            if registry.poll() is None:
                registry.kill()
                registry.wait()
        for cg in [*Path("/sys/fs/cgroup").glob(f"*/{tag}"), *Path("/sys/fs/cgroup").glob(tag)]:
            for d in sorted((p for p in cg.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
                with contextlib.suppress(OSError):
                    d.rmdir()
            with contextlib.suppress(OSError):
                cg.rmdir()
        shutil.rmtree(work, ignore_errors=True)

    img, pull, rebuild = figures["image"], figures["pull"], figures["rebuild"]
    print(f"runs: {args.runs}; medians")
    print(f"image: {img['bytes'] / 1e6:.1f} MB in {img['layers']} layers, from 127.0.0.1 (plain HTTP)")
    print(f"{'pull into a fresh root':<44}{'s':>10}{'MB/s':>10}")
    print(f"{'  composer image pull (whole CLI, unpacked)':<44}{pull['composer_s']:>10.2f}"
          f"{pull['composer_mb_s']:>10.0f}")
    if "skopeo_s" in pull:
        print(f"{'  skopeo copy docker:// oci:':<44}{pull['skopeo_s']:>10.2f}{pull['skopeo_mb_s']:>10.0f}")
        verdict = "met" if pull["composer_s"] <= pull["skopeo_s"] else "NOT met"
        print(f"  target (at least as fast as skopeo): {verdict}")
    else:
        print("  skopeo is not installed: no comparison (apt-get install -y skopeo)")
    if "docker_pull" in figures:
        dp = figures["docker_pull"]
        print(f"{'  docker pull (private dockerd, unpacked)':<44}{dp['s']:>10.2f}{dp['mb_s']:>10.0f}")
        print(f"  target (at least as fast as docker pull): {'met' if pull['composer_s'] <= dp['s'] else 'NOT met'}")
    print(f"10-step Dockerfile: cold build {rebuild['cold_s']:.2f} s, no-change rebuild {rebuild['nochange_s']:.3f} s "
          f"(target < 0.5 s: {'met' if rebuild['nochange_s'] < 0.5 else 'NOT met'})")
    if args.json:
        print(json.dumps(figures))


if __name__ == "__main__":
    main()
