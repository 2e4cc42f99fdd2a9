"""Apply a layer tar into a directory without letting any of it land outside.

Layer tars are hostile input. `tarfile` is used only to *parse* them; every create, link, chmod,
chown and delete is done here relative to a directory fd that was reached one component at a
time with `O_NOFOLLOW`, so the kernel never follows a link on our behalf:

- entry names and hardlink targets are relative to the layer root; a leading `/` is dropped (as
  Docker does) and any `..` component refuses the whole layer;
- symlinks are created verbatim (absolute targets are normal in root filesystems). When a later
  entry's *parent* path goes through one, it is resolved inside the root like `openat2`'s
  `RESOLVE_IN_ROOT` (absolute targets restart at the root, `..` stops at the root), so
  `lnk -> /etc` then `lnk/passwd` writes `<root>/etc/passwd`, never the host's;
- the last component of an entry is never followed: a symlink or file already there is
  replaced, a directory is merged only with a directory entry;
- hardlinks may only point at a non-directory already inside the root, on the root's device.

Whiteouts follow the OCI image-layer spec and only hide what lower layers brought, never what the
same layer creates. Two targets:

- `overlay` (the image store): the directory becomes an overlayfs layer; `.wh.NAME` becomes a
  0/0 character device and `.wh..wh..opq` the `trusted.overlay.opaque=y` xattr (`user.` when not
  root, for a `userxattr` mount). The result does not depend on the lower layers, so one unpacked
  copy is shared by every image that has the layer;
- `apply` (flattening onto a directory that already holds the lower layers): whiteouts delete.

Device policy: block and character devices are created only when running as root (euid 0) and
their major/minor fit Linux's 12/20 bits (out of range refuses the layer); otherwise they are
skipped with a warning. FIFOs are always created. The store root is mode 0700, so host users
cannot reach device nodes or setuid files in unpacked layers (CVE-2021-41091). setuid/setgid
bits, owners (when root), modes, mtimes and the `security.capability` and `user.*` xattrs are
kept; other xattrs (`trusted.*`, `user.overlay.*`, SELinux labels) are dropped with a warning,
because they would steer overlayfs or the host's policy.

Decompression is in-process only (gzip, bzip2, xz; zstd through `compression.zstd` or the
`backports.zstd` package), never an external program, and capped by `max_bytes`.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import hashlib
import importlib
import lzma
import os
import shutil
import stat
import tarfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Literal

from composer.errors import ComposerError

Mode = Literal["overlay", "apply"]

WHITEOUT_PREFIX = ".wh."
WHITEOUT_META_PREFIX = ".wh..wh."
WHITEOUT_OPAQUE = ".wh..wh..opq"

DEFAULT_MAX_BYTES = 64 << 30
DEFAULT_MAX_ENTRIES = 4_000_000
_MAX_SYMLINK_HOPS = 40
_MAX_WARNINGS = 50
_CHUNK = 1 << 20

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_PATH = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC
_KEPT_XATTR_PREFIXES = ("user.",)
_DROPPED_XATTR_PREFIXES = ("user.overlay.",)
_KEPT_XATTRS = ("security.capability",)


def is_root() -> bool:
    """Ownership, devices and `trusted.` xattrs need root; without it they are skipped."""
    return os.geteuid() == 0


def opaque_xattr() -> str:
    """The xattr overlayfs reads for opaque directories (`user.` needs the `userxattr` option)."""
    return "trusted.overlay.opaque" if is_root() else "user.overlay.opaque"


# -- streams ---------------------------------------------------------------------------------


def detect_compression(head: bytes) -> str:
    """Name the compression from the first bytes: gzip, zstd, bzip2, xz or none."""
    if head.startswith(b"\x1f\x8b"):
        return "gzip"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "zstd"
    if head.startswith(b"BZh"):
        return "bzip2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    return "none"


def _zstd_module() -> Any:
    for name in ("compression.zstd", "backports.zstd"):
        with contextlib.suppress(ImportError):
            return importlib.import_module(name)
    raise ComposerError(
        "this layer is zstd-compressed, which needs the backports-zstd package on Python < 3.14",
        hint="pip install backports-zstd",
    )


class _Prefixed:
    """A read-only stream that first yields bytes already read for sniffing."""

    def __init__(self, head: bytes, rest: IO[bytes]) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def open_decompressed(raw: IO[bytes]) -> tuple[IO[bytes], str]:
    """Wrap a possibly compressed tar stream; returns the plain stream and the compression name."""
    head = raw.read(6)
    while 0 < len(head) < 6:  # a stream may return less than asked (a blob arriving in small chunks)
        more = raw.read(6 - len(head))
        if not more:
            break
        head += more
    kind = detect_compression(head)
    src: Any = _Prefixed(head, raw)
    plain: Any = src
    if kind == "gzip":
        plain = gzip.GzipFile(fileobj=src, mode="rb")
    elif kind == "bzip2":
        plain = bz2.BZ2File(src, mode="rb")
    elif kind == "xz":
        plain = lzma.LZMAFile(src, mode="rb")  # noqa: SIM115 - returned open
    elif kind == "zstd":
        plain = _zstd_module().ZstdFile(src, mode="rb")
    return plain, kind


DECOMPRESS_ERRORS: tuple[type[BaseException], ...] = (EOFError, zlib.error, lzma.LZMAError, gzip.BadGzipFile)


class LocalWriteError(ComposerError):
    """Writing the layer failed on this machine (disk full, quota, permissions), not because of its content."""


class DigestReader:
    """Hash and count what is read, refusing to go past a size cap (decompression bombs)."""

    def __init__(self, src: IO[bytes], limit: int | None = None, *, hashing: bool = True) -> None:
        self._src = src
        self._limit = limit
        self.hash = hashlib.sha256()
        self.hashing = hashing
        self.count = 0

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(_CHUNK), b""))
        data = self._src.read(size)
        self.count += len(data)
        if self._limit is not None and self.count > self._limit:
            raise ComposerError(f"layer is larger than the limit of {self._limit} bytes uncompressed")
        if self.hashing:
            self.hash.update(data)
        return data

    def drain(self) -> None:
        """Read to the end, so the digest covers the tar's trailing padding too."""
        while self.read(_CHUNK):
            pass

    @property
    def digest(self) -> str:
        """The sha256 of what was read; "" when hashing was left to the caller."""
        return "sha256:" + self.hash.hexdigest() if self.hashing else ""


# -- names -----------------------------------------------------------------------------------


def split_entry_name(name: str) -> list[str]:
    """Components of an entry name relative to the root; `..` anywhere refuses the layer."""
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ComposerError(f"layer entry {name!r} refused: '..' would leave the layer")
    return parts


@dataclass(frozen=True, slots=True)
class LayerStats:
    """What one extraction did: the uncompressed digest (diff_id; "" when an uncompressed layer's
    hash was left to the caller), content bytes, warnings."""

    diff_id: str
    size: int
    entries: int
    compression: str
    warnings: tuple[str, ...]


# -- the applier -----------------------------------------------------------------------------


class _Applier:
    """Applies members one by one; every filesystem call goes through a confined dir fd."""

    def __init__(self, root_fd: int, mode: Mode, devices: bool, root: bool) -> None:
        self.root = root_fd
        self.mode = mode
        self.devices = devices
        self.as_root = root
        st = os.fstat(root_fd)
        self.dev = st.st_dev
        self.touched: set[tuple[int, int]] = {(st.st_dev, st.st_ino)}
        self.dir_times: list[tuple[list[str], int, int]] = []
        self.warnings: list[str] = []
        self.size = 0

    def warn(self, message: str) -> None:
        if message not in self.warnings and len(self.warnings) <= _MAX_WARNINGS:
            self.warnings.append(message if len(self.warnings) < _MAX_WARNINGS else "more warnings omitted")

    def _touch_fd(self, fd: int) -> None:
        st = os.fstat(fd)
        self.touched.add((st.st_dev, st.st_ino))

    def _touch_name(self, parent: int, name: str) -> None:
        st = os.stat(name, dir_fd=parent, follow_symlinks=False)
        self.touched.add((st.st_dev, st.st_ino))

    # resolution

    def walk(self, parts: Sequence[str], *, create: bool) -> int | None:
        """Open (O_PATH) the directory `parts` names inside the root, following symlinks in-root.

        With `create`, missing directories are made (0755, as Docker does) and every directory
        passed is marked as part of this layer. Returns None when something is missing and not
        `create`. The caller closes the fd.
        """
        stack = [os.dup(self.root)]
        todo = list(reversed(parts))
        hops = 0
        try:
            while todo:
                comp = todo.pop()
                if comp in ("", "."):
                    continue
                if comp == "..":
                    if len(stack) > 1:
                        os.close(stack.pop())
                    continue
                cur = stack[-1]
                try:
                    fd = os.open(comp, _O_PATH, dir_fd=cur)
                except FileNotFoundError:
                    if not create:
                        return None
                    os.mkdir(comp, 0o755, dir_fd=cur)
                    fd = os.open(comp, _O_PATH | os.O_DIRECTORY, dir_fd=cur)
                    _chmod_fd(fd, 0o755)
                st = os.fstat(fd)
                if stat.S_ISLNK(st.st_mode):
                    os.close(fd)
                    hops += 1
                    if hops > _MAX_SYMLINK_HOPS:
                        raise ComposerError(f"too many levels of symbolic links under {'/'.join(parts)!r}")
                    target = os.readlink(comp, dir_fd=cur)
                    if target.startswith("/"):
                        while len(stack) > 1:
                            os.close(stack.pop())
                    todo.extend(reversed(target.split("/")))
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    os.close(fd)
                    if create:
                        raise ComposerError(f"layer path {'/'.join(parts)!r}: {comp!r} is not a directory")
                    return None
                if create:
                    self.touched.add((st.st_dev, st.st_ino))
                stack.append(fd)
            return stack.pop()
        finally:
            for fd in stack:
                os.close(fd)

    @contextlib.contextmanager
    def parent_of(self, parts: Sequence[str], *, create: bool = True) -> Iterator[int | None]:
        fd = self.walk(parts[:-1], create=create)
        try:
            yield fd
        finally:
            if fd is not None:
                os.close(fd)

    # helpers

    @staticmethod
    def lstat(parent: int, name: str) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return None

    @staticmethod
    def remove(parent: int, name: str, st: os.stat_result) -> None:
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(name, dir_fd=parent)
        else:
            os.unlink(name, dir_fd=parent)

    def clear(self, parent: int, name: str, *, keep_dir: bool) -> bool:
        """Remove what `name` holds (never following it); True if a directory was kept."""
        st = self.lstat(parent, name)
        if st is None:
            return False
        if keep_dir and stat.S_ISDIR(st.st_mode):
            return True
        self.remove(parent, name, st)
        return False

    def owner(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        if not (0 <= member.uid < 2**32 - 1 and 0 <= member.gid < 2**32 - 1):
            raise ComposerError(f"layer entry {member.name!r}: uid/gid out of range")
        if self.as_root:
            os.chown(name, member.uid, member.gid, dir_fd=parent, follow_symlinks=False)
        elif member.uid or member.gid:
            self.warn("file owners not kept (not running as root)")

    def xattrs(self, member: tarfile.TarInfo, fd: int) -> None:
        for key, value in member.pax_headers.items():
            if not key.startswith("SCHILY.xattr."):
                continue
            name = key.removeprefix("SCHILY.xattr.")
            kept = name in _KEPT_XATTRS or (
                name.startswith(_KEPT_XATTR_PREFIXES) and not name.startswith(_DROPPED_XATTR_PREFIXES)
            )
            if not kept:
                self.warn(f"{member.name}: extended attribute {name} not kept")
                continue
            try:
                os.setxattr(f"/proc/self/fd/{fd}", name, value.encode("utf-8", "surrogateescape"))
            except OSError as err:
                self.warn(f"{member.name}: extended attribute {name} not set ({err.strerror})")

    def finish(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        """Owner, then mode (chown clears setuid), xattrs, mtime; the entry is never followed."""
        self.owner(member, parent, name)
        fd = os.open(name, _O_PATH, dir_fd=parent)
        try:
            st = os.fstat(fd)
            self.touched.add((st.st_dev, st.st_ino))
            if stat.S_ISDIR(st.st_mode):
                # Mode and mtime last: a read-only directory must still take its children.
                parts = split_entry_name(member.name)
                self.dir_times.append((parts, _ns(member.mtime), member.mode & 0o7777))
            elif not stat.S_ISLNK(st.st_mode):
                _chmod_fd(fd, member.mode & 0o7777)
            if not stat.S_ISLNK(st.st_mode):
                self.xattrs(member, fd)
        finally:
            os.close(fd)
        if not member.isdir():
            mtime = _ns(member.mtime)
            os.utime(name, ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)

    # entries

    def apply_explained(self, member: tarfile.TarInfo, tar: tarfile.TarFile, label: str) -> None:
        """`apply`, with an OS-level failure turned into one ComposerError line starting with `label`."""
        try:
            self.apply(member, tar)
        except ComposerError:
            raise
        except DECOMPRESS_ERRORS:  # the stream, not this entry, is at fault: extract_layer says so
            raise
        except OSError as err:
            raise LocalWriteError(f"{label}: {err.strerror or err}") from None
        except (ValueError, OverflowError) as err:
            raise ComposerError(f"{label}: {err}") from None

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        parts = split_entry_name(member.name)
        if not parts:
            return  # the root itself: its metadata belongs to whoever made the directory
        if parts[-1].startswith(WHITEOUT_PREFIX):
            self.whiteout(parts, member)
            return
        with self.parent_of(parts) as parent:
            assert parent is not None
            name = parts[-1]
            if member.isdir():
                if not self.clear(parent, name, keep_dir=True):
                    os.mkdir(name, 0o755, dir_fd=parent)
            elif member.isreg():
                self.clear(parent, name, keep_dir=False)
                self.regular(member, tar, parent, name)
            elif member.issym():
                self.clear(parent, name, keep_dir=False)
                os.symlink(member.linkname, name, dir_fd=parent)
            elif member.islnk():
                self.hardlink(member, parent, name)
                return
            elif member.ischr() or member.isblk():
                if not self.device(member, parent, name):
                    return
            elif member.isfifo():
                self.clear(parent, name, keep_dir=False)
                os.mkfifo(name, 0o600, dir_fd=parent)
            else:
                self.warn(f"{member.name}: tar entry type {member.type!r} skipped")
                return
            self.finish(member, parent, name)

    def regular(self, member: tarfile.TarInfo, tar: tarfile.TarFile, parent: int, name: str) -> None:
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                     dir_fd=parent)
        with os.fdopen(fd, "wb", closefd=True) as out:
            src = tar.extractfile(member)
            if src is not None:
                shutil.copyfileobj(src, out, _CHUNK)
        self.size += member.size

    def hardlink(self, member: tarfile.TarInfo, parent: int, name: str) -> None:
        target = split_entry_name(member.linkname)
        if not target:
            raise ComposerError(f"layer entry {member.name!r}: hard link to the layer root")
        with self.parent_of(target, create=False) as tparent:
            tst = None if tparent is None else self.lstat(tparent, target[-1])
            if tparent is None or tst is None:
                raise ComposerError(
                    f"layer entry {member.name!r}: hard link target {member.linkname!r} does not exist"
                )
            if stat.S_ISDIR(tst.st_mode):
                raise ComposerError(f"layer entry {member.name!r}: hard link to a directory")
            if tst.st_dev != self.dev:
                raise ComposerError(f"layer entry {member.name!r}: hard link target on another filesystem")
            existing = self.lstat(parent, name)
            if existing is not None and (existing.st_dev, existing.st_ino) == (tst.st_dev, tst.st_ino):
                return
            if existing is not None:
                self.remove(parent, name, existing)
            os.link(target[-1], name, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
            self.touched.add((tst.st_dev, tst.st_ino))

    def device(self, member: tarfile.TarInfo, parent: int, name: str) -> bool:
        major, minor = member.devmajor, member.devminor
        if not (0 <= major < 1 << 12 and 0 <= minor < 1 << 20):
            raise ComposerError(f"layer entry {member.name!r}: device number {major}:{minor} out of range")
        if not self.devices:
            self.warn(f"{member.name}: device node skipped (devices are created only as root)")
            return False
        self.clear(parent, name, keep_dir=False)
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
        os.mknod(name, kind | 0o600, os.makedev(major, minor), dir_fd=parent)
        return True

    def whiteout(self, parts: list[str], member: tarfile.TarInfo) -> None:
        base = parts[-1]
        if base == WHITEOUT_OPAQUE:
            fd = self.walk(parts[:-1], create=True)
            assert fd is not None
            try:
                if self.mode == "overlay":
                    _set_opaque(fd)
                else:
                    self.purge(fd)
            finally:
                os.close(fd)
            return
        if base.startswith(WHITEOUT_META_PREFIX):
            self.warn(f"{member.name}: aufs metadata skipped")
            return
        name = base.removeprefix(WHITEOUT_PREFIX)
        if name in ("", ".", ".."):
            raise ComposerError(f"layer entry {member.name!r}: invalid whiteout entry")
        with self.parent_of(parts, create=self.mode == "overlay") as parent:
            if parent is None:
                return
            st = self.lstat(parent, name)
            if st is not None and (st.st_dev, st.st_ino) in self.touched:
                return  # a whiteout hides lower layers only, never this layer's own entries
            if st is not None:
                self.remove(parent, name, st)
            if self.mode == "overlay":
                try:
                    os.mknod(name, stat.S_IFCHR, os.makedev(0, 0), dir_fd=parent)
                except PermissionError:
                    raise ComposerError("creating overlay whiteouts needs root (or Linux >= 5.8)") from None
                self._touch_name(parent, name)

    def purge(self, dir_opath: int) -> None:
        """Opaque directory in `apply` mode: delete everything below not made by this layer."""
        fd = os.open(".", _O_DIR, dir_fd=dir_opath)
        try:
            for name in os.listdir(fd):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if (st.st_dev, st.st_ino) not in self.touched:
                    self.remove(fd, name, st)
                elif stat.S_ISDIR(st.st_mode):
                    child = os.open(name, _O_PATH | os.O_DIRECTORY, dir_fd=fd)
                    try:
                        self.purge(child)
                    finally:
                        os.close(child)
        finally:
            os.close(fd)

    def set_dir_modes(self) -> None:
        """Directory modes and mtimes last, since writing their children changed the mtimes."""
        for parts, mtime, mode in reversed(self.dir_times):
            with contextlib.suppress(OSError, ComposerError), self.parent_of(parts, create=False) as parent:
                if parent is None:
                    continue
                fd = os.open(parts[-1], _O_PATH, dir_fd=parent)
                try:
                    if not stat.S_ISDIR(os.fstat(fd).st_mode):
                        continue
                    _chmod_fd(fd, mode)
                finally:
                    os.close(fd)
                os.utime(parts[-1], ns=(mtime, mtime), dir_fd=parent, follow_symlinks=False)


def _ns(mtime: float) -> int:
    return int(mtime * 1_000_000_000) if isinstance(mtime, float) else int(mtime) * 1_000_000_000


def _chmod_fd(fd: int, mode: int) -> None:
    """chmod the exact inode behind an O_PATH fd (Linux has no lchmod; the magic link pins it)."""
    os.chmod(f"/proc/self/fd/{fd}", mode)


def _set_opaque(dir_opath: int) -> None:
    fd = os.open(".", _O_DIR, dir_fd=dir_opath)
    try:
        os.setxattr(fd, opaque_xattr(), b"y")
    except OSError as err:
        raise ComposerError(f"cannot mark an opaque directory ({err.strerror})") from None
    finally:
        os.close(fd)


def extract_layer(
    source: IO[bytes] | BinaryIO,
    dest: str | os.PathLike[str],
    *,
    mode: Mode = "overlay",
    devices: bool | None = None,
    max_bytes: int | None = DEFAULT_MAX_BYTES,
    max_entries: int = DEFAULT_MAX_ENTRIES,
    hash_uncompressed: bool = True,
) -> LayerStats:
    """Apply the (plain, gzip, bzip2, xz or zstd) layer tar `source` into the directory `dest`.

    Refuses hostile layers with a ComposerError; on error `dest` may hold part of the layer (the
    store extracts into a scratch directory and renames it only on success). `devices` defaults
    to "only as root". `hash_uncompressed=False` is for a caller that hashes the raw stream itself:
    an uncompressed layer's diff_id is that same hash, so it is not computed twice.
    """
    root = is_root()
    try:
        root_fd = os.open(dest, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as err:
        raise ComposerError(f"layer directory {os.fspath(dest)!r}: {err.strerror}") from None
    applier = _Applier(root_fd, mode, root if devices is None else devices, root)
    count = 0
    try:
        plain, compression = open_decompressed(source)
        reader = DigestReader(plain, max_bytes, hashing=hash_uncompressed or compression != "none")
        try:
            with tarfile.open(fileobj=reader, mode="r|", errors="surrogateescape", bufsize=_CHUNK) as tar:  # type: ignore[call-overload]
                for member in tar:
                    count += 1
                    if count > max_entries:
                        raise ComposerError(f"layer has more than {max_entries} entries")
                    applier.apply_explained(member, tar, f"layer entry {member.name!r}")
            reader.drain()
        except (tarfile.TarError, *DECOMPRESS_ERRORS) as err:  # type: ignore[misc]
            raise ComposerError(f"corrupt layer ({compression}): {err}") from None
        applier.set_dir_modes()
    finally:
        os.close(root_fd)
    return LayerStats(reader.digest, applier.size, count, compression, tuple(applier.warnings))
