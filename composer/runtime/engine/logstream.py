"""`logs` and `logs -f` over conmon's k8s-file log: the entries so far, then new ones as they are written.

Following polls the file (conmon appends; no inotify dependency) and ends once the container has stopped
and the file has been read to its end, as `docker logs -f` ends when the container does.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

from composer.runtime.oci.logs import LogEntry, parse_log, read_log

POLL = 0.05


def stream_log(
    path: Path,
    *,
    follow: bool,
    running: Callable[[], bool],
    tail: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    poll: float = POLL,
) -> Iterator[LogEntry]:
    """Entries within [since, until), the last `tail` of what is there now, then (with `follow`) what comes."""
    raw = _read_from(path, 0)
    offset = len(raw)
    complete, _, partial = raw.decode(errors="replace").rpartition("\n")
    yield from read_log_text(complete, tail=tail, since=since, until=until)
    if not follow:
        if partial:
            yield from _filter(parse_log([partial]), since, until)
        return
    pending = partial.encode()
    while True:
        alive = running()
        chunk = _read_from(path, offset)
        if chunk:
            offset += len(chunk)
            done_raw, _, pending = (pending + chunk).rpartition(b"\n")
            done = done_raw.decode(errors="replace")
            for entry in _filter(parse_log(done.splitlines()), since, until):
                if until is not None and entry.time >= until:
                    return
                yield entry
            continue
        if not alive:
            if pending:
                yield from _filter(parse_log([pending.decode(errors="replace")]), since, until)
            return
        if until is not None and datetime.now(until.tzinfo) >= until:
            return
        time.sleep(poll)


def read_log_text(text: str, *, tail: int | None, since: datetime | None, until: datetime | None) -> list[LogEntry]:
    from collections import deque

    entries = _filter(parse_log(text.splitlines()), since, until)
    if tail is None:
        return list(entries)
    return list(deque(entries, maxlen=tail)) if tail > 0 else []


def _filter(entries: Iterator[LogEntry], since: datetime | None, until: datetime | None) -> Iterator[LogEntry]:
    for e in entries:
        if (since is None or e.time >= since) and (until is None or e.time < until):
            yield e


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read()
    except FileNotFoundError:
        return b""


__all__ = ["LogEntry", "read_log", "stream_log"]
