"""`volumes_from` / `--volumes-from`: a container mounts another's volumes and binds, even a never-started one."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.engine import records
from composer.runtime.engine.records import ContainerRecord
from composer.runtime.engine.volumes import VolumeStore, parse_volumes_from, volumes_from_mounts
from tests.cli.harness import Result, run_cli
from tests.runtime.engine.enginefix import BASE, EngineEnv, inspect


@pytest.mark.parametrize(("spec", "want"), [
    ("data", ("data", None)),
    ("data:ro", ("data", True)),
    ("data:rw", ("data", False)),
    ("container:data", ("data", None)),
    ("container:data:ro", ("data", True)),
    ("0123abcd", ("0123abcd", None)),
])
def test_parse_volumes_from(spec: str, want: tuple[str, bool | None]) -> None:
    assert parse_volumes_from(spec) == want


@pytest.mark.parametrize(("spec", "message"), [
    ("data:rx", "mode must be ro or rw"),
    ("service:db", "service:NAME is resolved by Compose"),
    ("container:", "no container named"),
    (":ro", "no container named"),
])
def test_parse_volumes_from_errors(spec: str, message: str) -> None:
    with pytest.raises(ComposerError, match=message):
        parse_volumes_from(spec)


def _bind(destination: str, source: str, *options: str) -> dict[str, object]:
    return {"destination": destination, "type": "bind", "source": source, "options": list(options)}


def test_volumes_from_mounts_takes_volumes_and_binds_only(tmp_path: Path) -> None:
    store = VolumeStore(tmp_path)
    data = store.create("data").mountpoint
    cid = records.new_id()
    own = tmp_path / "containers" / cid / "etc"
    mounts = [
        _bind("/etc/hosts", str(own / "hosts"), "rbind", "rprivate"),
        _bind("/sbin/docker-init", "/usr/bin/catatonit", "bind", "ro"),
        _bind("/dev/shm", "/dev/shm", "rbind", "rprivate"),
        _bind("/data", str(data), "rbind", "rprivate"),
        _bind("/host", "/srv/host", "rbind", "rslave", "ro"),
    ]
    records.save(tmp_path / "containers" / cid, ContainerRecord(cid, "src", "img", "img", "now", {}, phase="ready",
                                                                mounts=mounts, volumes=["data"]))
    claimed: list[str] = []
    found = volumes_from_mounts(store, ["src"], claimed)
    assert found == [_bind("/data", str(data), "rbind", "rprivate"),
                     _bind("/host", "/srv/host", "rbind", "rslave", "ro")]
    assert claimed == ["data"]
    assert [m["options"] for m in volumes_from_mounts(store, [f"container:{cid[:10]}:ro"], [])] == [
        ["rbind", "rprivate", "ro"], ["rbind", "rslave", "ro"]]
    assert [m["options"] for m in volumes_from_mounts(store, ["src:rw"], [])] == [
        ["rbind", "rprivate"], ["rbind", "rslave"]]
    with pytest.raises(ComposerError, match="no such container: other"):
        volumes_from_mounts(store, ["other"], [])


def _volume(eng: EngineEnv, *args: str) -> Result:
    return run_cli(eng.tmp, ["volume", *args], env=eng.env)


@pytest.mark.root
def test_data_container_pattern(eng: EngineEnv) -> None:
    """`docker create -v /data --name data busybox; docker run --volumes-from data ...`: a never-started source."""
    shared = eng.tmp / "shared"
    shared.mkdir()
    (shared / "hello").write_text("from the host\n")
    r = eng.cli("create", "-v", "/data", "-v", "named:/named", "-v", f"{shared}:/shared:ro", "--name", "data",
                BASE, "true")
    assert r.code == 0, r.stderr
    data_id = r.stdout.strip()
    anon = next(m["Name"] for m in inspect(eng, "data")["Mounts"] if m["Destination"] == "/data")
    r = eng.cli("run", "--rm", "--volumes-from", "data", BASE, "sh", "-c",
                "echo one > /data/f && echo two > /named/g && cat /shared/hello")
    assert (r.code, r.stdout) == (0, "from the host\n"), r.stderr
    # a second consumer sees what the first wrote; `:ro` makes every mount read-only
    r = eng.cli("run", "--rm", "--volumes-from", "container:data:ro", BASE, "sh", "-c",
                "cat /data/f /named/g; echo x > /data/nope")
    assert r.code != 0
    assert r.stdout == "one\ntwo\n"
    assert "Read-only file system" in r.stderr
    # the bind was read-only in the source: it stays so by default, `:rw` makes it writable
    r = eng.cli("run", "--rm", "--volumes-from", "data", BASE, "sh", "-c", "echo y > /shared/new")
    assert r.code != 0
    r = eng.cli("run", "--rm", "--volumes-from", "data:rw", BASE, "sh", "-c", "echo y > /shared/new")
    assert r.code == 0, r.stderr
    assert (shared / "new").read_text() == "y\n"
    # a consumer's own volume at the same destination wins; inspect shows what came from the source
    r = eng.cli("create", "--name", "user", "--volumes-from", "data", "-v", "own:/named", BASE, "true")
    assert r.code == 0, r.stderr
    mounts = {m["Destination"]: m for m in inspect(eng, "user")["Mounts"]}
    assert mounts["/data"]["Name"] == anon
    assert mounts["/named"]["Name"] == "own"
    assert mounts["/shared"]["Source"] == str(shared)
    # the source container is gone, its volumes are still in use by the consumer
    assert eng.cli("rm", data_id).code == 0
    for name in (anon, "named"):
        r = _volume(eng, "rm", name)
        assert r.code == 1
        assert "volume is in use" in r.stderr
    assert eng.cli("rm", "user").code == 0
    assert _volume(eng, "rm", anon, "named", "own").code == 0


@pytest.mark.root
def test_volumes_from_a_stopped_container_and_chains(eng: EngineEnv) -> None:
    r = eng.cli("run", "--name", "first", "-v", "/v", BASE, "sh", "-c", "echo seeded > /v/f")
    assert r.code == 0, r.stderr
    assert eng.engine.get("first").status == "exited"
    # a consumer of a consumer gets the same volume (Docker copies mount points along)
    assert eng.cli("create", "--name", "second", "--volumes-from", "first", BASE, "true").code == 0
    r = eng.cli("run", "--rm", "--volumes-from", "second", "--volumes-from", "first", BASE, "cat", "/v/f")
    assert (r.code, r.stdout) == (0, "seeded\n"), r.stderr
    assert eng.cli("rm", "second", "first").code == 0
    assert eng.cli("ls", "-aq").stdout == ""


@pytest.mark.root
def test_missing_source_is_one_clear_error(eng: EngineEnv) -> None:
    r = eng.cli("run", "--rm", "--volumes-from", "nosuch", BASE, "true")
    assert r.code == 1
    assert r.stderr.strip().splitlines() == ["composer: error: volumes_from: no such container: nosuch"]
    assert eng.cli("ls", "-aq").stdout == ""
    assert not list(Path(eng.engine.roots.state_root, "volumes").glob("[0-9a-f]*"))
