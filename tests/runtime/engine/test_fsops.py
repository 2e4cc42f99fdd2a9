"""The engine's filesystem operations on plain directories: diff, layer tar, export, and cp's path rules.

The hostile corpus at the end gives cp symlinks to `/`, `..` chains, loops and tars with escaping
entries, with a canary directory next to the rootfs that must stay untouched.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.engine.commit import layer_tar
from composer.runtime.engine.copy import copy_in, copy_out
from composer.runtime.engine.export import export_rootfs
from composer.runtime.engine.fsdiff import Change, changes
from composer.runtime.images.extract import opaque_xattr

root_only = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def write(path: Path, data: str = "x", mode: int = 0o644) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data)
    path.chmod(mode)
    return path


def whiteout(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(0, 0))


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: m for m in tar.getmembers()}


def tar_of(*entries: tuple[tarfile.TarInfo, bytes | None]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    buf.seek(0)
    return buf


def entry(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "", mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info


# -- diff ---------------------------------------------------------------------------------------


def test_changes_added_and_changed(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    write(lower / "etc" / "hosts")
    write(lower / "etc" / "keep")
    write(upper / "etc" / "hosts", "new")
    write(upper / "srv" / "new" / "file")
    assert changes(upper, [lower]) == [
        Change("C", "/etc"),
        Change("C", "/etc/hosts"),
        Change("A", "/srv"),
        Change("A", "/srv/new"),
        Change("A", "/srv/new/file"),
    ]


def test_changes_look_through_every_lower_layer(tmp_path: Path) -> None:
    bottom, top, upper = tmp_path / "l0", tmp_path / "l1", tmp_path / "upper"
    write(bottom / "a" / "deep")
    top.mkdir()
    write(upper / "a" / "deep", "changed")
    assert [str(c) for c in changes(upper, [bottom, top])] == ["C /a", "C /a/deep"]


def test_changes_never_follow_symlinks_in_lower_layers(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "secret")
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    (lower / "lnk").symlink_to(outside)  # absolute link in a layer must not find the host's file
    write(upper / "lnk" / "secret")
    assert changes(upper, [lower]) == [Change("C", "/lnk"), Change("A", "/lnk/secret")]


@root_only
@pytest.mark.root
def test_changes_whiteouts_and_opaque_dirs(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    write(lower / "etc" / "gone")
    write(lower / "var" / "old")
    write(lower / "hidden" / "x")
    whiteout(upper / "etc" / "gone")
    (upper / "var").mkdir()
    os.setxattr(upper / "var", opaque_xattr(), b"y")
    write(upper / "var" / "old")  # lower's var/old is hidden, so this one is new
    whiteout(upper / "hidden")
    assert [str(c) for c in changes(upper, [lower])] == ["C /etc", "D /etc/gone", "D /hidden", "C /var", "A /var/old"]


def test_changes_missing_upper_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ComposerError, match="cannot read"):
        changes(tmp_path / "nope", [])


@root_only
@pytest.mark.root
def test_changes_opaque_dir_in_a_middle_layer_hides_the_layers_below(tmp_path: Path) -> None:
    bottom, middle, upper = tmp_path / "l0", tmp_path / "l1", tmp_path / "upper"
    write(bottom / "a" / "b" / "old")
    (middle / "a" / "b").mkdir(parents=True)
    os.setxattr(middle / "a", opaque_xattr(), b"y")  # l1 replaced /a: l0's /a/b/old is gone from the image
    write(upper / "a" / "b" / "old", "again")
    assert [str(c) for c in changes(upper, [bottom, middle])] == ["C /a", "C /a/b", "A /a/b/old"]


@root_only
@pytest.mark.root
def test_changes_ignore_an_opaque_mark_in_the_other_namespace(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    write(lower / "d" / "keep")
    write(upper / "d" / "new")
    os.setxattr(upper / "d", "user.overlay.opaque", b"y")  # a container can set user.* on its own files
    assert [str(c) for c in changes(upper, [lower])] == ["C /d", "A /d/new"]


def test_changes_leave_out_the_runtime_mount_targets(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    write(lower / "etc" / "passwd")
    (lower / "bin").mkdir()
    (upper / "etc").mkdir(parents=True)
    for name in ("hosts", "hostname", "resolv.conf"):
        (upper / "etc" / name).touch()
    (upper / "proc").mkdir()
    (upper / "dev" / "pts").mkdir(parents=True)
    write(upper / "srv" / "new")
    assert changes(upper, [lower]) == [Change("A", "/srv"), Change("A", "/srv/new")]
    assert len(changes(upper, [lower], ignore=())) == 9
    write(upper / "etc" / "hosts", "127.0.0.1 written\n")  # content is the container's own change
    assert changes(upper, [lower])[:2] == [Change("C", "/etc"), Change("A", "/etc/hosts")]


def test_changes_report_a_directory_by_its_own_metadata(tmp_path: Path) -> None:
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    (lower / "same").mkdir(parents=True)
    (lower / "mod").mkdir()
    (upper / "same").mkdir(parents=True)
    (upper / "mod").mkdir()
    for d in ("same", "mod"):
        os.utime(lower / d, ns=(10**18, 10**18))
        os.utime(upper / d, ns=(10**18, 10**18))
    (upper / "mod").chmod(0o700)
    assert changes(upper, [lower]) == [Change("C", "/mod")]  # copied up unchanged: not a change, as in Docker
    os.utime(upper / "same", ns=(2 * 10**18, 2 * 10**18))
    assert changes(upper, [lower]) == [Change("C", "/mod"), Change("C", "/same")]


# -- layer tar and export ---------------------------------------------------------------------------


@root_only
@pytest.mark.root
def test_layer_tar_translates_overlay_markers(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    write(upper / "etc" / "app.conf", "conf", 0o640)
    os.chown(upper / "etc" / "app.conf", 1000, 1001)
    whiteout(upper / "etc" / "gone")
    (upper / "var").mkdir()
    os.setxattr(upper / "var", opaque_xattr(), b"y")
    os.link(upper / "etc" / "app.conf", upper / "etc" / "hard")
    os.setxattr(upper / "etc" / "app.conf", "user.note", b"hi")
    (upper / "lnk").symlink_to("/etc/app.conf")
    buf = io.BytesIO()
    layer_tar(upper, buf)
    got = members(buf.getvalue())
    assert set(got) == {"etc", "etc/app.conf", "etc/.wh.gone", "etc/hard", "var", "var/.wh..wh..opq", "lnk"}
    conf = got["etc/app.conf"]
    assert (conf.uid, conf.gid, conf.mode) == (1000, 1001, 0o640)
    assert conf.pax_headers.get("SCHILY.xattr.user.note") == "hi"
    assert got["etc/hard"].islnk()
    assert got["etc/hard"].linkname == "etc/app.conf"
    assert got["lnk"].issym()
    assert got["lnk"].linkname == "/etc/app.conf"
    assert not any("overlay" in k for m in got.values() for k in m.pax_headers)


def test_layer_tar_leaves_out_placeholders_but_export_keeps_them(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    (upper / "etc").mkdir(parents=True)
    (upper / "etc" / "hosts").touch()
    write(upper / "etc" / "hostname", "custom\n")
    (upper / "proc").mkdir()
    buf = io.BytesIO()
    layer_tar(upper, buf)
    assert set(members(buf.getvalue())) == {"etc", "etc/hostname"}
    buf = io.BytesIO()
    export_rootfs(upper, buf)
    assert set(members(buf.getvalue())) == {"etc", "etc/hosts", "etc/hostname", "proc"}


@root_only
@pytest.mark.root
def test_layer_tar_refuses_metacopy_entries(tmp_path: Path) -> None:
    upper = tmp_path / "upper"
    write(upper / "bin" / "tool", "")
    os.setxattr(upper / "bin" / "tool", "trusted.overlay.metacopy", b"")
    with pytest.raises(ComposerError, match="cannot commit /bin/tool"):
        layer_tar(upper, io.BytesIO())


def test_export_keeps_links_and_skips_sockets(tmp_path: Path) -> None:
    import socket

    rootfs = tmp_path / "rootfs"
    write(rootfs / "etc" / "passwd", "root:x:0:0\n")
    (rootfs / "etc" / "mtab").symlink_to("/proc/self/mounts")
    os.mkfifo(rootfs / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    try:
        sock.bind(str(rootfs / "sock"))
        buf = io.BytesIO()
        export_rootfs(rootfs, buf)
    finally:
        sock.close()
    got = members(buf.getvalue())
    assert set(got) == {"etc", "etc/passwd", "etc/mtab", "fifo"}
    assert got["etc/mtab"].linkname == "/proc/self/mounts"
    assert got["fifo"].isfifo()


@root_only
@pytest.mark.root
def test_export_keeps_devices_and_owners(tmp_path: Path) -> None:
    rootfs = tmp_path / "rootfs"
    (rootfs / "dev").mkdir(parents=True)
    os.mknod(rootfs / "dev" / "null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    write(rootfs / "home" / "app" / "f")
    os.chown(rootfs / "home" / "app" / "f", 1000, 1000)
    buf = io.BytesIO()
    export_rootfs(rootfs, buf)
    got = members(buf.getvalue())
    assert got["dev/null"].ischr()
    assert (got["dev/null"].devmajor, got["dev/null"].devminor) == (1, 3)
    assert got["home/app/f"].uid == 1000


# -- cp path rules --------------------------------------------------------------------------------


@pytest.fixture
def rootfs(tmp_path: Path) -> Path:
    root = tmp_path / "rootfs"
    write(root / "etc" / "hostname", "ctr\n")
    write(root / "srv" / "data" / "a.txt", "a")
    write(root / "srv" / "data" / "sub" / "b.txt", "b")
    (root / "tmp").mkdir()
    return root


def test_copy_out_file_to_new_name(rootfs: Path, tmp_path: Path) -> None:
    copy_out(rootfs, "/etc/hostname", tmp_path / "out.txt")
    assert (tmp_path / "out.txt").read_text() == "ctr\n"


def test_copy_out_into_existing_dir_and_contents(rootfs: Path, tmp_path: Path) -> None:
    dest = tmp_path / "host"
    dest.mkdir()
    copy_out(rootfs, "/srv/data", dest)
    assert (dest / "data" / "sub" / "b.txt").read_text() == "b"
    copy_out(rootfs, "/srv/data/.", str(dest))
    assert (dest / "a.txt").read_text() == "a"
    copy_out(rootfs, "/srv/data", str(tmp_path / "fresh"))
    assert (tmp_path / "fresh" / "sub" / "b.txt").read_text() == "b"


def test_copy_out_errors(rootfs: Path, tmp_path: Path) -> None:
    with pytest.raises(ComposerError, match="no such file or directory in the container: /nope"):
        copy_out(rootfs, "/nope", tmp_path / "x")
    with pytest.raises(ComposerError, match="destination directory does not exist"):
        copy_out(rootfs, "/etc/hostname", str(tmp_path / "missing") + "/")
    write(tmp_path / "file")
    with pytest.raises(ComposerError, match="cannot copy a directory to a file"):
        copy_out(rootfs, "/srv/data", tmp_path / "file")
    with pytest.raises(ComposerError, match="not a directory in the container"):
        copy_out(rootfs, "/etc/hostname/", tmp_path / "y")


def test_copy_out_stream_and_follow_link(rootfs: Path) -> None:
    (rootfs / "link").symlink_to("/etc/hostname")
    buf = io.BytesIO()
    copy_out(rootfs, "/link", buf)
    got = members(buf.getvalue())
    assert list(got) == ["link"]
    assert got["link"].issym()
    buf = io.BytesIO()
    copy_out(rootfs, "/link", buf, follow_link=True)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        member = tar.getmember("link")
        assert member.isreg()
        f = tar.extractfile(member)
        assert f is not None
        assert f.read() == b"ctr\n"


def test_copy_in_file_and_dir_rules(rootfs: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "host" / "conf.ini", "k=v")
    write(tmp_path / "host" / "tree" / "t.txt", "t")
    copy_in(rootfs, src, "/etc")
    assert (rootfs / "etc" / "conf.ini").read_text() == "k=v"
    copy_in(rootfs, src, "/etc/hostname")
    assert (rootfs / "etc" / "hostname").read_text() == "k=v"
    copy_in(rootfs, tmp_path / "host" / "tree", "/opt")
    assert (rootfs / "opt" / "t.txt").read_text() == "t"
    copy_in(rootfs, str(tmp_path / "host" / "tree") + "/.", "/srv")
    assert (rootfs / "srv" / "t.txt").read_text() == "t"
    with pytest.raises(ComposerError, match="destination directory does not exist in the container"):
        copy_in(rootfs, src, "/newdir/")
    with pytest.raises(ComposerError, match="cannot copy a directory to a file"):
        copy_in(rootfs, tmp_path / "host" / "tree", "/etc/hostname")
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        copy_in(rootfs, src, "/missing/parent/x")
    with pytest.raises(ComposerError, match="no such file or directory: "):
        copy_in(rootfs, tmp_path / "nope", "/tmp")


def test_copy_in_follow_link_is_for_the_source_only(rootfs: Path, tmp_path: Path) -> None:
    target = write(tmp_path / "real.txt", "real")
    (tmp_path / "ln").symlink_to(target)
    copy_in(rootfs, tmp_path / "ln", "/tmp")
    assert (rootfs / "tmp" / "ln").is_symlink()
    copy_in(rootfs, tmp_path / "ln", "/srv", follow_link=True)
    assert (rootfs / "srv" / "ln").read_text() == "real"
    assert not (rootfs / "srv" / "ln").is_symlink()


@root_only
@pytest.mark.root
def test_copy_in_owners_root_unless_archive(rootfs: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "owned.txt")
    os.chown(src, 1234, 4321)
    copy_in(rootfs, src, "/tmp")
    st = (rootfs / "tmp" / "owned.txt").stat()
    assert (st.st_uid, st.st_gid) == (0, 0)
    copy_in(rootfs, src, "/srv", archive=True)
    st = (rootfs / "srv" / "owned.txt").stat()
    assert (st.st_uid, st.st_gid) == (1234, 4321)
    info = entry("streamed.txt")
    info.uid, info.gid = 55, 66
    copy_in(rootfs, tar_of((info, b"s")), "/tmp")
    assert (rootfs / "tmp" / "streamed.txt").stat().st_uid == 0


def test_copy_in_stream_needs_a_directory(rootfs: Path) -> None:
    copy_in(rootfs, tar_of((entry("d", tarfile.DIRTYPE, mode=0o755), None), (entry("d/f"), b"f")), "/tmp")
    assert (rootfs / "tmp" / "d" / "f").read_text() == "f"
    with pytest.raises(ComposerError, match="must be a directory"):
        copy_in(rootfs, tar_of((entry("f"), b"f")), "/etc/hostname")


def test_copy_keeps_whiteout_names_as_plain_files(rootfs: Path, tmp_path: Path) -> None:
    write(rootfs / "tmp" / "victim", "keep")
    copy_in(rootfs, tar_of((entry(".wh.victim"), b"w")), "/tmp")
    assert (rootfs / "tmp" / "victim").read_text() == "keep"
    assert (rootfs / "tmp" / ".wh.victim").read_text() == "w"


# -- hostile paths ----------------------------------------------------------------------------------


@pytest.fixture
def canary(tmp_path: Path) -> Path:
    """A host directory beside the rootfs; nothing a cp does may read or change it."""
    host = tmp_path / "host-canary"
    write(host / "secret", "host secret")
    return host


def snapshot(top: Path) -> dict[str, str]:
    return {str(p.relative_to(top)): p.read_text() if p.is_file() else "" for p in sorted(top.rglob("*"))}


def out_text(rootfs: Path, src: str, *, follow: bool = True) -> str:
    buf = io.BytesIO()
    copy_out(rootfs, src, buf, follow_link=follow)
    with tarfile.open(fileobj=io.BytesIO(buf.getvalue())) as tar:
        for member in tar:
            if member.isreg():
                f = tar.extractfile(member)
                assert f is not None
                return f.read().decode()
    return ""


def test_hostile_symlink_to_slash_reads_the_rootfs(rootfs: Path, canary: Path) -> None:
    (rootfs / "lnk").symlink_to("/")
    assert out_text(rootfs, "/lnk/etc/hostname") == "ctr\n"


def test_hostile_dotdot_symlink_stays_inside(rootfs: Path, canary: Path) -> None:
    (rootfs / "up").symlink_to("../../../../../../..")
    (rootfs / "rel").symlink_to(f"../../../../..{canary}/secret")
    assert out_text(rootfs, "/up/etc/hostname") == "ctr\n"
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        out_text(rootfs, "/rel")
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        out_text(rootfs, f"/../../../..{canary}/secret")


def test_hostile_absolute_symlink_chain(rootfs: Path, canary: Path) -> None:
    (rootfs / "a").symlink_to("/b")
    (rootfs / "b").symlink_to("/srv/data/../../../../etc")
    (rootfs / "c").symlink_to(str(canary))  # host path, resolved in the rootfs: absent there
    assert out_text(rootfs, "/a/hostname") == "ctr\n"
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        out_text(rootfs, "/c/secret")


def test_hostile_symlink_loop(rootfs: Path, canary: Path) -> None:
    (rootfs / "x").symlink_to("/y")
    (rootfs / "y").symlink_to("x")
    with pytest.raises(ComposerError, match="too many levels of symbolic links"):
        out_text(rootfs, "/x")
    with pytest.raises(ComposerError, match="too many levels of symbolic links"):
        copy_in(rootfs, tar_of((entry("f"), b"f")), "/x")


def test_hostile_dest_through_symlinked_parent(rootfs: Path, canary: Path, tmp_path: Path) -> None:
    before = snapshot(canary)
    (rootfs / "out").symlink_to(str(canary))
    (rootfs / "rel").symlink_to(f"../../../../..{canary}")
    src = write(tmp_path / "payload", "pwned")
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        copy_in(rootfs, src, "/out/secret")
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        copy_in(rootfs, src, "/rel/secret")
    (rootfs / canary.relative_to("/")).mkdir(parents=True)
    copy_in(rootfs, src, "/out/secret")  # now the link's target exists inside the rootfs
    assert (rootfs / canary.relative_to("/") / "secret").read_text() == "pwned"
    assert snapshot(canary) == before


def test_hostile_dest_is_a_dangling_absolute_symlink(rootfs: Path, canary: Path, tmp_path: Path) -> None:
    before = snapshot(canary)
    (rootfs / "tmp" / "drop").symlink_to(str(canary / "new"))
    src = write(tmp_path / "payload", "pwned")
    with pytest.raises(ComposerError):
        copy_in(rootfs, src, "/tmp/drop")
    assert snapshot(canary) == before
    assert not (canary / "new").exists()


def test_hostile_tar_with_dotdot_is_refused(rootfs: Path, canary: Path, tmp_path: Path) -> None:
    with pytest.raises(ComposerError, match=r"'\.\.'"):
        copy_in(rootfs, tar_of((entry("../../evil"), b"e")), "/tmp")
    assert not (tmp_path / "evil").exists()
    assert not (rootfs / "evil").exists()


def test_hostile_tar_absolute_entry_lands_under_dest(rootfs: Path, canary: Path) -> None:
    before = snapshot(canary)
    copy_in(rootfs, tar_of((entry(f"{canary}/secret"), b"pwned")), "/tmp")
    assert (rootfs / "tmp" / canary.relative_to("/") / "secret").read_text() == "pwned"
    assert snapshot(canary) == before


def test_hostile_tar_symlink_then_write_through_it(rootfs: Path, canary: Path) -> None:
    before = snapshot(canary)
    copy_in(rootfs, tar_of((entry("esc", tarfile.SYMTYPE, str(canary)), None), (entry("esc/secret"), b"pwned"),
                           (entry("up", tarfile.SYMTYPE, "../../../../../.."), None), (entry("up/top"), b"t")),
            "/tmp")
    assert (rootfs / canary.relative_to("/") / "secret").read_text() == "pwned"
    assert (rootfs / "top").read_text() == "t"
    assert snapshot(canary) == before


def test_hostile_tar_hardlinks(rootfs: Path, canary: Path, tmp_path: Path) -> None:
    links = (canary / "secret").stat().st_nlink
    with pytest.raises(ComposerError):
        copy_in(rootfs, tar_of((entry("h", tarfile.LNKTYPE, "../../host-canary/secret"), None)), "/tmp")
    with pytest.raises(ComposerError, match="does not exist"):
        copy_in(rootfs, tar_of((entry("h", tarfile.LNKTYPE, f"{canary}/secret"), None)), "/tmp")
    assert (canary / "secret").stat().st_nlink == links


def test_hostile_copy_out_tree_with_links_does_not_write_through_them(rootfs: Path, canary: Path,
                                                                      tmp_path: Path) -> None:
    before = snapshot(canary)
    (rootfs / "srv" / "data" / "esc").symlink_to(str(canary))
    (rootfs / "srv" / "data" / "up").symlink_to("../../../../..")
    dest = tmp_path / "out"
    dest.mkdir()
    copy_out(rootfs, "/srv/data", dest)
    assert (dest / "data" / "esc").is_symlink()
    assert os.readlink(dest / "data" / "esc") == str(canary)
    assert (dest / "data" / "up").is_symlink()
    assert snapshot(canary) == before


def test_hostile_copy_out_of_dir_symlink_without_follow(rootfs: Path, canary: Path, tmp_path: Path) -> None:
    (rootfs / "lnk").symlink_to(str(canary))
    dest = tmp_path / "o2"
    dest.mkdir()
    copy_out(rootfs, "/lnk", dest)
    assert (dest / "lnk").is_symlink()
    with pytest.raises(ComposerError, match="no such file or directory in the container"):
        copy_out(rootfs, "/lnk/.", dest)  # `/.` follows the link, inside the rootfs: nothing there


def test_copy_out_dir_to_missing_dest_with_slash_creates_it(rootfs: Path, tmp_path: Path) -> None:
    copy_out(rootfs, "/srv/data", str(tmp_path / "made") + "/")
    assert (tmp_path / "made" / "a.txt").read_text() == "a"


def test_copy_out_whole_rootfs_as_stream(rootfs: Path) -> None:
    buf = io.BytesIO()
    copy_out(rootfs, "/", buf)
    assert {"etc", "etc/hostname", "srv/data/sub/b.txt", "tmp"} <= set(members(buf.getvalue()))


def test_copy_out_drops_setuid_on_the_host(rootfs: Path, tmp_path: Path) -> None:
    write(rootfs / "bin" / "su", "#!", 0o4755)
    (rootfs / "bin" / "su").chmod(0o4755)
    copy_out(rootfs, "/bin/su", tmp_path / "su")
    assert stat.S_IMODE((tmp_path / "su").stat().st_mode) == 0o755
    buf = io.BytesIO()
    copy_out(rootfs, "/bin/su", buf)
    assert members(buf.getvalue())["su"].mode == 0o4755


def test_copy_out_conflict_stops_the_stream_without_hanging(rootfs: Path, tmp_path: Path) -> None:
    (rootfs / "srv" / "data" / "big").write_bytes(b"z" * (4 << 20))
    dest = tmp_path / "host"
    (dest / "data" / "a.txt").mkdir(parents=True)  # a directory where the copy has a file
    with pytest.raises(ComposerError, match="cannot overwrite a directory with a non-directory"):
        copy_out(rootfs, "/srv/data", dest)
    assert (dest / "data" / "a.txt").is_dir()


def test_copy_in_keeps_hardlinks(rootfs: Path, tmp_path: Path) -> None:
    src = write(tmp_path / "tree" / "one", "1")
    os.link(src, tmp_path / "tree" / "two")
    copy_in(rootfs, tmp_path / "tree", "/srv")
    one, two = (rootfs / "srv" / "tree" / "one").stat(), (rootfs / "srv" / "tree" / "two").stat()
    assert (one.st_ino, one.st_nlink) == (two.st_ino, 2)


def test_copy_out_dir_to_missing_dest_ending_in_dot(rootfs: Path, tmp_path: Path) -> None:
    copy_out(rootfs, "/srv/data/.", str(tmp_path / "dotted") + "/.")
    assert (tmp_path / "dotted" / "sub" / "b.txt").read_text() == "b"


def test_hostile_follow_link_on_a_source_pointing_at_the_host(rootfs: Path, canary: Path) -> None:
    (rootfs / "tmp" / "leak").symlink_to(str(canary / "secret"))
    (rootfs / "tmp" / "leak2").symlink_to("../../../../../../.." + str(canary / "secret"))
    for src in ("/tmp/leak", "/tmp/leak2"):
        with pytest.raises(ComposerError, match="no such file or directory in the container"):
            out_text(rootfs, src, follow=True)
    buf = io.BytesIO()
    copy_out(rootfs, "/tmp/leak", buf)  # without -L the link itself is copied, never its target
    assert members(buf.getvalue())["leak"].linkname == str(canary / "secret")


@root_only
@pytest.mark.root
def test_hostile_special_files_are_never_read(rootfs: Path, tmp_path: Path) -> None:
    os.mkfifo(rootfs / "tmp" / "pipe")  # reading it would block forever
    os.mknod(rootfs / "tmp" / "zero", stat.S_IFCHR | 0o666, os.makedev(1, 5))  # reading it would never end
    buf = io.BytesIO()
    copy_out(rootfs, "/tmp", buf)
    got = members(buf.getvalue())
    assert got["tmp/pipe"].isfifo()
    assert got["tmp/zero"].ischr()
    dest = tmp_path / "host-out"
    dest.mkdir()
    copy_out(rootfs, "/tmp/zero", dest)
    assert not (dest / "zero").exists()  # device nodes are not made on the host
