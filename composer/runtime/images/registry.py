"""Pull and push images over the OCI distribution API, into and out of the local `ImageStore`.

Pull: the manifest (a manifest list / OCI index picks the platform), then the config and the
layers the store lacks, in parallel. Each layer is hashed, written to
`<store>/downloads/<hex>.partial` and unpacked in one pass as it arrives (`blob_stream`); the
blob moves into the store's blob directory, and the unpacked layer is published, only when the
blob's sha256 is the one the manifest names and the content's is the config's diff_id. A partial
download is resumed with a `Range` request when the registry allows it (its kept bytes are read
back once, to hash and unpack them). Finished blobs stay in the store, so an interrupted pull only
fetches what is missing when run again; the image record is then made exactly as `image load`
makes one (`ImageStore.add_image`).

Push: every blob the registry lacks (a HEAD tells), mounted from another repository of the same
registry when the image came from there, otherwise uploaded monolithically; then the manifest,
byte for byte as stored, so its digest is the image's repo digest everywhere.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import trio

from composer.errors import ComposerError
from composer.runtime.fsutil import fsync_dir
from composer.runtime.images import model
from composer.runtime.images.auth import DOCKER_HUB_KEY, Credentials, server_key
from composer.runtime.images.blob_stream import ALIGN, IncomingBlob
from composer.runtime.images.extract import LocalWriteError
from composer.runtime.images.model import Index, Manifest
from composer.runtime.images.platforms import PlatformSpec, available, parse_platform, pick_manifest
from composer.runtime.images.reference import Reference, parse_reference
from composer.runtime.images.registry_config import hub_mirrors
from composer.runtime.images.registry_http import DownloadCut, Response, Session, body_chunks, registry_host
from composer.runtime.images.store import ImageStore
from composer.runtime.images.transfer_progress import TransferProgress

ACCEPT = ", ".join([model.MT_OCI_INDEX, model.MT_DOCKER_LIST, model.MT_OCI_MANIFEST, model.MT_DOCKER_MANIFEST])
PARALLEL = 6
_MAX_MANIFEST = 4 << 20
_CHUNK = 1 << 20


@dataclass(frozen=True, slots=True)
class PullResult:
    reference: str
    image_id: str
    digest: str
    """The digest the registry knows the reference by (an index's, for multi-platform images)."""
    blobs_fetched: int
    bytes_fetched: int
    up_to_date: bool


@dataclass(frozen=True, slots=True)
class PushResult:
    reference: str
    digest: str
    uploaded: int
    mounted: int
    existing: int


def _short(digest: str) -> str:
    return digest.removeprefix("sha256:")[:12]


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _pull_ref(text: str) -> Reference:
    return parse_reference(text).with_default_tag()


@contextlib.asynccontextmanager
async def _nursery() -> AsyncIterator[trio.Nursery]:
    """A nursery whose failure is the first task's ComposerError, not an exception group."""
    try:
        async with trio.open_nursery() as nursery:
            yield nursery
    except BaseExceptionGroup as group:
        first = _first_user_error(group)
        if first is None:
            raise
        raise first from None


def _first_user_error(group: BaseExceptionGroup[BaseException]) -> ComposerError | None:
    for error in group.exceptions:
        if isinstance(error, ComposerError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _first_user_error(error)
            if found is not None:
                return found
    return None


# -- pull -------------------------------------------------------------------------------------------


class _Puller:
    def __init__(self, store: ImageStore, ref: Reference, session: Session, progress: TransferProgress) -> None:
        self.store, self.ref, self.session, self.progress = store, ref, session, progress
        self.scopes = (f"repository:{ref.path}:pull",)
        self.fetched = 0
        self.bytes = 0
        self.downloads = store.root / "downloads"

    async def manifest(self, reference: str, expected: str | None) -> tuple[bytes, str, str]:
        """(body, digest, media type) of a manifest or index, its digest checked."""
        response = await self.session.send("GET", f"/v2/{self.ref.path}/manifests/{reference}", self.scopes,
                                           headers={"Accept": ACCEPT})
        if response.status_code == 404:
            raise ComposerError(f"{self.ref.familiar()}: not found: manifest unknown "
                                f"(no image {self.ref.familiar_name}:{reference} in the registry)")
        if response.status_code in (401, 403):
            raise ComposerError(f"pull access denied for {self.ref.familiar_name}, repository does not exist or "
                                f"may require 'composer login'")
        if response.status_code != 200:
            raise self.session.fail(response, "fetching the manifest")
        body = response.content
        if len(body) > _MAX_MANIFEST:
            raise ComposerError(f"{self.ref.familiar()}: manifest is too large")
        digest = _sha256(body)
        claimed = expected or response.headers.get("docker-content-digest")
        if claimed and claimed.startswith("sha256:") and claimed != digest:
            raise ComposerError(f"{self.ref.familiar()}: manifest digest mismatch: expected {claimed}, got {digest}")
        media_type = response.headers.get("content-type", "").split(";")[0].strip()
        with contextlib.suppress(ValueError, AttributeError):
            import json

            media_type = json.loads(body).get("mediaType") or media_type
        return body, digest, media_type

    async def blob(self, desc: model.Descriptor, key: str, diff_id: str | None = None) -> None:
        """Make sure the store has the blob: download it, verified, unless already there. With a
        `diff_id`, the layer is unpacked from the bytes as they arrive and published with the blob."""
        if await trio.to_thread.run_sync(self.store.has_blob, desc.digest):
            self.progress.status(key, "Already exists")
            return
        if not desc.digest.startswith("sha256:"):
            raise ComposerError(f"{self.ref.familiar()}: unsupported digest {desc.digest} (sha256 only)")
        hexd = desc.digest.removeprefix("sha256:")
        partial = self.downloads / f"{hexd}.partial"
        lock = await trio.to_thread.run_sync(_try_lock, self.downloads / f"{hexd}.lock")
        if lock is None:  # another process downloads it: fetch our own copy
            partial = self.downloads / f"{hexd}.{os.getpid()}.partial"
        try:
            await self._download(desc, key, partial, diff_id)
            if lock is not None:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.downloads / f"{hexd}.lock")
        finally:
            if lock is not None:
                os.close(lock)

    async def _download(self, desc: model.Descriptor, key: str, partial: Path, diff_id: str | None) -> None:
        have = await trio.to_thread.run_sync(_file_size, partial)
        if have > desc.size:
            have = 0  # not this blob's bytes
        have = max(0, min(have, desc.size - 1))  # a complete one (killed before its rename) asks for its tail
        have -= have % ALIGN
        headers = {"Range": f"bytes={have}-"} if have else {}
        self.progress.status(key, "Pulling fs layer")
        response = await self.session.send("GET", f"/v2/{self.ref.path}/blobs/{desc.digest}", self.scopes,
                                           headers=headers, stream=True)
        try:
            if response.status_code == 200:
                have = 0
            elif response.status_code != 206 or not headers:
                if response.status_code == 404:
                    raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest} is unknown to the registry")
                await response.aread()
                raise self.session.fail(response, f"fetching blob {desc.digest}")
            send, receive = trio.open_memory_channel[bytes | ComposerError](4)

            def next_chunk() -> bytes:
                item = trio.from_thread.run(_receive_or_eof, receive)
                if isinstance(item, ComposerError):
                    raise item
                return item

            async with _nursery() as nursery:
                nursery.start_soon(self._feed, response, send, desc, key, have,
                                   "Download complete" if diff_id is None else "Extracting")
                await trio.to_thread.run_sync(self._sink, partial, have, next_chunk, desc, diff_id)
        finally:
            await response.aclose()
        self.fetched += 1

    async def _feed(self, response: Response, send: trio.MemorySendChannel[bytes | ComposerError],
                    desc: model.Descriptor, key: str, have: int, after: str) -> None:
        """The event loop's half: the body's chunks to the worker. An error travels down the channel
        behind the chunks that did arrive, so the worker writes them (the next pull resumes after
        them) and then fails with it."""
        size = have
        try:
            async for chunk in body_chunks(response):
                size += len(chunk)
                self.bytes += len(chunk)
                if size > desc.size:
                    raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest} is larger than its "
                                        f"manifest says ({desc.size} bytes)")
                await send.send(chunk)
                self.progress.status(key, "Downloading", size, desc.size)
            if size < desc.size:  # the body ended early without an error: a cut like any other
                raise DownloadCut(f"the registry closed the connection after {size} of {desc.size} bytes "
                                  "(run the command again to resume)")
        except ComposerError as err:
            await send.send(err)
        else:
            self.progress.status(key, after)
        await send.aclose()

    def _sink(self, partial: Path, have: int, next_chunk: Callable[[], bytes], desc: model.Descriptor,
              diff_id: str | None) -> None:
        """The worker's half (a thread): write, hash and maybe unpack; then check and store the blob."""
        with IncomingBlob(partial, have, next_chunk) as incoming:

            def seal() -> None:
                incoming.drain()
                digest = incoming.seal()
                if digest != desc.digest or incoming.size != desc.size:
                    partial.unlink()
                    raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest} is corrupt: its content has "
                                        f"digest {digest} ({incoming.size} bytes)")
                self._commit(partial, desc.digest)

            try:
                if diff_id is None:
                    seal()
                else:
                    self.store.unpack_layer(incoming, desc.digest, diff_id, check_blob=seal)  # type: ignore[arg-type]
            except (DownloadCut, LocalWriteError) as err:  # what arrived is kept: the next pull resumes after it
                raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest}: {err.message}") from None
            except OSError as err:  # this machine's trouble (a full disk): the bytes so far are good
                raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest}: {err.strerror or err} "
                                    f"({err.filename or partial})") from None
            except ComposerError as err:  # bad bytes: resuming from them would fail again
                partial.unlink(missing_ok=True)
                if err.message.startswith(self.ref.familiar()):
                    raise
                raise ComposerError(f"{self.ref.familiar()}: blob {desc.digest}: {err.message}") from None

    def _commit(self, partial: Path, digest: str) -> None:
        with self.store.locked():
            final = self.store.blob_path(digest)
            if final.exists():
                partial.unlink()
            else:
                os.rename(partial, final)
                fsync_dir(final.parent)

    async def layer(self, desc: model.Descriptor, diff_id: str, limiter: trio.CapacityLimiter) -> None:
        key = _short(desc.digest)
        if desc.media_type not in model.LAYER_TYPES:
            raise ComposerError(f"{self.ref.familiar()}: unsupported layer type {desc.media_type}")
        has_layer, has_blob = await trio.to_thread.run_sync(
            lambda: (self.store.has_layer(diff_id), self.store.has_blob(desc.digest)))
        if has_layer and has_blob:
            self.progress.status(key, "Already exists")
            return
        if has_blob:
            self.progress.status(key, "Extracting")
            await trio.to_thread.run_sync(self.store.ensure_layer, desc.digest, diff_id)
        else:
            async with limiter:
                await self.blob(desc, key, None if has_layer else diff_id)
        self.progress.status(key, "Pull complete")


async def pull_image(store: ImageStore, text: str, *, platform: str | None = None,
                     progress: TransferProgress | None = None) -> PullResult:
    """Pull one reference into the store; the name (unless only a digest was given) points at it.

    A Docker Hub image is tried on each configured mirror first, then on Docker Hub; blobs a failed
    attempt finished stay in the store, so the next endpoint only fetches the rest."""
    ref = _pull_ref(text)
    want = parse_platform(platform)
    progress = progress or TransferProgress(None, "quiet")
    shown = ref.familiar()
    await trio.to_thread.run_sync(_ensure_dirs, store)
    before = await trio.to_thread.run_sync(_current, store, shown)
    progress.message(f"{ref.tag or ref.digest}: Pulling from {ref.familiar_name}")
    tried: list[str] = []
    fetched: tuple[_Puller, str, str] | None = None
    for mirror in hub_mirrors() if ref.domain == "docker.io" else []:
        url = urllib.parse.urlsplit(mirror)
        try:
            async with Session(url.netloc, shown, only_scheme=url.scheme) as session:
                fetched = await _fetch_image(store, ref, session, want, progress)
            break
        except ComposerError as err:
            tried.append(f"{mirror}: {err.message.removeprefix(shown + ': ')}")
    if fetched is None:
        try:
            async with Session(registry_host(ref.domain), shown) as session:
                fetched = await _fetch_image(store, ref, session, want, progress)
        except ComposerError as err:
            if tried:
                raise ComposerError(f"{err.message} (after the mirrors: {'; '.join(tried)})") from None
            raise
    puller, top, manifest_digest = fetched
    names = [ref] if ref.tag else []
    repo_digests = [f"{ref.name}@{top}"]
    loaded = await trio.to_thread.run_sync(
        lambda: store.add_image(manifest_digest, names, repo_digests=repo_digests))
    progress.close()
    progress.message(f"Digest: {top}")
    up_to_date = before == loaded.id and puller.fetched == 0
    progress.message(f"Status: {'Image is up to date' if up_to_date else 'Downloaded newer image'} for {shown}")
    return PullResult(shown, loaded.id, top, puller.fetched, puller.bytes, up_to_date)


async def _fetch_image(store: ImageStore, ref: Reference, session: Session, want: PlatformSpec,
                       progress: TransferProgress) -> tuple[_Puller, str, str]:
    """Manifest, config and layers from one endpoint into the store: (puller, top digest, manifest digest)."""
    shown = ref.familiar()
    puller = _Puller(store, ref, session, progress)
    body, top, media_type = await puller.manifest(ref.digest or ref.tag or "latest", ref.digest)
    manifest_body, manifest_digest = body, top
    if media_type in model.INDEX_TYPES:
        index = model.parse_doc(Index, body, f"{shown}: index {top}")
        chosen = pick_manifest(index.manifests, want)
        if chosen is None:
            raise ComposerError(f"{shown}: no image for platform {want} (the index has: "
                                f"{available(index.manifests)})")
        manifest_body, manifest_digest, media_type = await puller.manifest(chosen.digest, chosen.digest)
    if media_type not in model.MANIFEST_TYPES:
        raise ComposerError(f"{shown}: unsupported manifest type {media_type or 'unknown'}"
                            " (Docker schema 1 images are not supported)")
    manifest = model.parse_doc(Manifest, manifest_body, f"{shown}: manifest {manifest_digest}")
    if manifest.config.media_type not in model.CONFIG_TYPES:
        raise ComposerError(f"{shown}: not a container image (config type {manifest.config.media_type})")
    await trio.to_thread.run_sync(lambda: store.put_blob_bytes(manifest_body, expected=manifest_digest))
    await puller.blob(manifest.config, _short(manifest.config.digest))
    config_raw = await trio.to_thread.run_sync(store.read_blob, manifest.config.digest)
    config = model.parse_doc(model.ImageConfig, config_raw, f"{shown}: config {manifest.config.digest}")
    diff_ids = config.rootfs.diff_ids
    if len(diff_ids) != len(manifest.layers):
        raise ComposerError(f"{shown}: manifest has {len(manifest.layers)} layers but its config lists "
                            f"{len(diff_ids)} diff_ids")
    limiter = trio.CapacityLimiter(PARALLEL)
    async with _nursery() as nursery:
        for desc, diff_id in zip(manifest.layers, diff_ids, strict=True):
            nursery.start_soon(puller.layer, desc, diff_id, limiter)
    return puller, top, manifest_digest


def _ensure_dirs(store: ImageStore) -> None:
    with store.locked():
        downloads = store.root / "downloads"
        downloads.mkdir(mode=0o700, exist_ok=True)
        for stray in downloads.glob("*.*.partial"):  # `<hex>.<pid>.partial`: a second copy of a dead process
            pid = stray.name.split(".")[1]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                stray.unlink(missing_ok=True)


def _current(store: ImageStore, text: str) -> str | None:
    try:
        return store.resolve(text)
    except ComposerError:
        return None


def _try_lock(path: Path) -> int | None:
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _file_size(path: Path) -> int:
    """What an interrupted download left: where to resume."""
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


async def _receive_or_eof(receive: trio.MemoryReceiveChannel[bytes | ComposerError]) -> bytes | ComposerError:
    try:
        return await receive.receive()
    except trio.EndOfChannel:
        return b""


# -- push -------------------------------------------------------------------------------------------


class _Pusher:
    def __init__(self, store: ImageStore, ref: Reference, session: Session, progress: TransferProgress,
                 sources: Sequence[str]) -> None:
        self.store, self.ref, self.session, self.progress = store, ref, session, progress
        self.scopes = (f"repository:{ref.path}:pull,push",)
        self.sources = list(sources)
        self.uploaded = self.mounted = self.existing = 0

    async def blob(self, desc: model.Descriptor, limiter: trio.CapacityLimiter) -> None:
        key = _short(desc.digest)
        path = f"/v2/{self.ref.path}/blobs"
        async with limiter:
            self.progress.status(key, "Preparing")
            head = await self.session.send("HEAD", f"{path}/{desc.digest}", self.scopes)
            if head.status_code == 200:
                self.existing += 1
                self.progress.status(key, "Layer already exists")
                return
            location = None
            for source in self.sources:
                scopes = (*self.scopes, f"repository:{source}:pull")
                response = await self.session.send("POST", f"{path}/uploads/", scopes,
                                                   params={"mount": desc.digest, "from": source})
                if response.status_code == 201:
                    self.mounted += 1
                    self.progress.status(key, f"Mounted from {source}")
                    return
                if response.status_code == 202:
                    location = response.headers.get("location")
                    break
            if location is None:
                response = await self.session.send("POST", f"{path}/uploads/", self.scopes)
                if response.status_code != 202 or not response.headers.get("location"):
                    raise self.session.fail(response, f"starting the upload of {desc.digest}")
                location = response.headers["location"]
            sep = "&" if "?" in location else "?"
            target = location + sep + urllib.parse.urlencode({"digest": desc.digest})
            self.progress.status(key, "Pushing")
            response = await self.session.send(
                "PUT", target, self.scopes, content=self._read(desc, key),
                headers={"Content-Type": "application/octet-stream", "Content-Length": str(desc.size)})
            if response.status_code not in (201, 204):
                raise self.session.fail(response, f"uploading {desc.digest}")
            self.uploaded += 1
            self.progress.status(key, "Pushed")

    async def _read(self, desc: model.Descriptor, key: str) -> AsyncIterator[bytes]:
        sent = 0
        async with await trio.open_file(self.store.blob_path(desc.digest), "rb") as src:
            while chunk := await src.read(_CHUNK):
                sent += len(chunk)
                self.progress.status(key, "Pushing", sent, desc.size)
                yield chunk


def _mount_sources(repo_digests: Sequence[str], ref: Reference) -> list[str]:
    out: list[str] = []
    for text in repo_digests:
        with contextlib.suppress(ComposerError):
            other = parse_reference(text)
            if other.domain == ref.domain and other.path != ref.path and other.path not in out:
                out.append(other.path)
    return out


def _manifest_type(manifest: Manifest) -> str:
    if manifest.media_type:
        return manifest.media_type
    if manifest.config.media_type == model.MT_DOCKER_CONFIG:
        return model.MT_DOCKER_MANIFEST
    return model.MT_OCI_MANIFEST


async def push_image(store: ImageStore, text: str, *, progress: TransferProgress | None = None) -> PushResult:
    """Push a local image under its name: blobs the registry lacks, then the manifest."""
    ref = parse_reference(text)
    if ref.digest is not None:
        raise ComposerError(f"cannot push a digest reference: {text}")
    ref = ref.with_default_tag()
    shown = ref.familiar()
    progress = progress or TransferProgress(None, "quiet")
    image = await trio.to_thread.run_sync(store.get, text)
    body = await trio.to_thread.run_sync(store.read_blob, image.manifest_digest)
    progress.message(f"The push refers to repository [{ref.name}]")
    async with Session(registry_host(ref.domain), shown) as session:
        pusher = _Pusher(store, ref, session, progress, _mount_sources(image.repo_digests, ref))
        limiter = trio.CapacityLimiter(PARALLEL)
        async with _nursery() as nursery:
            for desc in [*image.manifest.layers, image.manifest.config]:
                nursery.start_soon(pusher.blob, desc, limiter)
        response = await session.send("PUT", f"/v2/{ref.path}/manifests/{ref.tag}", pusher.scopes, content=body,
                                      headers={"Content-Type": _manifest_type(image.manifest)})
        if response.status_code not in (201, 204):
            raise session.fail(response, "uploading the manifest")
    digest = image.manifest_digest
    claimed = response.headers.get("docker-content-digest")
    if claimed and claimed != digest:
        raise ComposerError(f"{shown}: the registry stored the manifest as {claimed}, not {digest}")
    await trio.to_thread.run_sync(
        lambda: store.add_image(digest, (), repo_digests=[f"{ref.name}@{digest}"]))
    progress.close()
    progress.message(f"{ref.tag}: digest: {digest} size: {len(body)}")
    return PushResult(shown, digest, pusher.uploaded, pusher.mounted, pusher.existing)


# -- synchronous entry points -------------------------------------------------------------------------


def pull(store: ImageStore, text: str, *, platform: str | None = None,
         progress: TransferProgress | None = None) -> PullResult:
    return trio.run(lambda: pull_image(store, text, platform=platform, progress=progress))


def push(store: ImageStore, text: str, *, progress: TransferProgress | None = None) -> PushResult:
    return trio.run(lambda: push_image(store, text, progress=progress))


def default_platform() -> PlatformSpec:
    return parse_platform(None)


def login(server: str, creds: Credentials) -> None:
    """Check credentials against the registry (they are saved by the caller only if this passes)."""
    key = server_key(server)
    host = registry_host("docker.io") if key == DOCKER_HUB_KEY else key

    async def check() -> None:
        async with Session(host, host, given=creds) as session:
            await session.check_login()

    trio.run(check)
