"""Local manifest lists for multi-architecture images, as `docker manifest create/annotate/push` keep them.

A list is made from images already in a registry: each image's manifest is fetched by digest (as
Docker does; an image only in the local store cannot be listed, its bytes would not be the registry's)
and its platform read from its config. The list lives in composer's state until pushed:
`<state root>/manifests/<sha256 of the list's name>.json` holds the name and, per entry, the source
reference, the manifest bytes (base64: the digest is of those exact bytes), media type and platform.

Push sends the entries' manifests by digest to the list's repository first (a registry refuses a list
naming manifests it lacks), their blobs mounted from the source repository when it is another one
(copied through this process when the registry will not mount), then the list under its tag.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import trio

from composer.errors import ComposerError
from composer.runtime.fsutil import write_atomic
from composer.runtime.images import model
from composer.runtime.images.model import Manifest
from composer.runtime.images.platforms import parse_platform
from composer.runtime.images.reference import Reference, parse_reference
from composer.runtime.images.registry import ACCEPT
from composer.runtime.images.registry_http import Session, body_chunks, registry_host

_MAX_DOC = 4 << 20
_T = TypeVar("_T")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(slots=True)
class Entry:
    """One image of a list: where it came from and its manifest as the registry serves it."""

    ref: str
    digest: str
    media_type: str
    body: bytes
    platform: dict[str, Any]

    def descriptor(self) -> dict[str, Any]:
        return {"mediaType": self.media_type, "size": len(self.body), "digest": self.digest,
                "platform": self.platform}

    def to_json(self) -> dict[str, Any]:
        return {"ref": self.ref, "digest": self.digest, "media_type": self.media_type,
                "body": base64.b64encode(self.body).decode(), "platform": self.platform}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Entry:
        return cls(str(doc["ref"]), str(doc["digest"]), str(doc["media_type"]), base64.b64decode(doc["body"]),
                   dict(doc["platform"]))


@dataclass(slots=True)
class ManifestList:
    name: str
    """The list's reference, tagged (`registry/repo:tag`)."""
    entries: list[Entry] = field(default_factory=list)

    def media_type(self) -> str:
        docker = all(e.media_type == model.MT_DOCKER_MANIFEST for e in self.entries)
        return model.MT_DOCKER_LIST if docker else model.MT_OCI_INDEX

    def document(self) -> bytes:
        """The bytes pushed (and shown by inspect): stable, so pushing twice gives one digest."""
        doc = {"schemaVersion": 2, "mediaType": self.media_type(),
               "manifests": [e.descriptor() for e in self.entries]}
        return json.dumps(doc, indent=3).encode()


def list_name(text: str) -> Reference:
    ref = parse_reference(text)
    if ref.digest is not None:
        raise ComposerError(f"{text}: a manifest list is named by a tag, not a digest")
    return ref.with_default_tag()


class ManifestLists:
    """The lists of one state root."""

    def __init__(self, state_root: str | os.PathLike[str]) -> None:
        self.root = Path(state_root) / "manifests"

    def _path(self, name: str) -> Path:
        return self.root / f"{hashlib.sha256(name.encode()).hexdigest()}.json"

    def get(self, text: str) -> ManifestList | None:
        name = str(list_name(text))
        try:
            doc = json.loads(self._path(name).read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:
            raise ComposerError(f"the local manifest list {name} is corrupt: remove it with "
                                f"`composer manifest rm {name}`") from None
        return ManifestList(doc["name"], [Entry.from_json(e) for e in doc["entries"]])

    def save(self, mlist: ManifestList) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        doc = {"name": mlist.name, "entries": [e.to_json() for e in mlist.entries]}
        write_atomic(self._path(mlist.name), json.dumps(doc, sort_keys=True).encode())

    def remove(self, text: str) -> bool:
        try:
            self._path(str(list_name(text))).unlink()
        except FileNotFoundError:
            return False
        return True


# -- fetching an image's manifest -------------------------------------------------------------------


async def _get_manifest(session: Session, ref: Reference, reference: str) -> tuple[bytes, str, str]:
    """(body, digest, media type) of what the registry holds under a tag or digest."""
    response = await session.send("GET", f"/v2/{ref.path}/manifests/{reference}", (f"repository:{ref.path}:pull",),
                                  headers={"Accept": ACCEPT})
    if response.status_code == 404:
        raise ComposerError(f"{ref.familiar()}: no such manifest in the registry (push the image first)")
    if response.status_code != 200:
        raise session.fail(response, "fetching the manifest")
    body = response.content
    if len(body) > _MAX_DOC:
        raise ComposerError(f"{ref.familiar()}: manifest is too large")
    digest = _sha256(body)
    claimed = response.headers.get("docker-content-digest")
    if (reference.startswith("sha256:") and reference != digest) or (claimed and claimed != digest):
        raise ComposerError(f"{ref.familiar()}: manifest digest mismatch: the registry sent {digest}")
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    try:
        media_type = json.loads(body).get("mediaType") or media_type
    except (ValueError, AttributeError):
        raise ComposerError(f"{ref.familiar()}: the manifest is not JSON") from None
    return body, digest, media_type


async def fetch_entry(text: str) -> Entry:
    """An image's manifest, fetched by digest from its registry, and the platform its config names."""
    ref = parse_reference(text).with_default_tag()
    shown = ref.familiar()
    async with Session(registry_host(ref.domain), shown) as session:
        body, digest, media_type = await _get_manifest(session, ref, ref.digest or ref.tag or "latest")
        if media_type in model.INDEX_TYPES:
            raise ComposerError(f"{shown} is a manifest list")
        if media_type not in model.MANIFEST_TYPES:
            raise ComposerError(f"{shown}: unsupported manifest type {media_type or 'unknown'}")
        if ref.digest is None:  # by digest, as Docker fetches it: the list names these exact bytes
            body, digest, media_type = await _get_manifest(session, ref, digest)
        manifest = model.parse_doc(Manifest, body, f"{shown}: manifest {digest}")
        response = await session.send("GET", f"/v2/{ref.path}/blobs/{manifest.config.digest}",
                                      (f"repository:{ref.path}:pull",))
        if response.status_code != 200:
            raise session.fail(response, f"fetching the config {manifest.config.digest}")
        if _sha256(response.content) != manifest.config.digest:
            raise ComposerError(f"{shown}: config {manifest.config.digest} is corrupt")
    config = model.parse_doc(model.ImageConfig, response.content, f"{shown}: config")
    if not config.os or not config.architecture:
        raise ComposerError(f"{shown}: its config names no os/architecture (use `composer manifest annotate`)")
    platform: dict[str, Any] = {"architecture": config.architecture, "os": config.os}
    if config.variant:
        platform["variant"] = config.variant
    extra = config.extra
    if extra.get("os.version"):
        platform["os.version"] = extra["os.version"]
    if extra.get("os.features"):
        platform["os.features"] = extra["os.features"]
    return Entry(str(Reference(ref.domain, ref.path, ref.tag, ref.digest)), digest, media_type, body, platform)


def create(lists: ManifestLists, name: str, images: Sequence[str], *, amend: bool) -> ManifestList:
    """Make (or with `amend`, extend) a local list from images already pushed to a registry."""
    target = list_name(name)
    existing = lists.get(name)
    if existing is not None and not amend:
        raise ComposerError(f"refusing to amend an existing manifest list with no --amend flag: {target.familiar()}")
    for image in images:
        source = parse_reference(image)
        if source.domain != target.domain:
            raise ComposerError(f"cannot use source images from a different registry than the target image: "
                                f"{source.domain} != {target.domain}")

    async def fetch_all() -> list[Entry]:
        found: dict[int, Entry] = {}

        async def one(n: int, image: str) -> None:
            found[n] = await fetch_entry(image)

        async with trio.open_nursery() as nursery:
            for n, image in enumerate(images):
                nursery.start_soon(one, n, image)
        return [found[n] for n in range(len(images))]

    fetched = _run(fetch_all)
    mlist = existing or ManifestList(str(target))
    for entry in fetched:  # an image listed again replaces its old entry
        mlist.entries = [e for e in mlist.entries if e.ref != entry.ref and e.digest != entry.digest]
        mlist.entries.append(entry)
    lists.save(mlist)
    return mlist


def annotate(lists: ManifestLists, name: str, image: str, *, os_name: str | None = None,
             arch: str | None = None, variant: str | None = None, os_version: str | None = None,
             os_features: Sequence[str] = ()) -> ManifestList:
    """Correct an entry's platform (images whose config says too little, or a variant)."""
    mlist = _require(lists, name)
    wanted = str(parse_reference(image).with_default_tag())
    for entry in mlist.entries:
        if entry.ref == wanted or entry.digest == image or entry.ref.endswith("@" + image):
            if os_name:
                entry.platform["os"] = os_name
            if arch:
                entry.platform["architecture"] = parse_platform(f"{entry.platform['os']}/{arch}").architecture
            if variant:
                entry.platform["variant"] = variant
            if os_version:
                entry.platform["os.version"] = os_version
            if os_features:
                entry.platform["os.features"] = list(os_features)
            lists.save(mlist)
            return mlist
    raise ComposerError(f"manifest for image {image} does not exist in {mlist.name}")


def _require(lists: ManifestLists, name: str) -> ManifestList:
    mlist = lists.get(name)
    if mlist is None:
        raise ComposerError(f"No such manifest: {list_name(name).familiar()}")
    return mlist


def inspect_local(lists: ManifestLists, name: str, *, verbose: bool = False) -> str | None:
    """The list as it would be pushed (verbose: every entry's own manifest too), or None if not local."""
    mlist = lists.get(name)
    if mlist is None:
        return None
    if not verbose:
        return mlist.document().decode()
    rows = [{"Ref": e.ref, "Descriptor": e.descriptor(),
             "OCIManifest" if e.media_type == model.MT_OCI_MANIFEST else "SchemaV2Manifest": json.loads(e.body)}
            for e in mlist.entries]
    return json.dumps(rows, indent=3)


async def inspect_remote(text: str) -> str:
    """What the registry holds under a name: a manifest or a list, as JSON."""
    ref = parse_reference(text).with_default_tag()
    async with Session(registry_host(ref.domain), ref.familiar()) as session:
        body, _, _ = await _get_manifest(session, ref, ref.digest or ref.tag or "latest")
    return json.dumps(json.loads(body), indent=3)


# -- push -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PushedList:
    name: str
    digest: str
    size: int


class _ListPusher:
    def __init__(self, session: Session, target: Reference) -> None:
        self.session, self.target = session, target
        self.scopes = (f"repository:{target.path}:pull,push",)

    async def blob(self, source: Reference, desc: model.Descriptor) -> None:
        """Make the target repository hold a blob of another one: HEAD, else mount, else copy."""
        path = f"/v2/{self.target.path}/blobs"
        head = await self.session.send("HEAD", f"{path}/{desc.digest}", self.scopes)
        if head.status_code == 200:
            return
        scopes = (*self.scopes, f"repository:{source.path}:pull")
        response = await self.session.send("POST", f"{path}/uploads/", scopes,
                                           params={"mount": desc.digest, "from": source.path})
        if response.status_code == 201:
            return
        location = response.headers.get("location")
        if response.status_code != 202 or not location:
            raise self.session.fail(response, f"mounting {desc.digest} from {source.path}")
        src = await self.session.send("GET", f"/v2/{source.path}/blobs/{desc.digest}", scopes, stream=True)
        try:
            if src.status_code != 200:
                await src.aread()
                raise self.session.fail(src, f"reading {desc.digest} from {source.path}")
            sep = "&" if "?" in location else "?"
            put = await self.session.send(
                "PUT", f"{location}{sep}digest={desc.digest}", scopes, content=body_chunks(src),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)})
        finally:
            await src.aclose()
        if put.status_code not in (201, 204):
            raise self.session.fail(put, f"copying {desc.digest} from {source.path}")

    async def present(self, entry: Entry) -> bool:
        """Whether the target repository already has the entry's manifest."""
        manifests = f"/v2/{self.target.path}/manifests/{entry.digest}"
        head = await self.session.send("HEAD", manifests, self.scopes, headers={"Accept": ACCEPT})
        return head.status_code == 200

    @staticmethod
    def blobs(entry: Entry) -> list[tuple[Reference, model.Descriptor]]:
        """The blobs the entry's manifest needs in the target repository (none when it lives there already)."""
        manifest = model.parse_doc(Manifest, entry.body, f"{entry.ref}: manifest {entry.digest}")
        return [(parse_reference(entry.ref), desc) for desc in [manifest.config, *manifest.layers]]

    async def manifest(self, entry: Entry) -> None:
        """The entry's manifest by digest in the target repository (its blobs are there by now)."""
        manifests = f"/v2/{self.target.path}/manifests/{entry.digest}"
        response = await self.session.send("PUT", manifests, self.scopes, content=entry.body,
                                           headers={"Content-Type": entry.media_type})
        if response.status_code not in (201, 204):
            raise self.session.fail(response, f"pushing the manifest of {entry.ref}")


async def push_list(lists: ManifestLists, name: str, *, purge: bool = False) -> PushedList:
    """Push a local list under its tag (each entry's manifest first); `purge` forgets it afterwards."""
    mlist = _require(lists, name)
    if not mlist.entries:
        raise ComposerError(f"{mlist.name}: the manifest list is empty")
    target = list_name(mlist.name)
    body = mlist.document()
    async with Session(registry_host(target.domain), target.familiar()) as session:
        pusher = _ListPusher(session, target)
        missing = [entry for entry in mlist.entries if not await pusher.present(entry)]
        # Each blob once, even when entries share it: the distribution registry writes a mounted blob's link
        # file in place, and a concurrent mount of the same blob let a manifest check read it half-written
        # ("blob unknown to registry").
        needed: dict[str, tuple[Reference, model.Descriptor]] = {}
        for entry in missing:
            if parse_reference(entry.ref).path != target.path:
                for source, desc in pusher.blobs(entry):
                    needed.setdefault(desc.digest, (source, desc))
        async with trio.open_nursery() as nursery:
            for source, desc in needed.values():
                nursery.start_soon(pusher.blob, source, desc)
        async with trio.open_nursery() as nursery:
            for entry in missing:
                nursery.start_soon(pusher.manifest, entry)
        response = await session.send("PUT", f"/v2/{target.path}/manifests/{target.tag}", pusher.scopes,
                                      content=body, headers={"Content-Type": mlist.media_type()})
        if response.status_code not in (201, 204):
            raise session.fail(response, "pushing the manifest list")
    digest = _sha256(body)
    claimed = response.headers.get("docker-content-digest")
    if claimed and claimed != digest:
        raise ComposerError(f"{target.familiar()}: the registry stored the list as {claimed}, not {digest}")
    if purge:
        lists.remove(mlist.name)
    return PushedList(mlist.name, digest, len(body))


def push(lists: ManifestLists, name: str, *, purge: bool = False) -> PushedList:
    return _run(lambda: push_list(lists, name, purge=purge))


def _run(fn: Callable[[], Awaitable[_T]]) -> _T:
    """trio.run, with a task's ComposerError raised as itself rather than inside an exception group."""
    try:
        return trio.run(fn)
    except BaseExceptionGroup as group:
        first = group.subgroup(lambda e: isinstance(e, ComposerError))
        if first is None:
            raise
        error: BaseException = first
        while isinstance(error, BaseExceptionGroup):
            error = error.exceptions[0]
        raise error from None
