"""Fixtures for the engine's root tier: an Engine on per-test roots with the fixture images loaded.

Every test gets its own state root, run root and cgroup parent `/<tag>`, so parallel workers never
share a container, lock, mount or cgroup; the cleanup removes whatever is left and fails the test
if it had to remove anything but what the test was expected to leave running.
Import the fixtures into a test module with `from tests.runtime.engine.enginefix import *`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from composer.runtime.engine.engine import Engine
from composer.runtime.oci.rootfs import unmount_rootfs
from tests.cli.harness import Result, run_cli
from tests.runtime.oci.conftest import _retry, _rm_cgroup_tree, conmon_pids, mounts_under

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "fixtures" / "images" / "build.py"
BASE = "composer-fixture/base"
APP = "composer-fixture/app"


def _require_root_tools() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    for tool in ("runc", "conmon"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed (apt-get install -y {tool})")
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static is not installed (apt-get install -y busybox-static)")


@pytest.fixture(scope="session")
def image_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docker-archive of the fixture images, built once per session."""
    _require_root_tools()
    out = tmp_path_factory.mktemp("engine-images")
    subprocess.run([sys.executable, str(BUILD), str(out)], check=True, capture_output=True)
    return out / "busybox-docker.tar"


@dataclass
class EngineEnv:
    """One test's engine, its roots and tag, and a CLI runner pointed at the same roots."""

    engine: Engine
    tag: str
    tmp: Path

    @property
    def env(self) -> dict[str, str]:
        return {
            "COMPOSER_ROOT": str(self.engine.roots.state_root),
            "COMPOSER_RUN_ROOT": str(self.engine.roots.run_root),
            "COMPOSER_CGROUP_PARENT": f"/{self.tag}",
            "COMPOSER_NFT_TABLE": nft_table(self.tag),
        }

    def cli(self, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None) -> Result:
        return run_cli(self.tmp, ["container", *args], env={**self.env, **(env or {})}, stdin=stdin)

    def cli_process(self, *args: str, env: dict[str, str] | None = None, timeout: float = 60,
                    **kwargs: Any) -> subprocess.CompletedProcess[str]:
        """The CLI as a separate process (for failpoints, signals and terminals)."""
        return subprocess.run(
            [sys.executable, "-m", "composer", "container", *args],
            env={**os.environ, **self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=self.tmp,
            **kwargs,
        )


def nft_table(tag: str) -> str:
    """The test's own nftables table (the leak check knows the `cmpt` prefix)."""
    return "cmpt" + tag.rsplit("-", 1)[-1]


def cleanup_roots(tag: str, state_root: Path, run_root: Path, tmp: Path) -> list[str]:
    """Remove every trace of a test's containers; return what had to be removed (empty = no leak)."""
    leaked: list[str] = []
    runc = shutil.which("runc") or "runc"
    root = f"--root={run_root / 'runc'}"
    listed = subprocess.run([runc, root, "list", "-q"], capture_output=True, text=True)
    for cid in listed.stdout.split():
        leaked.append(f"runc container {cid}")
        subprocess.run([runc, root, "delete", "--force", cid], capture_output=True)
    for pid in conmon_pids(str(state_root)):
        leaked.append(f"conmon {pid}")
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 9)
    _retry(lambda: not conmon_pids(str(state_root)))
    for m in mounts_under(tmp):
        leaked.append(f"mount {m}")
    for m in sorted(mounts_under(tmp), key=len, reverse=True):
        unmount_rootfs(Path(m))
    for cg in [*Path("/sys/fs/cgroup").glob(f"*/{tag}"), *Path("/sys/fs/cgroup").glob(tag)]:
        if any(p.is_dir() for p in cg.iterdir()):
            leaked.append(f"cgroup {cg}")
        _retry(lambda cg=cg: _rm_cgroup_tree(cg))  # type: ignore[misc]
    return leaked


@pytest.fixture
def eng(image_archive: Path, tmp_path: Path) -> Iterator[EngineEnv]:
    """An engine with the fixture images; fails the test if it leaves a container, conmon, mount or cgroup."""
    tag = f"composer-test-{secrets.token_hex(4)}"
    state, run = tmp_path / "state", tmp_path / "run"
    engine = Engine(state, run, cgroup_parent=f"/{tag}", nft_table=nft_table(tag))
    engine.images.load(str(image_archive))
    env = EngineEnv(engine, tag, tmp_path)
    try:
        yield env
    finally:
        for c in engine.list(all=True):
            with contextlib.suppress(Exception):
                engine.remove(c.id, force=True)
        for record in engine.networks.records():
            with contextlib.suppress(Exception):
                engine.networks.remove(record.id)
        subprocess.run(["nft", "delete", "table", "inet", nft_table(tag)], capture_output=True)
        leaked = cleanup_roots(tag, state, run, tmp_path)
        assert leaked == [], f"left behind: {leaked}"
        assert not list((state / "containers").glob("[0-9a-f]*")), "container directories left"


def inspect(env: EngineEnv, ref: str) -> dict[str, Any]:
    result = env.cli("inspect", ref)
    assert result.code == 0, result.stderr
    doc: dict[str, Any] = json.loads(result.stdout)[0]
    return doc
