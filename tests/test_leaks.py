"""The leak check itself must see leaks: made on purpose here, then removed."""

from __future__ import annotations

import os
import secrets
import subprocess
from pathlib import Path

import pytest

from tests.leaks import leaks

pytestmark = pytest.mark.root


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_leak_check_sees_a_cgroup_and_a_mount(tmp_path: Path) -> None:
    controller = next((p for p in Path("/sys/fs/cgroup").iterdir() if (p / "cgroup.procs").exists()),
                      Path("/sys/fs/cgroup"))
    cgroup = controller / f"composer-test-{secrets.token_hex(4)}"
    mountpoint = tmp_path / "m"
    mountpoint.mkdir()
    cgroup.mkdir()
    try:
        subprocess.run(["mount", "-t", "tmpfs", "none", str(mountpoint)], check=True)
        try:
            found = leaks()
            assert f"cgroup {cgroup}" in found
            assert f"mount {mountpoint}" in found
        finally:
            subprocess.run(["umount", str(mountpoint)], check=True)
    finally:
        cgroup.rmdir()
    assert not [f for f in leaks() if str(cgroup) in f or str(mountpoint) in f]
