"""Durations and byte sizes, read and written the way Docker Compose does.

Compose reads durations with Go's `time.ParseDuration` rules plus the `d` and `w` units
(`1h5m30s20ms`, `1.5s`, `90s`, `1d`; a bare number is refused, except `0`) and prints them with
Go's `time.Duration.String` (`1m30s`, `1h0m0s`, `500ms`, `1.5µs`). Byte sizes follow Docker's
`RAMInBytes` (go-units): a decimal number, an optional space, an optional 1024-based unit
`b`, `k`, `m`, `g`, `t`, `p`, optionally followed by `b` or `ib`, in any case (`64m`, `1.5GiB`).
Both parsers raise ValueError with a message that says what was wrong, and nothing else.
"""

from __future__ import annotations

import math
import re

_MAX = 1 << 63
"""Go durations and sizes are signed 64-bit: |value| may reach 2**63 only when negative."""

NANOSECOND = 1
MICROSECOND = 1_000
MILLISECOND = 1_000_000
SECOND = 1_000_000_000
MINUTE = 60 * SECOND
HOUR = 60 * MINUTE

_DURATION_UNITS = {
    "ns": NANOSECOND,
    "us": MICROSECOND,
    "\u00b5s": MICROSECOND,  # micro sign
    "\u03bcs": MICROSECOND,  # Greek small letter mu
    "ms": MILLISECOND,
    "s": SECOND,
    "m": MINUTE,
    "h": HOUR,
    "d": 24 * HOUR,
    "w": 7 * 24 * HOUR,
}
_UNIT_NAMES = "ns, us, ms, s, m, h, d or w"
_DIGITS = "0123456789"


def _leading_int(text: str, pos: int) -> tuple[int, int]:
    """The integer starting at `pos` and where it ends; ValueError when it cannot fit in 64 bits."""
    value = 0
    while pos < len(text) and text[pos] in _DIGITS:
        value = value * 10 + ord(text[pos]) - 48
        if value > _MAX:
            raise ValueError("number too large")
        pos += 1
    return value, pos


def _leading_fraction(text: str, pos: int) -> tuple[int, float, int]:
    """Digits after a dot as (numerator, scale, end); digits past 63 bits of precision are dropped, as Go does."""
    value, scale, overflow = 0, 1.0, False
    while pos < len(text) and text[pos] in _DIGITS:
        if not overflow:
            bigger = value * 10 + ord(text[pos]) - 48
            if value > (_MAX - 1) // 10 or bigger > _MAX:
                overflow = True
            else:
                value, scale = bigger, scale * 10
        pos += 1
    return value, scale, pos


def parse_duration(text: str) -> int:
    """`text` in nanoseconds: a signed sequence of decimal numbers, each with a unit (`1h5m30.5s`)."""
    if not isinstance(text, str):
        raise ValueError(f"a duration must be a string, not {type(text).__name__}")
    body, negative = text, False
    if body[:1] in ("-", "+"):
        negative, body = body[0] == "-", body[1:]
    if body == "0":
        return 0
    if not body:
        raise ValueError("empty duration")
    total, pos = 0, 0
    while pos < len(body):
        if body[pos] not in "." + _DIGITS:
            raise ValueError(f"expected a number at {body[pos:]!r}")
        start = pos
        whole, pos = _leading_int(body, pos)
        has_whole = pos > start
        numerator, scale, has_fraction = 0, 1.0, False
        if pos < len(body) and body[pos] == ".":
            numerator, scale, end = _leading_fraction(body, pos + 1)
            has_fraction, pos = end > pos + 1, end
        if not has_whole and not has_fraction:
            raise ValueError(f"expected a number at {body[start:]!r}")
        unit_start = pos
        while pos < len(body) and body[pos] not in "." + _DIGITS:
            pos += 1
        unit = body[unit_start:pos]
        if not unit:
            raise ValueError(f"missing unit after {body[start:pos]!r} (use {_UNIT_NAMES})")
        if unit not in _DURATION_UNITS:
            raise ValueError(f"unknown unit {unit!r} (use {_UNIT_NAMES})")
        factor = _DURATION_UNITS[unit]
        if whole > _MAX // factor:
            raise ValueError("duration out of range")
        value = whole * factor
        if numerator:
            value += int(float(numerator) * (float(factor) / scale))
        total += value
        if value > _MAX or total > _MAX:
            raise ValueError("duration out of range")
    if negative:
        return -total
    if total > _MAX - 1:
        raise ValueError("duration out of range")
    return total


def _fraction(value: int, places: int) -> str:
    """`value / 10**places` in decimal without trailing zeros (`1500, 3` -> `1.5`)."""
    whole, frac = divmod(value, 10**places)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(places, '0').rstrip('0')}"


def format_duration(ns: int) -> str:
    """Go's `time.Duration.String`: `0s`, `750ns`, `1.5µs`, `500ms`, `1m30s`, `1h0m0s`, `-2s`."""
    if ns == 0:
        return "0s"
    sign, size = ("-", -ns) if ns < 0 else ("", ns)
    if size < MICROSECOND:
        return f"{sign}{size}ns"
    if size < MILLISECOND:
        return f"{sign}{_fraction(size, 3)}\u00b5s"
    if size < SECOND:
        return f"{sign}{_fraction(size, 6)}ms"
    text = f"{_fraction(size % MINUTE, 9)}s"
    minutes = size // MINUTE
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def normalize_duration(text: str) -> str:
    """A duration as Compose prints it (`90s` -> `1m30s`)."""
    return format_duration(parse_duration(text))


_BYTE_UNITS = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}
# Go's strconv.ParseFloat, decimal form only: no inf/nan, no underscores, no hex.
_GO_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def parse_bytes(value: str | int) -> int:
    """A size in bytes: an int as is, or a string such as `1024`, `64m`, `1.5g`, `2 GiB`."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise ValueError(f"a size must be a number or a string, not {type(value).__name__}")
    if isinstance(value, int):
        return value
    # The number ends at the last digit, dot or space; a space there separates it from the unit.
    cut = max(value.rfind(c) for c in "0123456789. ")
    if cut < 0:
        raise ValueError("no number in size")
    number, suffix = (value[:cut], value[cut + 1 :]) if value[cut] == " " else (value[: cut + 1], value[cut + 1 :])
    if not _GO_FLOAT.fullmatch(number):
        raise ValueError(f"{number!r} is not a number")
    size = float(number)
    if size < 0:
        raise ValueError("a size cannot be negative")
    unit = suffix.lower()
    if unit and unit != "b":
        factor = _BYTE_UNITS.get(unit[0])
        if factor is None or len(unit) > 3 or unit[1:] not in ("", "b", "ib"):
            raise ValueError(f"invalid unit {suffix!r} (use b, k, m, g, t or p, optionally followed by b or ib)")
        size *= factor
    if not math.isfinite(size) or size >= _MAX:
        raise ValueError("size too large")
    return int(size)


def normalize_bytes(value: str | int) -> str:
    """A size as Compose prints it: the number of bytes, as a string (`64m` -> `"67108864"`)."""
    return str(parse_bytes(value))
