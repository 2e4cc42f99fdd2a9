"""`RUN --mount=...`: BuildKit's cache, bind, tmpfs and secret mounts for a RUN step's container.

`parse` reads one `--mount` value (BuildKit's CSV of `key=value` fields); `Preparer` turns parsed mounts
into the long-syntax `volumes` entries (and environment variables, for `secret,env=`) the engine mounts:

* `cache`: a directory under `<state root>/build/cache-mounts/`, kept across builds, never in a layer
  or a cache key (only its options are). `sharing=shared` users hold a shared flock, `locked` an exclusive
  one (waiting for the others), `private` takes the exclusive lock if it is free and otherwise a fresh
  directory for this step alone.
* `bind` (the default type): a path of the build context, of a stage or of an image, read-only; with
  `rw` writes go to a scratch overlay and are discarded. The step's key has what is mounted (the
  checksum of the context path, or the image ID): the builder computes that.
* `tmpfs`: a tmpfs (`size=` optional).
* `secret`: `BuildOptions.secrets[id]` written to a 0400 file in the step's private scratch directory and
  bound read-only (at /run/secrets/<id> unless `target=`), and/or exposed as `env=VAR`. Never in a key,
  a layer, the image config or the history.

runc creates the mount points inside the root filesystem, i.e. in the overlay upper dir that becomes the
layer; `probe` records which targets (and parents) the image did not have, and `remove_stubs` takes
those out of the upper dir again when they are still empty.
"""

from __future__ import annotations

import contextlib
import csv
import fcntl
import hashlib
import os
import posixpath
import re
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.runtime.build import layers as lay
from composer.runtime.build.context import Context, checksum, excluded

TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_BOOL_KEYS = {"readonly", "ro", "readwrite", "rw", "required"}
_KEYS = {
    "bind": {"type", "target", "source", "from", "readonly", "readwrite"},
    "cache": {"type", "target", "id", "sharing", "mode", "uid", "gid", "readonly", "readwrite"},
    "tmpfs": {"type", "target", "size"},
    "secret": {"type", "target", "id", "env", "required", "mode", "uid", "gid"},
}
_ALIASES = {"src": "source", "dst": "target", "destination": "target", "ro": "readonly", "rw": "readwrite"}


@dataclass(frozen=True, slots=True)
class Mount:
    """One `--mount`, its defaults filled in (`image` is set by the builder for a bind's `from`)."""

    type: str
    target: str
    source: str = ""
    from_ref: str | None = None
    id: str = ""
    readonly: bool = False
    sharing: str = "shared"
    mode: int | None = None
    uid: int = 0
    gid: int = 0
    size: str | None = None
    env: str | None = None
    required: bool = False
    image: str | None = None

    def key(self, digest: str | None) -> list[Any]:
        """What the step's cache key sees of this mount: its options and, for a bind, what it mounts;
        never a cache directory's contents nor a secret's value."""
        if self.type == "bind":
            return ["bind", self.target, self.source, self.readonly, digest]
        if self.type == "cache":
            return ["cache", self.target, self.id, self.sharing, self.mode, self.uid, self.gid, self.readonly]
        if self.type == "tmpfs":
            return ["tmpfs", self.target, self.size]
        return ["secret", self.id, self.target, self.env, self.required, self.mode, self.uid, self.gid]


def _fields(value: str) -> list[str]:
    try:
        rows = list(csv.reader([value], skipinitialspace=True))
    except csv.Error as err:
        raise ComposerError(f"cannot parse the mount: {err}") from None
    return [f for f in (rows[0] if rows else []) if f.strip()]


def _bool(key: str, value: str | None) -> bool:
    if value is None:
        return True
    lowered = value.strip().lower()
    if lowered in ("true", "1", "yes"):
        return True
    if lowered in ("false", "0", "no"):
        return False
    raise ComposerError(f"invalid value {value!r} for {key}: use true or false")


def _int(key: str, value: str, base: int = 10) -> int:
    try:
        number = int(value, base)
    except ValueError:
        raise ComposerError(f"invalid value {value!r} for {key}: use a number") from None
    if number < 0:
        raise ComposerError(f"invalid value {value!r} for {key}: use a number")
    return number


def raw_from(value: str | None) -> str | None:
    """The `from=` of a --mount value, or None (tolerant: for finding the stages a build needs)."""
    if not value:
        return None
    with contextlib.suppress(ComposerError):
        for item in _fields(value):
            key, _, val = item.partition("=")
            if key.strip().lower() == "from":
                return val.strip() or None
    return None


def parse(value: str | None, workdir: str = "/") -> Mount:
    """One `--mount` value; a ComposerError says what is wrong with it."""
    if not value:
        raise ComposerError("--mount needs a value, such as type=cache,target=/root/.cache")
    opts: dict[str, str | None] = {}
    for item in _fields(value):
        key, sep, val = item.partition("=")
        key = key.strip().lower()
        key = _ALIASES.get(key, key)
        if key in opts:
            raise ComposerError(f"{key} is given twice")
        if not sep and key not in _BOOL_KEYS:
            raise ComposerError(f"{item!r} needs a value ({key}=...)")
        opts[key] = val if sep else None
    kind = (opts.get("type") or "bind").lower()
    if kind not in TYPES:
        raise ComposerError(f"unknown mount type {kind!r} (use bind, cache, tmpfs or secret)")
    if kind == "ssh":
        raise ComposerError("type=ssh mounts (SSH agent forwarding) are not supported by composer's builder")
    unknown = sorted(set(opts) - _KEYS[kind])
    if unknown:
        raise ComposerError(f"unknown option {unknown[0]!r} for a {kind} mount")
    target = opts.get("target") or ""
    if kind == "secret":
        ident = opts.get("id") or (posixpath.basename(target.rstrip("/")) if target else "")
        if not ident:
            raise ComposerError("a secret mount needs id= (or target=)")
        if not target and not opts.get("env"):
            target = f"/run/secrets/{ident}"
    else:
        ident = opts.get("id") or ""
    if not target and kind != "secret":
        raise ComposerError(f"a {kind} mount needs target=")
    if target:
        target = posixpath.normpath(posixpath.join(workdir or "/", target))
        if target == "/":
            raise ComposerError("a mount cannot replace / (target=/)")
    readonly = _bool("readonly", opts["readonly"]) if "readonly" in opts else kind == "bind"
    if "readwrite" in opts:
        if "readonly" in opts:
            raise ComposerError("readonly and readwrite are given together")
        readonly = not _bool("readwrite", opts["readwrite"])
    sharing = (opts.get("sharing") or "shared").lower()
    if sharing not in ("shared", "private", "locked"):
        raise ComposerError(f"invalid sharing {sharing!r} (use shared, private or locked)")
    mode_text = opts.get("mode")
    mode = _int("mode", mode_text, 8) if mode_text else None
    if mode is not None and mode > 0o7777:
        raise ComposerError(f"invalid mode {mode_text!r}")
    return Mount(
        type=kind,
        target=target,
        source=opts.get("source") or "",
        from_ref=opts.get("from") or None,
        id=ident or (target if kind == "cache" else ""),
        readonly=readonly,
        sharing=sharing,
        mode=mode,
        uid=_int("uid", opts["uid"] or "") if opts.get("uid") is not None else 0,
        gid=_int("gid", opts["gid"] or "") if opts.get("gid") is not None else 0,
        size=opts.get("size") or None,
        env=opts.get("env") or None,
        required=_bool("required", opts["required"]) if "required" in opts else False,
    )


def context_source(ctx: Context, mount: Mount) -> tuple[Path, str]:
    """The host path a context bind mounts, and the checksum of what is under it (ignored files left out)."""
    if any(c in mount.source for c in "*?["):
        raise ComposerError(f"source={mount.source}: a mount source is a path, not a pattern")
    [src] = ctx.sources(mount.source or ".")
    entries = [(src.rel, src.path)]
    if src.is_dir:
        entries.extend((f"{src.rel}/{below}", path) for below, path in ctx.members(src))
    return src.path, checksum(entries)


def _safe_name(ident: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", ident).strip("._")[:40] or "cache"
    return f"{readable}-{hashlib.sha256(ident.encode()).hexdigest()[:16]}"


def _make_dir(path: Path, mode: int, uid: int, gid: int) -> None:
    path.mkdir(mode=0o700)
    os.chown(path, uid, gid)
    os.chmod(path, mode)


class Preparer:
    """Makes the host side of a step's mounts; everything it holds (locks, overlays) goes with `stack`."""

    def __init__(self, *, store: Any, context: Context, build_root: Path, secrets: Mapping[str, bytes],
                 work: Path, stack: contextlib.ExitStack) -> None:
        self.store = store
        self.context = context
        self.cache_root = build_root / "cache-mounts"
        self.secrets = secrets
        self.work = work
        self.stack = stack
        self.count = 0
        self.held: dict[str, Path] = {}

    def _scratch(self, name: str) -> Path:
        self.count += 1
        path = self.work / f"{name}-{self.count}"
        path.mkdir(mode=0o700)
        return path

    def prepare(self, mounts: Sequence[Mount]) -> tuple[list[dict[str, Any]], dict[str, str]]:
        """The long-syntax volumes to give the engine, and environment variables (secrets with env=)."""
        volumes: list[dict[str, Any]] = []
        env: dict[str, str] = {}
        for mount in mounts:
            if mount.type == "cache":
                volumes.append(self._bind(self._cache_dir(mount), mount.target, mount.readonly))
            elif mount.type == "tmpfs":
                volumes.append({"type": "tmpfs", "target": mount.target,
                                "tmpfs": {"size": mount.size} if mount.size else {}})
            elif mount.type == "secret":
                data = self.secrets.get(mount.id)
                if data is None:
                    if mount.required:
                        raise ComposerError(f"secret {mount.id!r} is required but was not given (--secret id="
                                            f"{mount.id},src=FILE, or the service's build.secrets)")
                    continue
                if mount.env:
                    env[mount.env] = data.decode(errors="replace")
                if mount.target:
                    volumes.append(self._bind(self._secret_file(mount, data), mount.target, True))
            else:
                volumes.append(self._bind(self._bind_source(mount), mount.target, mount.readonly))
        return volumes, env

    @staticmethod
    def _bind(source: Path, target: str, readonly: bool) -> dict[str, Any]:
        return {"type": "bind", "source": str(source), "target": target, "read_only": readonly,
                "bind": {"create_host_path": False}}

    def _secret_file(self, mount: Mount, data: bytes) -> Path:
        directory = self._scratch("secret")
        path = directory / "secret"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o400)
        try:
            os.write(fd, data)
            os.fchown(fd, mount.uid, mount.gid)
            os.fchmod(fd, 0o400 if mount.mode is None else mount.mode)
        finally:
            os.close(fd)
        return path

    def _cache_dir(self, mount: Mount) -> Path:
        if mount.id in self.held:  # the same cache twice in one step: one lock (a second would wait on the first)
            return self.held[mount.id]
        self.cache_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        name = _safe_name(mount.id)
        path = self.cache_root / name
        mode = 0o755 if mount.mode is None else mount.mode
        fd = os.open(self.cache_root / f"{name}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        self.stack.callback(os.close, fd)
        if mount.sharing == "private":
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:  # in use: a directory of this step's own, gone with it
                private = self._scratch("cache") / "dir"
                _make_dir(private, mode, mount.uid, mount.gid)
                self.held[mount.id] = private
                return private
        else:
            fcntl.flock(fd, fcntl.LOCK_EX if mount.sharing == "locked" else fcntl.LOCK_SH)
        if not path.is_dir():
            fresh = Path(tempfile.mkdtemp(dir=self.cache_root, prefix=".new-"))
            try:
                os.chown(fresh, mount.uid, mount.gid)
                os.chmod(fresh, mode)
                os.rename(fresh, path)  # atomic: a concurrent first use finds one or the other
            except OSError:
                shutil.rmtree(fresh, ignore_errors=True)
                if not path.is_dir():
                    raise
        self.held[mount.id] = path
        return path

    def _bind_source(self, mount: Mount) -> Path:
        if mount.image is not None:
            root, _ = self.stack.enter_context(lay.mounted(self.store.layer_dirs(mount.image),
                                                           self._scratch("from")))
            ctx = Context(root, what=f"the mount's from={mount.from_ref}")
            if any(c in mount.source for c in "*?["):
                raise ComposerError(f"source={mount.source}: a mount source is a path, not a pattern")
            [src] = ctx.sources(mount.source or ".")
            return src.path  # an overlay with a scratch upper: rw writes are discarded with it
        path, _ = context_source(self.context, mount)
        if path.is_dir():
            rel = os.path.relpath(path, self.context.root)
            rel = "" if rel == "." else rel
            if self.context.rules and any(excluded(self.context.rules, r) for r in self.context.walk(rel)):
                copy = self._scratch("context") / "copy"
                shutil.copytree(path, copy, symlinks=True,
                                ignore=_ignore_excluded(self.context))
                path = copy
            if not mount.readonly:
                root, _ = self.stack.enter_context(lay.mounted([path], self._scratch("rw")))
                return root
            return path
        if not mount.readonly:
            copy = self._scratch("rw") / path.name
            shutil.copy2(path, copy, follow_symlinks=True)
            return copy
        return path


def _ignore_excluded(ctx: Context) -> Any:
    """A `copytree` ignore callback leaving out what `.dockerignore` excludes."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        out = set()
        for name in names:
            rel = os.path.relpath(os.path.join(directory, name), ctx.root)
            if excluded(ctx.rules, rel):
                out.add(name)
        return out

    return ignore


# -- mount points left in the layer ---------------------------------------------------------------------


def _chain(target: str) -> list[str]:
    """`/a/b/c` -> [a/b/c, a/b, a]: the target and its parents, deepest first, relative to /."""
    parts = [p for p in target.split("/") if p]
    return ["/".join(parts[:n]) for n in range(len(parts), 0, -1)]


def probe(layer_dirs: Sequence[Path], targets: Sequence[str], work: Path) -> dict[str, os.stat_result | None]:
    """For each mount target and its parents: its stat in the image (None: the image does not have it).
    A path below a symlink of the image is left out (runc resolves it elsewhere; nothing to clean)."""
    out: dict[str, os.stat_result | None] = {}
    with lay.mounted(layer_dirs, work) as (root, _):
        for target in targets:
            chain = _chain(target)
            for rel in reversed(chain):  # from the top down: stop at a symlink or a missing parent
                try:
                    st = os.lstat(root / rel)
                except OSError:
                    for rest in chain[:chain.index(rel) + 1]:
                        out.setdefault(rest, None)
                    break
                if stat.S_ISLNK(st.st_mode):
                    break
                out[rel] = st
    return out


def _opaque(path: Path) -> bool:
    for name in ("trusted.overlay.opaque", "user.overlay.opaque"):
        with contextlib.suppress(OSError):
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
    return False


def remove_stubs(upper: Path, found: Mapping[str, os.stat_result | None]) -> None:
    """Take out of the upper dir the empty mount points runc made: paths the image did not have, and
    directories only copied up for them (same mode and owner as in the image, not opaque, now empty)."""
    for rel in sorted(found, key=lambda r: r.count("/"), reverse=True):
        path = upper / rel
        try:
            st = os.lstat(path)
        except OSError:
            continue
        before = found[rel]
        if stat.S_ISDIR(st.st_mode):
            if any(os.scandir(path)):
                continue
            if before is not None and (not stat.S_ISDIR(before.st_mode) or _opaque(path) or
                                       (st.st_mode, st.st_uid, st.st_gid) !=
                                       (before.st_mode, before.st_uid, before.st_gid)):
                continue
            with contextlib.suppress(OSError):
                os.rmdir(path)
        elif stat.S_ISREG(st.st_mode) and st.st_size == 0 and before is None:
            with contextlib.suppress(OSError):
                os.unlink(path)


def with_image(mount: Mount, image_id: str) -> Mount:
    return replace(mount, image=image_id)


__all__ = ["Mount", "Preparer", "context_source", "parse", "probe", "raw_from", "remove_stubs", "with_image"]
