"""Short `ports` syntax read as Docker Compose reads it (expected values taken from its binary)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.schema.ports import is_ip, parse_port


def port(target: int, published: str | None = None, protocol: str = "tcp",
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
        ("80", [port(80)]),
        ("8080:80", [port(80, "8080")]),
        ("127.0.0.1:53:53/udp", [port(53, "53", "udp", "127.0.0.1")]),
        ("127.0.0.1::80", [port(80, host_ip="127.0.0.1")]),
        (":80", [port(80)]),
        ("0.0.0.0:7:7", [port(7, "7", host_ip="0.0.0.0")]),
        ("[::1]:8080:80", [port(80, "8080", host_ip="::1")]),
        ("[fe80::1]::5/tcp", [port(5, host_ip="fe80::1")]),
        ("[1.2.3.4]:80:80", [port(80, "80", host_ip="1.2.3.4")]),
        ("::1:8083:83", [port(83, "8083", host_ip="::1")]),
        ("::ffff:1.2.3.4:1:1", [port(1, "1", host_ip="::ffff:1.2.3.4")]),
        ("9000-9001:9000-9001/udp", [port(9000, "9000", "udp"), port(9001, "9001", "udp")]),
        ("3000-3001", [port(3000), port(3001)]),
        ("8000-8010:80", [port(80, "8000-8010")]),
        ("8000-8000:80", [port(80, "8000")]),
        ("08000-08010:080", [port(80, "8000-8010")]),
        ("0080:080", [port(80, "80")]),
        # Compose sorts by the text "PORT/PROTOCOL".
        ("98-101", [port(100), port(101), port(98), port(99)]),
        ("9-10:19-20", [port(19, "9"), port(20, "10")]),
        ("80/sctp", [port(80, protocol="sctp")]),
        ("80/UDP", [port(80, protocol="udp")]),
        ("81/", [port(81)]),
        ("65535", [port(65535)]),
        # Compose reads only the first two numbers of a range.
        ("1-2-3", [port(1), port(2)]),
    ],
)
def test_short_ports(spec: str, entries: list[dict[str, Any]]) -> None:
    assert parse_port(spec) == entries


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "no container port"),
        ("/udp", "no container port"),
        ("1.2.3.4::", "no container port"),
        ("80:/udp", "no container port"),
        ("abc", 'invalid container port "abc"'),
        ("80:abc", 'invalid container port "abc"'),
        ("70000", 'invalid container port "70000"'),
        ("65536", 'invalid container port "65536"'),
        (" 80", "invalid container port"),
        ("+80", "invalid container port"),
        ("5-1", 'invalid container port "5-1"'),
        ("80-", "invalid container port"),
        ("70000:80", 'invalid host port "70000"'),
        ("x:80", 'invalid host port "x"'),
        ("1:2:3:4", 'invalid IP address "1:2"'),
        ("localhost:80:80", 'invalid IP address "localhost"'),
        ("01.2.3.4:1:1", 'invalid IP address "01.2.3.4"'),
        ("fe80::1%eth0:1:1", "invalid IP address"),
        ("[::1:80:80", "invalid IP address"),
        ("[::1]:80", "invalid IP address"),
        ("80/icmp", 'invalid protocol "icmp"'),
        ("82/udp/x", 'invalid protocol "udp/x"'),
        ("8000:80-81", "ranges differ in size"),
        ("8000-8002:80-81", "ranges differ in size"),
    ],
)
def test_bad_short_ports(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_port(spec)


@pytest.mark.parametrize(
    ("text", "ok"),
    [("127.0.0.1", True), ("::1", True), ("::ffff:1.2.3.4", True), ("fe80::1%eth0", False), ("1.2.3", False),
     ("localhost", False), ("", False), ("01.2.3.4", False)],
)
def test_ip_addresses_as_go_reads_them(text: str, ok: bool) -> None:
    assert is_ip(text) is ok


parts = st.sampled_from(["", "80", "8080", "0", "65535", "65536", "1-3", "3-1", "98-101", "a", "[::1]", "::1",
                         "127.0.0.1", "[", "]", "-", "/udp", "/x", "//"])


@given(st.one_of(st.text(max_size=25), st.lists(parts, max_size=5).map(":".join)))
def test_parser_only_raises_value_error(spec: str) -> None:
    try:
        entries = parse_port(spec)
    except ValueError:
        return
    assert entries
    for entry in entries:
        assert entry["mode"] == "ingress"
        assert entry["protocol"] in ("tcp", "udp", "sctp")
        assert 0 <= entry["target"] <= 65535
        assert isinstance(entry.get("published", ""), str)
