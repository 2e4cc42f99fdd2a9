"""`composer builder prune`: the build cache's disk space back.

The build cache is two things under `<state root>/build/`: `cache.json` (step key -> the image that step
made) and `cache-mounts/` (the directories of `RUN --mount=type=cache`). By default the cache mounts
go (those no running build holds) and cache entries whose image is gone are forgotten. With `all`,
every cache entry is forgotten too, and the step images it named are deleted unless a tag or a
container still uses them; then the store drops the layers nothing refers to any more.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.runtime.fsutil import write_atomic


@dataclass(slots=True)
class BuildPruneReport:
    deleted: list[str] = field(default_factory=list)
    """What went: `cache-mount:<id>` and the IDs of deleted step images."""
    busy: list[str] = field(default_factory=list)
    """Cache mounts a running build holds (kept)."""
    space_reclaimed: int = 0


def _tree_size(path: Path) -> int:
    total = 0
    for root, dirs, files in os.walk(path):
        for name in files + dirs:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def _shown(name: str) -> str:
    """A cache mount's directory is `<id, made safe>-<16 hex of the id>`: the id part is what users wrote."""
    return re.sub(r"-[0-9a-f]{16}$", "", name)


STALE_NEW = 3600.0
"""Seconds after which a `.new-*` directory (a cache mount's first use, renamed into place) is abandoned."""


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _prune_cache_mounts(root: Path, report: BuildPruneReport) -> None:
    mounts = root / "cache-mounts"
    if not mounts.is_dir():
        return
    for entry in sorted(mounts.iterdir()):
        if not entry.is_dir() or entry.name.startswith("."):
            if entry.name.startswith(".new-") and _older_than(entry, STALE_NEW):  # a first use that died
                shutil.rmtree(entry, ignore_errors=True)  # before its rename (a young one may be mid-way)
            continue
        lock = mounts / f"{entry.name}.lock"
        fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                report.busy.append(_shown(entry.name))
                continue
            report.space_reclaimed += _tree_size(entry)
            shutil.rmtree(entry)  # the lock file stays: a build waiting on it must lock the same inode
            report.deleted.append(f"cache-mount:{_shown(entry.name)}")
        finally:
            os.close(fd)


def prune_build_cache(build_root: Path, store: Any, *, all: bool = False,
                      in_use: Callable[[str], bool] = lambda _id: False) -> BuildPruneReport:
    """See the module; `store` is the engine's ImageStore, `in_use` tells images containers use."""
    report = BuildPruneReport()
    _prune_cache_mounts(build_root, report)
    path = build_root / "cache.json"
    lock_path = build_root / "cache.lock"
    if not path.is_file():
        return report
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            entries: dict[str, str] = json.loads(path.read_bytes())
        except (OSError, ValueError):
            entries = {}
        images = {image.id for image in store.images()}
        if all:  # the step images first, when no tag or container holds them: killed after this, a rerun
            pruned = store.prune(in_use=in_use, only=set(entries.values()) & images)  # still finds the entries
            report.deleted.extend(event.value for event in pruned.events if event.kind == "Deleted")
            report.space_reclaimed += pruned.space_reclaimed
        kept = {} if all else {key: image for key, image in entries.items() if image in images}
        write_atomic(path, json.dumps(kept, sort_keys=True).encode(), fsync=False)
    finally:
        os.close(fd)
    return report


__all__ = ["BuildPruneReport", "prune_build_cache"]
