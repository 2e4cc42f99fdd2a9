"""Durations and byte sizes as Docker Compose reads and prints them (values checked against its binary)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.schema.units import (
    HOUR,
    MILLISECOND,
    MINUTE,
    SECOND,
    format_duration,
    normalize_bytes,
    normalize_duration,
    parse_bytes,
    parse_duration,
)


@pytest.mark.parametrize(
    ("text", "printed"),
    [
        ("10s", "10s"),
        ("90s", "1m30s"),
        ("60s", "1m0s"),
        ("3600s", "1h0m0s"),
        ("1h", "1h0m0s"),
        ("1m", "1m0s"),
        ("1.5h", "1h30m0s"),
        ("1.5s", "1.5s"),
        (".5s", "500ms"),
        ("5.s", "5s"),
        ("500ms", "500ms"),
        ("1500ms", "1.5s"),
        ("1h5m30s20ms", "1h5m30.02s"),
        ("10ms5s", "5.01s"),
        ("1m1m", "2m0s"),
        ("1h0.5m", "1h0m30s"),
        ("1us", "1µs"),
        ("1µs", "1µs"),
        ("1μs", "1µs"),
        ("1500ns", "1.5µs"),
        ("1ns", "1ns"),
        ("0.000000001s", "1ns"),
        ("0.0000000001s", "0s"),
        ("0", "0s"),
        ("+1s", "1s"),
        ("-1s", "-1s"),
        ("-1.5ms", "-1.5ms"),
        ("1d", "24h0m0s"),
        ("1d2h", "26h0m0s"),
        ("1.5d", "36h0m0s"),
        ("1w", "168h0m0s"),
        ("2562047h", "2562047h0m0s"),
    ],
)
def test_durations_print_as_compose_prints_them(text: str, printed: str) -> None:
    assert normalize_duration(text) == printed


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "empty"),
        ("-", "empty"),
        ("10", "missing unit"),
        ("1s10", "missing unit"),
        ("3 s", "unknown unit ' s'"),
        ("1S", "unknown unit 'S'"),
        ("1y", "unknown unit 'y'"),
        ("s", "expected a number"),
        (".s", "expected a number"),
        ("1..5s", "missing unit"),
        ("2562048h", "out of range"),
        ("99999999999999999999s", "too large"),
    ],
)
def test_bad_durations(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_duration(text)


def test_parse_duration_values() -> None:
    assert parse_duration("1h5m30s20ms") == HOUR + 5 * MINUTE + 30 * SECOND + 20 * MILLISECOND
    assert parse_duration("-9223372036854775808ns") == -(1 << 63)
    with pytest.raises(ValueError, match="out of range"):
        parse_duration("9223372036854775808ns")


@pytest.mark.parametrize(
    ("ns", "printed"),
    [(0, "0s"), (1, "1ns"), (999, "999ns"), (1_000, "1µs"), (1_001, "1.001µs"), (MILLISECOND, "1ms"),
     (SECOND, "1s"), (SECOND + 1, "1.000000001s"), (59 * SECOND, "59s"), (MINUTE, "1m0s"),
     (HOUR + SECOND, "1h0m1s"), (100 * HOUR, "100h0m0s"), (-MINUTE, "-1m0s"),
     (-(1 << 63), "-2562047h47m16.854775808s")],
)
def test_format_duration_is_go_duration_string(ns: int, printed: str) -> None:
    assert format_duration(ns) == printed


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("100", 100),
        ("1b", 1),
        ("1B", 1),
        ("1.9b", 1),
        ("1k", 1024),
        ("1kb", 1024),
        ("1KiB", 1024),
        ("1.5k", 1536),
        (".5k", 512),
        ("5.k", 5120),
        ("64m", 64 << 20),
        ("1 mb", 1 << 20),
        ("1 k", 1024),
        ("1 ", 1),
        ("1g", 1 << 30),
        ("1GB", 1 << 30),
        ("1tb", 1 << 40),
        ("1pb", 1 << 50),
        ("1e3", 1000),
        ("+2k", 2048),
        ("0", 0),
        (4096, 4096),
        (-1, -1),
    ],
)
def test_sizes_as_ram_in_bytes_reads_them(text: str | int, size: int) -> None:
    assert parse_bytes(text) == size
    assert normalize_bytes(text) == str(size)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "no number"),
        ("lots", "no number"),
        ("inf", "no number"),
        ("-1", "negative"),
        ("-1k", "negative"),
        ("1ib", "invalid unit 'ib'"),
        ("1Mi", "invalid unit 'Mi'"),
        ("1bb", "invalid unit"),
        ("1kibb", "invalid unit"),
        ("12zb", "invalid unit 'zb'"),
        ("1.2.3", "not a number"),
        ("0x10", "not a number"),
        (" 1", "not a number"),
        ("1m b", "not a number"),
        ("1e400", "too large"),
        ("8388608t", "too large"),
    ],
)
def test_bad_sizes(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_bytes(text)


@pytest.mark.parametrize("value", [True, 1.5, None, [1]])
def test_sizes_of_other_types_are_refused(value: object) -> None:
    with pytest.raises(ValueError, match="must be a number or a string"):
        parse_bytes(value)  # type: ignore[arg-type]


@given(st.text(max_size=20))
def test_duration_parser_only_raises_value_error(text: str) -> None:
    try:
        ns = parse_duration(text)
    except ValueError:
        return
    assert -(1 << 63) <= ns < 1 << 63


@given(st.text(alphabet="0123456789.+-eEsmhdwnuµ ", max_size=12))
def test_duration_round_trip_is_stable(text: str) -> None:
    try:
        printed = normalize_duration(text)
    except ValueError:
        return
    assert normalize_duration(printed) == printed
    assert parse_duration(printed) == parse_duration(text)


@given(st.integers(-(1 << 63), (1 << 63) - 1))
def test_every_duration_prints_back_to_itself(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns
    assert format_duration(parse_duration(format_duration(ns))) == format_duration(ns)


@given(st.one_of(st.text(max_size=20), st.text(alphabet="0123456789. .kKmMgGtTpPbBiIe+-", max_size=10)))
def test_size_parser_only_raises_value_error(text: str) -> None:
    try:
        size = parse_bytes(text)
    except ValueError:
        return
    assert 0 <= size < 1 << 63
    assert parse_bytes(normalize_bytes(text)) == size
