"""Volumes of the native engine: directories under `<state root>/volumes/<name>/`, Docker's `local` driver.

`<name>/_data` is what containers mount; `<name>/volume.json` is what `volume inspect` shows. A volume is
"in use" while any container record (in any phase: a container being created has already claimed its
volumes) names it or bind-mounts its `_data`. Every change that must not race a container being made
from the volume (create, remove, prune, and the engine's preparation of a container's volumes) holds
`volumes/.lock`, so `volume rm` never deletes a volume between its check and a creator's record.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import secrets
import shutil
import stat
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.runtime.engine import records
from composer.runtime.engine.locks import locked
from composer.runtime.fsutil import write_atomic

ANONYMOUS_LABEL = "com.docker.volume.anonymous"
DATA = "_data"
META = "volume.json"
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
_LOCAL_OPTIONS = frozenset({"type", "device", "o", "size"})


def check_name(name: str) -> None:
    """Docker's rule for volume names (two characters at least: one-letter names are refused there too)."""
    if not _NAME.fullmatch(name):
        raise ComposerError(
            f"invalid volume name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters"
        )


def is_anonymous_name(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


@dataclass(frozen=True, slots=True)
class Volume:
    """One volume as stored: its `volume.json` and where its content lives."""

    name: str
    mountpoint: Path
    created_at: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return ANONYMOUS_LABEL in self.labels

    def inspect(self) -> dict[str, Any]:
        """`docker volume inspect`'s document."""
        return {
            "CreatedAt": self.created_at,
            "Driver": self.driver,
            "Labels": dict(self.labels),
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Options": dict(self.options),
            "Scope": "local",
        }

    def row(self) -> dict[str, str]:
        """`docker volume ls --format json`'s row (labels as `k=v,k=v`, as the docker CLI prints them)."""
        return {
            "Availability": "N/A",
            "Driver": self.driver,
            "Group": "N/A",
            "Labels": ",".join(f"{k}={v}" for k, v in sorted(self.labels.items())),
            "Links": "N/A",
            "Mountpoint": str(self.mountpoint),
            "Name": self.name,
            "Scope": "local",
            "Size": "N/A",
            "Status": "N/A",
        }


@dataclass(frozen=True, slots=True)
class PruneReport:
    removed: list[str]
    space_reclaimed: int


class VolumeStore:
    """The volumes under one state root."""

    def __init__(self, state_root: Path) -> None:
        self.state_root = Path(state_root)
        self.root = self.state_root / "volumes"

    # -- locking and paths --------------------------------------------------------------------------

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """The store's lock: held across a check-then-act (in-use check and delete, create and record)."""
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        with locked(self.root / ".lock"):
            yield

    def _dir(self, name: str) -> Path:
        return self.root / name

    # -- reading -------------------------------------------------------------------------------------

    def _load(self, name: str) -> Volume | None:
        if name.startswith(".") or "/" in name:
            return None
        try:
            raw = json.loads((self._dir(name) / META).read_bytes())
        except (OSError, ValueError):
            return None
        return Volume(
            name=str(raw.get("Name") or name),
            mountpoint=self._dir(name) / DATA,
            created_at=str(raw.get("CreatedAt") or ""),
            driver=str(raw.get("Driver") or "local"),
            labels=dict(raw.get("Labels") or {}),
            options=dict(raw.get("Options") or {}),
        )

    def get(self, name: str) -> Volume:
        found = self._load(name)
        if found is None:
            raise ComposerError(f"get {name}: no such volume")
        return found

    def exists(self, name: str) -> bool:
        return self._load(name) is not None

    def all(self) -> list[Volume]:
        try:
            names = sorted(p.name for p in self.root.iterdir() if not p.name.startswith("."))
        except FileNotFoundError:
            return []
        return [v for v in map(self._load, names) if v is not None]

    # -- users ---------------------------------------------------------------------------------------

    def users(self) -> dict[str, list[str]]:
        """Volume name -> IDs of the containers whose records use it."""
        out: dict[str, list[str]] = {}
        try:
            entries = list((self.state_root / "containers").iterdir())
        except FileNotFoundError:
            return out
        prefix = str(self.root) + "/"
        for entry in entries:
            if entry.name.startswith("."):
                continue
            record = records.load(entry)
            if record is None:
                continue
            names = set(record.volumes)
            for mount in record.mounts:
                source = str(mount.get("source") or "")
                if source.startswith(prefix):
                    names.add(source[len(prefix):].split("/", 1)[0])
            for name in names:
                out.setdefault(name, []).append(record.id)
        return out

    # -- changing ------------------------------------------------------------------------------------

    def create(
        self,
        name: str | None = None,
        *,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        driver: str = "local",
    ) -> Volume:
        """A new volume, or the existing one of that name (Docker: same name and labels is not an error).

        Without a name it is anonymous: a random 64-hex name and the label `com.docker.volume.anonymous`.
        Call with the lock held when a container is about to claim it.
        """
        if driver != "local":
            raise ComposerError(f"volume driver {driver!r} is not supported: this engine has the local driver only")
        for key in options or {}:
            if key not in _LOCAL_OPTIONS:
                raise ComposerError(f"invalid option key: {key!r}")
        if options:
            raise ComposerError("volume driver options (-o) are not supported by this engine yet")
        wanted = dict(labels or {})
        if name is None or name == "":
            name = secrets.token_hex(32)
            wanted.setdefault(ANONYMOUS_LABEL, "")
        check_name(name)
        existing = self._load(name)
        if existing is not None:
            if wanted and existing.labels != wanted:
                raise ComposerError(
                    f"volume {name!r} already exists with other labels: remove it first or use the same labels"
                )
            return existing
        vdir = self._dir(name)
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        vdir.mkdir(mode=0o701, exist_ok=True)
        (vdir / DATA).mkdir(mode=0o755, exist_ok=True)
        created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        meta = {"CreatedAt": created, "Driver": driver, "Labels": wanted, "Mountpoint": str(vdir / DATA),
                "Name": name, "Options": dict(options or {}), "Scope": "local"}
        write_atomic(vdir / META, json.dumps(meta, sort_keys=True, indent=2).encode(), mode=0o600)
        return self.get(name)

    def remove(self, name: str, *, force: bool = False) -> bool:
        """Delete a volume; refused while a container uses it, even with `force` (as Docker does).

        `force` only makes a missing volume not an error. True if something was removed.
        """
        with self.lock():
            return self._remove_locked(name, force=force)

    def _remove_locked(self, name: str, *, force: bool) -> bool:
        if not self.exists(name):
            if force:
                return False
            raise ComposerError(f"get {name}: no such volume")
        users = self.users().get(name)
        if users:
            raise ComposerError(f"remove {name}: volume is in use - [{', '.join(users)}]")
        self.discard(name)
        return True

    def discard(self, name: str) -> None:
        """The volume directory, gone, without the in-use check (the caller did it, or nothing refers to it yet).

        `volume.json` first, so a half-deleted volume is no longer listed."""
        vdir = self._dir(name)
        (vdir / META).unlink(missing_ok=True)
        shutil.rmtree(vdir, ignore_errors=True)
        if vdir.exists():
            shutil.rmtree(vdir)  # raise what is left

    def remove_anonymous(self, names: Sequence[str]) -> list[str]:
        """`rm -v`: the anonymous ones among `names` that no container uses any more; named ones stay."""
        removed = []
        with self.lock():
            users = self.users()
            for name in names:
                volume = self._load(name)
                if volume is None or not volume.anonymous or users.get(name):
                    continue
                self.discard(name)
                removed.append(name)
        return removed

    def prune(self, *, all_volumes: bool = False, labels: Sequence[str] = ()) -> PruneReport:
        """Unused volumes: anonymous ones only unless `all` (Docker 23+), filtered by `label=` filters."""
        removed: list[str] = []
        reclaimed = 0
        with self.lock():
            users = self.users()
            for volume in self.all():
                if users.get(volume.name) or not (all_volumes or volume.anonymous):
                    continue
                if not all(_label_matches(volume.labels, f) for f in labels):
                    continue
                reclaimed += _disk_usage(volume.mountpoint)
                self.discard(volume.name)
                removed.append(volume.name)
        return PruneReport(removed, reclaimed)

    def list_volumes(self, filters: Sequence[str] = ()) -> list[Volume]:
        """Volumes matching every `key=value` filter (`name` substring, `label`, `dangling`, `driver`)."""
        parsed: dict[str, list[str]] = {}
        for item in filters:
            key, sep, value = item.partition("=")
            if not sep or key not in ("name", "label", "dangling", "driver"):
                raise ComposerError(f"invalid filter {item!r}")
            parsed.setdefault(key, []).append(value)
        for value in parsed.get("dangling", ()):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ComposerError(f"invalid filter 'dangling={value}'")
        users = self.users() if "dangling" in parsed else {}
        out = []
        for volume in self.all():
            if "name" in parsed and not any(n in volume.name for n in parsed["name"]):
                continue
            if "driver" in parsed and volume.driver not in parsed["driver"]:
                continue
            if not all(_label_matches(volume.labels, f) for f in parsed.get("label", ())):
                continue
            if "dangling" in parsed:
                dangling = not users.get(volume.name)
                if not any(dangling == (v.lower() in ("true", "1")) for v in parsed["dangling"]):
                    continue
            out.append(volume)
        return out


def _label_matches(labels: Mapping[str, str], spec: str) -> bool:
    key, sep, value = spec.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _disk_usage(path: Path) -> int:
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if not stat.S_ISDIR(st.st_mode):
                    total += st.st_blocks * 512
    return total


# -- copy-up: an image's content at a mount target, into an empty volume ----------------------------------

_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def is_empty(path: Path) -> bool:
    with os.scandir(path) as it:
        return next(it, None) is None


def copy_up(rootfs: Path, target: str, dest: Path) -> bool:
    """Fill the empty volume directory `dest` with the rootfs's directory at `target` (Docker's copy-up).

    `target` is resolved inside `rootfs` as chroot would (symlinks stay inside); below it nothing is
    followed: symlinks are copied as symlinks, hard links stay linked, and owners, modes, times and
    xattrs are kept, the top directory's too. False when `target` is not a directory in the image.
    """
    from composer.runtime.confined import open_in_root

    try:
        src_fd = open_in_root(rootfs, target, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:
        return False
    try:
        dst_fd = os.open(dest, _O_DIR)
        try:
            _copy_tree(src_fd, dst_fd, dst_fd, "", {})
            _copy_meta(dst_fd, None, os.fstat(src_fd), src_fd)
        finally:
            os.close(dst_fd)
    finally:
        os.close(src_fd)
    return True


def _copy_tree(src: int, dst: int, top: int, rel: str, links: dict[tuple[int, int], str]) -> None:
    """Copy the entries of directory `src` into `dst` (`rel` below `top`, where `links` paths start)."""
    for name in os.listdir(src):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        mode = st.st_mode
        here = f"{rel}{name}"
        if stat.S_ISDIR(mode):
            os.mkdir(name, 0o700, dir_fd=dst)
            sub_src = os.open(name, _O_DIR, dir_fd=src)
            try:
                sub_dst = os.open(name, _O_DIR, dir_fd=dst)
                try:
                    _copy_tree(sub_src, sub_dst, top, f"{here}/", links)
                    _copy_meta(sub_dst, None, st, sub_src)
                finally:
                    os.close(sub_dst)
            finally:
                os.close(sub_src)
            continue
        key = (st.st_dev, st.st_ino)
        if st.st_nlink > 1 and key in links:
            os.link(links[key], name, src_dir_fd=top, dst_dir_fd=dst, follow_symlinks=False)
            continue
        if stat.S_ISLNK(mode):
            os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
            _copy_meta(dst, name, st)
        elif stat.S_ISREG(mode):
            _copy_file(src, dst, name, st)
        elif stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            os.mknod(name, stat.S_IFMT(mode) | 0o600, st.st_rdev, dir_fd=dst)
            _copy_meta(dst, name, st)
        else:
            continue  # sockets are not content
        if st.st_nlink > 1:
            links[key] = here


def _copy_file(src: int, dst: int, name: str, st: os.stat_result) -> None:
    in_fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
    try:
        out_fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=dst)
        try:
            remaining = st.st_size
            while remaining > 0:
                sent = os.sendfile(out_fd, in_fd, None, min(remaining, 1 << 30))
                if sent == 0:
                    break
                remaining -= sent
            _copy_meta(out_fd, None, st, in_fd)
        finally:
            os.close(out_fd)
    finally:
        os.close(in_fd)


def _copy_meta(dst: int, name: str | None, st: os.stat_result, src_fd: int | None = None) -> None:
    """Owner, xattrs (from `src_fd`, when given), mode after the owner (chown clears setuid), then times.

    `name` None: `dst` is the file's own fd; otherwise `name` under directory `dst`, never followed.
    """
    if name is None:
        os.chown(dst, st.st_uid, st.st_gid)
        if src_fd is not None:
            _copy_xattrs(src_fd, dst)
        os.chmod(dst, stat.S_IMODE(st.st_mode))
        os.utime(dst, ns=(st.st_atime_ns, st.st_mtime_ns))
        return
    os.chown(name, st.st_uid, st.st_gid, dir_fd=dst, follow_symlinks=False)
    if not stat.S_ISLNK(st.st_mode):
        os.chmod(name, stat.S_IMODE(st.st_mode), dir_fd=dst, follow_symlinks=False)
    os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst, follow_symlinks=False)


def _copy_xattrs(src_fd: int, dst_fd: int) -> None:
    try:
        keys = os.listxattr(src_fd)
    except OSError:
        return
    for key in keys:
        if key.startswith("trusted.overlay."):
            continue
        try:
            os.setxattr(dst_fd, key, os.getxattr(src_fd, key))
        except OSError as err:
            if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EACCES, errno.ENODATA):
                raise


def resolve_subpath(data: Path, subpath: str) -> Path:
    """`volume.subpath`: a directory inside the volume, refused if any component is a symlink or `..`.

    Each component is opened with O_NOFOLLOW under its parent, so nothing resolves outside the volume.
    """
    parts = [p for p in subpath.split("/") if p not in ("", ".")]
    if subpath.startswith("/") or ".." in parts:
        raise ComposerError(f"volume subpath {subpath!r}: must be a relative path inside the volume, without '..'")
    fd = os.open(data, _O_DIR)
    try:
        for part in parts:
            try:
                nxt = os.open(part, _O_DIR, dir_fd=fd)
            except OSError as err:
                what = "is a symlink or not a directory" if err.errno in (errno.ELOOP, errno.ENOTDIR) else err.strerror
                raise ComposerError(f"volume subpath {subpath!r}: {part!r} {what}") from None
            os.close(fd)
            fd = nxt
    finally:
        os.close(fd)
    return data.joinpath(*parts)


def mount_volume(
    store: VolumeStore,
    spec: Mapping[str, Any],
    rootfs: Path | None,
    claimed: list[str],
    fresh: list[str],
) -> Path:
    """The host directory to bind-mount for one `type: volume` entry (call with the store's lock held).

    An empty `source` makes an anonymous volume, a missing named one is created; the name goes to `claimed`
    and, when this call made it, to `fresh`. An empty volume is filled from the image at the target (with
    `rootfs`, unless `volume.nocopy` or `volume.subpath`), as Docker does.
    """
    options = spec.get("volume") or {}
    source = str(spec.get("source") or "")
    target = str(spec.get("target") or "")
    if source and store.exists(source):
        volume = store.get(source)
    else:
        volume = store.create(source or None, labels=dict(options.get("labels") or {}))
        fresh.append(volume.name)
    claimed.append(volume.name)
    subpath = options.get("subpath")
    if subpath:
        return resolve_subpath(volume.mountpoint, str(subpath))
    if rootfs is not None and not options.get("nocopy") and is_empty(volume.mountpoint):
        copy_up(rootfs, target, volume.mountpoint)
    return volume.mountpoint


def tmpfs_options(spec: Mapping[str, Any]) -> tuple[str, ...]:
    """Long-syntax `type: tmpfs` options: Docker's `noexec,nosuid,nodev`, then `tmpfs.size` and `tmpfs.mode`."""
    from composer.schema.units import parse_bytes

    target = spec.get("target")
    options = ["noexec", "nosuid", "nodev", "rprivate"]
    tmpfs = spec.get("tmpfs") or {}
    size = tmpfs.get("size")
    if size not in (None, "", 0):
        try:
            options.append(f"size={parse_bytes(size)}")
        except ValueError:
            raise ComposerError(f"tmpfs {target}: invalid size {size!r}") from None
    mode = tmpfs.get("mode")
    if mode not in (None, ""):
        try:
            value = mode if isinstance(mode, int) else int(str(mode), 8)
        except ValueError:
            raise ComposerError(f"tmpfs {target}: invalid mode {mode!r} (octal, such as 1777)") from None
        options.append(f"mode={value:o}")
    if spec.get("read_only"):
        options.append("ro")
    return tuple(options)


# -- volumes_from ------------------------------------------------------------------------------------------------

_SKIP_DESTINATIONS = frozenset({"/dev/shm", "/sbin/docker-init"})
"""Mounts of a container that are not its volumes: `ipc: host`'s /dev/shm, the init binary (`init: true`); its
/etc/hosts, hostname and resolv.conf are found by their source (the container's own directory)."""


def parse_volumes_from(spec: str) -> tuple[str, bool | None]:
    """`container:NAME[:ro|rw]` or `NAME[:ro|rw]` -> (container reference, read-only or None for the source's mode).

    `service:NAME` is the Compose layer's to translate into a container name before the engine sees it.
    """
    text = str(spec).strip()
    if text.startswith("service:"):
        raise ComposerError(f"volumes_from {spec!r}: name a container here (service:NAME is resolved by Compose)")
    text = text.removeprefix("container:")
    ref, sep, mode = text.rpartition(":")
    if not sep:
        ref, mode = text, ""
    elif mode not in ("ro", "rw"):
        raise ComposerError(f"volumes_from {spec!r}: the mode must be ro or rw, not {mode!r}")
    if not ref:
        raise ComposerError(f"volumes_from {spec!r}: no container named")
    return ref, (mode == "ro") if mode else None


def _find_container(state_root: Path, ref: str) -> records.ContainerRecord:
    """A ready container by full ID, name or unambiguous ID prefix, read from the records (as `Engine.resolve`)."""
    found = []
    try:
        entries = list((state_root / "containers").iterdir())
    except FileNotFoundError:
        entries = []
    for entry in entries:
        if not entry.name.startswith("."):
            record = records.load(entry)
            if record is not None and record.phase == "ready":
                found.append(record)
    name = ref.removeprefix("/")
    for record in found:
        if record.id == ref or record.name == name:
            return record
    matches = [r for r in found if r.id.startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if len(matches) > 1:
        raise ComposerError(f"volumes_from {ref!r}: several containers match: use more of the ID or the name")
    raise ComposerError(f"volumes_from: no such container: {ref}")


def volumes_from_mounts(store: VolumeStore, specs: Sequence[str], claimed: list[str]) -> list[dict[str, Any]]:
    """The OCI bind mounts `volumes_from` gives: every volume and bind mount of each source container, at the same
    destination, read-only with `:ro`, the source's mode by default, `:rw` writable. Sources are read from their
    records (written at create), so a stopped or never-started data container works. The volumes used go to
    `claimed`, so they count as in use while this container exists (call with the store's lock held)."""
    own_dirs = str(store.state_root / "containers") + "/"
    volumes_dir = str(store.root) + "/"
    out: dict[str, dict[str, Any]] = {}
    for spec in specs:
        ref, read_only = parse_volumes_from(spec)
        source = _find_container(store.state_root, ref)
        for mount in source.mounts:
            path = str(mount.get("source") or "")
            destination = str(mount.get("destination") or "")
            options = [str(o) for o in mount.get("options") or ()]
            if path.startswith(own_dirs) or destination in _SKIP_DESTINATIONS:
                continue
            if path.startswith(volumes_dir):
                name = path[len(volumes_dir):].split("/", 1)[0]
                if not store.exists(name):
                    raise ComposerError(f"volumes_from {spec!r}: volume {name} of {source.name} no longer exists")
                if name not in claimed:
                    claimed.append(name)
            ro = ("ro" in options) if read_only is None else read_only
            options = [o for o in options if o not in ("ro", "rw")] + (["ro"] if ro else [])
            out[destination] = {**mount, "options": options}
    return list(out.values())
