"""Foreground `up`: print the services' logs until they have all exited, or until Ctrl-C stops them.

The first Ctrl-C stops the attached services gracefully (their stop signal, then SIGKILL after the
grace period); a second one kills them. `--abort-on-container-exit` / `--abort-on-container-failure`
stop everything when one container exits (with failure); `--exit-code-from` picks the exit code.
"""

from __future__ import annotations

import functools
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import trio

from composer.planner import labels as d
from composer.planner.desired import DesiredState
from composer.runtime.compose.progress import Progress
from composer.runtime.engine.engine import Container, Engine

POLL = 0.2
SIGINT_EXIT = 130


@dataclass(frozen=True)
class Attached:
    services: Sequence[str]
    shown: Sequence[str]
    abort_on_exit: bool = False
    abort_on_failure: bool = False
    exit_code_from: str | None = None
    timeout: float | None = None
    color: bool = False
    prefix: bool = True
    timestamps: bool = False
    since: datetime | None = None
    """Show log lines from this moment on (when `up` began: a restarted container's old lines stay out)."""


def run_foreground(engine: Engine, want: DesiredState, attached: Attached, progress: Progress) -> int:
    return trio.run(_foreground, engine, want, attached, progress)


def _mine(engine: Engine, want: DesiredState, services: Sequence[str]) -> list[Container]:
    from composer.runtime.compose.observe import project_containers

    return [c for c in project_containers(engine, want.project)
            if c.record.labels.get(d.SERVICE) in services and c.record.labels.get(d.ONEOFF) != "True"]


async def _stop_all(engine: Engine, want: DesiredState, attached: Attached, *, kill: bool) -> None:
    from composer.runtime import restarts

    containers = await trio.to_thread.run_sync(_mine, engine, want, attached.services)

    async def one(c: Container) -> None:
        restarts.mark_stopped_by_user(engine.roots, c.id)
        if kill:
            await trio.to_thread.run_sync(engine.kill, c.id, "KILL", abandon_on_cancel=True)
        else:
            await trio.to_thread.run_sync(functools.partial(engine.stop, c.id, timeout=attached.timeout),
                                          abandon_on_cancel=True)

    async with trio.open_nursery() as nursery:
        for c in containers:
            if c.status in ("running", "paused"):
                nursery.start_soon(one, c)


async def _foreground(engine: Engine, want: DesiredState, attached: Attached, progress: Progress) -> int:
    from composer.runtime.compose.logs import follow_project_logs

    result = {"code": 0}
    logs_done = trio.Event()
    stop_logs = trio.Event()
    print("Attaching to " + ", ".join(c.name for c in _mine(engine, want, attached.shown)), flush=True)

    async def logs() -> None:
        try:
            await follow_project_logs(engine, want.project, list(attached.shown), follow=True, tail=None,
                                      timestamps=attached.timestamps, since=attached.since, until=None,
                                      prefix=attached.prefix, color=attached.color, out=sys.stdout,
                                      stop=stop_logs)
        finally:
            logs_done.set()

    reported: dict[str, str] = {}

    async def watch(cancel: trio.CancelScope) -> None:
        quiet_polls = 0
        while True:
            await trio.sleep(POLL)
            containers = await trio.to_thread.run_sync(_mine, engine, want, attached.services)
            exited = [c for c in containers if c.status in ("exited", "dead")]
            for c in exited:  # once per run of each container, as Compose prints it
                finished = str(c.state.finished_at)
                if reported.get(c.id) != finished:
                    reported[c.id] = finished
                    short = c.name.removeprefix(f"{want.project}-")
                    print(f"{short} exited with code {c.state.exit_code or 0}", flush=True)
            failed = [c for c in exited if (c.state.exit_code or 0) != 0]
            trigger = exited if attached.abort_on_exit else failed if attached.abort_on_failure else []
            if trigger:
                culprit = trigger[0]
                if attached.exit_code_from:
                    chosen = [c for c in exited if c.record.labels.get(d.SERVICE) == attached.exit_code_from]
                    if not chosen:
                        continue
                    culprit = chosen[0]
                result["code"] = culprit.state.exit_code or 0
                print("Aborting on container exit...", flush=True)
                await _stop_all(engine, want, attached, kill=False)
                break
            running = [c for c in containers if c.status in ("running", "paused", "restarting")]
            quiet_polls = quiet_polls + 1 if not running else 0
            if quiet_polls >= 3:  # a restart policy may bring one back: wait a moment before calling it done
                if attached.exit_code_from:
                    chosen = [c for c in containers if c.record.labels.get(d.SERVICE) == attached.exit_code_from]
                    result["code"] = (chosen[0].state.exit_code or 0) if chosen else 0
                break
        await trio.sleep(0.3)  # the last lines
        stop_logs.set()
        cancel.cancel()

    async def interrupts(cancel: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            count = 0
            async for _ in signals:
                count += 1
                result["code"] = SIGINT_EXIT
                if count == 1:
                    print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr, flush=True)

                    async def graceful() -> None:
                        await _stop_all(engine, want, attached, kill=False)
                        stop_logs.set()
                        await trio.sleep(0.3)
                        cancel.cancel()

                    nursery.start_soon(graceful)
                else:
                    await _stop_all(engine, want, attached, kill=True)
                    stop_logs.set()
                    cancel.cancel()
                    return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(logs)
        nursery.start_soon(watch, nursery.cancel_scope)
        nursery.start_soon(interrupts, nursery.cancel_scope)
    return result["code"]
