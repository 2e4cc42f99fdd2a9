"""`docker exec` on runc: the process.json for `runc exec --process`, and running it.

The exec'd process inherits what Docker's exec inherits from the container's process (env, capabilities,
rlimits, noNewPrivileges, AppArmor/SELinux labels, oom score); the caller overrides user, env, workdir and
terminal. Users are resolved by the caller (`exec_user` reads the running container's /etc/passwd and
/etc/group through `/proc/<pid>/root`, never following a symlink out of it).

Foreground `runc exec` proxies the process's stdio itself: pipes without a terminal; with one, runc makes
the pty, puts its own stdin in raw mode when that is a terminal, resizes on SIGWINCH and restores the
terminal afterwards; it forwards the signals it gets to the process. `runc exec -d` hands its own stdio
to the process and returns once it runs, so a detached exec gets /dev/null; `-d` with a terminal would
need someone to hold the pty master after we return (Docker's daemon does), which composer cannot.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from composer.errors import ComposerError
from composer.planner import security
from composer.planner.userdb import ExecUser, resolve_user
from composer.runtime.confined import read_text_in_root
from composer.runtime.oci.conmon import ConmonConfig, runtime_argv
from composer.runtime.oci.paths import check_id

EXIT_CANNOT_INVOKE = 126
EXIT_NOT_FOUND = 127
_RUNC_EXEC_FAILED = 255  # runc's status when it could not start the process

Stdio = int | IO[Any] | None


def _env_key(entry: str) -> str:
    return entry.split("=", 1)[0]


def merge_env(base: Sequence[str], overrides: Sequence[str]) -> list[str]:
    """Docker's ReplaceOrAppendEnvValues: `K=V` replaces K in place or appends it, a bare `K` removes it."""
    out = list(base)
    for entry in overrides:
        key = _env_key(entry)
        rest = [e for e in out if _env_key(e) != key]
        if "=" in entry:
            at = next((i for i, e in enumerate(out) if _env_key(e) == key), len(rest))
            rest.insert(min(at, len(rest)), entry)
        out = rest
    return out


def exec_spec(
    container_process: dict[str, Any],
    cmd: Sequence[str],
    *,
    user: ExecUser | None,
    env: Sequence[str] = (),
    workdir: str | None = None,
    tty: bool = False,
    privileged: bool = False,
    last_cap: int | None = None,
) -> dict[str, Any]:
    """The process.json for `runc exec --process` (pure).

    `container_process` is the container's config.json `process`; `user` None keeps its user (and its
    capability sets), a given user gets the effective/permitted sets execve would leave it (all bounding
    caps for uid 0, none otherwise). `privileged` grants every capability the kernel has (`last_cap`,
    default: every capability composer knows). `env` entries are `K=V` (set) or `K` (unset).
    """
    if not cmd:
        raise ComposerError("exec: no command given")
    proc: dict[str, Any] = copy.deepcopy(container_process)
    proc.pop("consoleSize", None)
    proc["args"] = list(cmd)
    proc["terminal"] = tty
    if workdir:
        if not workdir.startswith("/"):
            raise ComposerError(f"exec: the working directory {workdir!r} must be an absolute path")
        proc["cwd"] = workdir
    proc.setdefault("cwd", "/")
    base_env = [str(e) for e in proc.get("env") or []]
    if tty and not any(_env_key(e) == "TERM" for e in base_env):
        base_env.append("TERM=xterm")
    proc["env"] = merge_env(base_env, env)

    caps: dict[str, list[str]] = dict(proc.get("capabilities") or {})
    if user is not None:
        proc["user"] = {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)}
        if privileged:
            pass
        elif user.uid == 0:
            bounding = list(caps.get("bounding") or [])
            caps.update(effective=bounding, permitted=bounding)
        else:
            caps.update(effective=[], permitted=[])
        caps.pop("ambient", None)
        caps.pop("inheritable", None)
    if privileged:
        top = max(security.CAPABILITY_NUMBERS.values()) if last_cap is None else last_cap
        every = security.all_capabilities(top)
        caps.update(bounding=every, effective=every, permitted=every)
    if caps:
        proc["capabilities"] = caps
    return proc


def exec_user(container_pid: int, user: str | None) -> ExecUser:
    """Resolve `exec -u USER` against the running container's /etc/passwd and /etc/group (read as if
    chrooted there, so an image's symlinks cannot point at the host's files)."""
    root = Path(f"/proc/{container_pid}/root")
    if not root.exists():
        raise ComposerError(f"exec: the container's process {container_pid} is gone")
    return resolve_user(user, read_text_in_root(root, "/etc/passwd"), read_text_in_root(root, "/etc/group"))


def _fd(stream: Stdio) -> int | None:
    if stream is None or isinstance(stream, int):
        return stream
    return stream.fileno()


def _isatty(fd: int) -> bool:
    try:
        return os.isatty(fd)
    except OSError:
        return False


def _runtime_error(log_path: str) -> str | None:
    """The last error runc wrote to its JSON log (`--log-format json`), if any."""
    try:
        with open(log_path, "rb") as f:
            lines = f.read(1 << 20).decode(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("error", "fatal"):
            return str(entry.get("msg", "")).strip() or None
    return None


def exit_code_for_failure(message: str) -> int:
    """Docker's codes for a command that did not start: 127 not found, 126 anything else (permissions, cwd)."""
    if "executable file not found" in message:
        return EXIT_NOT_FOUND
    if "exec: " in message and "no such file or directory" in message.rsplit("exec: ", 1)[1]:
        return EXIT_NOT_FOUND
    return EXIT_CANNOT_INVOKE


def run_exec(
    cfg: ConmonConfig,
    container_id: str,
    process: dict[str, Any],
    *,
    detach: bool = False,
    interactive: bool = False,
    tty: bool = False,
    stdin: Stdio = None,
    stdout: Stdio = None,
    stderr: Stdio = None,
) -> int:
    """Run `process` in the running container and return its exit code (0 for a detached one once it runs).

    Foreground: `stdin` is connected only if `interactive` (else /dev/null); None for stdout/stderr means
    the caller's own. A command that cannot start returns 127 (not found) or 126 (anything else) after
    runc has printed why on `stderr`.
    """
    check_id(container_id)
    if detach and tty:
        raise ComposerError(
            "exec: -d with a terminal (-t) is not supported: nothing would hold the terminal after composer "
            "returns; drop -t, or run the command in the foreground"
        )
    if tty and not detach:
        given = [_fd(stdin), _fd(stdout), _fd(stderr)]
        fds = [own if fd is None else fd for fd, own in zip(given, (0, 1, 2), strict=True)]
        if not interactive:
            fds = fds[1:]  # stdin will be /dev/null
        if not any(_isatty(fd) for fd in fds):
            # runc would fall back to opening /dev/tty of our controlling terminal, or fail
            raise ComposerError("exec: a terminal (-t) needs stdin or stdout to be a terminal; drop -t")
    proc_json = dict(process, terminal=tty)
    fd, spec_path = tempfile.mkstemp(prefix="composer-exec-", suffix=".json")
    with os.fdopen(fd, "w") as f:
        json.dump(proc_json, f)
    fd, log_path = tempfile.mkstemp(prefix="composer-exec-", suffix=".log")
    os.close(fd)
    try:
        args = ["--log", log_path, "--log-format", "json", "exec", "--process", spec_path]
        if detach:
            args.append("--detach")
        argv = runtime_argv(cfg, *args, container_id)
        run_in: int | None = subprocess.DEVNULL
        run_out: int | None = subprocess.DEVNULL
        run_err: int | None = subprocess.DEVNULL
        if not detach:  # a detached process keeps runc's stdio: never hand it a pipe we would wait on
            if interactive:
                run_in = _fd(stdin)
            run_out, run_err = _fd(stdout), _fd(stderr)
        try:
            runner = subprocess.Popen(argv, stdin=run_in, stdout=run_out, stderr=run_err)
        except FileNotFoundError:
            raise ComposerError(f"OCI runtime not found: {cfg.runtime}")
        code = _wait(runner)
        if code == 0 or (not detach and code != _RUNC_EXEC_FAILED):
            return code
        failure = _runtime_error(log_path)
        if failure is not None and failure.startswith("exec failed"):
            return exit_code_for_failure(failure)
        if detach:
            raise ComposerError(f"exec in container {container_id} failed: {failure or f'runc exited with {code}'}")
        return code  # the command itself exited with 255
    finally:
        for path in (spec_path, log_path):
            with contextlib.suppress(OSError):
                os.unlink(path)


def _wait(runner: subprocess.Popen[bytes]) -> int:
    """Wait for runc; a Ctrl-C reached runc too (same process group) and runc forwards it, so keep waiting."""
    while True:
        try:
            return runner.wait()
        except KeyboardInterrupt:
            continue
