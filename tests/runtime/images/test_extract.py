"""The layer applier on honest input: metadata kept, whiteouts per the OCI layer spec, formats."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.images.extract import extract_layer, opaque_xattr

from .tars import MTIME, blk, chr_, dir_, fifo, hard, reg, sym, tar_bytes


def apply(data: bytes, dest: Path, mode: str = "apply", **kw: object) -> object:
    return extract_layer(io.BytesIO(data), dest, mode="apply" if mode == "apply" else "overlay", **kw)  # type: ignore[arg-type]


def listing(top: Path) -> list[str]:
    return sorted(str(p.relative_to(top)) for p in top.rglob("*"))


@pytest.mark.root
def test_metadata_is_kept(tmp_path: Path) -> None:
    data = tar_bytes(
        dir_("srv", mode=0o750, uid=1000, gid=1001),
        reg("srv/app.sh", b"#!/bin/sh\n", mode=0o4755, uid=0, gid=0),
        reg("srv/owned", b"o", mode=0o640, uid=1000, gid=50),
        reg("srv/sgid", b"g", mode=0o2711, uid=1000, gid=1000),
        dir_("tmp", mode=0o1777),
        sym("srv/link", "/srv/app.sh", uid=1000, gid=1000),
        hard("srv/hard", "srv/owned"),
        fifo("srv/pipe"),
    )
    stats = apply(data, tmp_path)
    srv = tmp_path / "srv"
    st = srv.lstat()
    assert (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid) == (0o750, 1000, 1001)
    assert st.st_mtime_ns == MTIME * 10**9, "directory mtimes are set after their children are written"
    assert stat.S_IMODE((srv / "app.sh").stat().st_mode) == 0o4755, "setuid kept"
    assert stat.S_IMODE((srv / "sgid").stat().st_mode) == 0o2711, "setgid kept"
    assert stat.S_IMODE((tmp_path / "tmp").stat().st_mode) == 0o1777, "sticky kept"
    owned = (srv / "owned").stat()
    assert (owned.st_uid, owned.st_gid, stat.S_IMODE(owned.st_mode)) == (1000, 50, 0o640)
    assert owned.st_mtime_ns == MTIME * 10**9
    link = (srv / "link").lstat()
    assert os.readlink(srv / "link") == "/srv/app.sh", "absolute symlinks are kept verbatim"
    assert (link.st_uid, link.st_gid) == (1000, 1000)
    assert (srv / "hard").stat().st_ino == owned.st_ino
    assert owned.st_nlink == 2
    assert stat.S_ISFIFO((srv / "pipe").lstat().st_mode)
    assert stats.size == len(b"#!/bin/sh\n") + 2  # type: ignore[attr-defined]


def test_diff_id_covers_the_whole_stream_and_compressions(tmp_path: Path) -> None:
    plain = tar_bytes(reg("a", b"hello"), dir_("d"), reg("d/b", b"world" * 1000))
    want = "sha256:" + hashlib.sha256(plain).hexdigest()
    packed = {
        "none": plain,
        "gzip": gzip.compress(plain),
        "bzip2": bz2.compress(plain),
        "xz": lzma.compress(plain),
    }
    try:
        from backports import zstd  # type: ignore[import-not-found,unused-ignore]

        packed["zstd"] = zstd.compress(plain)
    except ImportError:
        pass
    for kind, data in packed.items():
        dest = tmp_path / kind
        dest.mkdir()
        stats = apply(data, dest)
        assert stats.diff_id == want, kind  # type: ignore[attr-defined]
        assert stats.compression == kind  # type: ignore[attr-defined]
        assert (dest / "d" / "b").read_bytes() == b"world" * 1000


def test_apply_whiteouts_hide_lower_layers_only(tmp_path: Path) -> None:
    apply(tar_bytes(reg("etc/doomed"), reg("etc/kept"), reg("opq/old"), dir_("opq/olddir"),
                    reg("opq/olddir/x"), reg("same/x")), tmp_path)
    upper = tar_bytes(
        reg("etc/.wh.doomed"),
        reg("opq/new-before"),
        reg("opq/.wh..wh..opq"),
        reg("opq/new-after"),
        reg("same/x", b"new"),
        reg("same/.wh.x"),  # the same layer made it: the whiteout must not delete it
        reg("same/.wh.y"),  # nothing below: no-op
        reg("gone/.wh.z"),  # parent missing: no-op, nothing created
    )
    apply(upper, tmp_path)
    assert listing(tmp_path) == [
        "etc", "etc/kept", "opq", "opq/new-after", "opq/new-before", "same", "same/x",
    ]
    assert (tmp_path / "same" / "x").read_bytes() == b"new"


def test_apply_opaque_keeps_this_layers_subtrees(tmp_path: Path) -> None:
    apply(tar_bytes(reg("a/b/old"), reg("a/c")), tmp_path)
    apply(tar_bytes(reg("a/b/new"), reg("a/.wh..wh..opq")), tmp_path)
    assert listing(tmp_path) == ["a", "a/b", "a/b/new"]


def test_apply_whiteout_removes_directories(tmp_path: Path) -> None:
    apply(tar_bytes(reg("d/x/y"), sym("l", "d")), tmp_path)
    apply(tar_bytes(reg(".wh.d"), reg(".wh.l")), tmp_path)
    assert listing(tmp_path) == []


def test_overlay_whiteouts(tmp_path: Path) -> None:
    data = tar_bytes(reg("etc/.wh.doomed"), reg("opq/.wh..wh..opq"), reg("opq/new"), reg("same/x"),
                     reg("same/.wh.x"))
    apply(data, tmp_path, mode="overlay")
    doomed = (tmp_path / "etc" / "doomed").lstat()
    assert stat.S_ISCHR(doomed.st_mode)
    assert os.major(doomed.st_rdev) == 0
    assert os.minor(doomed.st_rdev) == 0
    assert os.getxattr(tmp_path / "opq", opaque_xattr()) == b"y"
    assert (tmp_path / "opq" / "new").is_file()
    assert (tmp_path / "same" / "x").is_file(), "a whiteout never hides its own layer's file"


def test_entry_replaces_a_whiteout_of_the_same_layer(tmp_path: Path) -> None:
    apply(tar_bytes(reg(".wh.x"), reg("x", b"back")), tmp_path, mode="overlay")
    assert (tmp_path / "x").read_bytes() == b"back"


def test_aufs_metadata_is_skipped(tmp_path: Path) -> None:
    stats = apply(tar_bytes(reg(".wh..wh.plnk/123"), reg(".wh..wh.aufs")), tmp_path, mode="overlay")
    assert any("aufs" in w for w in stats.warnings)  # type: ignore[attr-defined]


def test_replacing_entries(tmp_path: Path) -> None:
    apply(tar_bytes(dir_("d"), reg("d/x"), reg("f", b"1"), sym("s", "f")), tmp_path)
    apply(tar_bytes(reg("d", b"file now"), dir_("f"), dir_("s")), tmp_path)
    assert (tmp_path / "d").read_bytes() == b"file now"
    assert (tmp_path / "f").is_dir()
    assert (tmp_path / "s").is_dir()
    assert not (tmp_path / "s").is_symlink()


def test_missing_parents_are_made(tmp_path: Path) -> None:
    apply(tar_bytes(reg("a/b/c/file")), tmp_path)
    assert stat.S_IMODE((tmp_path / "a" / "b").stat().st_mode) == 0o755


def test_xattrs(tmp_path: Path) -> None:
    entry = reg("f", b"x")
    entry.pax = {"SCHILY.xattr.user.note": "kept", "SCHILY.xattr.trusted.overlay.redirect": "/etc",
                 "SCHILY.xattr.user.overlay.opaque": "y"}
    stats = apply(tar_bytes(entry), tmp_path)
    names = os.listxattr(tmp_path / "f")
    assert "trusted.overlay.redirect" not in names
    assert "user.overlay.opaque" not in names
    warnings = " ".join(stats.warnings)  # type: ignore[attr-defined]
    assert "trusted.overlay.redirect not kept" in warnings
    if "user.note" not in names:
        pytest.skip("this filesystem has no user xattrs")
    assert os.getxattr(tmp_path / "f", "user.note") == b"kept"


def test_devices_skipped_when_not_allowed(tmp_path: Path) -> None:
    stats = apply(tar_bytes(chr_("dev/null", 1, 3), blk("dev/sda", 8, 0), reg("ok")), tmp_path, devices=False)
    assert not os.path.lexists(tmp_path / "dev" / "null")
    assert not os.path.lexists(tmp_path / "dev" / "sda")
    assert (tmp_path / "ok").is_file()
    assert any("device node skipped" in w for w in stats.warnings)  # type: ignore[attr-defined]


@pytest.mark.root
def test_devices_created_as_root(tmp_path: Path) -> None:
    apply(tar_bytes(chr_("dev/null", 1, 3, mode=0o666), blk("dev/sda", 8, 0)), tmp_path)
    st = (tmp_path / "dev" / "null").lstat()
    assert stat.S_ISCHR(st.st_mode)
    assert (os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode)) == (1, 3, 0o666)
    assert stat.S_ISBLK((tmp_path / "dev" / "sda").lstat().st_mode)


def test_hardlink_to_missing_target(tmp_path: Path) -> None:
    with pytest.raises(ComposerError, match="does not exist"):
        apply(tar_bytes(hard("h", "nowhere")), tmp_path)


def test_hardlink_resolves_absolute_target_inside(tmp_path: Path) -> None:
    apply(tar_bytes(reg("bin/busybox", b"bb"), hard("bin/sh", "/bin/busybox")), tmp_path)
    assert (tmp_path / "bin" / "sh").stat().st_ino == (tmp_path / "bin" / "busybox").stat().st_ino


def test_dest_must_be_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    (tmp_path / "link").symlink_to(tmp_path)
    for bad in ("file", "link", "missing"):
        with pytest.raises(ComposerError, match="layer directory"):
            apply(tar_bytes(reg("a")), tmp_path / bad)


def test_read_only_directories_still_take_their_children(tmp_path: Path) -> None:
    apply(tar_bytes(dir_("ro", mode=0o555), reg("ro/inside", b"x"), dir_("ro/sub", mode=0o500),
                    reg("ro/sub/deeper")), tmp_path)
    assert (tmp_path / "ro" / "sub" / "deeper").is_file()
    assert stat.S_IMODE((tmp_path / "ro").stat().st_mode) == 0o555
    assert stat.S_IMODE((tmp_path / "ro" / "sub").stat().st_mode) == 0o500
    assert (tmp_path / "ro").stat().st_mtime_ns == MTIME * 10**9
