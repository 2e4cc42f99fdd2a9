"""The pure parts of logs, events, ls, images, top and run: prefixes, event lines, grouping, tables, specs."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from composer.cli.compose_tools import parse_tail, run_labels, run_spec, split_reference, stacks, top_table
from composer.errors import ComposerError
from composer.runtime.compose.events import Event, Snapshot, changes, go_time
from composer.runtime.compose.logs import Prefixes, display_name, format_line, format_timestamp
from composer.runtime.oci.logs import LogEntry
from composer.tabwriter import rows_table

P = "com.docker.compose.project"
S = "com.docker.compose.service"
N = "com.docker.compose.container-number"


def test_prefix_is_padded_to_the_longest_name_plus_one_then_bar() -> None:
    p = Prefixes()
    p.register("web-1")
    assert p.of("web-1") == "web-1  | "
    p.register("worker-1")
    assert p.of("web-1") == "web-1     | "
    assert p.of("worker-1") == "worker-1  | "


def test_prefix_off_and_colours_cycle_like_compose() -> None:
    assert Prefixes(prefix=False).of("web-1") == ""
    p = Prefixes(color=True)
    p.register("a-1")
    p.register("b-1")
    assert p.of("a-1") == "\x1b[36ma-1  | \x1b[0m"
    assert p.of("b-1") == "\x1b[33mb-1  | \x1b[0m"


def test_display_name_drops_the_project_unless_custom() -> None:
    labels = {P: "demo", S: "web", N: "2"}
    assert display_name(labels, "demo-web-2") == "web-2"
    assert display_name(labels, "my-custom") == "my-custom"
    assert display_name({P: "demo", S: "web", N: "-1"}, "demo-web-run-0123456789ab") == "demo-web-run-0123456789ab"


def test_log_line_with_timestamp() -> None:
    entry = LogEntry(datetime(2024, 1, 1, tzinfo=UTC), "2024-01-01T12:00:00.123450000+00:00", "stdout", "hi")
    assert format_timestamp(entry.timestamp) == "2024-01-01T12:00:00.12345Z"
    assert format_line("web-1  | ", entry, timestamps=True) == "web-1  | 2024-01-01T12:00:00.12345Z hi\n"
    assert format_line("", entry, timestamps=False) == "hi\n"


def test_parse_tail() -> None:
    assert parse_tail("all") is None
    assert parse_tail("3") == 3
    with pytest.raises(ComposerError):
        parse_tail("x")


def _snap(status: str, **kw: Any) -> Snapshot:
    base: dict[str, Any] = {"id": "a" * 64, "name": "demo-web-1", "image": "img:1",
                            "labels": {P: "demo", S: "web", "com.docker.compose.oneoff": "False", "tier": "x"}}
    base.update(kw)
    return Snapshot(status=status, **base)


def test_event_changes_between_snapshots() -> None:
    now = datetime(2024, 1, 1, 12, 0, tzinfo=UTC)
    first = changes({}, {"a": _snap("running")}, now)
    assert [e.action for e in first] == ["create", "start"]
    assert first[0].attributes == {"image": "img:1", "name": "demo-web-1", "tier": "x"}
    died = changes({"a": _snap("running")}, {"a": _snap("exited", exit_code=3)}, now)
    assert [(e.action, e.attributes.get("exitCode")) for e in died] == [("die", "3")]
    stopped = changes({"a": _snap("running")}, {"a": _snap("exited", exit_code=0, stopped_by_user=True)}, now)
    assert [e.action for e in stopped] == ["die", "stop"]
    assert [e.action for e in changes({"a": _snap("running")}, {"a": _snap("paused")}, now)] == ["pause"]
    assert [e.action for e in changes({"a": _snap("paused")}, {"a": _snap("running")}, now)] == ["unpause"]
    assert [e.action for e in changes({"a": _snap("exited")}, {}, now)] == ["destroy"]
    healthy = changes({"a": _snap("running", health="starting")}, {"a": _snap("running", health="healthy")}, now)
    assert [e.action for e in healthy] == ["health_status: healthy"]
    assert changes({}, {"a": _snap("running")}, now, services=("db",)) == []
    oneoff = _snap("running", labels={P: "demo", S: "web", "com.docker.compose.oneoff": "True"})
    assert changes({}, {"a": oneoff}, now) == []


def test_event_text_and_json_forms() -> None:
    when = datetime(2024, 1, 1, 12, 0, 0, 500000, tzinfo=UTC)
    event = Event(when, "start", "f" * 64, "web", {"name": "demo-web-1", "image": "img:1"})
    local = when.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")
    assert event.text() == f"{local} container start {'f' * 64} (image=img:1, name=demo-web-1)\n\n"
    doc = json.loads(event.json())
    assert list(doc) == ["action", "attributes", "id", "service", "time", "type"]
    assert doc["type"] == "container"
    assert doc["action"] == "start"
    assert doc["service"] == "web"
    assert datetime.fromisoformat(doc["time"].replace("Z", "+00:00")) == when
    assert go_time(datetime(2024, 1, 1, tzinfo=UTC)).endswith(("Z", ":00"))


def _container(project: str, status: str, files: str) -> Any:
    record = SimpleNamespace(labels={P: project, "com.docker.compose.project.config_files": files})
    return SimpleNamespace(record=record, status=status)


def test_ls_groups_projects_with_status_counts_and_files() -> None:
    rows = stacks([_container("b", "running", "/x/compose.yaml"), _container("a", "exited", "/a/c.yaml,/a/o.yaml"),
                   _container("b", "running", "/x/compose.yaml"), _container("b", "exited", "/x/compose.yaml"),
                   _container("a", "exited", "/a/c.yaml")])
    assert rows == [{"Name": "a", "Status": "exited(2)", "ConfigFiles": "/a/c.yaml,/a/o.yaml"},
                    {"Name": "b", "Status": "exited(1), running(2)", "ConfigFiles": "/x/compose.yaml"}]


def test_tables_pad_like_go_tabwriter() -> None:
    text = rows_table([["NAME", "STATUS", "CONFIG FILES"], ["demo", "running(1)", "/c.yaml"]], minwidth=20, padding=3)
    assert text.splitlines() == ["NAME" + " " * 16 + "STATUS" + " " * 14 + "CONFIG FILES",
                                 "demo" + " " * 16 + "running(1)" + " " * 10 + "/c.yaml"]
    top = top_table([("web", "1", ["UID", "PID", "CMD", "TIME"], [["root", "12", "sleep 9", "0:00"]])])
    assert top.splitlines() == ["SERVICE  #   UID   PID  TIME  CMD", "web      1   root  12   0:00  sleep 9"]
    assert top_table([]) == ""


def test_split_reference() -> None:
    assert split_reference("composer-fixture/app:latest") == ("composer-fixture/app", "latest")
    assert split_reference("localhost:5000/x") == ("localhost:5000/x", "latest")
    assert split_reference("busybox") == ("busybox", "latest")


def test_run_spec_overrides_and_drops_ports_and_restart() -> None:
    base = {"image": "x", "command": ["a"], "ports": [{"target": 80, "published": "8080"}], "restart": "always",
            "environment": {"A": "1"}, "networks": {"demo_default": {"aliases": ["web"], "ipv4_address": None}},
            "deploy": {"restart_policy": {"condition": "any"}, "resources": {}}}
    spec = run_spec(base, command=(), entrypoint="sh -c", env=("B=2",), volumes=(), publish=(), service_ports=False,
                    user="1000", workdir="/tmp", tty=False, stdin_open=True, cwd="/")
    assert "ports" not in spec
    assert "restart" not in spec
    assert "restart_policy" not in spec["deploy"]
    assert spec["entrypoint"] == ["sh", "-c"]
    assert spec["command"] == []
    assert spec["environment"] == {"A": "1", "B": "2"}
    assert spec["networks"] == {"demo_default": {"ipv4_address": None}}
    assert (spec["user"], spec["working_dir"], spec["stdin_open"]) == ("1000", "/tmp", True)
    kept = run_spec(base, command=("echo", "hi"), entrypoint=None, env=(), volumes=(), publish=(),
                    service_ports=True, user=None, workdir=None, tty=True, stdin_open=False, cwd="/")
    assert kept["ports"] == base["ports"]
    assert kept["command"] == ["echo", "hi"]
    labels = run_labels({P: "demo", "com.docker.compose.oneoff": "False"}, "sha256:1", "ab" * 32, ["k=v"])
    assert labels["com.docker.compose.oneoff"] == "True"
    assert labels["k"] == "v"
