"""Run one command in a running container and capture what it says, within a time limit: a healthcheck probe.

`exec.py` runs `docker exec` with the caller's own stdio; a probe needs its output (stdout and stderr in one
stream, the first 4096 bytes as Docker keeps them) and must be killed at its timeout. `runc exec --pid-file`
tells us the process to SIGKILL then; killing runc alone would leave the process running in the container.
Async (trio), so a watcher can be cancelled mid-probe: the probe is killed and reaped on the way out.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from composer.planner.health import LimitedBuffer
from composer.runtime.oci.conmon import ConmonConfig, read_pidfile, runtime_argv
from composer.runtime.oci.exec import _RUNC_EXEC_FAILED, _runtime_error
from composer.runtime.oci.paths import check_id

DRAIN_GRACE = 0.2
"""After the process exits, how long to wait for the rest of its output (a child it left may hold the pipe)."""


@dataclass(frozen=True, slots=True)
class ProbeOutcome:
    """`exit_code` is the process's; None when it timed out or could not be started (`error` says why)."""

    exit_code: int | None
    output: str
    timed_out: bool = False
    error: str | None = None


async def _drain(stream: Any, buf: LimitedBuffer, done: trio.Event) -> None:
    try:
        async for chunk in stream:
            buf.write(chunk)
    except (trio.ClosedResourceError, trio.BrokenResourceError):
        pass
    done.set()


def _kill(pid_file: Path, runner: trio.Process) -> None:
    """SIGKILL the probe's process inside the container, and runc."""
    pid = read_pidfile(pid_file)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):
        runner.kill()


async def run_probe(cfg: ConmonConfig, container_id: str, process: dict[str, Any], limit: float) -> ProbeOutcome:
    """`runc exec` `process` (a process.json from `exec.exec_spec`) in the container, killed after `limit` seconds."""
    check_id(container_id)
    tmp = Path(tempfile.mkdtemp(prefix="composer-probe-"))
    spec_path, log_path, pid_path = tmp / "process.json", tmp / "runc.log", tmp / "pid"
    try:
        spec_path.write_text(json.dumps(dict(process, terminal=False)))
        argv = runtime_argv(cfg, "--log", str(log_path), "--log-format", "json", "exec", "--process",
                            str(spec_path), "--pid-file", str(pid_path), container_id)
        buf = LimitedBuffer()
        eof = trio.Event()
        runner = await trio.lowlevel.open_process(
            list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        timed_out = False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(_drain, runner.stdout, buf, eof)
                with trio.move_on_after(limit) as scope:
                    await runner.wait()
                if scope.cancelled_caught:
                    timed_out = True
                    _kill(pid_path, runner)
                    await runner.wait()
                with trio.move_on_after(DRAIN_GRACE):
                    await eof.wait()
                nursery.cancel_scope.cancel()
        finally:
            if runner.returncode is None:
                _kill(pid_path, runner)
                with trio.CancelScope(shield=True):
                    await runner.wait()
            if runner.stdout is not None:
                with trio.CancelScope(shield=True):
                    await runner.stdout.aclose()
        if timed_out:
            return ProbeOutcome(None, buf.text(), timed_out=True)
        code = runner.returncode
        assert code is not None
        if code == _RUNC_EXEC_FAILED:
            failure = _runtime_error(str(log_path))
            if failure is not None:
                return ProbeOutcome(None, buf.text(), error=failure)
        return ProbeOutcome(code, buf.text())
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
