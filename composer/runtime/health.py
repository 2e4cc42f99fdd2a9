"""Healthchecks without a daemon: probe a running container at Docker's intervals and keep its health state.

The state lives beside the container, `<state root>/containers/<id>/health.json` (replaced atomically), so
whoever runs the watcher (the project's supervisor) can die and a new one carries on, and `ps`/`inspect`
read it without asking anyone. The state names the container run it belongs to (its StartedAt): a state
from an earlier run is stale and the new run starts at `starting`, as Docker resets it on every start.
"""

from __future__ import annotations

import contextlib
import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from composer.errors import ComposerError
from composer.planner.health import HealthSpec, HealthState, Probe, record_probe, stopped
from composer.runtime.fsutil import write_atomic
from composer.runtime.oci.paths import ContainerPaths, Roots
from composer.schema.units import format_duration

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Container, Engine

HEALTH_FILE = "health.json"


def run_key(started_at: datetime | None) -> str:
    """The identity of one run of a container: when it started."""
    return "" if started_at is None else started_at.astimezone(UTC).isoformat()


def started_at(paths: ContainerPaths) -> datetime | None:
    """When the container's current run started (composer's start record), None if it has not."""
    try:
        raw = json.loads(paths.state.read_bytes()).get("started_at")
        return datetime.fromisoformat(raw) if isinstance(raw, str) else None
    except (OSError, ValueError, AttributeError):
        return None


def load_health(paths: ContainerPaths) -> HealthState | None:
    """The stored health state of a container, None when it has none (never probed, or unreadable)."""
    try:
        return HealthState.from_json(json.loads((paths.dir / HEALTH_FILE).read_bytes()))
    except (OSError, ValueError, TypeError, KeyError):
        return None


def read_health(roots: Roots, container_id: str) -> HealthState | None:
    """The health state of the container's current run (a stale one reads as a fresh `starting`)."""
    paths = roots.container(container_id)
    state = load_health(paths)
    if state is None:
        return None
    current = run_key(started_at(paths))
    return state if state.run == current else HealthState(run=current)


def write_health(paths: ContainerPaths, state: HealthState) -> None:
    write_atomic(paths.dir / HEALTH_FILE, json.dumps(state.to_json()).encode(), fsync=False)


async def _container(engine: Engine, container_id: str) -> Container | None:
    import trio

    try:
        return await trio.to_thread.run_sync(engine.get, container_id)
    except ComposerError:
        return None


async def probe_once(engine: Engine, container_id: str, spec: HealthSpec) -> Probe:
    """Run the check once in the running container; a timeout or a command that cannot start is exit -1."""
    import trio

    from composer.runtime.oci.exec import exec_spec
    from composer.runtime.oci.probe import run_probe

    config = await trio.to_thread.run_sync(engine.roots.container(container_id).config.read_text)
    process = exec_spec(json.loads(config)["process"], list(spec.argv), user=None)
    start = datetime.now(UTC)
    outcome = await run_probe(engine.oci.cfg, container_id, process, spec.timeout)
    end = datetime.now(UTC)
    if outcome.timed_out:
        limit = format_duration(round(spec.timeout * 1e9))
        return Probe(start, end, -1, f"Health check exceeded timeout ({limit})")
    if outcome.exit_code is None:
        return Probe(start, end, -1, outcome.error or outcome.output)
    return Probe(start, end, outcome.exit_code, outcome.output)


async def watch_health(engine: Engine, container_id: str, spec: HealthSpec) -> None:
    """Probe the container at the spec's intervals, storing each result, until it stops running or is gone
    (then its state becomes unhealthy, as Docker's does) or the caller cancels us.

    Watches the run that is current when it starts; a restarted container needs a new watcher. A state
    already stored for this run (a previous watcher's) is continued, not reset.
    """
    import trio

    c = await _container(engine, container_id)
    if c is None or c.state.status not in ("running", "paused"):
        return
    paths = engine.roots.container(container_id)
    started = c.state.started_at or datetime.now(UTC)
    run = run_key(c.state.started_at)
    previous = load_health(paths)
    state = previous if previous is not None and previous.run == run else HealthState(run=run)
    with contextlib.suppress(FileNotFoundError):
        write_health(paths, state)

    def ended(c: Container | None) -> bool:
        """Gone, restarted or stopped: this watcher is done (a stop of our run leaves it unhealthy)."""
        if c is not None and run_key(c.state.started_at) == run and c.state.status in ("running", "paused"):
            return False
        if c is not None and run_key(c.state.started_at) == run:
            with contextlib.suppress(FileNotFoundError):
                write_health(paths, stopped(state))
        return True

    while True:
        since = (datetime.now(UTC) - started).total_seconds()
        await trio.sleep(max(0.0, spec.next_interval(state.status, since)))
        c = await _container(engine, container_id)
        if ended(c):
            return
        assert c is not None
        if c.state.status == "paused":
            continue
        try:
            probe = await probe_once(engine, container_id, spec)
        except (OSError, ComposerError):
            return  # the container went away under us
        c = await _container(engine, container_id)
        if ended(c):  # stopped during the probe: its result says nothing
            return
        in_start = spec.in_start_period((probe.start - started).total_seconds())
        state = record_probe(state, probe, spec, in_start)
        try:
            write_health(paths, state)
        except FileNotFoundError:
            return
