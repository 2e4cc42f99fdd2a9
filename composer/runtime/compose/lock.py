"""One lock per project: two commands on one project serialize, and the waiting one says who holds it."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import sys
from collections.abc import Iterator
from pathlib import Path


def _holder(path: Path) -> str:
    try:
        text = path.read_text().strip()
    except OSError:
        return "another composer process"
    pid, _, what = text.partition(" ")
    return f"composer process {pid} ({what})" if pid.isdigit() else "another composer process"


@contextlib.contextmanager
def project_lock(run_root: Path, project: str, what: str) -> Iterator[None]:
    """Hold `<run root>/projects/<project>.lock` (flock: dies with its holder) for the duration."""
    path = run_root / "projects" / f"{project}.lock"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            print(f"waiting for {_holder(path)}, which holds the lock on project {project}", file=sys.stderr,
                  flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {what}\n".encode(), 0)
        yield
    finally:
        os.close(fd)
