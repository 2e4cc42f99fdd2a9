"""Directory trees as tar streams: `docker export`, and the writer `commit` and `cp` share.

The trees are a container's, written by whatever runs in it, so the walk never follows a symlink:
every entry is reached with O_NOFOLLOW from its parent directory's fd, a regular file is read only
after fstat proves the opened fd is one (a FIFO swapped in is never read, a device never opened),
and a file that changes size while it is read is cut or zero-padded to the size in its header
instead of corrupting the stream.

As a layer (`commit`), empty mount targets the runtime made at Docker's init paths are left out, and an
upper dir that needs the lower layers to make sense (overlayfs `metacopy` or `redirect_dir` entries)
is refused rather than committed as empty files or lost directories.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tarfile
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import BinaryIO

from composer.errors import ComposerError
from composer.runtime.engine.fsdiff import INIT_PATHS, is_opaque, is_placeholder, is_whiteout
from composer.runtime.images.extract import WHITEOUT_OPAQUE, WHITEOUT_PREFIX

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_FILE = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_OVERLAY_XATTRS = ("trusted.overlay.", "user.overlay.")
_NEEDS_LOWER = ("trusted.overlay.metacopy", "trusted.overlay.redirect")
_VANISHED = (errno.ENOENT, errno.ENOTDIR, errno.ELOOP)  # removed, or swapped for a symlink, while we walked


class _Exact:
    """Exactly `size` bytes of a file that may be growing or shrinking under us."""

    def __init__(self, fd: int, size: int) -> None:
        self._fd = fd
        self._left = size

    def read(self, n: int = -1) -> bytes:
        n = self._left if n < 0 else min(n, self._left)
        if n <= 0:
            return b""
        data = os.read(self._fd, n)
        if not data:
            data = b"\0" * n
        self._left -= len(data)
        return data


def _xattrs(fd: int, *, layer: bool = False, arcname: str = "") -> dict[str, str]:
    """PAX records for a file's xattrs, except overlayfs's own bookkeeping."""
    out: dict[str, str] = {}
    try:
        names = sorted(os.listxattr(fd))
    except OSError:
        return out
    if layer and any(n in _NEEDS_LOWER for n in names):
        raise ComposerError(
            f"cannot commit /{arcname}: overlayfs stored it as a reference to the image layers (metacopy or "
            "redirect_dir is on)",
            hint="mount container root filesystems with metacopy=off,redirect_dir=off",
        )
    for name in names:
        if name.startswith(_OVERLAY_XATTRS):
            continue
        with contextlib.suppress(OSError):
            out[f"SCHILY.xattr.{name}"] = os.getxattr(fd, name).decode("utf-8", "surrogateescape")
    return out


class TreeWriter:
    """Writes entries to a tar; `layer=True` turns overlay whiteouts and opaque dirs into OCI `.wh.` entries."""

    def __init__(self, tar: tarfile.TarFile, *, layer: bool = False, ignore: Collection[str] = ()) -> None:
        self.tar = tar
        self.layer = layer
        self.ignore = ignore if layer else ()
        self._links: dict[tuple[int, int], str] = {}

    def _info(self, arcname: str, st: os.stat_result) -> tarfile.TarInfo:
        info = tarfile.TarInfo(arcname)
        info.mode = stat.S_IMODE(st.st_mode)
        info.uid, info.gid = st.st_uid, st.st_gid
        info.mtime = int(st.st_mtime)
        return info

    def add(self, parent_fd: int, name: str, arcname: str) -> None:
        """Add `name` (never followed) under `arcname`, and everything below it if it is a directory."""
        try:
            st = os.stat(name, dir_fd=parent_fd, follow_symlinks=False)
        except FileNotFoundError:
            return  # removed while we walked
        info = self._info(arcname, st)
        mode = st.st_mode
        if stat.S_ISDIR(mode):
            try:
                fd = os.open(name, _O_DIR, dir_fd=parent_fd)
            except OSError as err:
                if err.errno in _VANISHED:
                    return
                raise
            try:
                if not is_placeholder(f"/{arcname}", st, fd, self.ignore):
                    self.add_dir(fd, arcname)
            finally:
                os.close(fd)
            return
        if is_placeholder(f"/{arcname}", st, None, self.ignore):
            return
        if stat.S_ISLNK(mode):
            info.type = tarfile.SYMTYPE
            info.linkname = os.readlink(name, dir_fd=parent_fd)
            self.tar.addfile(info)
            return
        if self.layer and is_whiteout(st):
            head, _, base = arcname.rpartition("/")
            wh = tarfile.TarInfo(f"{head}/{WHITEOUT_PREFIX}{base}" if head else f"{WHITEOUT_PREFIX}{base}")
            wh.mtime = info.mtime
            self.tar.addfile(wh)
            return
        if stat.S_ISSOCK(mode):
            return  # a socket is only meaningful to the process that bound it
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in self._links:
            info.type = tarfile.LNKTYPE
            info.linkname = self._links[key]
            self.tar.addfile(info)
            return
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
            info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
            self.tar.addfile(info)
        elif stat.S_ISFIFO(mode):
            info.type = tarfile.FIFOTYPE
            self.tar.addfile(info)
        elif stat.S_ISREG(mode):
            if not self._regular(parent_fd, name, info, st):
                return  # gone or swapped: a later hard link to it must not name a missing entry
        else:
            return
        if st.st_nlink > 1:
            self._links[key] = arcname

    def _regular(self, parent_fd: int, name: str, info: tarfile.TarInfo, st: os.stat_result) -> bool:
        """Add the regular file `name` if it is still the one `st` describes; True if it was added."""
        try:
            fd = os.open(name, _O_FILE, dir_fd=parent_fd)
        except OSError as err:
            if err.errno in _VANISHED:
                return False
            raise
        try:
            now = os.fstat(fd)
            if not stat.S_ISREG(now.st_mode) or (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                return False
            info.size = now.st_size
            info.pax_headers = _xattrs(fd, layer=self.layer, arcname=info.name)
            self.tar.addfile(info, _Exact(fd, now.st_size))
            return True
        finally:
            os.close(fd)

    def add_dir(self, fd: int, arcname: str) -> None:
        """The directory behind `fd` (a real fd) as `arcname`, then its contents."""
        st = os.fstat(fd)
        info = self._info(arcname, st)
        info.type = tarfile.DIRTYPE
        info.pax_headers = _xattrs(fd, layer=self.layer, arcname=arcname)
        self.tar.addfile(info)
        if self.layer and is_opaque(fd):
            opq = tarfile.TarInfo(f"{arcname}/{WHITEOUT_OPAQUE}")
            opq.mtime = info.mtime
            self.tar.addfile(opq)
        self.add_children(fd, arcname)

    def add_children(self, fd: int, prefix: str) -> None:
        """Everything inside the directory behind `fd`, named `prefix/...` (bare names for an empty prefix)."""
        for name in sorted(os.listdir(fd)):
            self.add(fd, name, f"{prefix}/{name}" if prefix else name)


def open_tar(out: BinaryIO) -> tarfile.TarFile:
    """A streaming PAX tar writer over `out` (left open: closing the tar only writes the end blocks)."""
    return tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT, encoding="utf-8",
                        errors="surrogateescape")


@contextlib.contextmanager
def piped(produce: Callable[[BinaryIO], object]) -> Iterator[BinaryIO]:
    """What `produce` writes, readable as it is written: a tar never has to fit in a temporary file.

    `produce` runs in a thread. If the reader stops early the thread gets EPIPE and ends; an error of
    `produce` wins over the reader's (a cut stream is only the symptom), and is raised on exit.
    """
    rfd, wfd = os.pipe2(os.O_CLOEXEC)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            with os.fdopen(wfd, "wb") as writer:
                produce(writer)
        except BaseException as err:  # handed to the reading thread
            failure.append(err)

    thread = threading.Thread(target=run, name="tar-writer", daemon=True)
    with os.fdopen(rfd, "rb") as reader:
        thread.start()
        try:
            yield reader
            while reader.read(1 << 16):  # the tar reader may stop before the end-of-archive padding
                pass
        except BaseException:
            reader.close()
            thread.join()
            real = [e for e in failure if not isinstance(e, BrokenPipeError)]
            if real:
                raise real[0] from None
            raise
    thread.join()
    if failure:
        raise failure[0]


def write_tree(root: Path, out: BinaryIO, *, layer: bool, ignore: Collection[str] = INIT_PATHS) -> None:
    """Everything below `root` as a tar on `out`, names relative to `root` (`ignore`: see TreeWriter)."""
    try:
        fd = os.open(root, _O_DIR)
    except OSError as err:
        raise ComposerError(f"cannot read {root}: {err.strerror}") from None
    try:
        with open_tar(out) as tar:
            TreeWriter(tar, layer=layer, ignore=ignore).add_children(fd, "")
    except OSError as err:
        raise ComposerError(f"cannot archive {root}: {err.strerror} ({err.filename or root})") from None
    finally:
        os.close(fd)


def export_rootfs(rootfs: Path, out: BinaryIO) -> None:
    """`docker export`: the merged root filesystem as a tar (symlinks not followed, devices and owners kept)."""
    write_tree(rootfs, out, layer=False)
