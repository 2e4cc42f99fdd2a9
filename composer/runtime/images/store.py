"""The local image store: content-addressed blobs, unpacked layers, an index of names.

Layout under the root the caller gives (the engine uses `<state root>/images`)::

    blobs/sha256/<hex>          manifests, configs and layer blobs, sha256-verified on write
    layers/<diff_id hex>/diff   one unpacked overlayfs layer, shared by every image that has it
    layers/<diff_id hex>/layer.json
    images/<id hex>.json        one record per image (its manifest digest, repo digests, tag time)
    repositories.json           "name:tag" -> image ID (the image ID is its config's digest)
    tmp/                        scratch space; a directory only ever appears elsewhere by rename
    lock                        flock'ed by every change, so commands serialize across processes

Every write is temp + rename, and each step leaves a consistent store: a command killed at any
point leaves at worst unreferenced blobs, layers or scratch files, which the next change or
`prune` removes, and running the command again finishes the job. Layers are keyed by diff_id,
not chain ID: an overlayfs layer (whiteouts as 0/0 devices) does not depend on its parents, so
keying by content shares the most. The root is mode 0700 (unpacked layers hold setuid files and
device nodes, CVE-2021-41091).

The API is synchronous and small on purpose: trio code calls it through `trio.to_thread`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO, Literal

from composer.errors import ComposerError
from composer.runtime.fsutil import fsync_dir, write_atomic
from composer.runtime.images import model
from composer.runtime.images.extract import extract_layer
from composer.runtime.images.model import ImageConfig, Manifest
from composer.runtime.images.reference import (
    Reference,
    check_digest,
    parse_image_id,
    parse_reference,
    short_id,
)

DEFAULT_ROOT = Path("/var/lib/composer/images")
_CHUNK = 1 << 20
_HEX_PREFIX = re.compile(r"(?:sha256:)?([0-9a-f]{1,64})")

InUse = Callable[[str], bool]
"""Tells whether a container uses the image with this ID (`sha256:...`)."""


def _never_in_use(_image_id: str) -> bool:
    return False


def _hex(digest: str) -> str:
    return check_digest(digest).split(":", 1)[1]


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def parse_time(value: str | None) -> dt.datetime | None:
    """RFC 3339 times from configs (nanoseconds and `Z` included); None when absent or bad."""
    if not value:
        return None
    with contextlib.suppress(ValueError):
        return dt.datetime.fromisoformat(value)
    return None


@dataclass(frozen=True, slots=True)
class Image:
    """One stored image, with what the engine needs to run it."""

    id: str
    manifest_digest: str
    manifest: Manifest
    config: ImageConfig
    config_json: dict[str, Any]
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    size: int
    last_tag_time: str | None

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(self.config.rootfs.diff_ids)

    @property
    def created(self) -> str | None:
        return self.config.created


@dataclass(frozen=True, slots=True)
class ImageSummary:
    """A row source for `image ls`: one per image; the CLI prints one row per tag."""

    id: str
    repo_tags: tuple[str, ...]
    repo_digests: tuple[str, ...]
    created: str | None
    size: int

    @property
    def dangling(self) -> bool:
        return not self.repo_tags


@dataclass(frozen=True, slots=True)
class RemoveEvent:
    """One line of `image rm`/`prune` output, as Docker prints them."""

    kind: Literal["Untagged", "Deleted"]
    value: str

    def __str__(self) -> str:
        return f"{self.kind}: {self.value}"


@dataclass(slots=True)
class PruneReport:
    events: list[RemoveEvent] = field(default_factory=list)
    space_reclaimed: int = 0


@dataclass(frozen=True, slots=True)
class LoadedImage:
    """What `image load` reports: the image and the names it got ("Loaded image: ...")."""

    id: str
    tags: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    def messages(self) -> list[str]:
        if not self.tags:
            return [f"Loaded image ID: {self.id}"]
        return [f"Loaded image: {tag}" for tag in self.tags]


class ImageStore:
    """Images on the local disk. Changes hold an exclusive lock; reads need none."""

    def __init__(self, root: str | os.PathLike[str] = DEFAULT_ROOT) -> None:
        self.root = Path(root)
        self._mutex = threading.RLock()
        self._depth = 0
        self._lock_fd: int | None = None

    # -- layout ------------------------------------------------------------------------------

    def _ensure(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.root, 0o700)
        for sub in ("blobs/sha256", "layers", "images", "tmp"):
            (self.root / sub).mkdir(parents=True, exist_ok=True, mode=0o700)

    def blob_path(self, digest: str) -> Path:
        return self.root / "blobs" / "sha256" / _hex(digest)

    def layer_path(self, diff_id: str) -> Path:
        """The unpacked directory of a layer (an overlayfs lowerdir)."""
        return self.root / "layers" / _hex(diff_id) / "diff"

    def _record_path(self, image_id: str) -> Path:
        return self.root / "images" / f"{_hex(image_id)}.json"

    def layer_dirs(self, ref: str) -> list[Path]:
        """An image's unpacked layers, lowest first (overlayfs wants `lowerdir=` top first)."""
        return [self.layer_path(d) for d in self.get(ref).diff_ids]

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).is_file()

    def has_layer(self, diff_id: str) -> bool:
        return (self.root / "layers" / _hex(diff_id) / "layer.json").is_file()

    def open_blob(self, digest: str) -> BinaryIO:
        try:
            return open(self.blob_path(digest), "rb")
        except FileNotFoundError:
            raise ComposerError(f"blob {digest} is missing from the image store") from None

    def read_blob(self, digest: str) -> bytes:
        with self.open_blob(digest) as src:
            return src.read()

    # -- locking -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Serialize changes: a thread lock inside this process, flock across processes."""
        with self._mutex:
            if self._depth == 0:
                self._ensure()
                fd = os.open(self.root / "lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
                fcntl.flock(fd, fcntl.LOCK_EX)
                self._lock_fd = fd
                self._clean_tmp()
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
                if self._depth == 0 and self._lock_fd is not None:
                    os.close(self._lock_fd)
                    self._lock_fd = None

    def _clean_tmp(self) -> None:
        """Scratch left by a killed command; safe because nobody else holds the lock. A live process's
        unpacking scratch (`unpack-<pid>-*`, worked on outside the lock) is left to it."""
        tmp = self.root / "tmp"
        for entry in tmp.iterdir():
            if entry.name.startswith("unpack-"):
                pid = entry.name.split("-")[1]
                if pid.isdigit() and Path(f"/proc/{pid}").exists():
                    continue
            _remove_tree(entry)

    def scratch_dir(self) -> Path:
        """A fresh directory on the store's filesystem, for build-then-rename."""
        return Path(tempfile.mkdtemp(dir=self.root / "tmp"))

    # -- blobs -------------------------------------------------------------------------------

    def put_blob(self, src: IO[bytes] | BinaryIO, *, expected: str | None = None) -> tuple[str, int]:
        """Store a stream as a blob; its sha256 is checked against `expected` before it lands."""
        with self.locked():
            fd, tmp = tempfile.mkstemp(dir=self.root / "tmp", prefix="blob-")
            hasher = hashlib.sha256()
            size = 0
            try:
                with os.fdopen(fd, "wb") as out:
                    while chunk := src.read(_CHUNK):
                        hasher.update(chunk)
                        size += len(chunk)
                        out.write(chunk)
                    out.flush()
                    os.fsync(out.fileno())
                digest = "sha256:" + hasher.hexdigest()
                if expected is not None and digest != expected:
                    raise ComposerError(f"blob {expected} is corrupt: its content has digest {digest}")
                final = self.blob_path(digest)
                if final.exists():
                    os.unlink(tmp)
                else:
                    os.rename(tmp, final)
                    fsync_dir(final.parent)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            return digest, size

    def put_blob_bytes(self, data: bytes, *, expected: str | None = None) -> str:
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        if expected is not None and digest != expected:
            raise ComposerError(f"blob {expected} is corrupt: its content has digest {digest}")
        with self.locked():
            final = self.blob_path(digest)
            if not final.exists():
                write_atomic(final, data)
        return digest

    # -- layers ------------------------------------------------------------------------------

    def ensure_layer(self, blob: str, diff_id: str) -> Path:
        """Unpack a stored layer blob once; checks the uncompressed content against its diff_id."""
        final = self.layer_path(diff_id)
        if final.parent.is_dir():
            return final
        with self.open_blob(blob) as src:
            return self.unpack_layer(src, blob, diff_id)

    def unpack_layer(self, src: IO[bytes] | BinaryIO, blob: str, diff_id: str, *,
                     check_blob: Callable[[], None] | None = None) -> Path:
        """Unpack the layer tar stream `src` (the content of `blob`), checked against its diff_id.

        The unpacking runs outside the store lock (in this process's own scratch directory), so the
        layers of one pull unpack side by side and other commands are not held up; only the rename
        that publishes the layer takes the lock. `check_blob` runs once the layer is unpacked, just
        before it becomes visible: a pull that unpacks while it downloads checks the blob's digest and
        stores it there, so no layer is ever published from a blob that failed its digest. Since it
        checks the digest of the very bytes unpacked, an uncompressed layer whose blob digest is its
        diff_id is not hashed a second time.
        """
        final = self.layer_path(diff_id).parent
        with self.locked():
            scratch = Path(tempfile.mkdtemp(dir=self.root / "tmp", prefix=f"unpack-{os.getpid()}-"))
        try:
            diff = scratch / "diff"
            diff.mkdir(mode=0o755)
            os.chmod(diff, 0o755)
            trusted = check_blob is not None and blob == diff_id
            stats = extract_layer(src, diff, mode="overlay", hash_uncompressed=not trusted)
            if stats.diff_id != diff_id and not (trusted and stats.diff_id == ""):
                raise ComposerError(
                    f"layer {blob} is corrupt: its content has digest {stats.diff_id}, "
                    f"the image config says {diff_id}"
                )
            info = {
                "diff_id": diff_id,
                "blob": blob,
                "size": stats.size,
                "compression": stats.compression,
                "warnings": list(stats.warnings),
            }
            write_atomic(scratch / "layer.json", model.dump_json(info))
            if check_blob is not None:
                check_blob()
            with self.locked():
                if final.is_dir():  # another process unpacked it meanwhile
                    _remove_tree(scratch)
                else:
                    os.rename(scratch, final)
                    fsync_dir(final.parent)
        except BaseException:
            _remove_tree(scratch)
            raise
        return final / "diff"

    def layer_info(self, diff_id: str) -> dict[str, Any]:
        path = self.root / "layers" / _hex(diff_id) / "layer.json"
        try:
            info: dict[str, Any] = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise ComposerError(f"layer {diff_id} is not unpacked") from None
        return info

    # -- images ------------------------------------------------------------------------------

    def _tags(self) -> dict[str, str]:
        try:
            data = json.loads((self.root / "repositories.json").read_bytes())
        except FileNotFoundError:
            return {}
        tags: dict[str, str] = data.get("tags", {})
        return tags

    def _write_tags(self, tags: dict[str, str]) -> None:
        write_atomic(self.root / "repositories.json", model.dump_json({"tags": dict(sorted(tags.items()))}))

    def _record(self, image_id: str) -> dict[str, Any] | None:
        try:
            record: dict[str, Any] = json.loads(self._record_path(image_id).read_bytes())
        except FileNotFoundError:
            return None
        return record

    def _image_ids(self) -> list[str]:
        folder = self.root / "images"
        if not folder.is_dir():
            return []
        names = (p.stem for p in folder.glob("*.json"))
        return sorted(f"sha256:{n}" for n in names if re.fullmatch(r"[0-9a-f]{64}", n))

    def add_image(
        self,
        manifest_digest: str,
        names: Sequence[Reference] = (),
        *,
        repo_digests: Sequence[str] = (),
    ) -> LoadedImage:
        """Make a stored manifest an image: check its blobs, unpack its layers, record, tag.

        Tags move from whatever image had them, as `docker load` and `docker tag` do.
        """
        with self.locked():
            what = f"manifest {manifest_digest}"
            manifest = model.parse_doc(Manifest, self.read_blob(manifest_digest), what)
            config_desc = manifest.config
            if config_desc.media_type not in model.CONFIG_TYPES:
                raise ComposerError(f"{what}: not an image (config type {config_desc.media_type})")
            config_raw = self.read_blob(config_desc.digest)
            config = model.parse_doc(ImageConfig, config_raw, f"config {config_desc.digest}")
            diff_ids = config.rootfs.diff_ids
            if len(diff_ids) != len(manifest.layers):
                raise ComposerError(
                    f"manifest {manifest_digest} has {len(manifest.layers)} layers but its config lists "
                    f"{len(diff_ids)} diff_ids"
                )
            for layer in manifest.layers:
                if layer.media_type not in model.LAYER_TYPES:
                    raise ComposerError(f"{what}: unsupported layer type {layer.media_type}")
                path = self.blob_path(layer.digest)
                if not path.is_file():
                    raise ComposerError(f"manifest {manifest_digest}: layer blob {layer.digest} is missing")
                if path.stat().st_size != layer.size:
                    raise ComposerError(f"layer blob {layer.digest} has the wrong size")
            for layer, diff_id in zip(manifest.layers, diff_ids, strict=True):
                self.ensure_layer(layer.digest, diff_id)
            image_id = config_desc.digest
            old = self._record(image_id) or {}
            digests = sorted(set(old.get("repo_digests", [])) | set(repo_digests))
            record = {
                "id": image_id,
                "manifest": manifest_digest,
                "repo_digests": digests,
                "last_tag_time": _now() if names else old.get("last_tag_time"),
            }
            write_atomic(self._record_path(image_id), model.dump_json(record))
            if names:
                tags = self._tags()
                for name in names:
                    tags[name.tagged()] = image_id
                self._write_tags(tags)
            return LoadedImage(image_id, tuple(parse_reference(n.tagged()).familiar() for n in names))

    def get(self, ref: str) -> Image:
        """The image a reference or (short) ID names."""
        image_id = self.resolve(ref)
        return self._image(image_id)

    def _image(self, image_id: str, tags: dict[str, str] | None = None) -> Image:
        record = self._record(image_id)
        if record is None:
            raise ComposerError(f"No such image: {image_id}")
        what = f"manifest {record['manifest']}"
        manifest = model.parse_doc(Manifest, self.read_blob(record["manifest"]), what)
        raw = self.read_blob(image_id)
        config = model.parse_doc(ImageConfig, raw, f"config {image_id}")
        tags = self._tags() if tags is None else tags
        repo_tags = tuple(sorted(parse_reference(t).familiar() for t, i in tags.items() if i == image_id))
        repo_digests = tuple(parse_reference(d).familiar() for d in record.get("repo_digests", []))
        size = 0
        for diff_id in config.rootfs.diff_ids:
            with contextlib.suppress(ComposerError):
                size += int(self.layer_info(diff_id).get("size", 0))
        return Image(
            id=image_id,
            manifest_digest=record["manifest"],
            manifest=manifest,
            config=config,
            config_json=json.loads(raw),
            repo_tags=repo_tags,
            repo_digests=repo_digests,
            size=size,
            last_tag_time=record.get("last_tag_time"),
        )

    def resolve(self, ref: str) -> str:
        """Find an image by full ID, name[:tag], name@digest, or unambiguous ID prefix."""
        full = parse_image_id(ref)
        if full is not None and self._record_path(full).is_file():
            return full
        tags = self._tags()
        parsed: Reference | None = None
        with contextlib.suppress(ComposerError):
            parsed = parse_reference(ref)
        if parsed is not None:
            if parsed.digest is not None:
                found = self._by_digest(parsed)
                if found:
                    return found
            else:
                image_id = tags.get(parsed.tagged())
                if image_id is not None and self._record_path(image_id).is_file():
                    return image_id
        prefix = _HEX_PREFIX.fullmatch(ref)
        if prefix is not None:
            matches = [i for i in self._image_ids() if _hex(i).startswith(prefix.group(1))]
            if len(matches) == 1:
                return matches[0]
            if len(matches) > 1:
                raise ComposerError(f"image ID prefix {ref!r} is ambiguous: it matches {len(matches)} images")
        raise ComposerError(f"No such image: {ref}")

    def _by_digest(self, ref: Reference) -> str | None:
        wanted = f"{ref.name}@{ref.digest}"
        tags = self._tags()
        for image_id in self._image_ids():
            record = self._record(image_id) or {}
            if wanted in record.get("repo_digests", []):
                return image_id
            if record.get("manifest") == ref.digest and any(
                i == image_id and t.rsplit(":", 1)[0] == ref.name for t, i in tags.items()
            ):
                return image_id
        return None

    def images(self) -> list[Image]:
        tags = self._tags()
        return [self._image(i, tags) for i in self._image_ids() if self._record(i) is not None]

    def list_images(self) -> list[ImageSummary]:
        """Every image, newest first (as `docker images` sorts)."""
        rows = [ImageSummary(i.id, i.repo_tags, i.repo_digests, i.created, i.size) for i in self.images()]
        epoch = dt.datetime.min.replace(tzinfo=dt.UTC)
        rows.sort(key=lambda r: (parse_time(r.created) or epoch, r.id), reverse=True)
        return rows

    def inspect(self, ref: str) -> dict[str, Any]:
        """`docker image inspect` fields for one image."""
        image = self.get(ref)
        cfg = image.config_json.get("config") or {}
        container_config = {
            "Hostname": "",
            "Domainname": "",
            "User": cfg.get("User", ""),
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "ExposedPorts": cfg.get("ExposedPorts"),
            "Tty": False,
            "OpenStdin": False,
            "StdinOnce": False,
            "Env": cfg.get("Env"),
            "Cmd": cfg.get("Cmd"),
            "Healthcheck": cfg.get("Healthcheck"),
            "ArgsEscaped": cfg.get("ArgsEscaped"),
            "Image": "",
            "Volumes": cfg.get("Volumes"),
            "WorkingDir": cfg.get("WorkingDir", ""),
            "Entrypoint": cfg.get("Entrypoint"),
            "OnBuild": cfg.get("OnBuild"),
            "Labels": cfg.get("Labels"),
            "StopSignal": cfg.get("StopSignal"),
            "Shell": cfg.get("Shell"),
        }
        for optional in ("ExposedPorts", "Healthcheck", "ArgsEscaped", "StopSignal", "Shell"):
            if container_config[optional] is None:
                del container_config[optional]
        layers = [str(self.layer_path(d)) for d in reversed(image.diff_ids)]
        out: dict[str, Any] = {
            "Id": image.id,
            "RepoTags": list(image.repo_tags),
            "RepoDigests": list(image.repo_digests),
            "Parent": "",
            "Comment": _comment(image.config_json),
            "Created": image.created or "",
            "DockerVersion": image.config_json.get("docker_version", ""),
            "Author": image.config.author or "",
            "Config": container_config,
            "Architecture": image.config.architecture,
            "Os": image.config.os,
            "Size": image.size,
            "GraphDriver": {"Name": "overlay", "Data": {"LowerDir": ":".join(layers)}},
            "RootFS": {"Type": image.config.rootfs.type, "Layers": list(image.diff_ids)},
            "Metadata": {"LastTagTime": image.last_tag_time or "0001-01-01T00:00:00Z"},
        }
        if image.config.variant:
            out["Variant"] = image.config.variant
        return out

    def history(self, ref: str) -> list[dict[str, Any]]:
        """`docker history` rows, newest first; only the top row knows its image ID."""
        image = self.get(ref)
        entries = list(image.config.history or [])
        if not entries:
            entries = [model.HistoryEntry() for _ in image.diff_ids]
        rows: list[dict[str, Any]] = []
        layers = iter(image.diff_ids)
        for entry in entries:
            size = 0
            if not entry.empty_layer:
                diff_id = next(layers, None)
                if diff_id is not None:
                    with contextlib.suppress(ComposerError):
                        size = int(self.layer_info(diff_id).get("size", 0))
            created = parse_time(entry.created)
            rows.append(
                {
                    "Id": "<missing>",
                    "Created": int(created.timestamp()) if created else 0,
                    "CreatedBy": entry.created_by or "",
                    "Tags": None,
                    "Size": size,
                    "Comment": entry.comment or "",
                }
            )
        rows.reverse()
        if rows:
            rows[0]["Id"] = image.id
            rows[0]["Tags"] = list(image.repo_tags) or None
        return rows

    # -- names -------------------------------------------------------------------------------

    def tag(self, source: str, target: str) -> None:
        """`docker tag SOURCE TARGET`: the target name moves to the source's image."""
        with self.locked():
            image_id = self.resolve(source)
            ref = parse_reference(target)
            if ref.digest is not None:
                raise ComposerError(f"refusing to create a tag with a digest reference: {target}")
            tags = self._tags()
            tags[ref.tagged()] = image_id
            self._write_tags(tags)
            record = self._record(image_id)
            if record is not None:
                record["last_tag_time"] = _now()
                write_atomic(self._record_path(image_id), model.dump_json(record))

    def remove(self, ref: str, *, force: bool = False, in_use: InUse = _never_in_use) -> list[RemoveEvent]:
        """`docker rmi`: untag, and delete the image once no name and no container needs it.

        Unlike Docker, `force` never deletes an image a container uses: containers run on the
        image's shared layers, so a forced removal only takes the names away and the image stays,
        dangling, until `prune` finds it unused.
        """
        with self.locked():
            image_id = self.resolve(ref)
            tags = self._tags()
            own = sorted(t for t, i in tags.items() if i == image_id)
            used = in_use(image_id)
            events: list[RemoveEvent] = []
            by_name = self._names_tag(ref, tags, image_id)
            if by_name is not None:
                if used and not force and len(own) == 1:
                    raise ComposerError(
                        f'conflict: unable to remove repository reference "{ref}" (must force) - '
                        f"a container is using its referenced image {short_id(image_id)}"
                    )
                del tags[by_name]
                self._write_tags(tags)
                events.append(RemoveEvent("Untagged", parse_reference(by_name).familiar()))
                if len(own) > 1 or used:
                    return events
            else:
                if used and not force:
                    raise ComposerError(
                        f"conflict: unable to delete {short_id(image_id)} (must be forced) - "
                        "image is being used by a container"
                    )
                repos = {t.rsplit(":", 1)[0] for t in own}
                if len(repos) > 1 and not force:
                    raise ComposerError(
                        f"conflict: unable to delete {short_id(image_id)} (must be forced) - "
                        "image is referenced in multiple repositories"
                    )
                events.extend(self._untag_all(image_id, tags))
                if used:
                    return events
            events.extend(self._delete(image_id))
            return events

    @staticmethod
    def _names_tag(ref: str, tags: dict[str, str], image_id: str) -> str | None:
        """The tag key `ref` names, if it was given as a name (not an ID) of this image."""
        if parse_image_id(ref) is not None:
            return None
        try:
            parsed = parse_reference(ref)
        except ComposerError:
            return None
        if parsed.digest is None and tags.get(parsed.tagged()) == image_id:
            return parsed.tagged()
        return None

    def _untag_all(self, image_id: str, tags: dict[str, str]) -> list[RemoveEvent]:
        own = sorted(t for t, i in tags.items() if i == image_id)
        for tag in own:
            del tags[tag]
        if own:
            self._write_tags(tags)
        return [RemoveEvent("Untagged", parse_reference(t).familiar()) for t in own]

    def _delete(self, image_id: str) -> list[RemoveEvent]:
        """Drop the record first (the image is gone), then whatever nothing else references."""
        record = self._record_path(image_id)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(record)
        fsync_dir(record.parent)
        self.gc()
        return [RemoveEvent("Deleted", image_id)]

    def prune(self, *, all: bool = False, in_use: InUse = _never_in_use,
              only: Iterable[str] | None = None) -> PruneReport:
        """Delete dangling images (every unused one with `all`; only those of `only` when given), then
        unreferenced data."""
        with self.locked():
            report = PruneReport()
            tags = self._tags()
            tagged = set(tags.values())
            candidates = self._image_ids()
            if only is not None:
                chosen = set(only)
                candidates = [image_id for image_id in candidates if image_id in chosen]
            for image_id in candidates:
                if in_use(image_id) or (image_id in tagged and not all):
                    continue
                report.events.extend(self._untag_all(image_id, tags))
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._record_path(image_id))
                report.events.append(RemoveEvent("Deleted", image_id))
            report.space_reclaimed = self.gc()
            return report

    def gc(self) -> int:
        """Remove blobs and layers no image references; returns the bytes freed."""
        with self.locked():
            blobs: set[str] = set()
            layers: set[str] = set()
            for image_id in self._image_ids():
                record = self._record(image_id)
                if record is None:
                    continue
                blobs.update({record["manifest"], image_id})
                with contextlib.suppress(ComposerError, OSError):
                    manifest = model.parse_doc(Manifest, self.read_blob(record["manifest"]), "manifest")
                    blobs.update(layer.digest for layer in manifest.layers)
                    config = model.parse_doc(ImageConfig, self.read_blob(image_id), "config")
                    layers.update(config.rootfs.diff_ids)
            freed = 0
            for path in (self.root / "blobs" / "sha256").iterdir():
                if f"sha256:{path.name}" not in blobs:
                    freed += path.stat().st_size
                    path.unlink()
            for path in (self.root / "layers").iterdir():
                if f"sha256:{path.name}" in layers:
                    continue
                with contextlib.suppress(OSError, ValueError):
                    freed += int(json.loads((path / "layer.json").read_bytes()).get("size", 0))
                doomed = self.scratch_dir() / "layer"
                os.rename(path, doomed)
                _remove_tree(doomed.parent)
            return freed

    # -- archives (thin wrappers; the formats live in archive.py and rootfs_import.py) ---------

    def load(self, source: str | os.PathLike[str] | IO[bytes] | BinaryIO) -> list[LoadedImage]:
        from composer.runtime.images.archive import load_archive

        return load_archive(self, source)

    def save(self, refs: Sequence[str], out: IO[bytes] | BinaryIO) -> None:
        from composer.runtime.images.archive import save_archive

        save_archive(self, refs, out)


def _comment(config: dict[str, Any]) -> str:
    history = config.get("history") or []
    if history and isinstance(history[-1], dict):
        return str(history[-1].get("comment", ""))
    return ""


def _remove_tree(path: Path) -> None:
    """rm -rf that never follows symlinks, for store-internal paths."""
    try:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno != errno.ENOENT:
            raise


def tagged_names(names: Iterable[str]) -> list[Reference]:
    """Parse names for `add_image`; a digest reference cannot be a tag."""
    out = []
    for name in names:
        ref = parse_reference(name)
        if ref.digest is not None:
            raise ComposerError(f"refusing to create a tag with a digest reference: {name}")
        out.append(ref)
    return out


__all__ = [
    "DEFAULT_ROOT",
    "Image",
    "ImageStore",
    "ImageSummary",
    "InUse",
    "LoadedImage",
    "PruneReport",
    "RemoveEvent",
    "tagged_names",
    "write_atomic",
]
