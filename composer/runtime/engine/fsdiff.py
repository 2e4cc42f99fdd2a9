"""`docker diff`: what a container changed, read from its overlay upper dir against the image layers.

The upper dir is written by the container, so it is walked one directory fd at a time with O_NOFOLLOW
(a running container swapping a directory for a symlink cannot send the walk onto the host). The
image layers are the store's, but may hold absolute symlinks, so lookups in them never follow one
either: a layer answers "is this path there" exactly as overlayfs would merge it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from composer.errors import ComposerError
from composer.runtime.images.extract import opaque_xattr

ChangeKind = Literal["A", "C", "D"]

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


@dataclass(frozen=True, slots=True)
class Change:
    """One line of `docker diff`: A(dded), C(hanged) or D(eleted), and the absolute path inside the container."""

    kind: ChangeKind
    path: str

    def __str__(self) -> str:
        return f"{self.kind} {self.path}"


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs marks a deleted path with a 0/0 character device."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == os.makedev(0, 0)


def is_opaque(dir_fd: int) -> bool:
    """True if the directory behind `dir_fd` (a real, not O_PATH, fd) hides the lower layers' contents."""
    for name in dict.fromkeys((opaque_xattr(), *_OPAQUE_XATTRS)):
        with contextlib.suppress(OSError):
            if os.getxattr(dir_fd, name) == b"y":
                return True
    return False


def _entries(dir_fd: int, prefix: list[str]) -> Iterator[tuple[list[str], os.stat_result, int]]:
    """(components, lstat, parent fd) of everything below `dir_fd`, parents before children."""
    for name in sorted(os.listdir(dir_fd)):
        try:
            st = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we walked
        yield [*prefix, name], st, dir_fd


def _in_layer(layer_fd: int, parts: Sequence[str]) -> bool | None:
    """True if the layer holds the path, False if it hides it from the layers below, None if it says nothing."""
    cur = os.dup(layer_fd)
    try:
        for i, name in enumerate(parts):
            try:
                st = os.stat(name, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                return False if _opaque_at(cur) else None
            except NotADirectoryError:
                return None
            if is_whiteout(st):
                return False
            if i == len(parts) - 1:
                return True
            if not stat.S_ISDIR(st.st_mode):
                return False  # a non-directory hides whatever lower layers have below this name
            nxt = os.open(name, _O_PATH_DIR, dir_fd=cur)
            os.close(cur)
            cur = nxt
        return True
    finally:
        os.close(cur)


def _opaque_at(opath_fd: int) -> bool:
    fd = os.open(".", _O_DIR, dir_fd=opath_fd)
    try:
        return is_opaque(fd)
    finally:
        os.close(fd)


def _in_lowers(layer_fds: Sequence[int], parts: Sequence[str]) -> bool:
    """Whether the merged lower layers (top first) show the path."""
    for fd in layer_fds:
        found = _in_layer(fd, parts)
        if found is not None:
            return found
    return False


def changes(upper: Path, lowers: Sequence[Path]) -> list[Change]:
    """The changes in `upper` over `lowers` (lowest first, as ImageStore.layer_dirs gives), sorted by path."""
    try:
        upper_fd = os.open(upper, _O_DIR)
    except OSError as err:
        raise ComposerError(f"cannot read the container's changes in {upper}: {err.strerror}") from None
    layer_fds: list[int] = []
    try:
        for layer in reversed(lowers):
            layer_fds.append(os.open(layer, _O_PATH_DIR))
        out: list[Change] = []
        _collect(upper_fd, [], layer_fds, hidden=False, out=out)
    except OSError as err:
        raise ComposerError(f"cannot read the container's changes: {err.strerror} ({err.filename or upper})") from None
    finally:
        os.close(upper_fd)
        for fd in layer_fds:
            os.close(fd)
    out.sort(key=lambda c: c.path)
    return out


def _collect(dir_fd: int, prefix: list[str], layer_fds: Sequence[int], *, hidden: bool, out: list[Change]) -> None:
    """Walk one upper directory; `hidden` once an opaque directory above hid the lower layers."""
    for parts, st, parent in _entries(dir_fd, prefix):
        path = "/" + "/".join(parts)
        if is_whiteout(st):
            out.append(Change("D", path))
            continue
        below = not hidden and _in_lowers(layer_fds, parts)
        out.append(Change("C" if below else "A", path))
        if not stat.S_ISDIR(st.st_mode):
            continue
        try:
            child = os.open(parts[-1], _O_DIR, dir_fd=parent)
        except OSError as err:
            if err.errno in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                continue  # removed, or swapped for a symlink, by a running container while we walked
            raise
        try:
            _collect(child, parts, layer_fds, hidden=hidden or not below or is_opaque(child), out=out)
        finally:
            os.close(child)
