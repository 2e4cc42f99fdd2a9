"""`composer container run -i/-t`, `exec`, `attach`, `top` and `stats` from the CLI, with real pipes and ptys."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
import time

import pytest

from tests.runtime.engine.enginefix import APP, BASE, EngineEnv

pytestmark = pytest.mark.root


def _composer(eng: EngineEnv, *args: str) -> list[str]:
    return [sys.executable, "-m", "composer", "container", *args]


def _env(eng: EngineEnv) -> dict[str, str]:
    return {**os.environ, **eng.env}


def _read_until(fd: int, wanted: bytes, timeout: float = 10.0) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_run_interactive_with_piped_stdin(eng: EngineEnv) -> None:
    p = eng.cli_process("run", "-i", "--rm", BASE, "sh", "-c", "echo early; cat; echo done", input="hi\nthere\n")
    assert (p.returncode, p.stdout) == (0, "early\nhi\nthere\ndone\n"), p.stderr
    assert eng.cli("ls", "-aq").stdout == ""


def test_exec_output_exit_codes_user_workdir_env(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "svc", APP, "sleep", "100")  # APP's entrypoint is busybox, user app
    p = eng.cli_process("exec", "svc", "sh", "-c", "echo out; echo err >&2; exit 5")
    assert (p.returncode, p.stdout, p.stderr) == (5, "out\n", "err\n")
    p = eng.cli_process("exec", "svc", "id", "-u")
    assert p.stdout == "1000\n"  # the image's USER
    p = eng.cli_process("exec", "-u", "root", "-w", "/tmp", "-e", "X=1", "svc", "sh", "-c", "id -u; pwd; echo $X")
    assert p.stdout == "0\n/tmp\n1\n", p.stderr
    assert eng.cli_process("exec", "svc", "no-such-command").returncode == 127
    assert eng.cli_process("exec", "-d", "svc", "sh", "-c", "echo bg > /tmp/bg").returncode == 0
    time.sleep(0.3)
    assert eng.cli_process("exec", "svc", "cat", "/tmp/bg").stdout == "bg\n"
    p = eng.cli_process("exec", "-i", "svc", "cat", input="piped\n")
    assert p.stdout == "piped\n"
    eng.cli("stop", "-t", "0", "svc")
    p = eng.cli_process("exec", "svc", "true")
    assert p.returncode == 1
    assert "is not running" in p.stderr


def test_run_with_a_terminal_and_detach_keys(eng: EngineEnv) -> None:
    main, sub = pty.openpty()
    proc = subprocess.Popen(_composer(eng, "run", "-it", "--name", "term", BASE, "sh"), stdin=sub, stdout=sub,
                            stderr=sub, env=_env(eng), start_new_session=True)
    os.close(sub)
    try:
        os.write(main, b"tty; echo marker-$((6*7))\n")
        seen = _read_until(main, b"marker-42")
        assert b"/dev/pts/" in seen
        os.write(main, b"\x10\x11")  # ctrl-p ctrl-q
        assert proc.wait(timeout=10) == 0
    finally:
        os.close(main)
        if proc.poll() is None:
            proc.kill()
    assert eng.engine.get("term").status == "running"  # detached, still running
    main, sub = pty.openpty()
    proc = subprocess.Popen(_composer(eng, "attach", "term"), stdin=sub, stdout=sub, stderr=sub, env=_env(eng),
                            start_new_session=True)
    os.close(sub)
    try:
        os.write(main, b"echo again-$((2+3))\n")
        assert b"again-5" in _read_until(main, b"again-5")
        os.write(main, b"exit 3\n")
        assert proc.wait(timeout=10) == 3
    finally:
        os.close(main)
    assert eng.engine.get("term").state.exit_code == 3
    assert "again-5" in eng.cli("logs", "term").stdout  # a tty container's output is logged too


def test_top_and_stats(eng: EngineEnv) -> None:
    eng.cli("run", "-d", "--name", "busy", "-m", "64m", BASE, "sh", "-c", "sleep 1000 & while true; do :; done")
    time.sleep(0.3)
    lines = eng.cli("top", "busy").stdout.splitlines()
    assert lines[0].split()[:3] == ["UID", "PID", "PPID"]
    assert any("sleep 1000" in line for line in lines[1:])
    assert len(lines) == 3
    r = eng.cli("stats", "--no-stream", "--format", "json", "busy")
    row = json.loads(r.stdout)
    assert row["Name"] == "busy"
    assert row["PIDs"] == "2"
    assert row["MemUsage"].endswith("/ 64MiB")
    assert float(row["CPUPerc"].rstrip("%")) > 20
    table = eng.cli("stats", "--no-stream").stdout.splitlines()
    assert table[0].startswith("CONTAINER ID   NAME")
    assert "busy" in table[1]
