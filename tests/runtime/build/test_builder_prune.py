"""`composer builder prune`: cache mounts go, cached steps go with -a, tagged images and busy mounts stay."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest

from tests.cli.harness import run_cli
from tests.runtime.build.test_build import BASE, build, context, run_image
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

DOCKERFILE = f"""\
FROM {BASE}
RUN --mount=type=cache,id=pip,target=/cache echo x >> /cache/count && wc -l < /cache/count > /seen.txt
RUN --mount=type=cache,id=apt,target=/cache2 echo y > /cache2/y && echo two > /two.txt
CMD ["cat", "/seen.txt", "/two.txt"]
"""


def test_builder_prune(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": DOCKERFILE})
    first = build(eng, "-t", "pruned:1", str(ctx))
    assert first.code == 0, first.stderr
    mounts = Path(eng.env["COMPOSER_ROOT"]) / "build" / "cache-mounts"
    dirs = sorted(p.name for p in mounts.iterdir() if p.is_dir())
    assert [d.rsplit("-", 1)[0] for d in dirs] == ["apt", "pip"]

    held = os.open(mounts / f"{dirs[0]}.lock", os.O_RDWR)  # a build using the apt cache right now
    try:
        fcntl.flock(held, fcntl.LOCK_SH)
        pruned = run_cli(eng.tmp, ["builder", "prune", "-f"], env=eng.env)
    finally:
        os.close(held)
    assert pruned.code == 0, pruned.stderr
    assert pruned.stdout.splitlines()[:2] == ["Deleted build cache objects:", "cache-mount:pip"], pruned.stdout
    assert "cache mount apt is in use by a running build: kept" in pruned.stderr
    assert "Total reclaimed space: " in pruned.stdout
    assert sorted(p.name for p in mounts.iterdir() if p.is_dir()) == dirs[:1]

    cached = build(eng, "-t", "pruned:1", str(ctx))  # cached steps survive a plain prune
    assert cached.code == 0, cached.stderr
    assert cached.stderr.count("CACHED") == 2, cached.stderr

    everything = run_cli(eng.tmp, ["builder", "prune", "-a", "-f"], env=eng.env)
    assert everything.code == 0, everything.stderr
    deleted = everything.stdout.splitlines()
    assert "cache-mount:apt" in deleted
    assert any(line.startswith("sha256:") for line in deleted), everything.stdout  # the first RUN's image
    assert not [p for p in mounts.iterdir() if p.is_dir()]
    assert run_image(eng, "pruned:1").stdout == "1\ntwo\n"  # the tagged image stays whole

    again = build(eng, "-t", "pruned:2", str(ctx))
    assert again.code == 0, again.stderr
    assert "CACHED" not in again.stderr, again.stderr
    assert run_image(eng, "pruned:2").stdout == "1\ntwo\n"  # a fresh cache mount: the count starts over
