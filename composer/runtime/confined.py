"""Reading a file inside a container's root filesystem as if chrooted there.

An image's /etc/passwd may be a symlink to `/../../etc/shadow` or to an absolute host path; resolving
it with the host's view would read the host's files. Each component is opened with O_NOFOLLOW under
the previous directory's fd, and symlinks are resolved by hand against the rootfs.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

_MAX_LINKS = 40


def open_in_root(root: Path, path: str, flags: int = os.O_RDONLY) -> int:
    """An fd for `path` resolved inside `root` (absolute symlinks and `..` stay inside); OSError if absent."""
    root_fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return _walk(root_fd, path, flags)
    finally:
        os.close(root_fd)


def _walk(root_fd: int, path: str, flags: int) -> int:
    pending = [p for p in path.split("/") if p not in ("", ".")]
    stack: list[int] = []  # fds of the directories walked so far (for `..`)
    links = 0
    cur = os.dup(root_fd)
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if stack:
                    os.close(cur)
                    cur = stack.pop()
                continue
            last = not pending
            try:
                st = os.stat(part, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                raise
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > _MAX_LINKS:
                    raise OSError(errno.ELOOP, "too many symlinks", path)
                target = os.readlink(part, dir_fd=cur)
                if target.startswith("/"):
                    for fd in stack:
                        os.close(fd)
                    stack.clear()
                    os.close(cur)
                    cur = os.dup(root_fd)
                pending = [p for p in target.split("/") if p not in ("", ".")] + pending
                continue
            if last:
                return os.open(part, flags | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            nxt = os.open(part, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=cur)
            stack.append(cur)
            cur = nxt
        return os.open(".", flags | os.O_CLOEXEC, dir_fd=cur)
    finally:
        os.close(cur)
        for fd in stack:
            os.close(fd)


def read_text_in_root(root: Path, path: str, limit: int = 4 << 20) -> str | None:
    """The text of a small file inside `root`, or None if it is missing or not a regular file."""
    with contextlib.suppress(OSError):
        fd = open_in_root(root, path)
        with os.fdopen(fd, "rb") as f:
            if not stat.S_ISREG(os.fstat(f.fileno()).st_mode):
                return None
            return f.read(limit).decode(errors="replace")
    return None
