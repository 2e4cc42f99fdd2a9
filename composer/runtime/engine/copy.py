"""`docker cp`, both directions, with every container path resolved as if chrooted at the rootfs.

The container owns its rootfs and may be running: any name in it can be a symlink to `/`, to
`../../..`, or become one between two calls. So there is no realpath-then-open: paths are walked one
component at a time from directory fds (`resolve`), a symlink met on the way is expanded by hand
against the rootfs (absolute targets restart at the rootfs, `..` stops there), the last component is
followed only when asked, and everything after that goes through the fds with O_NOFOLLOW.

Both directions move a tar, as Docker does: the source tree is written by export.TreeWriter (which
never follows a link) and applied by extract's confined applier, so a hostile tar given to
`cp - CTR:/dir` gets the same checks as a hostile image layer (`..` refused, leading `/` dropped,
symlinked parents resolved inside the rootfs, hard links only to files already inside).

Path rules (from Docker's documentation of `docker cp`): a source ending in `/.` copies the
directory's contents; an existing destination directory receives the source under its own name; a
destination that does not exist becomes the copy (a file destination ending in `/` is an error,
since that asserts a directory); a directory never replaces a file nor a file a directory. Copied
into a container, files belong to root unless `archive` keeps the source's owners; copied out,
they belong to the caller (setuid/setgid bits and file capabilities are dropped on the host).
"""

from __future__ import annotations

import contextlib
import functools
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, BinaryIO

from composer.errors import ComposerError
from composer.runtime.engine.export import TreeWriter, open_tar, piped
from composer.runtime.images.extract import (
    DECOMPRESS_ERRORS,
    _Applier,
    is_root,
    open_decompressed,
    split_entry_name,
)

_MAX_LINKS = 40
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

PathArg = str | os.PathLike[str]
"""Host paths: pass `str` to keep a trailing `/` or `/.` (pathlib drops both)."""


# -- resolving inside the rootfs ----------------------------------------------------------------


@dataclass(slots=True)
class Location:
    """Where a container path leads: the entry `name` in the directory `parent` (an O_PATH fd we own).

    `name` is None for the rootfs itself. `parts` are the directories from the rootfs down to `parent`,
    as really walked (no symlinks, no `..`), for handing to the applier.
    """

    parent: int
    name: str | None
    parts: list[str] = field(default_factory=list)
    st: os.stat_result | None = None

    @property
    def exists(self) -> bool:
        return self.st is not None

    @property
    def is_dir(self) -> bool:
        return self.st is not None and stat.S_ISDIR(self.st.st_mode)

    @property
    def target(self) -> list[str]:
        """The components of the location itself, from the rootfs."""
        return self.parts if self.name is None else [*self.parts, self.name]

    def close(self) -> None:
        os.close(self.parent)


def _components(path: str) -> list[str]:
    return [p for p in path.split("/") if p not in ("", ".")]


def resolve(root_fd: int, path: str, *, follow_last: bool, shown: str | None = None) -> Location:
    """Walk `path` under `root_fd` as chroot would; a missing last component is a Location without `st`."""
    shown = shown or path
    pending = _components(path)
    stack = [os.dup(root_fd)]
    names: list[str] = []
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == "..":
                if len(stack) > 1:
                    os.close(stack.pop())
                    names.pop()
                continue
            cur = stack[-1]
            last = not pending
            try:
                st = os.stat(part, dir_fd=cur, follow_symlinks=False)
            except FileNotFoundError:
                if last:
                    return Location(os.dup(cur), part, list(names), None)
                raise ComposerError(f"no such file or directory in the container: {shown}") from None
            if stat.S_ISLNK(st.st_mode) and (follow_last or not last):
                links += 1
                if links > _MAX_LINKS:
                    raise ComposerError(f"too many levels of symbolic links in the container: {shown}")
                target = os.readlink(part, dir_fd=cur)
                if target.startswith("/"):
                    while len(stack) > 1:
                        os.close(stack.pop())
                    names.clear()
                pending = _components(target) + pending
                continue
            if last:
                return Location(os.dup(cur), part, list(names), st)
            if not stat.S_ISDIR(st.st_mode):
                raise ComposerError(f"not a directory in the container: {shown}")
            try:
                fd = os.open(part, _O_PATH_DIR, dir_fd=cur)
            except OSError as err:  # swapped for a symlink or removed since the stat: refuse, never follow
                raise ComposerError(f"cannot resolve {shown} in the container: {err.strerror}") from None
            stack.append(fd)
            names.append(part)
        if len(stack) == 1:
            return Location(os.dup(stack[0]), None, [], os.fstat(stack[0]))
        os.close(stack.pop())
        name = names.pop()
        return Location(os.dup(stack[-1]), name, list(names), os.stat(name, dir_fd=stack[-1], follow_symlinks=False))
    finally:
        for fd in stack:
            os.close(fd)


@contextlib.contextmanager
def _rootfs_fd(rootfs: Path) -> Iterator[int]:
    try:
        fd = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError as err:
        raise ComposerError(f"cannot open the container's root filesystem {rootfs}: {err.strerror}") from None
    try:
        yield fd
    finally:
        os.close(fd)


@contextlib.contextmanager
def _located(root_fd: int, path: str, *, follow_last: bool) -> Iterator[Location]:
    loc = resolve(root_fd, path, follow_last=follow_last)
    try:
        yield loc
    finally:
        loc.close()


def _asserts_dir(path: str) -> bool:
    return path.endswith(("/", "/.")) or path in (".", "")


def _contents_only(path: str) -> bool:
    return path.endswith("/.") or path == "."


def _basename(path: str) -> str:
    return _components(path.rstrip("/"))[-1] if _components(path.rstrip("/")) else ""


# -- applying a tar -------------------------------------------------------------------------------


class _CopyApplier(_Applier):
    """extract's confined applier with cp's rules: no whiteouts, no dir/non-dir replacement."""

    def __init__(self, root_fd: int, *, owners: bool, devices: bool) -> None:
        super().__init__(root_fd, "apply", devices, owners)
        self._tar: tarfile.TarFile | None = None

    def apply(self, member: tarfile.TarInfo, tar: tarfile.TarFile) -> None:
        self._tar = tar
        super().apply(member, tar)

    def clear(self, parent: int, name: str, *, keep_dir: bool) -> bool:
        st = self.lstat(parent, name)
        if st is not None and stat.S_ISDIR(st.st_mode) != keep_dir:
            what = "a directory with a non-directory" if not keep_dir else "a non-directory with a directory"
            raise ComposerError(f"cannot overwrite {what}: {name}")
        return super().clear(parent, name, keep_dir=keep_dir)

    def whiteout(self, parts: list[str], member: tarfile.TarInfo) -> None:
        """`.wh.` names mean nothing to cp: such an entry is an ordinary file (or dir, link...)."""
        assert self._tar is not None
        with self.parent_of(parts) as parent:
            assert parent is not None
            name = parts[-1]
            if member.isdir():
                if not self.clear(parent, name, keep_dir=True):
                    os.mkdir(name, 0o755, dir_fd=parent)
            elif member.isreg():
                self.clear(parent, name, keep_dir=False)
                self.regular(member, self._tar, parent, name)
            elif member.issym():
                self.clear(parent, name, keep_dir=False)
                os.symlink(member.linkname, name, dir_fd=parent)
            elif member.islnk():
                self.hardlink(member, parent, name)
                return
            elif member.isfifo():
                self.clear(parent, name, keep_dir=False)
                os.mkfifo(name, 0o600, dir_fd=parent)
            elif (member.ischr() or member.isblk()) and self.device(member, parent, name):
                pass
            else:
                return
            self.finish(member, parent, name)


def _apply(
    stream: IO[bytes],
    root_fd: int,
    prefix: list[str],
    *,
    owners: bool,
    chown_root: bool,
    devices: bool,
    host: bool,
) -> None:
    """Apply the tar `stream` under `prefix` (components from `root_fd`); hostile entries are refused."""
    applier = _CopyApplier(root_fd, owners=owners, devices=devices)
    try:
        plain, _ = open_decompressed(stream)
        with tarfile.open(fileobj=plain, mode="r|", errors="surrogateescape") as tar:
            for member in tar:
                parts = split_entry_name(member.name)
                if not parts:
                    continue  # the archive's own root: the destination is already there
                member.name = "/".join([*prefix, *parts])
                if member.islnk():
                    member.linkname = "/".join([*prefix, *split_entry_name(member.linkname)])
                if chown_root:
                    member.uid = member.gid = 0
                if host:
                    member.mode &= ~(stat.S_ISUID | stat.S_ISGID)
                    member.pax_headers = {k: v for k, v in member.pax_headers.items()
                                          if not k.startswith("SCHILY.xattr.security.")}
                applier.apply_explained(member, tar, f"cannot copy {'/'.join(parts)}")
        applier.set_dir_modes()
    except (tarfile.TarError, *DECOMPRESS_ERRORS) as err:  # type: ignore[misc]
        raise ComposerError(f"not a valid tar archive ({err})") from None


# -- out of the container -------------------------------------------------------------------------


def _write_source(tar_out: BinaryIO, *, root_fd: int, src: str, follow_link: bool, arcname: str | None) -> bool:
    """Tar the container path `src` (as `arcname`, or its contents with None); True if it is a directory."""
    follow = follow_link or _asserts_dir(src)
    with _located(root_fd, src, follow_last=follow) as loc:
        if loc.st is None:
            raise ComposerError(f"no such file or directory in the container: {src}")
        if _asserts_dir(src) and not loc.is_dir:
            raise ComposerError(f"not a directory in the container: {src}")
        with open_tar(tar_out) as tar:
            writer = TreeWriter(tar)
            if arcname is None or loc.name is None:
                fd = os.open(loc.name or ".", _O_DIR, dir_fd=loc.parent)
                try:
                    if arcname:
                        writer.add_dir(fd, arcname)
                    else:
                        writer.add_children(fd, "")
                finally:
                    os.close(fd)
            else:
                writer.add(loc.parent, loc.name, arcname)
        return loc.is_dir


def _stat_source(root_fd: int, src: str, *, follow_link: bool) -> os.stat_result:
    with _located(root_fd, src, follow_last=follow_link or _asserts_dir(src)) as loc:
        if loc.st is None:
            raise ComposerError(f"no such file or directory in the container: {src}")
        if _asserts_dir(src) and not loc.is_dir:
            raise ComposerError(f"not a directory in the container: {src}")
        return loc.st


def copy_out(rootfs: Path, src: str, dest: PathArg | BinaryIO, *, follow_link: bool = False) -> None:
    """`docker cp CTR:src dest`: a host path gets the copy, a binary stream gets a tar of it."""
    with _rootfs_fd(rootfs) as root_fd:
        try:
            if not isinstance(dest, str | os.PathLike):
                name = None if _contents_only(src) else (_basename(src) or None)
                _write_source(dest, root_fd=root_fd, src=src, follow_link=follow_link, arcname=name)
                return
            _copy_out_to_host(root_fd, src, os.fspath(dest), follow_link=follow_link)
        except OSError as err:
            raise ComposerError(f"cannot copy {src} out of the container: {err.strerror}") from None


def _copy_out_to_host(root_fd: int, src: str, dest: str, *, follow_link: bool) -> None:
    src_dir = stat.S_ISDIR(_stat_source(root_fd, src, follow_link=follow_link).st_mode)
    contents = _contents_only(src) or _basename(src) == ""
    try:
        dst = os.stat(dest)
    except FileNotFoundError:
        dst = None
    except NotADirectoryError:
        raise ComposerError(f"not a directory: {dest}") from None
    if dst is not None and stat.S_ISDIR(dst.st_mode):
        where, arcname = dest, (None if contents else _basename(src))
    elif dst is not None:
        if src_dir:
            raise ComposerError(f"cannot copy a directory to a file: {dest}")
        if dest.endswith("/"):
            raise ComposerError(f"not a directory: {dest}")
        real = os.path.realpath(dest)  # the host side is the caller's own path: its symlinks are followed
        where, arcname = os.path.dirname(real), os.path.basename(real)
    else:
        if _asserts_dir(dest) and not src_dir:
            raise ComposerError(f"destination directory does not exist: {dest}")
        norm = os.path.abspath(dest)
        where, arcname = os.path.dirname(norm), os.path.basename(norm)
        if not os.path.isdir(where):
            raise ComposerError(f"destination directory does not exist: {where}")
    host_fd = os.open(where, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        produce = functools.partial(_write_source, root_fd=root_fd, src=src, follow_link=follow_link, arcname=arcname)
        with piped(produce) as stream:
            _apply(stream, host_fd, [], owners=False, chown_root=False, devices=False, host=True)
    finally:
        os.close(host_fd)


# -- into the container ---------------------------------------------------------------------------


def copy_in(
    rootfs: Path,
    src: PathArg | BinaryIO,
    dest: str,
    *,
    archive: bool = False,
    follow_link: bool = False,
) -> None:
    """`docker cp src CTR:dest`; a binary stream `src` is a tar extracted into the directory `dest`."""
    with _rootfs_fd(rootfs) as root_fd, _located(root_fd, dest, follow_last=True) as loc:
        if _asserts_dir(dest) and loc.exists and not loc.is_dir:
            raise ComposerError(f"not a directory in the container: {dest}")
        try:
            if not isinstance(src, str | os.PathLike):
                if not loc.is_dir:
                    raise ComposerError(f"destination must be a directory in the container: {dest}")
                _apply(src, root_fd, loc.target, owners=is_root(), chown_root=not archive, devices=is_root(),
                       host=False)
                return
            _copy_in_from_host(root_fd, loc, os.fspath(src), dest, archive=archive, follow_link=follow_link)
        except OSError as err:
            raise ComposerError(f"cannot copy into the container at {dest}: {err.strerror}") from None


def _copy_in_from_host(root_fd: int, loc: Location, src: str, dest: str, *, archive: bool, follow_link: bool) -> None:
    follow = follow_link or _asserts_dir(src)
    try:
        src_st = os.stat(src) if follow else os.lstat(src)
    except FileNotFoundError:
        raise ComposerError(f"no such file or directory: {src}") from None
    src_dir = stat.S_ISDIR(src_st.st_mode)
    if _asserts_dir(src) and not src_dir:
        raise ComposerError(f"not a directory: {src}")
    contents = _contents_only(src) or _basename(src) == ""
    if loc.is_dir:
        prefix, top = loc.target, (None if contents else _basename(src))
    elif loc.exists:
        if src_dir:
            raise ComposerError(f"cannot copy a directory to a file in the container: {dest}")
        prefix, top = loc.parts, loc.name
    else:
        if _asserts_dir(dest) and not src_dir:
            raise ComposerError(f"destination directory does not exist in the container: {dest}")
        prefix, top = loc.parts, loc.name

    def produce(out: BinaryIO) -> None:
        with open_tar(out) as tar:
            writer = TreeWriter(tar)
            if top is None:
                fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    writer.add_children(fd, "")
                finally:
                    os.close(fd)
            elif follow and src_dir:
                fd = os.open(src, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    writer.add_dir(fd, top)
                finally:
                    os.close(fd)
            else:
                src_real = os.path.realpath(src) if follow else os.path.abspath(src.rstrip("/") or "/")
                parent = os.open(os.path.dirname(src_real), os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    writer.add(parent, os.path.basename(src_real), top)
                finally:
                    os.close(parent)

    with piped(produce) as stream:
        _apply(stream, root_fd, prefix, owners=is_root(), chown_root=not archive, devices=is_root(), host=False)


__all__ = ["Location", "copy_in", "copy_out", "resolve"]
