"""diff and commit against a real overlay of the fixture image: a deletion in the merged view is a whiteout
in the upper dir, `changes` reports it, and the committed image, mounted, no longer has the file."""

from __future__ import annotations

import io
import shutil
import tarfile
from pathlib import Path

import pytest

from composer.runtime.engine.commit import commit
from composer.runtime.engine.copy import copy_in, copy_out
from composer.runtime.engine.export import export_rootfs
from composer.runtime.engine.fsdiff import Change, changes
from composer.runtime.oci.rootfs import mount_rootfs, unmount_rootfs
from tests.runtime.engine.enginefix import BASE, EngineEnv

pytestmark = pytest.mark.root


def test_diff_commit_and_remount(eng: EngineEnv, tmp_path: Path) -> None:
    store = eng.engine.images
    layers = store.layer_dirs(BASE)
    upper, work, merged = tmp_path / "c" / "upper", tmp_path / "c" / "work", tmp_path / "c" / "merged"
    mount_rootfs(layers, upper, work, merged)
    try:
        assert (merged / "etc" / "passwd").is_file()
        (merged / "etc" / "passwd").unlink()
        copy_in(merged, io.BytesIO(_one_file("hello.txt", b"hi")), "/")
        tree = tmp_path / "tree"
        tree.mkdir()
        (tree / "one").write_text("1")
        (tree / "two").hardlink_to(tree / "one")
        copy_in(merged, tree, "/")
        assert (merged / "tree" / "two").stat().st_nlink == 2
        found = changes(upper, layers)
        assert Change("D", "/etc/passwd") in found
        assert Change("C", "/etc") in found
        assert Change("A", "/hello.txt") in found
        assert Change("A", "/tree/two") in found
        buf = io.BytesIO()
        export_rootfs(merged, buf)
        with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
            names = set(tar.getnames())
        assert "hello.txt" in names
        assert "etc/passwd" not in names
    finally:
        unmount_rootfs(merged)
    new_id = commit(store, store.resolve(BASE), upper, container_config=None, changes=["ENV COMMITTED=1"],
                    comment="test commit", author="tester", reference="composer-test/committed:1")
    assert store.resolve("composer-test/committed:1") == new_id
    image = store.get(new_id)
    assert len(image.diff_ids) == len(layers) + 1
    assert image.config.config is not None
    assert "COMMITTED=1" in (image.config.config.env or [])
    assert image.config.author == "tester"
    assert store.history(new_id)[0]["Comment"] == "test commit"
    new_layers = store.layer_dirs(new_id)
    upper2, work2, merged2 = tmp_path / "d" / "upper", tmp_path / "d" / "work", tmp_path / "d" / "merged"
    mount_rootfs(new_layers, upper2, work2, merged2)
    try:
        assert not (merged2 / "etc" / "passwd").exists()
        assert (merged2 / "hello.txt").read_text() == "hi"
        assert (merged2 / "bin").is_dir()
        assert (merged2 / "tree" / "two").stat().st_nlink == 2
        out = tmp_path / "out.txt"
        copy_out(merged2, "/hello.txt", out)
        assert out.read_text() == "hi"
    finally:
        unmount_rootfs(merged2)


def _one_file(name: str, data: bytes) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_replaced_directory_is_opaque_in_diff_and_commit(eng: EngineEnv, tmp_path: Path) -> None:
    """`rm -rf /etc && mkdir /etc` in the merged view: overlay marks the new /etc opaque, diff says C /etc with
    only the new contents added, and the committed image no longer shows anything of the old /etc."""
    store = eng.engine.images
    layers = store.layer_dirs(BASE)
    upper, work, merged = tmp_path / "c" / "upper", tmp_path / "c" / "work", tmp_path / "c" / "merged"
    mount_rootfs(layers, upper, work, merged)
    try:
        old = sorted(p.name for p in (merged / "etc").iterdir())
        assert "passwd" in old
        shutil.rmtree(merged / "etc")
        (merged / "etc").mkdir()
        (merged / "etc" / "fresh").write_text("new\n")
        (merged / "etc" / "hosts").touch()  # what the runtime makes as a bind-mount target: not a change
        found = changes(upper, layers)
        assert found == [Change("C", "/etc"), Change("A", "/etc/fresh")]
    finally:
        unmount_rootfs(merged)
    new_id = commit(store, store.resolve(BASE), upper, container_config={"Cmd": ["sh", "-c", "rebuild etc"]},
                    comment="", author="", reference=None)
    assert store.history(new_id)[0]["CreatedBy"] == "sh -c rebuild etc"
    upper2, work2, merged2 = tmp_path / "d" / "upper", tmp_path / "d" / "work", tmp_path / "d" / "merged"
    mount_rootfs(store.layer_dirs(new_id), upper2, work2, merged2)
    try:
        assert sorted(p.name for p in (merged2 / "etc").iterdir()) == ["fresh"]
        assert changes(upper2, store.layer_dirs(new_id)) == []
    finally:
        unmount_rootfs(merged2)
