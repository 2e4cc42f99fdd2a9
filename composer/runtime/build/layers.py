"""Making a build step's layer and image: COPY/ADD through an overlay mount, images from config documents.

COPY and ADD need no container: the current layers are mounted as an overlay in a scratch directory,
the files are applied through the engine's confined tar applier (a destination behind a symlink of the
image resolves inside the image, never on the host), and the overlay's upper dir is the new layer,
written as a tar exactly as `container commit` writes one. Scratch directories live under
`<state root>/build/work`, not the image store's `tmp/` (the store empties that whenever it locks).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import os
import shutil
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from composer.errors import ComposerError
from composer.runtime.engine.commit import layer_tar
from composer.runtime.engine.export import open_tar, piped
from composer.runtime.images import model
from composer.runtime.images.store import ImageStore
from composer.runtime.oci.rootfs import mount_rootfs, unmount_rootfs


def now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class Layer:
    diff_id: str
    size: int


@contextlib.contextmanager
def scratch(work_root: Path) -> Iterator[Path]:
    """A fresh directory under `work_root`, flock'ed while in use so `sweep` can tell a dead build's."""
    work_root.mkdir(parents=True, exist_ok=True, mode=0o700)
    sweep(work_root)
    path = Path(tempfile.mkdtemp(dir=work_root))
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield path
    finally:
        _remove_scratch(path)
        os.close(fd)


def sweep(work_root: Path) -> None:
    """Remove scratch directories that killed builds left (mounts included); live builds hold their lock."""
    for entry in work_root.iterdir():
        try:
            fd = os.open(entry, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            continue  # in use
        try:
            _remove_scratch(entry)
        finally:
            os.close(fd)


def _remove_scratch(path: Path) -> None:
    for sub in ("source/merged", "target/merged", "merged"):
        with contextlib.suppress(ComposerError):
            unmount_rootfs(path / sub)
    shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def mounted(layers: Sequence[Path], work: Path) -> Iterator[tuple[Path, Path]]:
    """The layers (lowest first) as a writable overlay: (merged root, upper dir); unmounted on exit."""
    lowers = list(layers)
    if not lowers:
        empty = work / "empty"
        empty.mkdir(mode=0o755, parents=True, exist_ok=True)
        lowers = [empty]
    root, upper = work / "merged", work / "upper"
    mount_rootfs(lowers, upper, work / "work", root)
    try:
        yield root, upper
    finally:
        unmount_rootfs(root)


def store_layer(store: ImageStore, upper: Path) -> Layer:
    """The upper dir as an uncompressed layer blob (its digest is its diff_id)."""
    with piped(functools.partial(layer_tar, upper)) as stream:
        diff_id, size = store.put_blob(stream)
    return Layer(diff_id, size)


@dataclass(frozen=True, slots=True)
class Entry:
    """One thing to write into the image: a host path (None for a directory made up) at `arcname`."""

    arcname: str
    host: Path | None
    content: bytes | None = None


def write_entries(
    out: BinaryIO, entries: Sequence[Entry], *, uid: int | None, gid: int | None, mode: int | None
) -> None:
    """A tar of the entries, owned by uid:gid (None: the source's), with `mode` (--chmod) on each when given."""
    with open_tar(out) as tar:
        for entry in entries:
            if entry.content is not None:
                info = tarfile.TarInfo(entry.arcname)
                info.size = len(entry.content)
                info.mode = 0o644
                info.mtime = int(dt.datetime.now(dt.UTC).timestamp())
                data: Any = _bytes(entry.content)
            elif entry.host is None:
                info = tarfile.TarInfo(entry.arcname)
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                data = None
            else:
                info = tar.gettarinfo(str(entry.host), entry.arcname)
                data = None
                if info.isreg():
                    data = open(entry.host, "rb")  # noqa: SIM115 - closed right below
            if uid is not None and gid is not None:
                info.uid, info.gid, info.uname, info.gname = uid, gid, "", ""
            if mode is not None and not info.issym():
                info.mode = mode
            try:
                tar.addfile(info, data)
            finally:
                if data is not None:
                    data.close()


def _bytes(content: bytes) -> Any:
    import io

    return io.BytesIO(content)


def apply_tar(root: Path, stream: Any, prefix: Sequence[str]) -> None:
    """Apply a tar under `prefix` of `root` with the engine's confined applier (owners and modes kept)."""
    from composer.runtime.engine.copy import _apply

    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _apply(stream, fd, list(prefix), owners=True, chown_root=False, devices=True, host=False)
    finally:
        os.close(fd)


def is_dir_in(root: Path, path: str) -> bool:
    """Whether `path` is a directory in the image mounted at `root` (symlinks resolved inside it)."""
    from composer.runtime.engine.copy import resolve

    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        loc = resolve(fd, path, follow_last=True)
        try:
            return loc.is_dir
        finally:
            loc.close()
    except ComposerError:
        return False
    finally:
        os.close(fd)


def new_image(
    store: ImageStore,
    doc: dict[str, Any],
    layers: Sequence[dict[str, Any]],
    names: Sequence[Any] = (),
) -> str:
    """Store a config document and its manifest as an image; returns the image ID."""
    config_bytes = model.dump_json(doc)
    config_digest = store.put_blob_bytes(config_bytes)
    manifest = {
        "schemaVersion": 2,
        "mediaType": model.MT_OCI_MANIFEST,
        "config": {"mediaType": model.MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": list(layers),
    }
    manifest_digest = store.put_blob_bytes(model.dump_json(manifest))
    return store.add_image(manifest_digest, list(names)).id


def layer_descriptor(layer: Layer) -> dict[str, Any]:
    return {"mediaType": model.MT_OCI_LAYER, "digest": layer.diff_id, "size": layer.size}


def read_in_layers(layers: Sequence[Path], path: str) -> str | None:
    """A small text file (/etc/passwd) as the merged layers show it, read without following links."""
    rel = path.lstrip("/")
    for layer in reversed(layers):
        candidate = layer / rel
        if os.path.lexists(candidate) or os.path.lexists(candidate.parent / f".wh.{candidate.name}"):
            if candidate.is_symlink() or not candidate.is_file():
                return None
            with contextlib.suppress(OSError):
                return candidate.read_text(errors="replace")
            return None
    return None


__all__ = ["Entry", "Layer", "apply_tar", "is_dir_in", "layer_descriptor", "mounted", "new_image", "now",
           "read_in_layers", "scratch", "store_layer", "write_entries"]
