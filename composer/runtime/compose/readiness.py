"""`up --wait` / `start --wait`: block until the services run (and are healthy, where they have a check)."""

from __future__ import annotations

import time
from collections.abc import Sequence

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.runtime.compose.progress import Progress
from composer.runtime.engine.engine import Engine

POLL = 0.1


def _health(engine: Engine, container_id: str) -> str | None:
    from composer.runtime.health import read_health

    state = read_health(engine.roots, container_id)
    return None if state is None else str(state.status)


def wait_until_ready(engine: Engine, want: d.DesiredState, services: Sequence[str], *, timeout: float | None,
                     progress: Progress) -> None:
    """Running, and healthy if there is a healthcheck; a one-shot that exited 0 counts as done."""
    from composer.runtime.compose.observe import has_healthcheck, project_containers

    deadline = None if timeout is None else time.monotonic() + timeout
    announced: set[str] = set()
    checks: dict[str, bool] = {}
    while True:
        pending = []
        for c in project_containers(engine, want.project):
            if c.record.labels.get(d.SERVICE) not in services or c.record.labels.get(d.ONEOFF) == "True":
                continue
            if c.id not in checks:
                checks[c.id] = has_healthcheck(engine, c)
            if c.status in ("exited", "dead"):
                code = c.state.exit_code
                if code != 0 or str(c.record.service.get("restart") or "no") not in ("no", "on-failure"):
                    raise ComposerError(f"container {c.name} exited ({code})")
                ready, word = True, "Exited"
            elif c.status != "running":
                ready, word = False, ""
            elif checks[c.id]:
                health = _health(engine, c.id)
                if health == "unhealthy":
                    raise ComposerError(f"container {c.name} is unhealthy")
                ready, word = health == "healthy", "Healthy"
            else:
                ready, word = True, "Running"
            if not ready:
                pending.append(c.name)
            elif c.id not in announced:
                announced.add(c.id)
                progress.event("Container", c.name, word)
        if not pending:
            return
        if deadline is not None and time.monotonic() > deadline:
            raise ComposerError(f"timeout waiting for {', '.join(pending)} to be running|healthy")
        time.sleep(POLL)
