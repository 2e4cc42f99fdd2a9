"""Named network namespaces, kept alive by a bind mount as `ip netns` does, so runc can join them by path.

A namespace lives as long as something holds it; the bind mount of `/proc/thread-self/ns/net` onto
`<dir>/<name>` is that holder, and unmounting it (plus the container's processes ending) frees it.
Like iproute2, the directory is made a shared mount point (bound onto itself first) so that an unmount also
reaches copies of the mount made in other mount namespaces; otherwise a copy could keep the namespace alive.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from composer.runtime import libc

CLONE_NEWNET = 0x40000000
MS_BIND = 0x1000
MS_REC = 0x4000
MS_SHARED = 1 << 20
MNT_DETACH = 2

_libc = libc.load()


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


NSFS_MAGIC = 0x6E736673


def is_mounted_netns(path: Path) -> bool:
    """Whether a namespace is mounted at `path`: its nsfs inode has a device of its own (no file of the
    directory's file system has), read with one `stat` instead of the whole mount table."""
    try:
        return os.stat(path).st_dev != os.stat(path.parent).st_dev and _is_nsfs(path)
    except OSError:
        return False


def _is_nsfs(path: Path) -> bool:
    """The mount at `path` is nsfs (not some other file system mounted over it): what `ip netns` checks too."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        buf = ctypes.create_string_buffer(128)  # struct statfs; f_type is its first field (a long)
        if _libc.fstatfs(fd, buf) != 0:
            return False
        return ctypes.c_long.from_buffer(buf).value == NSFS_MAGIC
    finally:
        os.close(fd)


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


def delete(directory: Path, name: str) -> bool:
    """Unmount and remove `<directory>/<name>`; nothing happens when it is already gone. Returns whether a
    namespace was mounted there (its last reference gone, the kernel then destroys it and its interfaces)."""
    path = directory / name
    mounted = bool(_libc.umount2(str(path).encode(), MNT_DETACH) == 0)
    if not mounted and ctypes.get_errno() not in (errno.EINVAL, errno.ENOENT):  # EINVAL: not a mount point
        _check(-1, f"umount {path}")
    path.unlink(missing_ok=True)
    return mounted


def await_links_gone(host_names: Sequence[str], *, timeout: float = 1.0) -> None:
    """Wait for the veth pairs of a namespace `delete` just released to vanish from the host.

    The kernel destroys a dead namespace's interfaces itself, many namespaces in one batch; deleting each pair
    by hand costs a 10-20 ms RCU wait under the global RTNL lock instead (30 pairs: 0.5 s by hand, 0.05 s by
    namespace). What is still there after `timeout` (a namespace another process still holds, or a pair
    whose namespace never got mounted) is deleted here."""
    deadline = time.monotonic() + timeout
    left = [name for name in host_names if os.path.exists(f"/sys/class/net/{name}")]
    while left and time.monotonic() < deadline:
        time.sleep(0.002)
        left = [name for name in left if os.path.exists(f"/sys/class/net/{name}")]
    if left:
        from composer.runtime.net import veth

        for name in left:
            veth.detach(name)


def list_names(directory: Path) -> list[str]:
    """The namespaces in `directory` that are live (mounted)."""
    if not directory.is_dir():
        return []
    points = _mount_points()
    return sorted(p.name for p in directory.iterdir() if points.get(str(p)) == "nsfs")


def _holds_a_namespace(directory: Path) -> bool:
    """Whether some entry is a mount point (a namespace's nsfs mount has a device of its own): a stat per entry
    up to the first one, instead of reading the mount table."""
    try:
        here = os.stat(directory).st_dev
        for entry in os.scandir(directory):
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_dev != here:
                    return True
    except OSError:
        return False
    return False


def release_dir(directory: Path) -> None:
    """Undo the directory's self bind mount once it holds no namespace (for tests and `composer` teardown)."""
    if not directory.exists():
        return
    if _holds_a_namespace(directory):
        return  # the common case in a parallel `down`: no need to read the (long) mount table
    with _dir_lock(directory):
        if list_names(directory):
            return
        while str(directory) in _mount_points():
            if _libc.umount2(str(directory).encode(), MNT_DETACH) != 0:
                err = ctypes.get_errno()
                if err == errno.EINVAL:  # not a mount point any more: another command released it first
                    return
                raise OSError(err, f"umount {directory}: {os.strerror(err)}")
