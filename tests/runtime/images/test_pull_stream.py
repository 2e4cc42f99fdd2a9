"""Pulls that unpack while they download: a cut connection, a corrupt blob, an oversized one.

A real registry never misbehaves on cue, so these tests serve the fixture image from a small HTTP/1.1
server of their own (a trio task on 127.0.0.1, in the same `trio.run` as the pull) that can cut a blob
short, flip a byte in it or send too much, and honours `Range` the way the distribution registry does.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio

from composer.errors import ComposerError
from composer.runtime.images import ImageStore
from composer.runtime.images.blob_stream import ALIGN, DirectAppender, IncomingBlob
from composer.runtime.images.registry import PullResult, pull_image
from tests.runtime.images.test_registry import APP, fixture_archive, loaded_store

__all__ = ["fixture_archive"]  # a session fixture, shared with test_registry


@dataclass
class FakeRegistry:
    """Blobs and manifests of one repository (`fx`), and what to do wrong with one blob."""

    files: dict[str, tuple[bytes, str]]
    cut_after: dict[str, int] = field(default_factory=dict)
    """Path -> bytes of the body to send before closing the connection (once)."""
    ranges: list[tuple[str, str]] = field(default_factory=list)
    """(path, Range header) of every ranged request: a cut also cancels the other downloads of the pull,
    which keep what they had and resume too."""
    port: int = 0

    async def serve(self, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        self.port = listeners[0].socket.getsockname()[1]
        task_status.started()
        await trio.serve_listeners(self._handle, listeners)

    async def _handle(self, stream: trio.SocketStream) -> None:
        buffer = b""
        async with stream:
            while True:
                while b"\r\n\r\n" not in buffer:
                    data = await stream.receive_some(65536)
                    if not data or (not data[:1].isalpha() and not buffer):
                        return  # closed, or a TLS hello: the client falls back to plain HTTP
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, path, _ = lines[0].split(" ")
                headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
                if not await self._answer(stream, method, path, headers):
                    return

    async def _answer(self, stream: trio.SocketStream, method: str, path: str, headers: dict[str, str]) -> bool:
        if path == "/v2/":
            body, kind, status = b"{}", "application/json", "200 OK"
        elif path in self.files:
            body, kind = self.files[path]
            status = "200 OK"
            wanted = headers.get("range", "")
            if wanted.startswith("bytes="):
                self.ranges.append((path, wanted))
                start = int(wanted.removeprefix("bytes=").split("-")[0])
                body, status = body[start:], "206 Partial Content"
        else:
            body, kind, status = b'{"errors":[{"code":"NOT_FOUND"}]}', "application/json", "404 Not Found"
        head = (f"HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len(body)}\r\n"
                f"Docker-Distribution-Api-Version: registry/2.0\r\n\r\n").encode()
        if method == "HEAD":
            await stream.send_all(head)
            return True
        cut = self.cut_after.pop(path, None)
        await stream.send_all(head + (body if cut is None else body[:cut]))
        return cut is None


@dataclass
class Served:
    store: ImageStore
    registry: FakeRegistry
    layer_path: str
    layer_size: int
    diff_id: str
    image_id: str

    def ref(self) -> str:
        return f"127.0.0.1:{self.registry.port}/fx:1"

    def pull(self, dest: ImageStore) -> PullResult:
        outcome: list[PullResult | ComposerError] = []

        async def main() -> None:
            async with trio.open_nursery() as nursery:
                await nursery.start(self.registry.serve)
                try:
                    outcome.append(await pull_image(dest, self.ref()))
                except ComposerError as err:
                    outcome.append(err)
                nursery.cancel_scope.cancel()

        trio.run(main)
        if isinstance(outcome[0], ComposerError):
            raise outcome[0]
        return outcome[0]


@pytest.fixture(params=["busybox-docker.tar", "busybox-oci.tar"])
def served(fixture_archive: Path, tmp_path: Path, request: pytest.FixtureRequest) -> Served:
    """The fixture app image as a fake registry would serve it, with plain layers (from the Docker archive)
    and gzip ones (from the OCI archive); its largest layer is the one to spoil."""
    src = loaded_store(tmp_path / "src", fixture_archive.with_name(request.param))
    image = src.get(APP)
    files: dict[str, tuple[bytes, str]] = {}
    manifest = src.read_blob(image.manifest_digest)
    media_type = json.loads(manifest).get("mediaType") or "application/vnd.oci.image.manifest.v1+json"
    files["/v2/fx/manifests/1"] = (manifest, media_type)
    files[f"/v2/fx/manifests/{image.manifest_digest}"] = (manifest, media_type)
    for desc in (image.manifest.config, *image.manifest.layers):
        files[f"/v2/fx/blobs/{desc.digest}"] = (src.read_blob(desc.digest), "application/octet-stream")
    index, biggest = max(enumerate(image.manifest.layers), key=lambda item: item[1].size)
    assert biggest.size > 3 * ALIGN, "the fixture's biggest layer is too small to cut in the middle"
    return Served(src, FakeRegistry(files), f"/v2/fx/blobs/{biggest.digest}", biggest.size,
                  image.diff_ids[index], image.id)


def _leftovers(store: ImageStore) -> list[str]:
    return sorted(p.name for p in (store.root / "tmp").iterdir())


def test_a_cut_download_publishes_nothing_and_the_next_pull_resumes(served: Served, tmp_path: Path) -> None:
    dest = ImageStore(tmp_path / "dest")
    cut = served.layer_size // 2 + 123
    served.registry.cut_after[served.layer_path] = cut
    with pytest.raises(ComposerError, match=r"broke during the download: .*run the command again to resume"):
        served.pull(dest)
    assert not dest.has_layer(served.diff_id)
    partial = dest.root / "downloads" / f"{served.layer_path.rsplit(':', 1)[1]}.partial"
    assert partial.stat().st_size == cut
    assert _leftovers(dest) == []  # the half-unpacked scratch is gone

    result = served.pull(dest)
    kept = cut - cut % ALIGN
    assert [r for p, r in served.registry.ranges if p == served.layer_path] == [f"bytes={kept}-"]
    assert result.image_id == served.image_id
    assert dest.has_layer(served.diff_id)
    assert dest.read_blob(served.layer_path.rsplit("/", 1)[1]) == served.store.read_blob(
        served.layer_path.rsplit("/", 1)[1])
    assert not list((dest.root / "downloads").glob("*.partial"))


def test_a_body_that_ends_early_without_error_is_a_cut_too(served: Served, tmp_path: Path) -> None:
    """A server that sends fewer bytes than the descriptor says, and says so in its Content-Length."""
    body, kind = served.registry.files[served.layer_path]
    short = len(body) // 2 + 77
    served.registry.files[served.layer_path] = (body[:short], kind)
    dest = ImageStore(tmp_path / "dest")
    with pytest.raises(ComposerError, match=rf"closed the connection after {short} of {len(body)} bytes"):
        served.pull(dest)
    partial = dest.root / "downloads" / f"{served.layer_path.rsplit(':', 1)[1]}.partial"
    assert partial.stat().st_size == short  # kept: the bytes that came are good
    assert not dest.has_layer(served.diff_id)
    served.registry.files[served.layer_path] = (body, kind)
    assert served.pull(dest).image_id == served.image_id
    assert [r for p, r in served.registry.ranges if p == served.layer_path] == [f"bytes={short - short % ALIGN}-"]


def test_a_corrupt_blob_publishes_neither_blob_nor_layer(served: Served, tmp_path: Path) -> None:
    body, kind = served.registry.files[served.layer_path]
    spoiled = bytearray(body)
    spoiled[len(body) // 2] ^= 0xFF  # inside a file's content: the tar still reads, the digest does not match
    served.registry.files[served.layer_path] = (bytes(spoiled), kind)
    dest = ImageStore(tmp_path / "dest")
    with pytest.raises(ComposerError, match=r"blob sha256:[0-9a-f]{64} is corrupt|corrupt layer \(gzip\)"):
        served.pull(dest)
    digest = served.layer_path.rsplit("/", 1)[1]
    assert not dest.has_layer(served.diff_id)
    assert not dest.has_blob(digest)
    assert not list((dest.root / "downloads").glob("*.partial"))
    assert _leftovers(dest) == []


def test_a_blob_longer_than_its_descriptor_is_refused(served: Served, tmp_path: Path) -> None:
    body, kind = served.registry.files[served.layer_path]
    served.registry.files[served.layer_path] = (body + b"\0" * 1024, kind)
    dest = ImageStore(tmp_path / "dest")
    with pytest.raises(ComposerError, match="is larger than its manifest says"):
        served.pull(dest)
    assert not dest.has_layer(served.diff_id)
    assert _leftovers(dest) == []


# -- the pieces, without a registry -------------------------------------------------------------


def _feeder(chunks: list[bytes]) -> Callable[[], bytes]:
    pending = list(chunks)
    return lambda: pending.pop(0) if pending else b""


@pytest.mark.parametrize("sizes", [[1], [ALIGN], [ALIGN + 1, 5], [1 << 20, 1 << 20, 7], [3 * (1 << 20) + 4095]])
def test_incoming_blob_writes_every_byte_and_serves_reads_of_any_size(tmp_path: Path, sizes: list[int]) -> None:
    chunks = [os.urandom(n) for n in sizes]
    whole = b"".join(chunks)
    path = tmp_path / "blob.partial"
    with IncomingBlob(path, 0, _feeder(chunks)) as incoming:
        got = incoming.read(10) + incoming.read(ALIGN) + incoming.read()
        incoming.drain()
        digest = incoming.seal()
    assert got == whole
    assert path.read_bytes() == whole
    import hashlib

    assert digest == "sha256:" + hashlib.sha256(whole).hexdigest()


def test_incoming_blob_reads_the_kept_prefix_first(tmp_path: Path) -> None:
    whole = os.urandom(5 * ALIGN + 77)
    path = tmp_path / "blob.partial"
    path.write_bytes(whole[:3 * ALIGN + 10])  # an interrupted download; only the aligned part is kept
    with IncomingBlob(path, 3 * ALIGN, _feeder([whole[3 * ALIGN:]])) as incoming:
        got = incoming.read()
        incoming.seal()
    assert got == whole
    assert path.read_bytes() == whole


def test_direct_appender_falls_back_where_o_direct_is_refused(tmp_path: Path) -> None:
    """/dev/shm is tmpfs: older kernels refuse O_DIRECT there; either way the bytes must land."""
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm")
    path = shm / f"composer-test-direct-{os.getpid()}"
    try:
        out = DirectAppender(path, 0)
        data = os.urandom(2 * (1 << 20) + 123)
        out.write(data)
        out.sync()
        out.close()
        assert path.read_bytes() == data
    finally:
        path.unlink(missing_ok=True)


def test_a_gzip_layer_arriving_in_tiny_chunks_unpacks(tmp_path: Path) -> None:
    """Short reads everywhere (the compression sniffing too): the bytes, not their chunking, decide."""
    import gzip
    import io
    import tarfile

    from composer.runtime.images.extract import extract_layer

    plain = io.BytesIO()
    with tarfile.open(fileobj=plain, mode="w") as tar:
        data = os.urandom(5000)
        info = tarfile.TarInfo("dir/file.bin")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    packed = gzip.compress(plain.getvalue())
    chunks = [packed[i:i + 3] for i in range(0, len(packed), 3)]
    dest = tmp_path / "layer"
    dest.mkdir()
    with IncomingBlob(tmp_path / "blob.partial", 0, _feeder(chunks)) as incoming:
        stats = extract_layer(incoming, dest)  # type: ignore[arg-type]
        incoming.drain()
        incoming.seal()
    assert stats.compression == "gzip"
    assert (dest / "dir" / "file.bin").read_bytes() == data
    assert (tmp_path / "blob.partial").read_bytes() == packed
