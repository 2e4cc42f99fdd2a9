"""`--since`/`--until` values as Docker reads them: a Go duration before now (`42m`, `1h30m`), Unix
seconds (`1700000000.5`), or an RFC 3339 date/time with or without time and zone (local time if none)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from composer.errors import ComposerError

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    pos, total = 0, 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text.lstrip("+-")
    while pos < len(body):
        match = _DURATION.match(body, pos)
        if match is None:
            return None
        total += float(match.group(1)) * _SECONDS[match.group(2)]
        pos = match.end()
    return sign * total if body else None


def parse_timestamp(text: str, now: datetime) -> datetime:
    """The moment `text` names, as an aware datetime."""
    value = text.strip()
    seconds = _duration(value)
    if seconds is not None:
        return now - timedelta(seconds=seconds)
    if re.fullmatch(r"\d+(\.\d+)?", value):
        whole, _, frac = value.partition(".")
        return datetime.fromtimestamp(int(whole), UTC) + timedelta(microseconds=int((frac or "0")[:6].ljust(6, "0")))
    iso = value.replace("Z", "+00:00")
    iso = re.sub(r"(\.\d{6})\d+", r"\1", iso)  # Python keeps microseconds
    try:
        moment = datetime.fromisoformat(iso)
    except ValueError:
        raise ComposerError(
            f"invalid time {text!r}: use RFC 3339 (2013-01-02T13:23:37Z), Unix seconds, or a duration such as 42m"
        ) from None
    return moment if moment.tzinfo is not None else moment.astimezone()
