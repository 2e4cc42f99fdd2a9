"""Pure pieces of the engine and its CLI: `docker run` flags, time arguments, init files, views."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from composer.cli.run_options import RunFlags, parse_env_file, parse_volume, service_from_flags
from composer.cli.timeargs import parse_timestamp
from composer.errors import ComposerError
from composer.runtime.confined import read_text_in_root
from composer.runtime.engine.engine import Container
from composer.runtime.engine.initfiles import FALLBACK_NAMESERVERS, HOSTS_HEADER, hosts_file, resolv_conf
from composer.runtime.engine.records import ContainerRecord
from composer.runtime.engine.views import command_text, human_duration, inspect, row, status_text
from composer.runtime.oci.lifecycle import ContainerState
from composer.runtime.oci.paths import Roots

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_run_flags_become_a_compose_service() -> None:
    flags = RunFlags(
        command=("sh", "-c", "echo hi"),
        env=("A=1", "FROM_HOST", "EMPTY="),
        env_files=(("e.env", "# comment\nB=two words\nA=overridden\n"),),
        entrypoint="",
        volumes=("./data:/data:ro", "/abs:/x", "named:/v"),
        memory="64m",
        cpus="0.5",
        pids_limit=10,
        tty=True,
        interactive=True,
        labels=("k=v", "flag"),
        ulimits=("nofile=10:20", "nproc=5"),
        stop_timeout=3,
        network="none",
        add_host=("db:10.0.0.2",),
    )
    service = service_from_flags(flags, environ={"FROM_HOST": "h"}, cwd="/work")
    assert service["environment"] == {"B": "two words", "A": "1", "FROM_HOST": "h", "EMPTY": ""}
    assert service["command"] == ["sh", "-c", "echo hi"]
    assert service["entrypoint"] == []
    assert service["volumes"][0] == {"target": "/data", "type": "bind", "source": "/work/data",
                                     "bind": {"create_host_path": True}, "read_only": True}
    assert service["volumes"][2] == {"target": "/v", "type": "volume", "source": "named"}
    assert (service["mem_limit"], service["cpus"], service["pids_limit"]) == ("64m", "0.5", 10)
    assert service["tty"]
    assert service["stdin_open"]
    assert service["network_mode"] == "none"
    assert service["labels"] == {"k": "v", "flag": ""}
    assert service["ulimits"] == {"nofile": {"soft": 10, "hard": 20}, "nproc": {"soft": 5, "hard": 5}}
    assert service["stop_grace_period"] == "3s"
    assert service["extra_hosts"] == ["db:10.0.0.2"]


@pytest.mark.parametrize(
    ("flags", "words"),
    [
        (RunFlags(volumes=("a:b",)), "absolute path"),
        (RunFlags(volumes=("/a:/b:bogus",)), "unknown option"),
        (RunFlags(env=("=x",)), "name is empty"),
        (RunFlags(ulimits=("nofile",)), "NAME=SOFT"),
        (RunFlags(network="bridge"), "composer network create"),
        (RunFlags(ip="10.0.0.2"), "need --network NAME"),
    ],
)
def test_bad_run_flags_name_the_flag(flags: RunFlags, words: str) -> None:
    with pytest.raises(ComposerError, match=words):
        service_from_flags(flags, environ={}, cwd="/")


def test_env_file_errors_name_the_line() -> None:
    with pytest.raises(ComposerError, match=r"e.env:2: invalid"):
        parse_env_file("e.env", "A=1\nBAD KEY=2\n", {})
    assert parse_volume("/x", "/") == {"type": "volume", "target": "/x"}


def test_time_arguments() -> None:
    assert parse_timestamp("42m", NOW) == NOW - timedelta(minutes=42)
    assert parse_timestamp("1h30m", NOW) == NOW - timedelta(minutes=90)
    assert parse_timestamp("1700000000", NOW) == datetime.fromtimestamp(1700000000, UTC)
    assert parse_timestamp("2013-01-02T13:23:37Z", NOW) == datetime(2013, 1, 2, 13, 23, 37, tzinfo=UTC)
    assert parse_timestamp("2013-01-02T13:23:37.123456789Z", NOW).microsecond == 123456
    assert parse_timestamp("2013-01-02", NOW).tzinfo is not None
    with pytest.raises(ComposerError, match="invalid time"):
        parse_timestamp("yesterday", NOW)


def test_hosts_and_resolv_conf() -> None:
    text = hosts_file("web", domainname="example.org", addresses=["10.0.0.5"],
                      extra_hosts={"db": "10.0.0.2", "gw": "host-gateway"}, host_gateway="10.0.0.1")
    assert text.startswith(HOSTS_HEADER)
    assert text.endswith("10.0.0.2\tdb\n10.0.0.1\tgw\n10.0.0.5\tweb.example.org web\n")
    assert "old" in hosts_file("x", host_hosts="1.2.3.4 old", extra_hosts=["a:5.6.7.8"])
    host = "nameserver 127.0.0.53\nnameserver 192.0.2.1\nsearch lan\noptions edns0\n"
    assert resolv_conf(host, host_network=False) == "nameserver 192.0.2.1\nsearch lan\noptions edns0\n"
    only_local = "nameserver 127.0.0.53\n"
    assert resolv_conf(only_local, host_network=False).split()[1] == FALLBACK_NAMESERVERS[0]
    assert resolv_conf(only_local, host_network=True) == "nameserver 127.0.0.53\n"
    assert resolv_conf(host, host_network=False, dns=["1.1.1.1"], dns_search=["a.b"], dns_opt=["ndots:2"]) == (
        "nameserver 1.1.1.1\nsearch a.b\noptions ndots:2\n"
    )


def test_confined_reads_stay_in_the_root(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (tmp_path / "secret").write_text("host secret")
    (root / "etc" / "real").write_text("inside")
    (root / "etc" / "passwd").symlink_to("/etc/real")  # absolute: means rootfs/etc/real
    (root / "etc" / "up").symlink_to("../../../../secret")
    (root / "etc" / "loop").symlink_to("loop")
    (root / "secret").write_text("root's own")
    assert read_text_in_root(root, "/etc/passwd") == "inside"
    assert read_text_in_root(root, "/etc/up") == "root's own"  # `..` stops at the root
    assert read_text_in_root(root, "/etc/loop") is None
    assert read_text_in_root(root, "/etc") is None
    assert read_text_in_root(root, "/nope") is None


def _container(status: str = "running", **state: object) -> Container:
    record = ContainerRecord(
        id="ab" * 32, name="web", image_id="sha256:" + "1" * 64, image_ref="img", created="2026-11-28T11:00:00Z",
        service={"environment": {"A": "1"}, "tty": True}, labels={"x": "y"}, phase="ready",
        cgroups_path="/composer/" + "ab" * 32, hostname="abababababab", path="sleep", args=["100"],
        mounts=[{"destination": "/etc/hosts", "source": "/h", "options": ["rbind"]},
                {"destination": "/data", "source": "/srv", "options": ["rbind", "rprivate", "ro"]}],
    )
    values = {"pid": 42, "exit_code": None, "started_at": NOW - timedelta(seconds=5), "finished_at": None,
              "oom_killed": False}
    values.update(state)
    st = ContainerState(record.id, status, **values)  # type: ignore[arg-type]
    return Container(record, st, Roots(Path("/s"), Path("/r")).container(record.id))


def test_views() -> None:
    c = _container()
    doc = inspect(c, {"process": {"env": ["A=1"], "cwd": "/w"}})
    assert doc["State"]["Status"] == "running"
    assert doc["State"]["Pid"] == 42
    assert doc["Name"] == "/web"
    assert doc["Config"]["Tty"] is True
    assert doc["Config"]["WorkingDir"] == "/w"
    assert doc["Mounts"] == [{"Type": "bind", "Source": "/srv", "Destination": "/data", "Mode": "ro", "RW": False,
                              "Propagation": "rprivate"}]
    assert status_text(c, NOW) == "Up 5 seconds"
    assert status_text(_container("paused"), NOW) == "Up 5 seconds (Paused)"
    done = _container("stopped", exit_code=3, finished_at=NOW - timedelta(minutes=2))
    assert done.status == "exited"
    assert status_text(done, NOW) == "Exited (3) 2 minutes ago"
    assert _container("stopped", started_at=None).status == "created"
    r = row(c, NOW)
    assert (r["ID"], r["Names"], r["Command"], r["RunningFor"]) == ("abababababab", "web", '"sleep 100"',
                                                                    "About an hour ago")
    long = _container()
    long.record.args = ["-c", "x" * 40]
    assert command_text(long) == '"sleep -c xxxxxxxxxx…"'
    assert [human_duration(s) for s in (0.5, 1, 59, 60, 150, 3600, 7200, 86400 * 3)] == [
        "Less than a second", "1 second", "59 seconds", "About a minute", "2 minutes", "About an hour",
        "2 hours", "3 days"]


def test_hosts_file_lists_peers_once_per_name() -> None:
    text = hosts_file("abc", addresses=["10.0.0.2"], peers=[("10.0.0.3", ["web", "www", "web", "0123456789ab"])])
    assert text.endswith("10.0.0.2\tabc\n10.0.0.3\tweb www 0123456789ab\n")
