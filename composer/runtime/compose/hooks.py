"""Lifecycle hooks: `post_start` runs in the container once it has started, `pre_stop` before it is stopped.

Each hook is `runc exec` with the hook's `command`, `user`, `privileged`, `working_dir` and `environment`,
output captured. A failing `post_start` fails the service's start with the hook's output (as Compose does);
a failing `pre_stop` is reported and the stop goes on.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from composer.errors import ComposerError
from composer.runtime.engine.engine import Engine

HOOK_TIMEOUT = 600.0


def _env(value: Any) -> list[str]:
    if isinstance(value, Mapping):
        return [f"{k}={'' if v is None else v}" for k, v in value.items()]
    return [str(v) for v in value or ()]


def _argv(command: Any) -> list[str]:
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command or ()]


async def run_hook(engine: Engine, container_id: str, hook: Mapping[str, Any]) -> tuple[int | None, str]:
    """Run one hook in the running container: (exit code or None if it could not run, output)."""
    from composer.runtime.hostprobe import probe_host
    from composer.runtime.oci.exec import exec_spec, exec_user
    from composer.runtime.oci.probe import run_probe

    def prepare() -> dict[str, Any]:
        state = engine.oci.state(container_id)
        if state.status != "running" or not state.pid:
            raise ComposerError("the container is not running")
        spec = json.loads(engine.roots.container(container_id).config.read_text())
        user = str(hook["user"]) if hook.get("user") not in (None, "") else None
        return exec_spec(spec["process"], _argv(hook.get("command")),
                         user=exec_user(state.pid, user) if user else None, env=_env(hook.get("environment")),
                         workdir=hook.get("working_dir") or None, privileged=bool(hook.get("privileged")),
                         last_cap=probe_host(engine.oci.cfg.runtime).last_cap)

    process = await trio.to_thread.run_sync(prepare)
    outcome = await run_probe(engine.oci.cfg, container_id, process, HOOK_TIMEOUT)
    if outcome.exit_code is None:
        return None, outcome.error or outcome.output or "timed out"
    return outcome.exit_code, outcome.output


async def post_start(engine: Engine, container_id: str, name: str, hooks: Sequence[Mapping[str, Any]]) -> None:
    for hook in hooks:
        code, output = await run_hook(engine, container_id, hook)
        if code != 0:
            detail = output.strip().replace("\n", " | ")
            raise ComposerError(f"post_start hook {_argv(hook.get('command'))} of {name} failed "
                                f"({'exit ' + str(code) if code is not None else 'not run'}): {detail}")


async def pre_stop(engine: Engine, container_id: str, name: str, hooks: Sequence[Mapping[str, Any]],
                   warn: Any = None) -> None:
    for hook in hooks:
        try:
            code, output = await run_hook(engine, container_id, hook)
        except ComposerError:
            return  # not running: nothing to run the hook in
        if code != 0 and warn is not None:
            warn(f"pre_stop hook of {name} failed ({code}): {output.strip()}")


def pre_stop_sync(engine: Engine, container_id: str, name: str, hooks: Sequence[Mapping[str, Any]]) -> None:
    """For the synchronous stop paths (`composer stop`, `down`): run the hooks, warn on failure."""
    if hooks:
        import sys

        trio.run(pre_stop, engine, container_id, name, hooks,
                 lambda message: print(f"WARN[0000] {message}", file=sys.stderr, flush=True))
