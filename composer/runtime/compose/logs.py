"""The logs of a project's containers, prefixed and coloured as Docker Compose prints them.

Used by `composer logs` and by foreground `up`. With `follow`, the project's containers are listed
again every `RELIST` seconds, so a recreated container, a new replica or a one that restarts keeps
showing (a restarted container continues its log file; a new container is read from its start);
a removed container's task ends after reading what is left. Following ends when `stop` is set (or
at `until`); like Compose's `logs -f`, not when the containers exit.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TextIO

import trio

from composer.planner import labels as d
from composer.runtime.engine.logstream import _filter, _read_from, read_log_text
from composer.runtime.oci.logs import LogEntry, parse_log

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Container, Engine

RELIST = 0.5
POLL = 0.1

# Compose's rainbow: cyan, yellow, green, magenta, blue, then their intense (bold) variants.
RAINBOW = ("36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1")


def display_name(labels: dict[str, str], name: str) -> str:
    """The container's name without its project, as Compose shows it (a custom `container_name` in full)."""
    project = labels.get(d.PROJECT, "")
    default = f"{project}-{labels.get(d.SERVICE, '')}-{labels.get(d.NUMBER, '')}"
    return name[len(project) + 1:] if name == default and project else name


def colorize(code: str, text: str) -> str:
    return f"\x1b[{code}m{text}\x1b[0m"


@dataclass
class Prefixes:
    """One presenter per name: the width is the longest name + 1, recomputed when a name is added."""

    prefix: bool = True
    color: bool = False
    names: dict[str, str] = field(default_factory=dict)  # name -> colour code ("" for none)

    def register(self, name: str) -> None:
        if name not in self.names:
            self.names[name] = RAINBOW[len(self.names) % len(RAINBOW)] if self.color else ""

    @property
    def width(self) -> int:
        return max((len(n) for n in self.names), default=0) + 1

    def of(self, name: str) -> str:
        self.register(name)
        if not self.prefix:
            return ""
        text = f"{name:<{self.width}} | "
        code = self.names[name]
        return colorize(code, text) if code else text


def format_timestamp(raw: str) -> str:
    """conmon's RFC 3339 stamp as Docker prints it: UTC, `Z`, nanoseconds without trailing zeros."""
    if raw.endswith("+00:00") or raw.endswith("Z"):
        body = raw.removesuffix("Z").removesuffix("+00:00")
        if "." in body:
            body = body.rstrip("0").rstrip(".")
        return body + "Z"
    return datetime.fromisoformat(raw).astimezone(UTC).isoformat().replace("+00:00", "Z")


def format_line(prefix: str, entry: LogEntry, *, timestamps: bool) -> str:
    text = f"{format_timestamp(entry.timestamp)} {entry.text}" if timestamps else entry.text
    return f"{prefix}{text}\n"


def _selected(engine: Engine, project: str, services: Sequence[str], index: int | None) -> list[Container]:
    from composer.runtime.compose.observe import project_containers

    out = []
    for c in project_containers(engine, project):
        labels = c.record.labels
        if labels.get(d.ONEOFF) == "True":
            continue
        if services and labels.get(d.SERVICE) not in services:
            continue
        if index is not None and labels.get(d.NUMBER) != str(index):
            continue
        out.append(c)
    out.sort(key=lambda c: (c.record.labels.get(d.SERVICE, ""), c.record.labels.get(d.NUMBER, ""), c.name))
    return out


async def follow_project_logs(
    engine: Engine,
    project: str,
    services: Sequence[str],
    *,
    follow: bool,
    tail: int | None,
    timestamps: bool,
    since: datetime | None,
    until: datetime | None,
    prefix: bool,
    color: bool,
    out: TextIO,
    index: int | None = None,
    stop: trio.Event | None = None,
    err: TextIO | None = None,
) -> None:
    """Print the logs of the project's containers (of `services`); with `follow`, keep printing until `stop`."""
    err = err or out
    prefixes = Prefixes(prefix=prefix, color=color)
    containers = await trio.to_thread.run_sync(_selected, engine, project, services, index)
    for c in containers:
        prefixes.register(display_name(c.record.labels, c.name))

    def emit(name: str, entry: LogEntry) -> None:
        stream = out if entry.stream == "stdout" else err
        stream.write(format_line(prefixes.of(name), entry, timestamps=timestamps))
        stream.flush()

    if not follow:
        merged: list[tuple[datetime, int, str, LogEntry]] = []
        for n, c in enumerate(containers):
            text = _read_from(c.paths.log, 0).decode(errors="replace")
            name = display_name(c.record.labels, c.name)
            merged += [(e.time, n, name, e) for e in read_log_text(text, tail=tail, since=since, until=until)]
        merged.sort(key=lambda item: (item[0], item[1]))
        for _, _, name, entry in merged:
            emit(name, entry)
        return

    alive: set[str] = {c.id for c in containers}
    seen: set[str] = set()

    async def one(c: Container, first: bool) -> None:
        name = display_name(c.record.labels, c.name)
        prefixes.register(name)
        raw = _read_from(c.paths.log, 0)
        offset = len(raw)
        complete, _, partial = raw.decode(errors="replace").rpartition("\n")
        for entry in read_log_text(complete, tail=tail if first else None, since=since, until=until):
            emit(name, entry)
        pending = partial.encode()
        while True:
            gone = c.id not in alive
            chunk = _read_from(c.paths.log, offset)
            if chunk:
                offset += len(chunk)
                done_raw, _, pending = (pending + chunk).rpartition(b"\n")
                for entry in _filter(parse_log(done_raw.decode(errors="replace").splitlines()), since, until):
                    emit(name, entry)
                continue
            if gone:
                if pending:
                    for entry in _filter(parse_log([pending.decode(errors="replace")]), since, until):
                        emit(name, entry)
                return
            await trio.sleep(POLL)

    async def relist(nursery: trio.Nursery) -> None:
        while True:
            await trio.sleep(RELIST)
            current = await trio.to_thread.run_sync(_selected, engine, project, services, index)
            alive.clear()
            alive.update(c.id for c in current)
            for c in current:
                if c.id not in seen:
                    seen.add(c.id)
                    nursery.start_soon(one, c, False)

    async def deadline(cancel: Callable[[], None]) -> None:
        if until is not None:
            await trio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()))
            await trio.sleep(POLL * 2)  # what was written before `until` is read
            cancel()

    async with trio.open_nursery() as nursery:
        for c in containers:
            seen.add(c.id)
            nursery.start_soon(one, c, True)
        nursery.start_soon(relist, nursery)
        nursery.start_soon(deadline, nursery.cancel_scope.cancel)
        if stop is not None:
            await stop.wait()
            nursery.cancel_scope.cancel()
