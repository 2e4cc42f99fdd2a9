"""The image store with the fixture images: load, save, names, removal, import, crash safety."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError
from composer.runtime.images import ImageStore, import_rootfs
from composer.runtime.images import store as store_module
from composer.runtime.images.archive import save_to_path
from composer.runtime.images.extract import extract_layer, opaque_xattr

from .tars import reg, sym, tar_bytes

APP = "composer-fixture/app:latest"
BASE = "composer-fixture/base:latest"


class OneWay(io.RawIOBase):
    """A pipe-like stream: read only, no seek, no tell (like stdin)."""

    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        chunk = self._src.read(min(len(buf), 7919))
        buf[: len(chunk)] = chunk
        return len(chunk)


def consistent(store: ImageStore) -> None:
    """Every record's blobs and layers are there; nothing unreferenced or half-made is left."""
    store.gc()
    root = store.root
    assert list((root / "tmp").iterdir()) == []
    wanted_blobs: set[str] = set()
    wanted_layers: set[str] = set()
    for image in store.images():
        wanted_blobs |= {image.id, image.manifest_digest, *(layer.digest for layer in image.manifest.layers)}
        wanted_layers |= set(image.diff_ids)
        for diff_id in image.diff_ids:
            assert store.has_layer(diff_id)
    assert {f"sha256:{p.name}" for p in (root / "blobs" / "sha256").iterdir()} == wanted_blobs
    assert {f"sha256:{p.name}" for p in (root / "layers").iterdir()} == wanted_layers
    for digest in wanted_blobs:
        assert hashlib.sha256(store.blob_path(digest).read_bytes()).hexdigest() == digest.split(":")[1]


def rewrite_tar(src: Path, dst: Path, change: Any) -> None:
    """Copy a tar, letting `change(name, data)` return new bytes, or None to drop the member."""
    with tarfile.open(src) as tin, tarfile.open(dst, "w") as tout:
        for member in tin:
            data = tin.extractfile(member).read() if member.isreg() else None  # type: ignore[union-attr]
            if data is not None:
                data = change(member.name, data)
                if data is None:
                    continue
                member.size = len(data)
            tout.addfile(member, io.BytesIO(data) if data is not None else None)


# -- load -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docker_archive", "oci_archive"])
def test_load_and_inspect(store: ImageStore, fixture_images: dict[str, Any], kind: str) -> None:
    loaded = store.load(fixture_images[kind])
    app, base = fixture_images["images"]["app"], fixture_images["images"]["base"]
    assert {(x.id, x.tags) for x in loaded} == {(app["id"], (APP,)), (base["id"], (BASE,))}
    assert [m for x in loaded for m in x.messages()] == [f"Loaded image: {BASE}", f"Loaded image: {APP}"]
    info = store.inspect(APP)
    assert info["Id"] == app["id"]
    assert info["RepoTags"] == [APP]
    assert info["RootFS"] == {"Type": "layers", "Layers": app["diff_ids"]}
    assert info["Created"] == "2023-11-14T22:15:00Z"
    assert info["Architecture"] == fixture_images["arch"]
    assert info["Os"] == "linux"
    assert info["Size"] > 1_000_000
    config = info["Config"]
    assert config["Entrypoint"] == ["/bin/busybox"]
    assert config["Cmd"] == ["httpd", "-f", "-v", "-p", "8080", "-h", "/srv/www"]
    assert config["Env"] == ["PATH=/usr/local/bin:/usr/bin:/bin", "GREETING=hello from composer"]
    assert config["WorkingDir"] == "/srv/www"
    assert config["User"] == "app"
    assert config["ExposedPorts"] == {"8080/tcp": {}}
    assert config["Volumes"] == {"/data": {}}
    assert config["Healthcheck"] == {"Test": ["CMD", "/usr/local/bin/healthcheck"], "Interval": 5_000_000_000,
                                     "Timeout": 3_000_000_000, "StartPeriod": 1_000_000_000, "Retries": 3}
    assert config["Labels"]["org.composer.fixture"] == "app"
    assert config["StopSignal"] == "SIGTERM"
    image = store.get("composer-fixture/app")
    assert image.config.config is not None
    assert image.config.config.healthcheck is not None
    assert image.config.config.healthcheck.retries == 3
    json.dumps(info)
    consistent(store)


def test_oci_load_picks_the_host_platform(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["oci_archive"])
    ids = {s.id for s in store.list_images()}
    assert fixture_images["foreign_id"] not in ids
    assert store.inspect(APP)["RepoDigests"][0].startswith("composer-fixture/app@sha256:")
    assert store.resolve(store.inspect(APP)["RepoDigests"][0]) == fixture_images["images"]["app"]["id"]


@pytest.mark.parametrize("kind", ["docker_archive", "oci_archive"])
def test_load_from_a_pipe_and_gzip(store: ImageStore, fixture_images: dict[str, Any], kind: str) -> None:
    data = Path(fixture_images[kind]).read_bytes()
    assert len(store.load(OneWay(data))) == 2  # type: ignore[arg-type]
    other = ImageStore(store.root.parent / "other")
    assert len(other.load(OneWay(gzip.compress(data)))) == 2  # type: ignore[arg-type]
    consistent(other)


def test_shared_layers_are_unpacked_once(store: ImageStore, fixture_images: dict[str, Any],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = store_module.extract_layer

    def counting(src: Any, dest: Any, **kw: Any) -> Any:
        stats = real(src, dest, **kw)
        calls.append(stats.diff_id)
        return stats

    monkeypatch.setattr(store_module, "extract_layer", counting)
    store.load(fixture_images["docker_archive"])
    base_layer = store.layer_path(fixture_images["images"]["base"]["diff_ids"][0])
    inode = base_layer.stat().st_ino
    store.load(fixture_images["oci_archive"])  # same layers, gzip'ed this time
    store.load(fixture_images["docker_archive"])
    assert sorted(calls) == sorted(fixture_images["images"]["app"]["diff_ids"])
    assert base_layer.stat().st_ino == inode
    assert len(list((store.root / "layers").iterdir())) == 2
    app, base = store.get(APP), store.get(BASE)
    assert app.diff_ids[0] == base.diff_ids[0]
    consistent(store)


def test_unpacked_layers_hold_the_whiteouts(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["oci_archive"])
    lower, upper = (store.layer_path(d) for d in store.get(APP).diff_ids)
    doomed = (upper / "etc" / "doomed.conf").lstat()
    assert stat.S_ISCHR(doomed.st_mode)
    assert doomed.st_rdev == 0
    assert os.getxattr(upper / "usr" / "share" / "fixture", opaque_xattr()) == b"y"
    assert (lower / "etc" / "doomed.conf").is_file()
    assert stat.S_IMODE((lower / "usr" / "local" / "bin" / "suid-marker").stat().st_mode) == 0o4755
    assert os.readlink(lower / "usr" / "bin" / "env") == "/bin/busybox"
    assert (lower / "bin" / "sh").stat().st_ino == (lower / "bin" / "busybox").stat().st_ino
    assert stat.S_IMODE(store.root.stat().st_mode) == 0o700


def test_flattened_rootfs_applies_the_whiteouts(store: ImageStore, fixture_images: dict[str, Any],
                                                tmp_path: Path) -> None:
    store.load(fixture_images["docker_archive"])
    rootfs = tmp_path / "rootfs"
    rootfs.mkdir()
    for layer in store.get(APP).manifest.layers:
        with store.open_blob(layer.digest) as src:
            extract_layer(src, rootfs, mode="apply")
    assert not (rootfs / "etc" / "doomed.conf").exists()
    assert sorted(os.listdir(rootfs / "usr" / "share" / "fixture")) == ["new.txt"]
    assert (rootfs / "etc" / "motd").read_text() == "app layer\n"
    assert (rootfs / "bin" / "busybox").stat().st_size > 100_000
    srv = (rootfs / "srv" / "www").stat()
    assert (srv.st_uid, srv.st_gid) == (1000, 1000)


@pytest.mark.root
def test_overlay_mount_of_the_image(store: ImageStore, fixture_images: dict[str, Any],
                                    tmp_path: Path) -> None:
    """The unpacked layers are a working overlayfs stack (what containers will run on)."""
    import subprocess

    store.load(fixture_images["oci_archive"])
    lowers = ":".join(str(d) for d in reversed(store.layer_dirs(APP)))
    merged = tmp_path / "merged"
    merged.mkdir()
    mount = subprocess.run(["mount", "-t", "overlay", "overlay", "-o", f"ro,lowerdir={lowers}", str(merged)],
                           capture_output=True, text=True)
    if mount.returncode != 0:
        pytest.skip(f"overlayfs not available: {mount.stderr.strip()}")
    try:
        assert not (merged / "etc" / "doomed.conf").exists()
        assert sorted(os.listdir(merged / "usr" / "share" / "fixture")) == ["new.txt"]
        assert (merged / "etc" / "motd").read_text() == "app layer\n"
        assert (merged / "etc" / "passwd").read_text().startswith("root:x:0:0")
        out = subprocess.run(["chroot", str(merged), "/bin/sh", "-c", "echo $((6*7))"], capture_output=True,
                             text=True, check=True)
        assert out.stdout == "42\n"
    finally:
        subprocess.run(["umount", str(merged)], check=True)


# -- save ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["docker_archive", "oci_archive"])
def test_save_load_round_trip(store: ImageStore, fixture_images: dict[str, Any], kind: str,
                              tmp_path: Path) -> None:
    store.load(fixture_images[kind])
    out = tmp_path / "saved.tar"
    save_to_path(store, [APP, BASE], out)
    with tarfile.open(out) as tar:
        names = set(tar.getnames())
    assert {"manifest.json", "index.json", "oci-layout"} <= names
    again = ImageStore(tmp_path / "again")
    loaded = again.load(out)
    assert {(x.id, x.tags) for x in loaded} == {(store.get(APP).id, (APP,)), (store.get(BASE).id, (BASE,))}
    assert again.inspect(APP)["Config"] == store.inspect(APP)["Config"]
    assert again.get(APP).manifest_digest == store.get(APP).manifest_digest
    # Each half of the archive is enough on its own.
    for drop in ("manifest.json", "index.json"):
        half = tmp_path / f"without-{drop}.tar"
        rewrite_tar(out, half, lambda name, data, drop=drop: None if name == drop else data)
        alone = ImageStore(tmp_path / f"alone-{drop}")
        assert {x.id for x in alone.load(half)} == {store.get(APP).id, store.get(BASE).id}
        assert alone.get(APP).diff_ids == store.get(APP).diff_ids
        consistent(alone)


def test_save_names(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    store.tag(APP, "composer-fixture/app:v2")
    image_id = store.get(APP).id

    def saved_tags(*refs: str) -> list[Any]:
        buf = io.BytesIO()
        store.save(list(refs), buf)
        buf.seek(0)
        with tarfile.open(fileobj=buf) as tar:
            return [e["RepoTags"] for e in json.load(tar.extractfile("manifest.json"))]  # type: ignore[arg-type]

    assert saved_tags("composer-fixture/app:v2") == [["composer-fixture/app:v2"]]
    assert saved_tags("composer-fixture/app") == [[APP, "composer-fixture/app:v2"]]
    assert saved_tags(image_id) == [None]
    with pytest.raises(ComposerError, match="No such image"):
        saved_tags("nope")


# -- verification -------------------------------------------------------------------------------


def _flip(data: bytes) -> bytes:
    return data[:-1] + bytes([data[-1] ^ 1])


def test_corrupt_oci_blob_is_rejected(store: ImageStore, fixture_images: dict[str, Any],
                                      tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    big = max(Path(fixture_images["oci_archive"]).stat().st_size // 4, 1)

    def corrupt(name: str, data: bytes) -> bytes:
        return _flip(data) if name.startswith("blobs/") and len(data) > big else data

    rewrite_tar(Path(fixture_images["oci_archive"]), bad, corrupt)
    with pytest.raises(ComposerError, match="corrupt"):
        store.load(bad)
    assert store.list_images() == []
    consistent(store)


def test_corrupt_docker_layer_is_rejected(store: ImageStore, fixture_images: dict[str, Any],
                                          tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    flipped: list[str] = []

    def corrupt(name: str, data: bytes) -> bytes:
        if name.endswith("layer.tar") and not flipped:
            flipped.append(name)
            return data[:600] + b"X" + data[601:]  # inside the first file's content
        return data

    rewrite_tar(Path(fixture_images["docker_archive"]), bad, corrupt)
    with pytest.raises(ComposerError, match="corrupt"):
        store.load(bad)
    assert store.list_images() == []
    consistent(store)


def test_corrupt_docker_config_is_rejected(store: ImageStore, fixture_images: dict[str, Any],
                                           tmp_path: Path) -> None:
    bad = tmp_path / "bad.tar"
    rewrite_tar(Path(fixture_images["docker_archive"]), bad,
                lambda name, data: data.replace(b'"app"', b'"root"') if name.endswith(".json") else data)
    with pytest.raises(ComposerError, match="corrupt"):
        store.load(bad)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda n, d: None if n == "manifest.json" or n == "index.json" else d, "not an image archive"),
        (lambda n, d: None if n.endswith("layer.tar") else d, "not in the archive"),
        (lambda n, d: b"{" if n == "manifest.json" else d, "not valid JSON"),
        (lambda n, d: b'[{"Layers": []}]' if n == "manifest.json" else d, "has no Config"),
    ],
    ids=["no-index", "missing-layer", "bad-json", "no-config"],
)
def test_broken_docker_archives(store: ImageStore, fixture_images: dict[str, Any], tmp_path: Path,
                                change: Any, fragment: str) -> None:
    bad = tmp_path / "bad.tar"
    rewrite_tar(Path(fixture_images["docker_archive"]), bad, change)
    with pytest.raises(ComposerError, match=fragment):
        store.load(bad)
    assert store.list_images() == []


def test_not_a_tar(store: ImageStore, tmp_path: Path) -> None:
    junk = tmp_path / "junk"
    junk.write_bytes(b"hello" * 1000)
    with pytest.raises(ComposerError, match="not a valid tar"):
        store.load(junk)
    with pytest.raises(ComposerError, match="cannot read image archive"):
        store.load(tmp_path / "missing.tar")


# -- names, removal, prune ----------------------------------------------------------------------


def test_resolve_and_tag(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    app_id = fixture_images["images"]["app"]["id"]
    for ref in (APP, "composer-fixture/app", "docker.io/composer-fixture/app:latest", app_id,
                app_id.removeprefix("sha256:"), app_id[7:19], app_id[:19]):
        assert store.resolve(ref) == app_id, ref
    store.tag(app_id[7:19], "localhost:5000/mine:1")
    assert store.get("localhost:5000/mine:1").repo_tags == (APP, "localhost:5000/mine:1")
    store.tag(BASE, "localhost:5000/mine:1")  # a tag moves
    assert store.get("localhost:5000/mine:1").id == fixture_images["images"]["base"]["id"]
    with pytest.raises(ComposerError, match="digest reference"):
        store.tag(APP, f"x@sha256:{'a' * 64}")
    with pytest.raises(ComposerError, match="No such image: nope"):
        store.get("nope")
    with pytest.raises(ComposerError, match="must be lowercase"):
        store.tag(APP, "Bad")


def test_list_and_history(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    rows = store.list_images()
    assert [r.repo_tags for r in rows] == [(APP,), (BASE,)]  # newest first
    assert not rows[0].dangling
    history = store.history(APP)
    assert history[0]["Id"] == fixture_images["images"]["app"]["id"]
    assert history[0]["Tags"] == [APP]
    assert all(h["Id"] == "<missing>" for h in history[1:])
    assert history[0]["CreatedBy"].endswith('CMD ["httpd" "-f" "-v" "-p" "8080" "-h" "/srv/www"]')
    assert [h["Size"] > 0 for h in history].count(True) == 2
    assert history[-1]["Created"] == 1_700_000_000


def test_rm_untags_then_deletes(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    app_id = fixture_images["images"]["app"]["id"]
    store.tag(APP, "other/name:1")
    assert [str(e) for e in store.remove("other/name:1")] == ["Untagged: other/name:1"]
    store.tag(APP, "other/name:1")
    with pytest.raises(ComposerError, match="referenced in multiple repositories"):
        store.remove(app_id)
    events = [str(e) for e in store.remove(app_id, force=True)]
    assert events == ["Untagged: composer-fixture/app:latest", "Untagged: other/name:1", f"Deleted: {app_id}"]
    base = store.get(BASE)
    assert store.has_layer(base.diff_ids[0]), "the shared base layer stays for the base image"
    assert not store.has_layer(fixture_images["images"]["app"]["diff_ids"][1])
    consistent(store)
    assert [str(e) for e in store.remove(BASE)] == [f"Untagged: {BASE}", f"Deleted: {base.id}"]
    assert list((store.root / "layers").iterdir()) == []
    assert list((store.root / "blobs" / "sha256").iterdir()) == []


def test_rm_refused_while_in_use(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    app_id = fixture_images["images"]["app"]["id"]
    used = {app_id}

    def in_use(image_id: str) -> bool:
        return image_id in used

    with pytest.raises(ComposerError, match="must force"):
        store.remove(APP, in_use=in_use)
    with pytest.raises(ComposerError, match="must be forced"):
        store.remove(app_id, in_use=in_use)
    assert [str(e) for e in store.remove(APP, force=True, in_use=in_use)] == [f"Untagged: {APP}"]
    dangling = store.get(app_id)
    assert dangling.repo_tags == ()
    assert store.prune(in_use=in_use).events == [], "an image a container uses is never pruned"
    assert store.has_layer(dangling.diff_ids[1])
    used.clear()
    report = store.prune(in_use=in_use)
    assert [str(e) for e in report.events] == [f"Deleted: {app_id}"]
    assert report.space_reclaimed > 0
    assert [r.repo_tags for r in store.list_images()] == [(BASE,)]
    all_report = store.prune(all=True)
    base_id = fixture_images["images"]["base"]["id"]
    assert [str(e) for e in all_report.events] == [f"Untagged: {BASE}", f"Deleted: {base_id}"]
    assert store.list_images() == []
    consistent(store)


def test_reload_retags_and_keeps_dangling(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    store.load(fixture_images["docker_archive"])
    imported = import_rootfs(store, io.BytesIO(tar_bytes(reg("x"))), reference=APP)
    assert store.get(APP).id == imported.id
    old = store.get(fixture_images["images"]["app"]["id"])
    assert old.repo_tags == (), "the previous holder of the tag is left dangling, as in Docker"
    store.load(fixture_images["docker_archive"])
    assert store.get(APP).id == fixture_images["images"]["app"]["id"]


# -- import ---------------------------------------------------------------------------------------


def test_import_rootfs(store: ImageStore, tmp_path: Path) -> None:
    plain = tar_bytes(reg("bin/hello", b"#!/bin/sh\necho hi\n", mode=0o755), sym("bin/hi", "hello"),
                      reg("etc/.wh.gone"))
    tarball = tmp_path / "rootfs.tar.gz"
    tarball.write_bytes(gzip.compress(plain))
    changes = ['CMD ["/bin/hello"]', "ENTRYPOINT /bin/sh -c", "ENV A=1 B='two words'", "ENV C 3",
               "EXPOSE 80 53/udp 8000-8001", "WORKDIR /app", "WORKDIR sub", "USER 1000:1000",
               "LABEL a=b", "VOLUME /data /cache", "STOPSIGNAL SIGINT",
               "HEALTHCHECK --interval=30s --retries=2 CMD wget -q http://x/"]
    loaded = import_rootfs(store, tarball, reference="imported:1", changes=changes, message="from a test")
    assert loaded.tags == ("imported:1",)
    info = store.inspect("imported:1")
    assert info["RootFS"]["Layers"] == ["sha256:" + hashlib.sha256(plain).hexdigest()]
    assert info["Comment"] == "from a test"
    config = info["Config"]
    assert config["Cmd"] == ["/bin/hello"]
    assert config["Entrypoint"] == ["/bin/sh", "-c", "/bin/sh -c"]
    assert config["Env"] == ["A=1", "B=two words", "C=3"]
    assert config["ExposedPorts"] == {"80/tcp": {}, "53/udp": {}, "8000/tcp": {}, "8001/tcp": {}}
    assert config["WorkingDir"] == "/app/sub"
    assert config["User"] == "1000:1000"
    assert config["Labels"] == {"a": "b"}
    assert config["Volumes"] == {"/data": {}, "/cache": {}}
    assert config["StopSignal"] == "SIGINT"
    assert config["Healthcheck"] == {"Test": ["CMD-SHELL", "wget -q http://x/"], "Interval": 30_000_000_000,
                                     "Retries": 2}
    diff = store.layer_path(info["RootFS"]["Layers"][0])
    assert (diff / "bin" / "hello").read_bytes() == b"#!/bin/sh\necho hi\n"
    consistent(store)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        (["RUN echo"], "not a valid change command"),
        (["EXPOSE http"], "invalid port"),
        (["CMD"], "requires"),
        (["HEALTHCHECK --bogus=1 CMD x"], "unknown flag"),
        (["HEALTHCHECK --interval=5x CMD x"], "invalid duration"),
    ],
)
def test_import_bad_changes(store: ImageStore, changes: list[str], fragment: str) -> None:
    with pytest.raises(ComposerError, match=fragment):
        import_rootfs(store, io.BytesIO(tar_bytes(reg("x"))), changes=changes)


def test_import_refuses_hostile_and_junk(store: ImageStore) -> None:
    with pytest.raises(ComposerError, match=r"'\.\.'"):
        import_rootfs(store, io.BytesIO(tar_bytes(reg("../evil"))), reference="evil")
    with pytest.raises(ComposerError, match="corrupt"):
        import_rootfs(store, io.BytesIO(b"junk" * 300), reference="junk")
    assert store.list_images() == []
    consistent(store)


# -- crash safety ---------------------------------------------------------------------------------


class Killed(BaseException):
    """Stands for SIGKILL at a failpoint: no `except Exception` handler sees it."""


def test_killed_at_every_rename_then_rerun(fixture_images: dict[str, Any], tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A load interrupted at each of its atomic steps is finished by running it again."""
    real_rename = os.rename
    count = {"n": 0}

    def counting(src: Any, dst: Any) -> None:
        count["n"] += 1
        real_rename(src, dst)

    monkeypatch.setattr(os, "rename", counting)
    ImageStore(tmp_path / "probe").load(fixture_images["oci_archive"])
    steps = count["n"]
    assert steps > 5
    for kill_at in range(1, steps + 1):
        store = ImageStore(tmp_path / f"s{kill_at}")
        count["n"] = 0

        def failing(src: Any, dst: Any, kill_at: int = kill_at) -> None:
            count["n"] += 1
            if count["n"] == kill_at:
                raise Killed
            real_rename(src, dst)

        monkeypatch.setattr(os, "rename", failing)
        with pytest.raises(Killed):
            store.load(fixture_images["oci_archive"])
        monkeypatch.setattr(os, "rename", real_rename)
        store.load(fixture_images["oci_archive"])
        assert {r.repo_tags for r in store.list_images()} == {(APP,), (BASE,)}, kill_at
        consistent(store)


def test_sigkill_during_load_then_rerun(fixture_images: dict[str, Any], tmp_path: Path) -> None:
    """A real SIGKILL at several moments; the next load repairs the store."""
    import signal
    import subprocess
    import sys
    import time

    root = tmp_path / "store"
    script = ("import sys; from composer.runtime.images import ImageStore; "
              "ImageStore(sys.argv[1]).load(sys.argv[2])")
    for delay in (0.0, 0.05, 0.1, 0.2):
        proc = subprocess.Popen([sys.executable, "-c", script, str(root), fixture_images["docker_archive"]])
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        store = ImageStore(root)
        store.load(fixture_images["docker_archive"])
        assert {r.repo_tags for r in store.list_images()} == {(APP,), (BASE,)}
        consistent(store)


def test_store_lock_serializes_processes(store: ImageStore, fixture_images: dict[str, Any]) -> None:
    import fcntl

    with store.locked():
        fd = os.open(store.root / "lock", os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(fd)
