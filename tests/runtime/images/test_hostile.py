"""A corpus of hostile layer tars: nothing may be written, linked, chmod'ed, chown'ed or deleted
outside the layer directory.

Each case runs against a fresh arena: `work/layer` is the target, `work/victim` (a file, a
directory, a symlink) and `work/layer-evil` (a sibling whose name shares the target's prefix) are
sentinels. The whole of `work` outside `layer` is snapshotted (type, mode, owner, size, mtime, link
count, content) before and compared after. A case either refuses the layer with a ComposerError
or confines it; confined cases also say where the write really landed. `{V}` in a name stands for
the victim's absolute path. Sources of the vectors: go-archive's untar tests, CVE-2014-9356,
CVE-2018-15664, `reference/security-and-reliability.md` 2.C.
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.images.extract import extract_layer

from .tars import Entry, chr_, dir_, hard, reg, sym, tar_bytes

Snapshot = dict[str, tuple[object, ...]]


def snapshot(top: Path, skip: Path) -> Snapshot:
    out: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(top):
        here = Path(dirpath)
        if here == skip:
            dirnames.clear()
            continue
        for name in [".", *dirnames, *filenames]:
            path = here / name if name != "." else here
            if path == skip:
                continue
            st = path.lstat()
            if stat.S_ISREG(st.st_mode):
                extra: object = hashlib.sha256(path.read_bytes()).hexdigest()
            elif stat.S_ISLNK(st.st_mode):
                extra = os.readlink(path)
            else:
                extra = None
            out[str(path.relative_to(top))] = (st.st_mode, st.st_uid, st.st_gid, st.st_size, st.st_mtime_ns,
                                              st.st_nlink, st.st_ino, extra)
    return out


@dataclass
class Arena:
    work: Path
    layer: Path
    victim: Path

    def inside(self, *parts: str) -> Path:
        """Where an absolute or `..`-clamped path lands when confined to the layer."""
        return self.layer.joinpath(*(p.lstrip("/") for p in parts))


@pytest.fixture
def arena(tmp_path: Path) -> Arena:
    work = tmp_path / "work"
    layer = work / "layer"
    victim = work / "victim"
    layer.mkdir(parents=True)
    victim.mkdir()
    (victim / "hello").write_bytes(b"keep me")
    (victim / "hello").chmod(0o644)
    (victim / "sub").mkdir()
    (victim / "link").symlink_to("hello")
    (work / "layer-evil").mkdir()
    (work / "layer-evil" / "x").write_bytes(b"sibling")
    return Arena(work, layer, victim)


Make = Callable[[str], list[Entry]]


@dataclass
class Case:
    id: str
    entries: Make
    outcome: str  # "refuse" or "confine"
    mode: str = "overlay"
    lower: Make | None = None
    check: Callable[[Arena], None] | None = None
    fragment: str = ""


def _pwned(where: Callable[[Arena], Path]) -> Callable[[Arena], None]:
    def check(a: Arena) -> None:
        assert where(a).read_bytes() == b"pwned"

    return check


def _is_symlink(rel: str) -> Callable[[Arena], None]:
    def check(a: Arena) -> None:
        assert (a.layer / rel).is_symlink()

    return check


def _absent(rel: str) -> Callable[[Arena], None]:
    def check(a: Arena) -> None:
        assert not os.path.lexists(a.layer / rel)

    return check


def _etc_untouched(a: Arena) -> None:
    assert not os.path.lexists("/etc/composer-hostile-test")
    assert (a.layer / "etc" / "composer-hostile-test").read_bytes() == b"pwned"


CASES = [
    # -- names with `..` or absolute paths
    Case("dotdot-file", lambda v: [reg("../victim/hello", b"pwned")], "refuse", fragment="'..'"),
    Case("dotdot-deep", lambda v: [reg("../../../../../../../../tmp/composer-pwned")], "refuse"),
    Case("dotdot-middle", lambda v: [reg("a/../../victim/hello", b"pwned")], "refuse"),
    Case("dot-slash-dotdot", lambda v: [reg("./../victim/new")], "refuse"),
    Case("dotdot-dir", lambda v: [dir_("../victim/sub", mode=0o777)], "refuse"),
    Case("dotdot-sibling-prefix", lambda v: [reg("../layer-evil/x", b"pwned")], "refuse"),
    Case("bare-dotdot", lambda v: [dir_("..", mode=0o777)], "refuse"),
    Case("absolute-name", lambda v: [reg(f"{v}/hello", b"pwned")], "confine",
         check=_pwned(lambda a: a.inside(str(a.victim), "hello"))),
    Case("absolute-etc", lambda v: [reg("/etc/composer-hostile-test", b"pwned")], "confine",
         check=_etc_untouched),
    Case("pax-path-dotdot", lambda v: [Entry("innocent", data=b"pwned", pax={"path": "../victim/hello"})],
         "refuse"),
    Case("gnu-longname-dotdot", lambda v: [reg("a/" * 60 + "../" * 61 + "victim/hello", b"pwned")], "refuse"),
    # -- symlinks pointing out, then written through
    Case("symlink-relative-out", lambda v: [sym("loophole", "../victim"), reg("loophole/hello", b"pwned")],
         "confine", check=_pwned(lambda a: a.inside("victim", "hello"))),
    Case("symlink-absolute-out", lambda v: [sym("loophole", v), reg("loophole/hello", b"pwned")],
         "confine", check=_pwned(lambda a: a.inside(str(a.victim), "hello"))),
    Case("symlink-two-hop", lambda v: [sym("go_up", ".."), sym("go_up/escape", "../victim"),
                                       reg("escape/hello", b"pwned")],
         "confine", check=_pwned(lambda a: a.inside("victim", "hello"))),
    Case("symlink-sibling-prefix", lambda v: [sym("s", "../layer-evil"), reg("s/x", b"pwned")],
         "confine", check=_pwned(lambda a: a.inside("layer-evil", "x"))),
    Case("symlink-many-dotdots",
         lambda v: [dir_("b"), sym("a", "b/../../../../../.."), reg("a/tmp/x", b"pwned")], "confine",
         check=_pwned(lambda a: a.inside("tmp", "x"))),
    Case("symlink-into-symlink-dir", lambda v: [sym("a", "/b"), sym("b", v), dir_("a/sub", mode=0o700)],
         "confine", check=lambda a: a.inside(str(a.victim), "sub").is_dir()),
    Case("symlink-loop", lambda v: [sym("a", "b"), sym("b", "a"), reg("a/x")], "refuse",
         fragment="symbolic links"),
    Case("symlink-replaced-by-file", lambda v: [sym("s", f"{v}/hello"), reg("s", b"pwned")], "confine",
         check=_pwned(lambda a: a.layer / "s")),
    Case("file-as-parent", lambda v: [reg("f"), reg("f/x")], "refuse", fragment="not a directory"),
    # -- a symlink swapped in for a directory before a later entry writes through it
    Case("swap-dir-for-absolute-symlink", lambda v: [dir_("d"), reg("d/ok"), sym("d", v),
                                                     reg("d/hello", b"pwned")],
         "confine", check=_pwned(lambda a: a.inside(str(a.victim), "hello"))),
    Case("swap-dir-for-relative-symlink",
         lambda v: [dir_("d"), sym("d", "../victim"), reg("d/hello", b"pwned")], "confine",
         check=_pwned(lambda a: a.inside("victim", "hello"))),
    Case("lower-symlink-written-through", lambda v: [reg("lib/evil.so", b"pwned")], "confine", mode="apply",
         lower=lambda v: [sym("lib", v)], check=_pwned(lambda a: a.inside(str(a.victim), "evil.so"))),
    Case("dir-over-lower-symlink", lambda v: [dir_("etc"), reg("etc/passwd", b"pwned")], "confine",
         mode="apply", lower=lambda v: [sym("etc", v)], check=_pwned(lambda a: a.layer / "etc" / "passwd")),
    # -- hardlinks pointing out
    Case("hardlink-dotdot", lambda v: [hard("h", "../victim/hello")], "refuse"),
    Case("hardlink-absolute-outside", lambda v: [hard("h", f"{v}/hello")], "refuse",
         fragment="does not exist"),
    Case("hardlink-through-symlink", lambda v: [sym("lnk", v), hard("h", "lnk/hello")], "refuse"),
    Case("hardlink-through-relative-symlink", lambda v: [sym("lnk", "../victim"), hard("h", "lnk/hello")],
         "refuse"),
    Case("hardlink-pax-linkpath", lambda v: [reg("x"), Entry("h", tarfile.LNKTYPE, linkname="x",
                                                             pax={"linkpath": "../victim/hello"})], "refuse"),
    Case("hardlink-to-directory", lambda v: [dir_("d"), hard("h", "d")], "refuse", fragment="directory"),
    Case("hardlink-to-symlink-out", lambda v: [sym("s", f"{v}/hello"), hard("h", "s")], "confine",
         check=_is_symlink("h")),
    Case("write-through-hardlinked-symlink",
         lambda v: [sym("s", v), hard("h", "s"), reg("h/hello", b"pwned")], "confine",
         check=_pwned(lambda a: a.inside(str(a.victim), "hello"))),
    # -- chmod / chown / mtime through symlinks
    Case("chmod-dir-over-symlink", lambda v: [sym("s", v), dir_("s", mode=0o777)], "confine",
         check=lambda a: (a.layer / "s").is_dir() and not (a.layer / "s").is_symlink()),
    Case("chown-symlink-again",
         lambda v: [sym("s", f"{v}/hello"), sym("s", f"{v}/hello", uid=1234, gid=1234)], "confine",
         check=_is_symlink("s")),
    Case("chmod-file-over-symlink", lambda v: [sym("s", f"{v}/hello"), reg("s", b"pwned", mode=0o4777)],
         "confine", check=_pwned(lambda a: a.layer / "s")),
    # -- whiteouts that try to delete outside
    Case("whiteout-dot", lambda v: [reg(".wh..")], "refuse", fragment="invalid whiteout"),
    Case("whiteout-dotdot", lambda v: [reg("a/.wh...")], "refuse", fragment="invalid whiteout"),
    Case("whiteout-empty", lambda v: [reg(".wh.")], "refuse", fragment="invalid whiteout"),
    Case("whiteout-dotdot-parent", lambda v: [reg("../.wh.victim")], "refuse"),
    Case("whiteout-absolute", lambda v: [reg(f"{v}/.wh.hello")], "confine", mode="apply"),
    Case("whiteout-through-symlink", lambda v: [sym("lnk", v), reg("lnk/.wh.hello")], "confine", mode="apply",
         lower=lambda v: [reg("inside/hello")], check=lambda a: (a.layer / "inside" / "hello").is_file()),
    Case("whiteout-through-dotdot-symlink", lambda v: [sym("up", ".."), reg("up/.wh.victim")], "confine",
         mode="apply", lower=lambda v: [reg("victim/hello")], check=_absent("victim")),
    Case("whiteout-through-symlink-overlay", lambda v: [sym("up", "../.."), reg("up/victim/.wh.hello")],
         "confine", check=lambda a: (a.layer / "victim" / "hello").is_char_device()),
    Case("opaque-through-symlink", lambda v: [sym("up", "../.."), reg("up/.wh..wh..opq")], "confine",
         mode="apply", lower=lambda v: [reg("keep/file")], check=_absent("keep")),
    # -- devices
    Case("device-major-out-of-range", lambda v: [chr_("dev/x", 1 << 12, 0)], "refuse",
         fragment="out of range"),
    Case("device-minor-out-of-range", lambda v: [chr_("dev/x", 1, 1 << 20)], "refuse",
         fragment="out of range"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_hostile_layer(case: Case, arena: Arena) -> None:
    victim = str(arena.victim)
    if case.lower is not None:
        extract_layer(io.BytesIO(tar_bytes(*case.lower(victim))), arena.layer, mode="apply")
    before = snapshot(arena.work, arena.layer)
    fmt = tarfile.GNU_FORMAT if "gnu" in case.id else tarfile.PAX_FORMAT
    data = tar_bytes(*case.entries(victim), fmt=fmt)
    mode = "apply" if case.mode == "apply" else "overlay"
    if case.outcome == "refuse":
        with pytest.raises(ComposerError) as info:
            extract_layer(io.BytesIO(data), arena.layer, mode=mode)
        assert case.fragment in info.value.message
        assert "\n" not in info.value.message
    else:
        extract_layer(io.BytesIO(data), arena.layer, mode=mode)
    assert snapshot(arena.work, arena.layer) == before, "something outside the layer changed"
    outside = {(arena.layer.stat().st_dev, info[6]) for info in before.values()}
    for path in arena.layer.rglob("*"):
        st = path.lstat()
        assert (st.st_dev, st.st_ino) not in outside, f"{path} shares an inode with the outside"
    if case.check is not None:
        case.check(arena)


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 20
    assert {c.outcome for c in CASES} == {"refuse", "confine"}


def test_no_inode_is_shared_with_the_outside(arena: Arena) -> None:
    """After every confined hardlink case, no inode in the layer is one from outside it."""
    victim = str(arena.victim)
    outside = {(p.lstat().st_dev, p.lstat().st_ino) for p in arena.work.rglob("*")
               if arena.layer not in p.parents and p != arena.layer}
    for case in CASES:
        if case.outcome != "confine" or case.mode != "overlay":
            continue
        target = arena.work / f"layer-{case.id}"
        target.mkdir()
        extract_layer(io.BytesIO(tar_bytes(*case.entries(victim))), target)
        for path in target.rglob("*"):
            st = path.lstat()
            assert (st.st_dev, st.st_ino) not in outside, f"{case.id}: {path} shares an outside inode"


def test_decompression_bomb_is_capped(arena: Arena) -> None:
    import gzip

    bomb = gzip.compress(tar_bytes(reg("zeros", b"\0" * (4 << 20))))
    assert len(bomb) < 64 << 10
    with pytest.raises(ComposerError, match="larger than the limit"):
        extract_layer(io.BytesIO(bomb), arena.layer, max_bytes=1 << 20)


def test_entry_count_is_capped(arena: Arena) -> None:
    data = tar_bytes(*(reg(f"f{i}") for i in range(20)))
    with pytest.raises(ComposerError, match="more than 10 entries"):
        extract_layer(io.BytesIO(data), arena.layer, max_entries=10)


@pytest.mark.parametrize(
    "data",
    [b"not a tar at all" * 100, tar_bytes(reg("big", b"y" * 5000))[:2048], b"\x1f\x8b\x08\x00garbage"],
    ids=["junk", "truncated", "bad-gzip"],
)
def test_corrupt_input_is_a_clear_error(arena: Arena, data: bytes) -> None:
    with pytest.raises(ComposerError, match="corrupt layer"):
        extract_layer(io.BytesIO(data), arena.layer)
