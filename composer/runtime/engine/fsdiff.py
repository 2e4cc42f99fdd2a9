"""`docker diff`: what a container changed, read from its overlay upper dir against the image layers.

The upper dir is written by the container, so it is walked one directory fd at a time with O_NOFOLLOW
(a running container swapping a directory for a symlink cannot send the walk onto the host). The
image layers are the store's, but may hold absolute symlinks, so lookups in them never follow one
either: a layer answers "is this path there" exactly as overlayfs would merge it (a whiteout, a
non-directory or an opaque directory on the way hides the layers below).

Docker keeps the files every container gets bind-mounted (/etc/hosts, /etc/resolv.conf, ...) in an
"init" layer under the container's, so they never show in `docker diff` nor in a commit. Here the
runtime creates their empty mount targets in the upper dir; `INIT_PATHS` names them, and an empty
file or directory there (absent from the image) is left out, as is the mtime change it caused in
its parent. A directory that is in the image is reported "C" when something below it changed or
its own mode, owner or mtime did, as Docker compares them.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from composer.errors import ComposerError
from composer.runtime.images.extract import opaque_xattr

ChangeKind = Literal["A", "C", "D"]

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_VANISHED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # removed, or swapped for a symlink, while we walked

INIT_PATHS: frozenset[str] = frozenset({
    "/.dockerenv", "/dev", "/dev/console", "/dev/pts", "/dev/shm", "/etc/hostname", "/etc/hosts", "/etc/mtab",
    "/etc/resolv.conf", "/proc", "/sys",
})
"""Mount targets of Docker's init layer: empty placeholders there are the runtime's, not the container's."""


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
    """True if the directory behind `dir_fd` (a real, not O_PATH, fd) hides the lower layers' contents.

    Only the namespace our mounts use counts: a container may set `user.overlay.opaque` on its own files,
    which a `trusted.` mount ignores, and so must we.
    """
    try:
        return os.getxattr(dir_fd, opaque_xattr()) == b"y"
    except OSError:
        return False


def is_placeholder(path: str, st: os.stat_result, dir_fd: int | None, ignore: Collection[str]) -> bool:
    """An empty mount target the runtime made at an `ignore` path: an empty file, or an empty plain directory."""
    if path not in ignore:
        return False
    if stat.S_ISREG(st.st_mode):
        return st.st_size == 0
    if stat.S_ISDIR(st.st_mode) and dir_fd is not None:
        return not os.listdir(dir_fd) and not is_opaque(dir_fd)
    return False


def _entries(dir_fd: int) -> Iterator[tuple[str, os.stat_result]]:
    """(name, lstat) of what is in the directory behind `dir_fd`, sorted by name."""
    for name in sorted(os.listdir(dir_fd)):
        try:
            yield name, os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
        except FileNotFoundError:
            continue  # removed while we walked


class _Lowers:
    """The image layers (top first) as overlayfs merges them, looked up without following any link."""

    def __init__(self, layer_fds: Sequence[int]) -> None:
        self.fds = layer_fds
        self._opaque: dict[tuple[int, tuple[str, ...]], bool] = {}

    def _opaque_dir(self, index: int, parts: Sequence[str], fd: int) -> bool:
        key = (index, tuple(parts))
        if key not in self._opaque:
            real = os.open(".", _O_DIR, dir_fd=fd)
            try:
                self._opaque[key] = is_opaque(real)
            finally:
                os.close(real)
        return self._opaque[key]

    def _in_layer(self, index: int, parts: Sequence[str]) -> os.stat_result | bool | None:
        """The entry's lstat if layer `index` has the path, False if it hides it from the layers below, None if
        it says nothing about it."""
        stack = [os.dup(self.fds[index])]
        try:
            for i, name in enumerate(parts):
                try:
                    st = os.stat(name, dir_fd=stack[-1], follow_symlinks=False)
                except FileNotFoundError:
                    # an opaque directory anywhere on the way hides the lower layers' entries below it
                    hidden = any(self._opaque_dir(index, parts[:k], stack[k]) for k in range(1, len(stack)))
                    return False if hidden else None
                if is_whiteout(st):
                    return False
                if i == len(parts) - 1:
                    return st
                if not stat.S_ISDIR(st.st_mode):
                    return False  # a non-directory hides whatever lower layers have below this name
                stack.append(os.open(name, _O_PATH_DIR, dir_fd=stack[-1]))
            return os.fstat(stack[-1])
        finally:
            for fd in stack:
                os.close(fd)

    def stat(self, parts: Sequence[str]) -> os.stat_result | None:
        """What the merged lower layers show at the path, or None."""
        for index in range(len(self.fds)):
            found = self._in_layer(index, parts)
            if found is not None:
                return found if isinstance(found, os.stat_result) else None
        return None


def _dir_changed(st: os.stat_result, lower: os.stat_result, *, mtime: bool) -> bool:
    """Docker's test for a directory that is in both: mode, owner or (unless a placeholder moved it) mtime."""
    same = (st.st_mode, st.st_uid, st.st_gid) == (lower.st_mode, lower.st_uid, lower.st_gid)
    return not same or (mtime and st.st_mtime_ns != lower.st_mtime_ns)


def changes(upper: Path, lowers: Sequence[Path], *, ignore: Collection[str] = INIT_PATHS) -> list[Change]:
    """The changes in `upper` over `lowers` (lowest first, as ImageStore.layer_dirs gives), sorted by path.

    Empty placeholders at `ignore` paths that the image does not have are left out (see INIT_PATHS).
    """
    try:
        upper_fd = os.open(upper, _O_DIR)
    except OSError as err:
        raise ComposerError(f"cannot read the container's changes in {upper}: {err.strerror}") from None
    layer_fds: list[int] = []
    try:
        for layer in reversed(lowers):
            layer_fds.append(os.open(layer, _O_PATH_DIR))
        out, _ = _collect(upper_fd, [], _Lowers(layer_fds), hidden=False, ignore=ignore)
    except OSError as err:
        raise ComposerError(f"cannot read the container's changes: {err.strerror} ({err.filename or upper})") from None
    finally:
        os.close(upper_fd)
        for fd in layer_fds:
            os.close(fd)
    out.sort(key=lambda c: c.path)
    return out


def _collect(
    dir_fd: int, prefix: list[str], lowers: _Lowers, *, hidden: bool, ignore: Collection[str]
) -> tuple[list[Change], bool]:
    """The changes below one upper directory, and whether it held runtime placeholders that were left out.

    `hidden` once an opaque or new directory above means nothing below comes from the lower layers.
    """
    out: list[Change] = []
    skipped = False
    for name, st in _entries(dir_fd):
        parts = [*prefix, name]
        path = "/" + "/".join(parts)
        if is_whiteout(st):
            out.append(Change("D", path))
            continue
        lower = None if hidden else lowers.stat(parts)
        if not stat.S_ISDIR(st.st_mode):
            if lower is None and is_placeholder(path, st, None, ignore):
                skipped = True
            else:
                out.append(Change("A" if lower is None else "C", path))
            continue
        try:
            child = os.open(name, _O_DIR, dir_fd=dir_fd)
        except OSError as err:
            if err.errno in _VANISHED:
                continue  # removed, or swapped for a symlink, by a running container while we walked
            raise
        try:
            opaque = is_opaque(child)
            if lower is None and is_placeholder(path, st, child, ignore):
                skipped = True
                continue
            below, held = _collect(child, parts, lowers, hidden=hidden or lower is None or opaque, ignore=ignore)
        finally:
            os.close(child)
        if lower is None:
            if not below and held and not opaque:
                skipped = True  # a directory made only to hold placeholders (an image without /etc)
                continue
            out.append(Change("A", path))
        elif below or opaque or not stat.S_ISDIR(lower.st_mode) or _dir_changed(st, lower, mtime=not held):
            out.append(Change("C", path))
        out.extend(below)
    return out, skipped


__all__ = ["INIT_PATHS", "Change", "ChangeKind", "changes", "is_opaque", "is_placeholder", "is_whiteout"]
