"""Phase 3: short syntax to the long forms `docker compose config` prints (shapes checked against its binary)."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.errors import ComposerError, Diagnostics, Span
from composer.schema.expand import expand_document, parse_device, parse_port, parse_volume
from composer.schema.tree import YMap, located, to_plain

SPAN = Span("c.yaml", 1, 1)


def ingress(target: int, published: str | None = None, protocol: str = "tcp",
            host_ip: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"mode": "ingress"}
    if host_ip:
        entry["host_ip"] = host_ip
    entry["target"] = target
    if published is not None:
        entry["published"] = published
    entry["protocol"] = protocol
    return entry


@pytest.mark.parametrize(
    ("spec", "entries"),
    [
        ("80", [ingress(80)]),
        ("8080:80", [ingress(80, "8080")]),
        ("127.0.0.1:53:53/udp", [ingress(53, "53", "udp", "127.0.0.1")]),
        ("127.0.0.1::80", [ingress(80, None, host_ip="127.0.0.1")]),
        ("[::1]:8080:80", [ingress(80, "8080", host_ip="::1")]),
        ("9000-9001:9000-9001/udp", [ingress(9000, "9000", "udp"), ingress(9001, "9001", "udp")]),
        ("3000-3001", [ingress(3000), ingress(3001)]),
        ("8000-8010:80", [ingress(80, "8000-8010")]),
        ("80/sctp", [ingress(80, protocol="sctp")]),
    ],
)
def test_ports(spec: str, entries: list[dict[str, Any]]) -> None:
    assert parse_port(spec) == entries


@pytest.mark.parametrize("spec", ["", "abc", "80:abc", "1:2:3:4", "70000", "80/icmp", "8000-8002:80-81", "5-1", "[::1"])
def test_bad_ports(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_port(spec)


@pytest.mark.parametrize(
    ("spec", "mount"),
    [
        ("/data", {"type": "volume", "target": "/data", "volume": {}}),
        ("data:/data", {"type": "volume", "source": "data", "target": "/data", "volume": {}}),
        ("data:/data:ro,nocopy", {"type": "volume", "source": "data", "target": "/data", "read_only": True,
                                  "volume": {"nocopy": True}}),
        ("./src:/src", {"type": "bind", "source": "./src", "target": "/src", "bind": {"create_host_path": True}}),
        ("/h:/c:ro,z", {"type": "bind", "source": "/h", "target": "/c", "read_only": True,
                        "bind": {"create_host_path": True, "selinux": "z"}}),
        ("~/x:/x:rshared", {"type": "bind", "source": "~/x", "target": "/x",
                            "bind": {"create_host_path": True, "propagation": "rshared"}}),
        ("/h:/c:cached", {"type": "bind", "source": "/h", "target": "/c", "consistency": "cached",
                          "bind": {"create_host_path": True}}),
    ],
)
def test_volumes(spec: str, mount: dict[str, Any]) -> None:
    assert parse_volume(spec) == mount


@pytest.mark.parametrize("spec", ["", "a:b:c:d", "rel", "./a:/b:sideways", ":/x", "a:", "data:/d:z"])
def test_bad_volumes(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_volume(spec)


@pytest.mark.parametrize(
    ("spec", "device"),
    [
        ("/dev/fuse", {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}),
        ("/dev/a:/dev/b", {"source": "/dev/a", "target": "/dev/b", "permissions": "rwm"}),
        ("/dev/a:/dev/b:r", {"source": "/dev/a", "target": "/dev/b", "permissions": "r"}),
        ("/dev/a:rw", {"source": "/dev/a", "target": "/dev/a", "permissions": "rw"}),
    ],
)
def test_devices(spec: str, device: dict[str, str]) -> None:
    assert parse_device(spec) == device


def expand(service: dict[str, Any]) -> dict[str, Any]:
    doc = located({"services": {"web": service}}, SPAN)
    assert isinstance(doc, YMap)
    result = to_plain(expand_document(doc, Diagnostics()))["services"]["web"]
    assert isinstance(result, dict)
    return result


def test_service_short_forms() -> None:
    web = expand({
        "command": "sh -c 'echo hi'", "entrypoint": "", "environment": ["A=1", "B"], "labels": ["x=y", "bare"],
        "depends_on": ["db"], "networks": ["front"], "healthcheck": {"test": "curl -f x"}, "build": "./app",
        "secrets": ["s"], "env_file": "a.env", "extra_hosts": ["h:1.2.3.4", "g=::1"], "dns": "1.1.1.1",
        "tmpfs": "/run", "post_start": [{"command": "echo started", "environment": ["X=1"]}],
    })
    assert web["command"] == ["sh", "-c", "echo hi"]
    assert web["entrypoint"] == []
    assert web["environment"] == {"A": "1", "B": None}
    assert web["labels"] == {"x": "y", "bare": ""}
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True}}
    assert web["networks"] == {"front": None}
    assert web["healthcheck"] == {"test": ["CMD-SHELL", "curl -f x"]}
    assert web["build"] == {"context": "./app"}
    assert web["secrets"] == [{"source": "s"}]
    assert web["env_file"] == [{"path": "a.env", "required": True}]
    assert web["extra_hosts"] == ["h=1.2.3.4", "g=::1"]
    assert (web["dns"], web["tmpfs"]) == (["1.1.1.1"], ["/run"])
    assert web["post_start"] == [{"command": ["echo", "started"], "environment": {"X": "1"}}]


def test_extra_hosts_map_form() -> None:
    assert expand({"extra_hosts": {"a": "1.1.1.1", "b": ["::1", "2.2.2.2"]}})["extra_hosts"] == [
        "a=1.1.1.1", "b=::1", "b=2.2.2.2"]


def test_legacy_external_name_warns() -> None:
    doc = located({"networks": {"n": {"external": {"name": "real"}}}}, SPAN)
    assert isinstance(doc, YMap)
    diag = Diagnostics()
    out = to_plain(expand_document(doc, diag))
    assert out["networks"]["n"] == {"external": True, "name": "real"}
    assert any("deprecated" in w for w in diag.warnings)


def test_all_syntax_errors_are_reported_together() -> None:
    doc = located({"services": {"web": {"ports": ["x"], "volumes": ["a:b:c:d"]}}}, SPAN)
    assert isinstance(doc, YMap)
    with pytest.raises(ComposerError) as info:
        expand_document(doc, Diagnostics())
    text = "\n".join(info.value.lines())
    assert 'invalid port "x"' in text
    assert 'invalid volume "a:b:c:d"' in text


@given(st.text(max_size=30))
def test_parsers_only_raise_value_error(text: str) -> None:
    for parse in (parse_port, parse_volume, parse_device):
        with contextlib.suppress(ValueError):
            parse(text)
