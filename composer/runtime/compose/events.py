"""`composer events`: container events of a project, from snapshots of its containers (there is no daemon).

Two snapshots taken a moment apart are compared: a new container is `create` (and `start` if it
runs), a state change is `start`/`die`/`stop`/`pause`/`unpause`, a health change `health_status: X`,
a vanished container `destroy`. Printed as Docker Compose prints them (text or `--json`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from composer.planner import labels as d

RUNNING = ("running", "restarting")


@dataclass(frozen=True)
class Snapshot:
    """What one container looks like at one moment, as far as events go."""

    id: str
    name: str
    image: str
    status: str
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None
    health: str | None = None
    stopped_by_user: bool = False


@dataclass(frozen=True)
class Event:
    time: datetime
    action: str
    id: str
    service: str
    attributes: Mapping[str, str]

    def text(self) -> str:
        """Compose's text form: `2024-01-01 12:00:00.000000 container start ID (image=..., name=...)`
        followed by an empty line (Compose prints a newline after a string that ends in one)."""
        when = self.time.astimezone().strftime("%Y-%m-%d %H:%M:%S.%f")
        attrs = ", ".join(f"{k}={v}" for k, v in sorted(self.attributes.items()))
        return f"{when} container {self.action} {self.id} ({attrs})\n\n"

    def json(self) -> str:
        """Compose's `--json` object (keys sorted, as Go marshals a map), one line."""
        doc = {"action": self.action, "attributes": dict(sorted(self.attributes.items())), "id": self.id,
               "service": self.service, "time": go_time(self.time), "type": "container"}
        return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"


def go_time(moment: datetime) -> str:
    """A time as Go's JSON encoding writes it (RFC 3339 with trailing zeros of the fraction dropped)."""
    local = moment.astimezone()
    text = local.strftime("%Y-%m-%dT%H:%M:%S")
    if local.microsecond:
        text += f".{local.microsecond:06d}".rstrip("0")
    offset = local.strftime("%z")
    return text + ("Z" if offset in ("+0000", "") else f"{offset[:3]}:{offset[3:]}")


def _attributes(snap: Snapshot, **extra: str) -> dict[str, str]:
    attrs = {k: v for k, v in snap.labels.items() if not k.startswith("com.docker.compose.")}
    attrs.update(image=snap.image, name=snap.name, **extra)
    return attrs


def changes(before: Mapping[str, Snapshot], after: Mapping[str, Snapshot], now: datetime,
            services: tuple[str, ...] = ()) -> list[Event]:
    """The events between two snapshots (one-off containers and other services' are left out)."""
    out: list[Event] = []

    def add(snap: Snapshot, action: str, **extra: str) -> None:
        if snap.labels.get(d.ONEOFF) == "True":
            return
        service = snap.labels.get(d.SERVICE, "")
        if services and service not in services:
            return
        out.append(Event(now, action, snap.id, service, _attributes(snap, **extra)))

    for cid, new in after.items():
        old = before.get(cid)
        if old is None:
            add(new, "create")
            if new.status in RUNNING or new.status == "paused":
                add(new, "start")
            if new.status == "exited":
                add(new, "start")
                add(new, "die", exitCode=str(new.exit_code or 0))
            continue
        was, now_status = old.status, new.status
        if was != now_status:
            if now_status == "paused":
                add(new, "pause")
            elif was == "paused" and now_status in RUNNING:
                add(new, "unpause")
            elif now_status in RUNNING:
                add(new, "start")
            elif now_status in ("exited", "dead"):
                if was == "paused":
                    add(new, "unpause")
                add(new, "die", exitCode=str(new.exit_code or 0))
                if new.stopped_by_user:
                    add(new, "stop")
        if new.health and new.health != old.health and new.health != "starting":
            add(new, f"health_status: {new.health}")
    for cid, old in before.items():
        if cid not in after:
            if old.status in RUNNING or old.status == "paused":
                add(old, "die", exitCode="137")
            add(old, "destroy")
    return out
