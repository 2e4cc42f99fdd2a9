"""Starting a container under conmon, which stays its parent, holds its stdio, writes its log and exit code.

conmon (API version 1) runs `<runtime> create`, then reports the container's pid, or the runtime's error,
as one JSON message on the pipe whose fd number is in `_OCI_SYNCPIPE`. The caller runs `<runtime> start`.
conmon double-forks, so the container and its monitor outlive the composer process that started them.

Interactive containers: with `tty` conmon passes runc a console socket, receives the pty master and owns it
(the container's stdin and its single output stream, logged as stdout); with `stdin` (no tty) it makes a pipe
for the container's stdin. Either way `attach.py` reaches them through `<bundle>/attach` (a SEQPACKET socket;
`--full-attach` binds it there instead of behind a `<socket-dir>/<id>` symlink that conmon would leave behind)
and resizes the pty through the `<bundle>/ctl` fifo.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from composer.errors import ComposerError
from composer.runtime.oci.paths import ContainerPaths

DEFAULT_CONMON = "conmon"


@dataclass(frozen=True, slots=True)
class ConmonConfig:
    """How to run conmon and the runtime it drives; the runtime binary is configurable (runc by default)."""

    conmon: str = DEFAULT_CONMON
    runtime: str = "/usr/sbin/runc"
    runtime_root: Path = Path("/run/composer/runc")
    socket_dir: Path = Path("/run/composer/sock")
    log_size_max: int | None = None


def conmon_argv(
    cfg: ConmonConfig,
    paths: ContainerPaths,
    *,
    name: str | None = None,
    stdin: bool = False,
    tty: bool = False,
    leave_stdin_open: bool = False,
) -> list[str]:
    """The conmon command line for `paths.id` (pure: no file system access).

    `tty`: conmon allocates the terminal (config.json must say `process.terminal: true`); its pty master is
    the container's stdin, so `-i` is not passed (conmon would close the master when an attached client
    leaves). `stdin` without a tty: a pipe whose write end conmon closes when an attached client sends EOF
    or leaves (Docker's StdinOnce, what an attached `run -i` needs so `echo hi | run -i cat` ends), unless
    `leave_stdin_open` (Docker's `create -i`/`run -di`: the pipe stays open across attach sessions).
    """
    cid = paths.id
    argv = [
        cfg.conmon,
        "--api-version", "1",
        "-c", cid,
        "-u", cid,
        "-n", name or cid,
        "-r", cfg.runtime,
        "-b", str(paths.bundle),
        "-p", str(paths.container_pidfile),
        "-P", str(paths.conmon_pidfile),
        "-l", f"k8s-file:{paths.log}",
        "--exit-dir", str(paths.exit_dir),
        "-0", str(paths.persist_dir),
        "--socket-dir-path", str(cfg.socket_dir),
        "--runtime-arg", f"--root={cfg.runtime_root}",
        "--full-attach",
        "--log-level", "error",
    ]  # fmt: skip
    if tty:
        argv.append("--terminal")
    elif stdin:
        argv.append("--stdin")
        if leave_stdin_open:
            argv.append("--leave-stdin-open")
    if cfg.log_size_max is not None:
        argv += ["--log-size-max", str(cfg.log_size_max)]
    return argv


def _read_message(fd: int, deadline: float) -> dict[str, object] | None:
    """Read one JSON object from the sync pipe; None on EOF (conmon died without a word)."""
    buf = b""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            return None
        buf += chunk
        try:
            msg = json.loads(buf)
        except json.JSONDecodeError:
            continue  # a message split across reads
        if isinstance(msg, dict):
            return msg
        return None


def spawn(
    cfg: ConmonConfig,
    paths: ContainerPaths,
    *,
    name: str | None = None,
    stdin: bool = False,
    tty: bool = False,
    leave_stdin_open: bool = False,
    timeout: float = 30.0,
) -> int:
    """Start conmon for a prepared bundle and return the container's pid once `runtime create` has finished.

    `stdin`/`tty`/`leave_stdin_open`: see `conmon_argv`; with `tty` the bundle's config.json must have
    `process.terminal: true`, else runc never hands over a console and the create fails.

    Failures (runtime errors, conmon dying, a timeout) raise ComposerError carrying the runtime's message.
    """
    for d in (paths.exit_dir, paths.persist_dir, cfg.socket_dir, cfg.runtime_root):
        d.mkdir(parents=True, exist_ok=True)
    r, w = os.pipe()
    try:
        env = {"PATH": os.environ.get("PATH", "/usr/sbin:/usr/bin:/sbin:/bin"), "_OCI_SYNCPIPE": str(w)}
        with paths.conmon_stderr.open("wb") as err:
            try:
                proc = subprocess.Popen(
                    conmon_argv(cfg, paths, name=name, stdin=stdin, tty=tty, leave_stdin_open=leave_stdin_open),
                    stdin=subprocess.DEVNULL,
                    stdout=err,
                    stderr=err,
                    pass_fds=(w,),
                    env=env,
                    cwd=paths.dir,
                    start_new_session=True,
                )
            except FileNotFoundError:
                raise ComposerError(f"conmon not found ({cfg.conmon}): install it with `apt-get install -y conmon`")
        os.close(w)
        w = -1
        proc.wait()  # the first conmon exits after forking its monitor; the monitor holds the pipe
        try:
            msg = _read_message(r, time.monotonic() + timeout)
        except TimeoutError:
            raise ComposerError(f"container {paths.id}: conmon gave no pid within {timeout:g} s")
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    if msg is None:
        detail = _tail(paths.conmon_stderr) or f"conmon exited with status {proc.returncode}"
        raise ComposerError(f"container {paths.id}: conmon failed: {detail}")
    pid = msg.get("data")
    if not isinstance(pid, int) or pid <= 0:
        detail = str(msg.get("message") or _tail(paths.conmon_stderr) or "unknown error").strip()
        raise ComposerError(f"container {paths.id}: {Path(cfg.runtime).name} create failed: {detail}")
    return pid


def _tail(path: Path, limit: int = 2000) -> str:
    try:
        return path.read_text(errors="replace")[-limit:].strip()
    except OSError:
        return ""


def read_pidfile(path: Path) -> int | None:
    """The pid in a pid file, or None if it is missing or not yet written."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def conmon_alive(paths: ContainerPaths) -> int | None:
    """conmon's pid if the process in its pid file is still a conmon for this container, else None."""
    pid = read_pidfile(paths.conmon_pidfile)
    if pid is None:
        return None
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not cmdline or not cmdline[0].endswith(b"conmon") or paths.id.encode() not in cmdline:
        return None
    return pid


def runtime_argv(cfg: ConmonConfig, *args: str) -> Sequence[str]:
    """A runtime command with the same `--root` conmon was given."""
    return [cfg.runtime, f"--root={cfg.runtime_root}", *args]
