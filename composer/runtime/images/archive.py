"""`image load` and `image save`: docker-save archives and OCI image-layout archives.

Load reads the tar in one forward pass, so it works from a pipe (`load < x.tar`, `save | load`)
and from a gzip'ed archive: every regular file goes straight into the blob store with its sha256
computed on the way (files named by digest, `blobs/sha256/<hex>` and the legacy `<id>.json`
config, must hash to their name), and only the small index files stay in memory. Then the
archive's own index says which images it holds:

- `manifest.json` (docker save, both the legacy `<id>/layer.tar` layout and Docker 25+'s, which
  is also an OCI layout): `RepoTags` name the images; if `index.json` has a manifest for the same
  config, it is kept, otherwise an OCI manifest is written for the layers;
- `index.json` + `oci-layout` (OCI image layout): nested indexes pick the host's platform; names
  come from `io.containerd.image.name`, else from `org.opencontainers.image.ref.name` when that
  is a full reference (a bare tag names no repository, so such an image loads untagged).

Save writes one archive that both formats read (what Docker 25+ writes): `blobs/sha256/*`,
`index.json`, `oci-layout` and `manifest.json`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import platform
import posixpath
import re
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, BinaryIO

from composer.errors import ComposerError
from composer.runtime.images import model
from composer.runtime.images.extract import DECOMPRESS_ERRORS, detect_compression, open_decompressed
from composer.runtime.images.model import Descriptor, Index, Manifest
from composer.runtime.images.reference import (
    DEFAULT_TAG,
    Reference,
    check_tag,
    parse_image_id,
    parse_reference,
)
from composer.runtime.images.store import ImageStore, LoadedImage

_META_FILES = frozenset({"manifest.json", "index.json", "oci-layout", "repositories"})
_MAX_META = 64 << 20
_BLOB_NAME = re.compile(r"blobs/sha256/([0-9a-f]{64})")
_LEGACY_CONFIG = re.compile(r"([0-9a-f]{64})\.json")
_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv7l": "arm",
    "armv6l": "arm",
    "i686": "386",
    "i386": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def host_platform() -> tuple[str, str]:
    """(os, architecture) in OCI / GOARCH terms."""
    machine = platform.machine()
    return "linux", _ARCH.get(machine, machine)


@dataclass
class _Archive:
    files: dict[str, bytes] = field(default_factory=dict)
    blobs: dict[str, str] = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)

    def digest_of(self, name: str, what: str) -> str:
        """The stored blob behind an archive path, following the archive's own links."""
        path = _clean(name)
        for _ in range(16):
            if path in self.blobs:
                return self.blobs[path]
            if path not in self.links:
                break
            path = self.links[path]
        raise ComposerError(f"image archive: {what} {name!r} is not in the archive")


def _clean(name: str) -> str:
    return posixpath.normpath("/" + name).lstrip("/")


def _read(store: ImageStore, stream: IO[bytes]) -> _Archive:
    archive = _Archive()
    plain, _ = open_decompressed(stream)
    try:
        with tarfile.open(fileobj=plain, mode="r|", errors="surrogateescape") as tar:
            for member in tar:
                name = _clean(member.name)
                if member.isreg():
                    src = tar.extractfile(member)
                    assert src is not None
                    if name in _META_FILES:
                        if member.size > _MAX_META:
                            raise ComposerError(f"image archive: {name} is too large")
                        archive.files[name] = src.read()
                        continue
                    expected = None
                    if m := _BLOB_NAME.fullmatch(name) or _LEGACY_CONFIG.fullmatch(name):
                        expected = f"sha256:{m.group(1)}"
                    try:
                        archive.blobs[name], _ = store.put_blob(src, expected=expected)
                    except ComposerError as err:
                        raise ComposerError(f"image archive: {name}: {err.message}") from None
                elif member.issym():
                    archive.links[name] = _clean(posixpath.join(posixpath.dirname(name), member.linkname))
                elif member.islnk():
                    archive.links[name] = _clean(member.linkname)
        while plain.read(1 << 20):
            pass  # to the end, so a writer on the other end of a pipe is not cut off
    except (tarfile.TarError, *DECOMPRESS_ERRORS) as err:  # type: ignore[misc]
        raise ComposerError(f"image archive is not a valid tar: {err}") from None
    return archive


@dataclass
class _Found:
    manifest: str
    names: list[Reference] = field(default_factory=list)
    repo_digests: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def load_archive(
    store: ImageStore, source: str | os.PathLike[str] | IO[bytes] | BinaryIO
) -> list[LoadedImage]:
    """Load every image of a docker-save or OCI archive (a path, or a readable stream)."""
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as stream:
                return load_archive(store, stream)
        except OSError as err:
            raise ComposerError(f"cannot read image archive {os.fspath(source)!r}: {err.strerror}") from None
    with store.locked():
        try:
            archive = _read(store, source)
            if "manifest.json" in archive.files:
                found = _docker_images(store, archive)
            elif "index.json" in archive.files:
                found = _oci_images(store, archive)
            else:
                raise ComposerError(
                    "not an image archive: it has neither manifest.json (docker save) "
                    "nor index.json (OCI layout)"
                )
            if not found:
                raise ComposerError("image archive holds no image")
            loaded = []
            for item in found:
                image = store.add_image(item.manifest, item.names, repo_digests=item.repo_digests)
                loaded.append(LoadedImage(image.id, image.tags, tuple(item.warnings)))
        except BaseException:
            with contextlib.suppress(Exception):
                store.gc()  # drop what this load wrote; never hide the real error
            raise
        store.gc()
        return loaded


def _json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ComposerError(f"image archive: {what} is not valid JSON ({err})") from None


def _docker_images(store: ImageStore, archive: _Archive) -> list[_Found]:
    entries = _json(archive.files["manifest.json"], "manifest.json")
    if not isinstance(entries, list):
        raise ComposerError("image archive: manifest.json must be a list")
    known = _oci_manifests_by_config(store, archive) if "index.json" in archive.files else {}
    found: dict[str, _Found] = {}
    for n, entry in enumerate(entries):
        what = f"manifest.json[{n}]"
        if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str):
            raise ComposerError(f"image archive: {what} has no Config")
        layers = entry.get("Layers") or []
        tags = entry.get("RepoTags") or []
        if not isinstance(layers, list) or not all(isinstance(x, str) for x in layers):
            raise ComposerError(f"image archive: {what}.Layers must be a list of paths")
        if not isinstance(tags, list) or not all(isinstance(x, str) for x in tags):
            raise ComposerError(f"image archive: {what}.RepoTags must be a list of names")
        config = archive.digest_of(entry["Config"], "config")
        layer_digests = [_plain_if_exotic(store, archive.digest_of(p, "layer")) for p in layers]
        manifest = known.get((config, tuple(layer_digests)))
        if manifest is None:
            manifest = _write_manifest(store, config, layer_digests)
        item = found.setdefault(manifest, _Found(manifest))
        for tag in tags:
            item.names.append(_name(tag, f"{what}.RepoTags"))
    return list(found.values())


def _plain_if_exotic(store: ImageStore, digest: str) -> str:
    """bzip2/xz layers (docker load takes them) have no OCI media type: store them plain."""
    with store.open_blob(digest) as src:
        kind = detect_compression(src.read(6))
    if kind in ("none", "gzip", "zstd"):
        return digest
    with store.open_blob(digest) as src:
        plain, _ = open_decompressed(src)
        try:
            return store.put_blob(plain)[0]
        except DECOMPRESS_ERRORS as err:
            raise ComposerError(f"layer {digest} is corrupt: {err}") from None


def _layer_media_type(store: ImageStore, digest: str) -> str:
    with store.open_blob(digest) as src:
        kind = detect_compression(src.read(6))
    return {"gzip": model.MT_OCI_LAYER_GZIP, "zstd": model.MT_OCI_LAYER_ZSTD}.get(kind, model.MT_OCI_LAYER)


def _write_manifest(store: ImageStore, config: str, layers: Sequence[str]) -> str:
    def desc(digest: str, media_type: str) -> dict[str, Any]:
        return {"mediaType": media_type, "digest": digest, "size": store.blob_path(digest).stat().st_size}

    doc = {
        "schemaVersion": 2,
        "mediaType": model.MT_OCI_MANIFEST,
        "config": desc(config, model.MT_OCI_CONFIG),
        "layers": [desc(d, _layer_media_type(store, d)) for d in layers],
    }
    return store.put_blob_bytes(model.dump_json(doc))


def _name(text: str, what: str) -> Reference:
    try:
        ref = parse_reference(text)
    except ComposerError as err:
        raise ComposerError(f"image archive: {what}: {err.message}") from None
    if ref.digest is not None:
        raise ComposerError(f"image archive: {what}: {text!r} is a digest, not a tag")
    return ref


def _oci_blob(archive: _Archive, desc: Descriptor) -> str:
    if not desc.digest.startswith("sha256:"):
        raise ComposerError(f"image archive: unsupported digest algorithm in {desc.digest} (sha256 only)")
    return archive.digest_of(f"blobs/sha256/{desc.digest.removeprefix('sha256:')}", "blob")


def _manifests(
    store: ImageStore, archive: _Archive, index: Index, depth: int = 0
) -> list[tuple[Descriptor, str]]:
    """(top-level descriptor, image manifest digest) for the host platform, through nested indexes."""
    if depth > 4:
        raise ComposerError("image archive: indexes nested too deep")
    want_os, want_arch = host_platform()
    out: list[tuple[Descriptor, str]] = []
    for desc in index.manifests:
        if desc.media_type in model.MANIFEST_TYPES:
            plat = desc.platform
            if plat is None or (plat.os, plat.architecture) == (want_os, want_arch):
                out.append((desc, _oci_blob(archive, desc)))
        elif desc.media_type in model.INDEX_TYPES:
            nested = model.parse_doc(Index, store.read_blob(_oci_blob(archive, desc)), f"index {desc.digest}")
            picked = _manifests(store, archive, nested, depth + 1)
            if not picked:
                raise ComposerError(
                    f"image archive: index {desc.digest} has no image for {want_os}/{want_arch}"
                )
            out.extend((desc, digest) for _, digest in picked[:1])
    return out


def _oci_manifests_by_config(store: ImageStore, archive: _Archive) -> dict[tuple[str, tuple[str, ...]], str]:
    index = model.parse_doc(Index, archive.files["index.json"], "image archive: index.json")
    known: dict[tuple[str, tuple[str, ...]], str] = {}
    for _, digest in _manifests(store, archive, index):
        manifest = model.parse_doc(Manifest, store.read_blob(digest), f"manifest {digest}")
        known[(manifest.config.digest, tuple(layer.digest for layer in manifest.layers))] = digest
    return known


def _oci_images(store: ImageStore, archive: _Archive) -> list[_Found]:
    layout = _json(archive.files.get("oci-layout", b"null"), "oci-layout")
    if not isinstance(layout, dict) or "imageLayoutVersion" not in layout:
        raise ComposerError("image archive: index.json without a valid oci-layout file")
    index = model.parse_doc(Index, archive.files["index.json"], "image archive: index.json")
    found: dict[str, _Found] = {}
    for desc, digest in _manifests(store, archive, index):
        manifest = model.parse_doc(Manifest, store.read_blob(digest), f"manifest {digest}")
        for layer in [manifest.config, *manifest.layers]:
            _oci_blob(archive, layer)
        item = found.setdefault(digest, _Found(digest))
        annotations = desc.annotations or {}
        full = annotations.get(model.ANNOTATION_CONTAINERD_NAME)
        ref_name = annotations.get(model.ANNOTATION_REF_NAME)
        if full is None and ref_name is not None and ("/" in ref_name or ":" in ref_name):
            full = ref_name
        if full is not None:
            ref = _name(full, "index.json annotation")
            item.names.append(ref)
            item.repo_digests.append(f"{ref.name}@{desc.digest}")
        elif ref_name is not None:
            check_tag(ref_name)
            item.warnings.append(f"OCI ref name {ref_name!r} names no repository: image loaded untagged")
    return list(found.values())


# -- save ------------------------------------------------------------------------------------


def _save_tags(store: ImageStore, ref: str) -> tuple[str, list[str]]:
    """The image and the names `docker save REF` puts in the archive."""
    image_id = store.resolve(ref)
    if parse_image_id(ref) is not None:
        return image_id, []
    try:
        parsed = parse_reference(ref)
    except ComposerError:
        return image_id, []
    if parsed.digest is not None:
        return image_id, []
    tags = list(store.get(image_id).repo_tags)
    if parsed.tag is None:
        same_repo = [t for t in tags if parse_reference(t).name == parsed.name]
        return image_id, same_repo or ([parsed.with_default_tag().familiar()] if not tags else [])
    wanted = parsed.familiar()
    return image_id, [wanted] if wanted in tags else []


def save_archive(store: ImageStore, refs: Sequence[str], out: IO[bytes] | BinaryIO) -> None:
    """Write the images as one tar that both `docker load` and OCI tools read."""
    if not refs:
        raise ComposerError("image save needs at least one image")
    chosen: dict[str, list[str]] = {}
    for ref in refs:
        image_id, tags = _save_tags(store, ref)
        names = chosen.setdefault(image_id, [])
        names.extend(t for t in tags if t not in names)
    blobs: list[str] = []
    index: list[dict[str, Any]] = []
    docker: list[dict[str, Any]] = []
    for image_id, tags in chosen.items():
        image = store.get(image_id)
        layer_digests = [layer.digest for layer in image.manifest.layers]
        for digest in [image.manifest_digest, image.id, *layer_digests]:
            if digest not in blobs:
                blobs.append(digest)
        desc = {"mediaType": model.MT_OCI_MANIFEST, "digest": image.manifest_digest,
                "size": store.blob_path(image.manifest_digest).stat().st_size}
        if not tags:
            index.append(desc)
        for tag in tags:
            named = parse_reference(tag)
            annotations = {model.ANNOTATION_CONTAINERD_NAME: str(named),
                           model.ANNOTATION_REF_NAME: named.tag or DEFAULT_TAG}
            index.append({**desc, "annotations": annotations})
        docker.append({
            "Config": _blob_name(image.id),
            "RepoTags": tags or None,
            "Layers": [_blob_name(d) for d in layer_digests],
        })
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        _add_dir(tar, "blobs")
        _add_dir(tar, "blobs/sha256")
        for digest in blobs:
            path = store.blob_path(digest)
            info = tarfile.TarInfo(_blob_name(digest))
            info.size = path.stat().st_size
            info.mode = 0o444
            with open(path, "rb") as src:
                tar.addfile(info, src)
        index_doc = {"schemaVersion": 2, "mediaType": model.MT_OCI_INDEX, "manifests": index}
        _add_bytes(tar, "index.json", json.dumps(index_doc).encode())
        _add_bytes(tar, "manifest.json", json.dumps(docker).encode())
        _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": model.OCI_LAYOUT_VERSION}).encode())


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digest.removeprefix('sha256:')}"


def _add_dir(tar: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    tar.addfile(info)


def _add_bytes(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o444
    tar.addfile(info, io.BytesIO(data))


def save_to_path(store: ImageStore, refs: Sequence[str], path: str | os.PathLike[str]) -> None:
    """`image save -o FILE`: write beside the target and rename, so a kill leaves no half file."""
    target = Path(path)
    tmp = target.with_name(f".{target.name}.partial")
    try:
        with open(tmp, "wb") as out:
            save_archive(store, refs, out)
            out.flush()
            os.fsync(out.fileno())
        os.rename(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
