"""Reading conmon's k8s-file log: `<RFC3339Nano> <stdout|stderr> <F|P> <text>` per line.

A `P` (partial) line is a piece of a longer line that conmon split; it is joined with the following pieces of
the same stream up to the next `F`. Parsing is pure so `logs -t/--since/--until/--tail` are testable alone.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal

Stream = Literal["stdout", "stderr"]


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One logical output line; `time` is when its first piece was written, `timestamp` its raw text."""

    time: datetime
    timestamp: str
    stream: Stream
    text: str


def parse_log(lines: Iterable[str]) -> Iterator[LogEntry]:
    """Logical lines from k8s-file log lines, in order of completion; malformed lines are skipped.

    A partial line still pending at the end of input (the container is writing it) is yielded last.
    """
    pending: dict[str, tuple[datetime, str, list[str]]] = {}
    for raw in lines:
        parts = raw.rstrip("\n").split(" ", 3)
        if len(parts) < 3 or parts[1] not in ("stdout", "stderr") or parts[2] not in ("F", "P"):
            continue
        ts, stream, tag = parts[0], parts[1], parts[2]
        text = parts[3] if len(parts) == 4 else ""
        try:
            when = datetime.fromisoformat(ts)
        except ValueError:
            continue
        first_when, first_ts, pieces = pending.pop(stream, (when, ts, []))
        pieces.append(text)
        if tag == "P":
            pending[stream] = (first_when, first_ts, pieces)
            continue
        yield LogEntry(first_when, first_ts, stream, "".join(pieces))  # type: ignore[arg-type]
    for stream, (when, ts, pieces) in pending.items():
        yield LogEntry(when, ts, stream, "".join(pieces))  # type: ignore[arg-type]


def read_log(
    path: Path,
    *,
    tail: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    streams: tuple[Stream, ...] = ("stdout", "stderr"),
) -> list[LogEntry]:
    """The log's entries filtered by stream and time (`since` inclusive, `until` exclusive), then the last `tail`."""
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    entries: Iterable[LogEntry] = (
        e
        for e in parse_log(text.splitlines())
        if e.stream in streams and (since is None or e.time >= since) and (until is None or e.time < until)
    )
    if tail is not None:
        return list(deque(entries, maxlen=tail)) if tail > 0 else []
    return list(entries)
