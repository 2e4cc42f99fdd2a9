"""Restart policies without a daemon: wait for a container to exit and start it again as its policy says.

Per container, beside its record:

- `restart.json`: RestartCount (every restart, what `inspect` shows), Attempts (restarts since the user
  last started it: what `on-failure:N` counts), Delay (the current back-off), LastExitCode, LastFinishedAt.
- `stopped-by-user`: a marker meaning "the user stopped this; do not undo it".

The engine's `stop` knows nothing of policies, so whoever stops a container for the user must call
`mark_stopped_by_user` BEFORE `Engine.stop` (`composer container stop|kill|restart`, `compose stop|down|rm`),
and whoever starts it for the user calls `clear_stopped_by_user` AFTER `Engine.start` (`container start|
restart`, `compose start|up`); clearing also resets Attempts and the back-off, as `docker start` does.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError
from composer.planner.restarts import Backoff, RestartPolicy, should_restart
from composer.runtime.engine.locks import locked
from composer.runtime.fsutil import write_atomic
from composer.runtime.oci.paths import ContainerPaths, Roots

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Engine

RESTART_FILE = "restart.json"
STOPPED_MARKER = "stopped-by-user"
_LOCK = ".restart.lock"
POLL = 0.1
"""How often a watcher looks for conmon's exit file (a stat: cheap)."""


@dataclass(frozen=True, slots=True)
class RestartRecord:
    restart_count: int = 0
    attempts: int = 0
    delay: float = 0.0
    last_exit_code: int | None = None
    last_finished_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"RestartCount": self.restart_count, "Attempts": self.attempts, "Delay": self.delay,
                "LastExitCode": self.last_exit_code, "LastFinishedAt": self.last_finished_at}

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> RestartRecord:
        code = doc.get("LastExitCode")
        return cls(int(doc.get("RestartCount") or 0), int(doc.get("Attempts") or 0), float(doc.get("Delay") or 0),
                   None if code is None else int(code), doc.get("LastFinishedAt"))


def load_restarts(paths: ContainerPaths) -> RestartRecord:
    try:
        return RestartRecord.from_json(json.loads((paths.dir / RESTART_FILE).read_bytes()))
    except (OSError, ValueError, TypeError, AttributeError):
        return RestartRecord()


def read_restarts(roots: Roots, container_id: str) -> RestartRecord:
    """The container's restart bookkeeping (all zero when it never restarted)."""
    return load_restarts(roots.container(container_id))


def _save(paths: ContainerPaths, record: RestartRecord) -> None:
    write_atomic(paths.dir / RESTART_FILE, json.dumps(record.to_json()).encode(), fsync=False)


def _update(paths: ContainerPaths, change: Callable[[RestartRecord], RestartRecord]) -> None:
    """Read-modify-write under a per-container lock (the CLI and a watcher may both write)."""
    if not paths.dir.is_dir():
        return
    with locked(paths.dir / _LOCK), contextlib.suppress(FileNotFoundError):
        _save(paths, change(load_restarts(paths)))


def mark_stopped_by_user(roots: Roots, container_id: str) -> None:
    """Call before stopping a container for the user: its policy will not start it again."""
    paths = roots.container(container_id)
    with contextlib.suppress(FileNotFoundError):
        (paths.dir / STOPPED_MARKER).touch()


def clear_stopped_by_user(roots: Roots, container_id: str) -> None:
    """Call after starting a container for the user: its policy applies again, counting from zero."""
    paths = roots.container(container_id)
    (paths.dir / STOPPED_MARKER).unlink(missing_ok=True)
    _update(paths, lambda r: RestartRecord(r.restart_count, 0, 0.0, r.last_exit_code, r.last_finished_at))


def stopped_by_user(roots: Roots, container_id: str) -> bool:
    return (roots.container(container_id).dir / STOPPED_MARKER).exists()


def _exit_mark(paths: ContainerPaths) -> tuple[int, int] | None:
    """Which exit file conmon wrote for the current run (inode, mtime), None while it has not exited."""
    try:
        text = paths.exit_file.read_text().strip()
        st = paths.exit_file.stat()
    except OSError:
        return None
    return (st.st_ino, st.st_mtime_ns) if text.lstrip("-").isdigit() else None


async def watch_restarts(
    engine: Engine,
    container_id: str,
    policy: RestartPolicy,
    stopped_by_user: Callable[[], bool] | None = None,
) -> None:
    """Start the container again each time it exits and `policy` says so, after the back-off; until it is
    removed or the caller cancels us. `stopped_by_user()` (default: the container's marker file) is asked at
    each exit and again just before restarting. A container that was never started is left alone.

    An exit already decided when the watcher starts (a previous supervisor's) is decided again, with the
    same answer: the counts it needs are on disk.
    """
    import trio

    paths = engine.roots.container(container_id)
    asked = stopped_by_user or (lambda: (paths.dir / STOPPED_MARKER).exists())
    decided: tuple[int, int] | None = None
    while True:
        if not paths.dir.is_dir():
            return
        mark = _exit_mark(paths)
        if mark is None or mark == decided:
            await trio.sleep(POLL)
            continue
        decided = mark
        try:
            c = await trio.to_thread.run_sync(engine.get, container_id)
        except ComposerError:
            return
        if c.state.exit_code is None or c.status != "exited":
            continue
        record = load_restarts(paths)
        ran_for = 0.0
        if c.state.started_at is not None and c.state.finished_at is not None:
            ran_for = (c.state.finished_at - c.state.started_at).total_seconds()
        backoff = Backoff(record.delay).after_exit(ran_for)
        if not should_restart(policy, c.state.exit_code, record.attempts, asked()):
            continue
        await trio.sleep(backoff.wait(policy))
        if asked() or _exit_mark(paths) != mark:
            continue  # the user stopped it, or someone started it meanwhile
        try:
            await trio.to_thread.run_sync(engine.start, container_id)
        except ComposerError:
            if not paths.dir.is_dir():
                return
            raise
        finished = c.state.finished_at.astimezone(UTC).isoformat() if c.state.finished_at else None
        code = c.state.exit_code
        _update(paths, _restarted(backoff.delay, code, finished))


def _restarted(delay: float, code: int, finished: str | None) -> Callable[[RestartRecord], RestartRecord]:
    def change(r: RestartRecord) -> RestartRecord:
        return RestartRecord(r.restart_count + 1, r.attempts + 1, delay, code, finished)

    return change
