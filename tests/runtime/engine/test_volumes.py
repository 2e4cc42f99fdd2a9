"""Volumes of the native engine: the store on plain directories, then as root with real containers."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError
from composer.runtime.engine import records
from composer.runtime.engine.engine import CreateRequest
from composer.runtime.engine.records import ContainerRecord
from composer.runtime.engine.volumes import (
    ANONYMOUS_LABEL,
    VolumeStore,
    copy_up,
    is_anonymous_name,
    resolve_subpath,
    tmpfs_options,
)
from tests.cli.harness import Result, run_cli
from tests.runtime.engine.enginefix import APP, BASE, EngineEnv, inspect

# -- the store, on plain directories ------------------------------------------------------------------


def _use(state: Path, *names: str) -> str:
    """A container record claiming `names` (what the engine writes while creating a container)."""
    cid = records.new_id()
    records.save(state / "containers" / cid, ContainerRecord(cid, "c", "img", "img", "now", {}, volumes=list(names)))
    return cid


def test_create_writes_dockers_metadata_and_is_idempotent(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    vol = store.create("data", labels={"a": "1"})
    doc = json.loads((tmp_path / "volumes" / "data" / "volume.json").read_text())
    assert doc["Mountpoint"] == str(tmp_path / "volumes" / "data" / "_data")
    assert (tmp_path / "volumes" / "data" / "_data").is_dir()
    inspect = vol.inspect()
    assert sorted(inspect) == ["CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options", "Scope"]
    assert (inspect["Name"], inspect["Driver"], inspect["Scope"], inspect["Labels"]) == ("data", "local", "local",
                                                                                         {"a": "1"})
    assert inspect["CreatedAt"].endswith("Z")
    (vol.mountpoint / "keep").write_text("x")
    again = store.create("data", labels={"a": "1"})
    assert again.created_at == vol.created_at
    assert (again.mountpoint / "keep").exists()
    assert store.create("data").name == "data"  # no labels asked: the existing volume
    with pytest.raises(ComposerError, match="other labels"):
        store.create("data", labels={"a": "2"})


@pytest.mark.parametrize("name", ["x", "-x", ".x", "a/b", "a b", "ä1"])
def test_invalid_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ComposerError, match="invalid volume name"):
        VolumeStore(tmp_path).create(name)


def test_anonymous_volumes_get_a_hex_name_and_the_label(tmp_path: Path) -> None:
    vol = VolumeStore(tmp_path).create()
    assert is_anonymous_name(vol.name)
    assert vol.labels == {ANONYMOUS_LABEL: ""}
    assert vol.anonymous


def test_driver_and_options_that_cannot_be_honoured_are_refused(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    with pytest.raises(ComposerError, match="local driver only"):
        store.create("v1", driver="nfs")
    with pytest.raises(ComposerError, match="invalid option key"):
        store.create("v1", options={"bogus": "1"})
    with pytest.raises(ComposerError, match="not supported"):
        store.create("v1", options={"type": "tmpfs"})
    assert store.all() == []


def test_list_filters(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    store.create("web-data", labels={"tier": "web"})
    store.create("db-data", labels={"tier": "db", "keep": ""})
    anon = store.create()
    _use(tmp_path, "db-data")

    def names(*filters: str) -> list[str]:
        return [v.name for v in store.list_volumes(filters)]

    assert names() == sorted(["web-data", "db-data", anon.name])
    assert names("name=data") == ["db-data", "web-data"]
    assert names("name=web") == ["web-data"]
    assert names("label=tier") == ["db-data", "web-data"]
    assert names("label=tier=db") == ["db-data"]
    assert names("label=tier", "label=keep") == ["db-data"]
    assert names("dangling=true") == sorted(["web-data", anon.name])
    assert names("dangling=false") == ["db-data"]
    assert names("driver=local", "name=web") == ["web-data"]
    with pytest.raises(ComposerError, match="invalid filter"):
        store.list_volumes(["colour=red"])


def test_remove_is_refused_while_a_container_uses_the_volume_even_with_force(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    store.create("used")
    cid = _use(tmp_path, "used")
    for force in (False, True):
        with pytest.raises(ComposerError, match=f"volume is in use - \\[{cid}\\]"):
            store.remove("used", force=force)
    # a record that only bind-mounts the volume's directory counts too
    records.save(tmp_path / "containers" / cid, ContainerRecord(
        cid, "c", "img", "img", "now", {}, mounts=[{"source": str(store.get("used").mountpoint)}]))
    with pytest.raises(ComposerError, match="in use"):
        store.remove("used")
    records.save(tmp_path / "containers" / cid, ContainerRecord(cid, "c", "img", "img", "now", {}))
    assert store.remove("used")
    assert not (tmp_path / "volumes" / "used").exists()
    with pytest.raises(ComposerError, match="no such volume"):
        store.remove("used")
    assert store.remove("used", force=True) is False  # -f: a missing volume is not an error


def test_prune_takes_unused_anonymous_volumes_unless_all(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    store.create("named")
    store.create("named-used")
    loose, held = store.create(), store.create()
    (loose.mountpoint / "f").write_bytes(b"x" * 10000)
    _use(tmp_path, "named-used", held.name)
    report = store.prune()
    assert report.removed == [loose.name]
    assert report.space_reclaimed >= 10000
    assert store.prune(all_volumes=True).removed == ["named"]
    assert sorted(v.name for v in store.all()) == sorted(["named-used", held.name])


def test_prune_label_filter(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    store.create("a1", labels={"x": "1"})
    store.create("b1")
    assert store.prune(all_volumes=True, labels=["x=1"]).removed == ["a1"]


def test_remove_anonymous_keeps_named_and_used_volumes(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    store.create("named")
    mine, shared = store.create(), store.create()
    _use(tmp_path, shared.name)
    assert store.remove_anonymous(["named", mine.name, shared.name, "gone"]) == [mine.name]


def _tree(root: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "secret").write_text("host-like secret\n")
    src = root / "srv" / "www"
    (src / "sub").mkdir(parents=True)
    (src / "index.html").write_text("hello\n")
    os.chmod(src / "index.html", 0o640)
    os.setxattr(src / "index.html", "user.tag", b"index")
    (src / "run.sh").write_text("#!/bin/sh\n")
    os.chmod(src / "run.sh", 0o4755)
    os.link(src / "index.html", src / "sub" / "hard.html")
    os.symlink("/etc/secret", src / "abs-link")
    os.symlink("../../../../outside", src / "rel-link")
    os.mkfifo(src / "pipe")
    os.chmod(src / "sub", 0o710)
    os.chmod(src, 0o750)


def test_copy_up_keeps_modes_links_xattrs_and_never_follows_symlinks(tmp_path: Path) -> None:
    rootfs, dest = tmp_path / "rootfs", tmp_path / "dest"
    _tree(rootfs)
    dest.mkdir()
    (rootfs / "www-link").symlink_to("/srv/www")  # resolved inside the rootfs, not on the host
    assert copy_up(rootfs, "/www-link", dest)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o750
    assert (dest / "index.html").read_text() == "hello\n"
    assert stat.S_IMODE((dest / "index.html").stat().st_mode) == 0o640
    assert stat.S_IMODE((dest / "run.sh").stat().st_mode) == 0o4755
    assert stat.S_IMODE((dest / "sub").stat().st_mode) == 0o710
    assert os.getxattr(dest / "index.html", "user.tag") == b"index"
    assert (dest / "index.html").stat().st_ino == (dest / "sub" / "hard.html").stat().st_ino
    assert os.readlink(dest / "abs-link") == "/etc/secret"
    assert os.readlink(dest / "rel-link") == "../../../../outside"
    assert stat.S_ISFIFO((dest / "pipe").lstat().st_mode)
    assert (dest / "index.html").stat().st_mtime_ns == (rootfs / "srv/www/index.html").stat().st_mtime_ns


def test_copy_up_of_a_missing_or_non_directory_target_copies_nothing(tmp_path: Path) -> None:
    rootfs, dest = tmp_path / "rootfs", tmp_path / "dest"
    _tree(rootfs)
    dest.mkdir()
    assert not copy_up(rootfs, "/nope", dest)
    assert not copy_up(rootfs, "/etc/secret", dest)
    (rootfs / "escape").symlink_to("../../../../../../etc")  # `..` stops at the rootfs: its /etc
    assert copy_up(rootfs, "/escape", dest)
    assert sorted(os.listdir(dest)) == ["secret"]


@pytest.mark.skipif(os.geteuid() != 0, reason="chown needs root")
def test_copy_up_keeps_owners(tmp_path: Path) -> None:
    rootfs, dest = tmp_path / "rootfs", tmp_path / "dest"
    _tree(rootfs)
    dest.mkdir()
    os.chown(rootfs / "srv" / "www", 1000, 1000)
    os.chown(rootfs / "srv" / "www" / "run.sh", 1000, 50)
    os.chmod(rootfs / "srv" / "www" / "run.sh", 0o4755)
    os.lchown(rootfs / "srv" / "www" / "abs-link", 7, 8)
    assert copy_up(rootfs, "/srv/www", dest)
    assert (dest.stat().st_uid, dest.stat().st_gid) == (1000, 1000)
    st = (dest / "run.sh").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 50, 0o4755)  # setuid survives the chown
    assert ((dest / "abs-link").lstat().st_uid, (dest / "abs-link").lstat().st_gid) == (7, 8)


def test_subpath_stays_inside_the_volume(tmp_path: Path) -> None:
    data = tmp_path / "_data"
    (data / "a" / "b").mkdir(parents=True)
    (data / "link").symlink_to(tmp_path)
    (data / "file").write_text("")
    assert resolve_subpath(data, "a/b") == data / "a" / "b"
    assert resolve_subpath(data, "./a//b/") == data / "a" / "b"
    for bad, why in (("link", "symlink"), ("link/x", "symlink"), ("../x", "without '..'"), ("/a", "relative"),
                     ("a/../../x", "'..'"), ("missing", "No such file"), ("file", "not a directory")):
        with pytest.raises(ComposerError, match=why):
            resolve_subpath(data, bad)


def test_tmpfs_long_syntax_options() -> None:
    spec: dict[str, Any] = {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1m", "mode": 0o1777}}
    assert tmpfs_options(spec) == ("noexec", "nosuid", "nodev", "rprivate", "size=1048576", "mode=1777")
    assert tmpfs_options({"target": "/t", "tmpfs": {"size": 4096, "mode": "700"}, "read_only": True})[-3:] == (
        "size=4096", "mode=700", "ro")
    with pytest.raises(ComposerError, match="invalid mode"):
        tmpfs_options({"target": "/t", "tmpfs": {"mode": "rwx"}})
    with pytest.raises(ComposerError, match="invalid size"):
        tmpfs_options({"target": "/t", "tmpfs": {"size": "lots"}})


# -- as root, with containers -----------------------------------------------------------------------


def _volume(eng: EngineEnv, *args: str, stdin: bytes = b"") -> Result:
    return run_cli(eng.tmp, ["volume", *args], env=eng.env, stdin=stdin)


def _store(eng: EngineEnv) -> VolumeStore:
    return VolumeStore(eng.engine.roots.state_root)


def _run_to_exit(eng: EngineEnv, service: dict[str, Any], image: str = BASE) -> tuple[str, str]:
    """Create and start a container through the engine API, wait for it; (its id, its output)."""
    record = eng.engine.create(CreateRequest(image, service))
    eng.engine.start(record.id)
    assert eng.engine.wait(record.id, timeout=30) == 0
    return record.id, eng.cli("logs", record.id).stdout


@pytest.mark.root
def test_named_volume_outlives_its_container(eng: EngineEnv) -> None:
    r = eng.cli("run", "--name", "w", "-v", "data:/data", BASE, "sh", "-c", "echo kept > /data/f")
    assert r.code == 0, r.stderr
    mounts = inspect(eng, "w")["Mounts"]
    assert mounts == [{"Type": "volume", "Name": "data", "Source": str(_store(eng).get("data").mountpoint),
                       "Destination": "/data", "Driver": "local", "Mode": "", "RW": True, "Propagation": ""}]
    row = json.loads(eng.cli("ls", "-a", "--format", "json").stdout)
    assert (row["Mounts"], row["LocalVolumes"]) == ("data", "1")
    assert eng.cli("rm", "-v", "w").code == 0  # -v never removes a named volume
    r = eng.cli("run", "--rm", "-v", "data:/data", BASE, "cat", "/data/f")
    assert (r.code, r.stdout) == (0, "kept\n"), r.stderr
    assert _volume(eng, "ls", "-q").stdout == "data\n"


@pytest.mark.root
def test_copy_up_fills_a_new_volume_from_the_image(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", "-v", "site:/srv/www", "--entrypoint", "sh", APP, "-c", "cat /srv/www/index.html")
    assert (r.code, r.stdout) == (0, "<h1>hello from composer</h1>\n"), r.stderr
    data = _store(eng).get("site").mountpoint
    st = (data / "index.html").stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1000, 1000, 0o644)
    assert (data.stat().st_uid, stat.S_IMODE(data.stat().st_mode)) == (1000, 0o755)
    assert os.getxattr(data / "index.html", "user.composer.fixture") == b"index"


@pytest.mark.root
def test_copy_up_skips_a_volume_that_has_content_and_nocopy(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", "-v", "full:/x", BASE, "sh", "-c", "echo mine > /x/own")
    assert r.code == 0, r.stderr
    r = eng.cli("run", "--rm", "-v", "full:/srv/www", "--entrypoint", "ls", APP, "/srv/www")
    assert r.stdout == "own\n", r.stderr
    r = eng.cli("run", "--rm", "-v", "bare:/srv/www:nocopy", "--entrypoint", "ls", APP, "-A", "/srv/www")
    assert (r.code, r.stdout) == (0, ""), r.stderr
    assert os.listdir(_store(eng).get("bare").mountpoint) == []


@pytest.mark.root
def test_subpath_mounts_a_directory_of_the_volume(eng: EngineEnv) -> None:
    data = _store(eng).create("tree").mountpoint
    (data / "sub").mkdir()
    (data / "sub" / "in").write_text("from sub\n")
    spec = {"type": "volume", "source": "tree", "target": "/mnt", "volume": {"subpath": "sub"}}
    cid, out = _run_to_exit(eng, {"volumes": [spec], "command": ["sh", "-c", "cat /mnt/in; echo out > /mnt/new"]})
    assert out == "from sub\n"
    assert (data / "sub" / "new").read_text() == "out\n"
    assert eng.cli("rm", cid).code == 0
    (data / "escape").symlink_to("/etc")
    bad = {**spec, "volume": {"subpath": "escape"}}
    with pytest.raises(ComposerError, match="symlink"):
        eng.engine.create(CreateRequest(BASE, {"volumes": [{"type": "volume", "target": "/a"}, bad],
                                               "command": ["true"]}))
    assert eng.cli("ls", "-aq").stdout == ""
    assert [v.name for v in _store(eng).all()] == ["tree"]  # the anonymous volume made on the way is gone


@pytest.mark.root
def test_image_volume_gets_an_anonymous_volume_that_only_rm_v_removes(eng: EngineEnv) -> None:
    store = _store(eng)
    assert eng.cli("create", "--name", "a", APP).code == 0
    (anon,) = store.all()
    assert anon.anonymous
    seed = (anon.mountpoint / "seed.txt").stat()
    assert (seed.st_uid, stat.S_IMODE(seed.st_mode)) == (1000, 0o640)  # copied up from the image's /data
    assert stat.S_IMODE(anon.mountpoint.stat().st_mode) == 0o750
    assert eng.cli("rm", "a").code == 0
    assert [v.name for v in store.all()] == [anon.name]  # kept without -v
    assert eng.cli("create", "--name", "b", "-v", "named:/srv/www", APP).code == 0
    assert len(store.all()) == 3
    assert eng.cli("rm", "-v", "b").code == 0
    assert sorted(v.name for v in store.all()) == sorted([anon.name, "named"])
    # `run --rm` removes the anonymous volumes too; a service mount over the VOLUME path makes none
    r = eng.cli("run", "--rm", "--entrypoint", "sh", APP, "-c", "cat /data/seed.txt")
    assert r.stdout == "copied up into new volumes\n", r.stderr
    assert eng.cli("run", "--rm", "-v", "named:/data", "--entrypoint", "true", APP).code == 0
    assert sorted(v.name for v in store.all()) == sorted([anon.name, "named"])


@pytest.mark.root
def test_volume_rm_is_refused_while_a_container_uses_it(eng: EngineEnv) -> None:
    r = eng.cli("create", "--name", "user", "-v", "used:/data", BASE, "true")
    assert r.code == 0, r.stderr
    cid = r.stdout.strip()
    for args in (("rm", "used"), ("rm", "-f", "used")):
        r = _volume(eng, *args)
        assert r.code == 1
        assert f"remove used: volume is in use - [{cid}]" in r.stderr
    assert _volume(eng, "ls", "-q", "-f", "dangling=false").stdout == "used\n"
    assert _volume(eng, "prune", "-af").stdout == "Total reclaimed space: 0B\n"
    assert eng.cli("rm", "user").code == 0
    r = _volume(eng, "rm", "used", "nope")
    assert (r.code, r.stdout) == (1, "used\n")
    assert "no such volume" in r.stderr
    assert _volume(eng, "rm", "-f", "nope").code == 0


@pytest.mark.root
def test_tmpfs_long_syntax_size_and_mode(eng: EngineEnv) -> None:
    spec = {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "1m", "mode": 0o1770}}
    _, out = _run_to_exit(eng, {"volumes": [spec], "command": ["sh", "-c", "stat -c %a /t; grep ' /t ' /proc/mounts"]})
    mode, mount = out.splitlines()
    assert mode == "1770"
    assert "size=1024k" in mount
    assert "mode=1770" in mount
    assert "noexec" in mount


@pytest.mark.root
def test_volume_cli_ls_inspect_prune(eng: EngineEnv) -> None:
    assert _volume(eng, "create", "alpha", "-l", "tier=web").stdout == "alpha\n"
    assert _volume(eng, "create", "--name", "beta").stdout == "beta\n"
    anon = _volume(eng, "create").stdout.strip()
    assert is_anonymous_name(anon)
    r = _volume(eng, "ls")
    names = sorted([anon, "alpha", "beta"])
    assert r.stdout.splitlines() == ["DRIVER    VOLUME NAME", *(f"local     {n}" for n in names)]
    assert _volume(eng, "ls", "-q", "--filter", "label=tier=web").stdout == "alpha\n"
    row = json.loads(_volume(eng, "ls", "--format", "json", "-f", "name=alpha").stdout)
    assert (row["Name"], row["Driver"], row["Labels"], row["Scope"]) == ("alpha", "local", "tier=web", "local")
    assert _volume(eng, "ls", "--format", "{{.Name}}:{{.Driver}}", "-f", "name=beta").stdout == "beta:local\n"
    doc = json.loads(_volume(eng, "inspect", "alpha").stdout)
    assert doc[0]["Mountpoint"] == str(eng.engine.roots.state_root / "volumes" / "alpha" / "_data")
    assert doc[0]["Labels"] == {"tier": "web"}
    assert _volume(eng, "inspect", "-f", "{{.Name}} {{.Scope}} {{index .Labels \"tier\"}}", "alpha").stdout == (
        "alpha local web\n")
    r = _volume(eng, "inspect", "nope")
    assert r.code == 1
    assert "no such volume: nope" in r.stderr
    r = _volume(eng, "prune", stdin=b"n\n")
    assert "Are you sure you want to continue?" in r.stdout
    assert len(_store(eng).all()) == 3
    r = _volume(eng, "prune", "-f")
    assert r.stdout == f"Deleted Volumes:\n{anon}\n\nTotal reclaimed space: 0B\n"
    r = _volume(eng, "prune", "-a", stdin=b"y\n")
    assert "Deleted Volumes:\nalpha\nbeta\n" in r.stdout
    assert _volume(eng, "ls", "-q").stdout == ""


@pytest.mark.root
def test_parallel_creates_share_one_new_volume_copied_up_once(eng: EngineEnv) -> None:
    import subprocess
    import sys

    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "composer", "container", "run", "--rm", "-v", "shared:/srv/www", "--entrypoint",
             "ls", APP, "/srv/www"],
            env={**os.environ, **eng.env}, cwd=eng.tmp, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60) for p in procs]
    assert [(p.returncode, out) for p, (out, _) in zip(procs, outs, strict=True)] == [(0, "index.html\n")] * 4, outs
    # every `--rm` container took its anonymous volume (/data of the image), whoever swept it
    assert [v.name for v in _store(eng).all()] == ["shared"]


@pytest.mark.root
def test_a_swept_rm_container_takes_its_anonymous_volumes(eng: EngineEnv) -> None:
    r = eng.cli("run", "-d", "--rm", "--entrypoint", "true", APP)
    assert r.code == 0, r.stderr
    deadline = time.monotonic() + 30
    while eng.cli("ls", "-aq").stdout and time.monotonic() < deadline:  # each command's repair sweeps exited --rm
        time.sleep(0.05)
    assert eng.cli("ls", "-aq").stdout == ""
    assert _store(eng).all() == []
