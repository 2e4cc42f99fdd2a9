"""Named network namespaces, kept alive by a bind mount as `ip netns` does, so runc can join them by path.

A namespace lives as long as something holds it; the bind mount of `/proc/thread-self/ns/net` onto
`<dir>/<name>` is that holder, and unmounting it (plus the container's processes ending) frees it.
Like iproute2, the directory is made a shared mount point (bound onto itself first) so that an unmount also
reaches copies of the mount made in other mount namespaces; otherwise a copy could keep the namespace alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str, target: str, flags: int) -> None:
    _check(_libc.mount(source.encode(), target.encode(), None, flags, None), f"mount {source} on {target}")


def _mount_points() -> dict[str, str]:
    """Mount point -> file system type, from this process's mount table (octal escapes decoded)."""
    out: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        point = fields[4].encode().decode("unicode_escape")
        fstype = fields[fields.index("-") + 1]
        out[point] = fstype
    return out


def is_mounted_netns(path: Path) -> bool:
    return _mount_points().get(str(path)) == "nsfs"


def _prepare_dir(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o755)
    if str(directory) not in _mount_points():
        _mount(str(directory), str(directory), MS_BIND | MS_REC)
    _mount("none", str(directory), MS_SHARED | MS_REC)


def _make_here(path: Path) -> None:
    """unshare + bind mount, then back: network namespaces are per thread, and this thread (the caller's,
    or a trio worker) returns to its own namespace before anything else runs on it."""
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        try:
            _mount(f"/proc/{os.getpid()}/task/{threading.get_native_id()}/ns/net", str(path), MS_BIND)
        finally:
            _check(_libc.setns(original, CLONE_NEWNET), "setns back to the original netns")
    finally:
        os.close(original)


def create(directory: Path, name: str) -> Path:
    """Make (or find) the namespace `<directory>/<name>` with its loopback up; return its path."""
    if "/" in name or name in ("", ".", ".."):
        raise ValueError(f"bad netns name {name!r}")
    path = directory / name
    if not is_mounted_netns(path):
        with _dir_lock(directory):  # not while another thread or command releases the directory
            _prepare_dir(directory)
            fd = os.open(path, os.O_RDONLY | os.O_CREAT, 0o444)  # the mount point; may exist from a killed run
            os.close(fd)
            _make_here(path)
    _loopback_up(path)
    return path


_DIR_LOCKS: dict[str, threading.Lock] = {}
_DIR_LOCKS_GUARD = threading.Lock()


@contextlib.contextmanager
def _dir_lock(directory: Path) -> Iterator[None]:
    """Creating a namespace in the directory and releasing the directory once empty exclude each other
    between the threads of one command (a parallel `up` or `down`); across commands, `release_dir` takes an
    unmount that another got to first as done."""
    with _DIR_LOCKS_GUARD:
        lock = _DIR_LOCKS.setdefault(str(directory), threading.Lock())
    with lock:
        yield


SIOCGSKNS = 0x894C  # ioctl: a socket's network namespace, as an fd


@contextlib.contextmanager
def netlink(path: Path) -> Iterator[Any]:
    """An rtnetlink socket (pyroute2 `IPRoute`) inside the namespace at `path`, without forking.

    pyroute2's own `IPRoute(netns=...)` forks the whole process to enter the namespace; a socket belongs to
    the namespace it was made in, and namespaces are per thread, so this thread enters it, makes the
    socket and comes back at once. The socket's namespace is checked before anyone uses it.
    """
    from pyroute2 import IPRoute

    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(_libc.setns(target, CLONE_NEWNET), f"setns into {path}")
        try:
            ipr = IPRoute()
        finally:
            _check(_libc.setns(original, CLONE_NEWNET), "setns back to the original netns")
        owner = fcntl.ioctl(ipr.fileno(), SIOCGSKNS)
        try:
            if os.fstat(owner).st_ino != os.fstat(target).st_ino:
                ipr.close()
                raise OSError(f"netlink socket is not in {path}")
        finally:
            os.close(owner)
    finally:
        os.close(original)
        os.close(target)
    with ipr:
        yield ipr


def _loopback_up(path: Path) -> None:
    with netlink(path) as ipr:
        ipr.link("set", index=ipr.link_lookup(ifname="lo")[0], state="up")


def delete(directory: Path, name: str) -> None:
    """Unmount and remove `<directory>/<name>`; nothing happens when it is already gone."""
    path = directory / name
    if str(path) in _mount_points():
        _check(_libc.umount2(str(path).encode(), MNT_DETACH), f"umount {path}")
    path.unlink(missing_ok=True)


def list_names(directory: Path) -> list[str]:
    """The namespaces in `directory` that are live (mounted)."""
    if not directory.is_dir():
        return []
    points = _mount_points()
    return sorted(p.name for p in directory.iterdir() if points.get(str(p)) == "nsfs")


def release_dir(directory: Path) -> None:
    """Undo the directory's self bind mount once it holds no namespace (for tests and `composer` teardown)."""
    if not directory.exists():
        return
    with _dir_lock(directory):
        if list_names(directory):
            return
        while str(directory) in _mount_points():
            if _libc.umount2(str(directory).encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err == errno.EINVAL:  # not a mount point any more: another command released it first
                    return
                raise OSError(err, f"umount {directory}: {os.strerror(err)}")
