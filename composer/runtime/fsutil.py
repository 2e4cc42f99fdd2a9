"""Writing state files so that a crash at any moment leaves the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable (the directory entry, not just the file, must reach the disk)."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, mode: int = 0o600, *, fsync: bool = True, sync_dir: bool = True) -> None:
    """Replace `path` with `data` (temp file + rename).

    A killed process never leaves a torn file either way; the fsyncs are about power cuts. `fsync=False`
    for files that can be rebuilt; `sync_dir=False` where losing the rename on a power cut only loses
    what the next command repairs anyway (the engine's records: runc's state is on tmpfs and gone too).
    """
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            os.fchmod(out.fileno(), mode)
            if fsync:
                out.flush()
                os.fsync(out.fileno())
        os.rename(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    if fsync and sync_dir:
        fsync_dir(path.parent)
