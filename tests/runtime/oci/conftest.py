"""Fixtures for the runc + conmon tests: a busybox layer, per-test roots and ids, and a leak-proof cleanup.

Every container id starts with a per-test random tag, and its cgroup lives under `/<tag>/`, so the cleanup
finds exactly what this test made (and nothing of a parallel worker's) even after a failure.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from composer.runtime.oci.lifecycle import OciRuntime
from composer.runtime.oci.paths import Roots
from composer.runtime.oci.rootfs import mount_points, unmount_rootfs
from tests.runtime.oci.minispec import minimal_spec

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "sleep", "cat", "true", "false", "ls")


def _require_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool, pkg in (("runc", "runc"), ("conmon", "conmon")):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install -y {pkg})")
    if not BUSYBOX.is_file():
        pytest.skip("busybox-static is not installed (apt-get install -y busybox-static)")


@pytest.fixture(scope="session")
def busybox_layer(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An unpacked image layer: /bin/busybox plus applet symlinks and the usual empty directories."""
    _require_root_tools()
    layer = tmp_path_factory.mktemp("busybox-layer")
    (layer / "bin").mkdir()
    shutil.copy2(BUSYBOX, layer / "bin" / "busybox")
    for applet in APPLETS:
        (layer / "bin" / applet).symlink_to("busybox")
    for d in ("proc", "dev", "sys", "tmp", "etc", "root"):
        (layer / d).mkdir()
    return layer


@dataclass
class OciEnv:
    """One test's runtime, tag and helpers."""

    runtime: OciRuntime
    tag: str
    layer: Path
    tmp: Path
    _counter: Iterator[int] = field(default_factory=itertools.count)

    def new_id(self) -> str:
        return f"{self.tag}-{next(self._counter)}"

    def spec(self, cid: str, *args: str) -> dict[str, Any]:
        return minimal_spec(list(args), f"/{self.tag}/{cid}")

    def create(self, *args: str) -> tuple[str, int]:
        cid = self.new_id()
        return cid, self.runtime.create(cid, self.spec(cid, *args), [self.layer])


def conmon_pids(tag: str) -> list[int]:
    """Pids of conmon processes whose command line mentions `tag`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv and argv[0].endswith(b"conmon") and any(tag.encode() in a for a in argv):
            found.append(int(entry.name))
    return found


def mounts_under(root: Path) -> list[str]:
    prefix = os.path.realpath(root) + "/"
    return [m for m in mount_points() if m.startswith(prefix)]


def cgroup_dirs(tag: str) -> list[Path]:
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/{tag}") if p.is_dir()]


def _retry(fn: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not fn():
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.05)
    return True


def _rm_cgroup_tree(top: Path) -> bool:
    """rmdir a cgroup directory tree bottom-up (cgroupfs forbids unlinking its files); True when gone."""
    for d in sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            d.rmdir()
    with contextlib.suppress(OSError):
        top.rmdir()
    return not top.exists()


@pytest.fixture
def oci(busybox_layer: Path, tmp_path: Path) -> Iterator[OciEnv]:
    tag = f"composer-test-{secrets.token_hex(4)}"
    roots = Roots(state_root=tmp_path / "state", run_root=tmp_path / "run")
    env = OciEnv(OciRuntime(roots), tag, busybox_layer, tmp_path)
    try:
        yield env
    finally:
        runc = env.runtime.cfg.runtime
        root = f"--root={roots.runc_root}"
        listed = subprocess.run([runc, root, "list", "-q"], capture_output=True, text=True)
        for cid in listed.stdout.split():
            subprocess.run([runc, root, "delete", "--force", cid], capture_output=True)
        for pid in conmon_pids(tag):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, 9)
        _retry(lambda: not conmon_pids(tag))
        for m in sorted(mounts_under(tmp_path), key=len, reverse=True):
            unmount_rootfs(Path(m))
        for cg in cgroup_dirs(tag):
            _retry(functools.partial(_rm_cgroup_tree, cg))
        assert mounts_under(tmp_path) == [], "mounts left under the test's tmp dir"
        assert conmon_pids(tag) == [], "conmon processes left"
        assert cgroup_dirs(tag) == [], "cgroup directories left"
