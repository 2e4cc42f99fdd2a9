"""The per-project supervisor: after `up -d`, someone must stay awake for healthchecks and restart policies.

A detached process (`python -m composer.runtime.compose.supervisor PROJECT`) holding
`<run root>/supervisors/<project>.lock`. It re-lists the project's containers every second and keeps one
health watcher per running container with a healthcheck and one restart watcher per container with a
restart policy. It keeps no state of its own: health and restart counts live beside each container, so
killing it disturbs nothing, and the next composer command starts a fresh one that carries on. It exits
once the project has no containers left.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Engine

POLL = 1.0
IDLE_POLLS = 3


def _paths(run_root: Path, project: str) -> tuple[Path, Path]:
    base = run_root / "supervisors"
    return base / f"{project}.lock", base / f"{project}.log"


def _held(lock: Path) -> bool:
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
            return True
        raise
    finally:
        os.close(fd)
    return False


def needs_supervision(engine: Engine, container: Any) -> bool:
    """A restart policy or a healthcheck (the service's or the image's) needs someone awake."""
    from composer.runtime.compose.observe import has_healthcheck

    restart = str(container.record.service.get("restart") or "no")
    policy = ((container.record.service.get("deploy") or {}).get("restart_policy") or {})
    return restart != "no" or bool(policy) or has_healthcheck(engine, container)


def _needs_supervision(engine: Engine, project: str) -> bool:
    from composer.runtime.compose.observe import project_containers

    return any(needs_supervision(engine, c) for c in project_containers(engine, project))


def ensure_supervisor(engine: Engine, project: str, *, container: Any = None) -> None:
    """Start the project's supervisor unless one runs or nothing needs one; wait until it holds its lock.

    With `container`, only that container is looked at (what `up` does after each start: listing the whole
    project there would make a cold `up` quadratic).
    """
    lock, log = _paths(engine.roots.run_root, project)
    if _held(lock):
        return
    if not (needs_supervision(engine, container) if container is not None else _needs_supervision(engine, project)):
        return
    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    env = dict(os.environ)
    env.pop("COMPOSER_FAILPOINTS", None)  # meant for the command that starts it, not for the supervisor
    env.update({
        "COMPOSER_ROOT": str(engine.roots.state_root),
        "COMPOSER_RUN_ROOT": str(engine.roots.run_root),
        "COMPOSER_RUNTIME": engine.oci.cfg.runtime,
        "COMPOSER_CONMON": engine.oci.cfg.conmon,
        "COMPOSER_CGROUP_PARENT": engine.cgroup_parent,
        "COMPOSER_NFT_TABLE": engine.nft_table,
    })
    with open(log, "ab") as out:
        subprocess.Popen(
            [sys.executable, "-m", "composer.runtime.compose.supervisor", project],
            stdin=subprocess.DEVNULL, stdout=out, stderr=out, env=env, start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not _held(lock):
        time.sleep(0.02)


def supervisor_pid(engine: Engine, project: str) -> int | None:
    lock, _log = _paths(engine.roots.run_root, project)
    if not _held(lock):
        return None
    with contextlib.suppress(OSError, ValueError):
        return int(lock.read_text().split()[0])
    return None


def stop_supervisor(engine: Engine, project: str, *, timeout: float = 5.0) -> None:
    """Stop the project's supervisor (before `down`, so it does not restart what is being removed)."""
    pid = supervisor_pid(engine, project)
    if pid is None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    lock, _log = _paths(engine.roots.run_root, project)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and _held(lock):
        time.sleep(0.02)
    if _held(lock):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def supervise(engine: Engine, project: str) -> None:
    """Keep one watcher per container and concern until the project is gone."""
    import trio

    from composer.planner.health import health_spec
    from composer.planner.restarts import restart_policy
    from composer.runtime import health, restarts
    from composer.runtime.compose.observe import project_containers

    watchers: dict[tuple[str, str], trio.CancelScope] = {}

    async def watch(key: tuple[str, str], fn: Any, *args: Any, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        with trio.CancelScope() as scope:
            watchers[key] = scope
            task_status.started()
            try:
                await fn(*args)
            except Exception as exc:
                print(f"supervisor: {key[1]} of {key[0][:12]}: {exc}", file=sys.stderr, flush=True)
        watchers.pop(key, None)

    idle = 0
    async with trio.open_nursery() as nursery:
        while True:
            containers = await trio.to_thread.run_sync(lambda: project_containers(engine, project))
            idle = idle + 1 if not containers else 0
            if idle >= IDLE_POLLS:
                nursery.cancel_scope.cancel()
                return
            alive = {c.id for c in containers}
            for (cid, _what), scope in list(watchers.items()):
                if cid not in alive:
                    scope.cancel()
            for c in containers:
                service = c.record.service
                policy = restart_policy(service)
                if policy is not None and (c.id, "restart") not in watchers:
                    await nursery.start(
                        watch, (c.id, "restart"), restarts.watch_restarts, engine, c.id, policy,
                        lambda cid=c.id: restarts.stopped_by_user(engine.roots, cid))
                if c.status == "running" and (c.id, "health") not in watchers:
                    image = await trio.to_thread.run_sync(engine._image, c.record.image_id)
                    spec = health_spec(service.get("healthcheck"),
                                       (image.config_json.get("config") or {}).get("Healthcheck"))
                    if spec is not None:
                        await nursery.start(watch, (c.id, "health"), health.watch_health, engine, c.id, spec)
            await trio.sleep(POLL)


def main(argv: list[str]) -> int:
    import trio

    from composer.cli.container_cmd import engine

    project = argv[0]
    eng = engine()
    lock, _log = _paths(eng.roots.run_root, project)
    lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return 0  # another supervisor runs this project
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} supervisor\n".encode(), 0)
    trio.run(_until_signalled, eng, project)
    return 0


async def _until_signalled(engine: Engine, project: str) -> None:
    import trio

    async def on_signal(cancel: trio.CancelScope) -> None:
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for _ in signals:
                cancel.cancel()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(on_signal, nursery.cancel_scope)
        await supervise(engine, project)
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
