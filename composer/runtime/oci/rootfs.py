"""The container's root filesystem: an overlay of the image layers under a per-container upper dir.

Mounting goes through mount(2)/umount2(2) via ctypes (no subprocess per container), and both directions are
idempotent because a killed composer may leave either state behind and the next command must simply redo it.
"""

from __future__ import annotations

import ctypes
import errno
import os
from collections.abc import Sequence
from pathlib import Path

from composer.errors import ComposerError
from composer.runtime import libc

_MNT_DETACH = 2
_PAGE = 4096

_libc = libc.load()
_libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
_libc.umount2.argtypes = [ctypes.c_char_p, ctypes.c_int]


def _unescape(field: str) -> str:
    """Decode mountinfo's octal escapes (space is \\040, newline \\012, backslash \\134)."""
    out = bytearray()
    i = 0
    raw = field.encode()
    while i < len(raw):
        if raw[i] == 0x5C and i + 4 <= len(raw) and raw[i + 1 : i + 4].isdigit():
            out.append(int(raw[i + 1 : i + 4], 8))
            i += 4
        else:
            out.append(raw[i])
            i += 1
    return out.decode(errors="surrogateescape")


def mount_points(mountinfo: str | None = None) -> list[str]:
    """Mount points of this mount namespace, from /proc/self/mountinfo (or the given text, for tests)."""
    text = mountinfo if mountinfo is not None else Path("/proc/self/mountinfo").read_text()
    return [_unescape(line.split(" ")[4]) for line in text.splitlines() if line.strip()]


def is_mounted(path: Path) -> bool:
    """True if something is mounted exactly at `path`."""
    target = os.path.realpath(path)
    return target in mount_points()


def overlay_options(layers: Sequence[Path], upper: Path, work: Path) -> str:
    """The overlay option string; `layers` is lowest first (as ImageStore.layer_dirs gives), overlay wants top first."""
    if not layers:
        raise ComposerError("cannot mount a root filesystem: the image has no layers")
    for p in (*layers, upper, work):
        if any(c in str(p) for c in ",:"):
            raise ComposerError(f"overlay cannot use a path containing ',' or ':': {p}")
    lower = ":".join(str(p) for p in reversed(layers))
    # redirect_dir and metacopy off: `diff` and `commit` read the upper dir as plain files and whiteouts
    opts = f"lowerdir={lower},upperdir={upper},workdir={work},redirect_dir=off,metacopy=off"
    if len(opts) >= _PAGE:
        raise ComposerError(f"too many image layers for one overlay mount ({len(layers)} layers)")
    return opts


def mount_rootfs(layers: Sequence[Path], upper: Path, work: Path, target: Path) -> None:
    """Mount the overlay at `target`, creating upper/work/target; a no-op if `target` is already a mount point."""
    for d in (upper, work, target):
        d.mkdir(parents=True, exist_ok=True)
    if os.stat(target).st_dev != os.stat(target.parent).st_dev:
        return  # mounted already: an overlay has its own device number (no need to read the mount table)
    opts = overlay_options(layers, upper, work)
    rc = _libc.mount(b"overlay", os.fsencode(target), b"overlay", 0, opts.encode())
    if rc != 0:
        err = ctypes.get_errno()
        raise ComposerError(f"cannot mount the overlay root filesystem at {target}: {os.strerror(err)}")


def unmount_rootfs(target: Path) -> None:
    """Unmount `target` (lazily, so a straggling process cannot block removal); a no-op if not mounted.

    Unmounts until the kernel says `target` is no mount point (EINVAL) rather than reading the mount table
    before and after: with many containers that table is long, and `down` removes them all at once."""
    for _ in range(64):  # a path can carry stacked mounts after a crash and a retry
        if _libc.umount2(os.fsencode(target), _MNT_DETACH) != 0:
            err = ctypes.get_errno()
            if err in (errno.EINVAL, errno.ENOENT):
                return
            raise ComposerError(f"cannot unmount {target}: {os.strerror(err)}")
    raise ComposerError(f"cannot unmount {target}: still mounted after 64 unmounts")
