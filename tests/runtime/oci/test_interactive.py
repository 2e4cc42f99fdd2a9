"""Interactive I/O on runc + conmon: `exec` (pipes, a real pty, -d, exit codes) and `attach` (output, stdin,
detach keys), plus terminal containers whose output still reaches the k8s-file log."""

from __future__ import annotations

import concurrent.futures
import os
import pty
import select
import signal
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError
from composer.planner.userdb import resolve_user
from composer.runtime.oci.attach import AttachResult, DetachFilter, attach
from composer.runtime.oci.conmon import ConmonConfig, conmon_argv
from composer.runtime.oci.exec import exec_spec, exec_user, merge_env, run_exec
from composer.runtime.oci.lifecycle import OciRuntime
from composer.runtime.oci.logs import read_log
from composer.runtime.oci.paths import Roots
from tests.runtime.oci.conftest import OciEnv
from tests.runtime.oci.minispec import minimal_spec

PASSWD = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n"
GROUP = "root:x:0:\nnogroup:x:65534:\nextra:x:1234:nobody\n"


def _until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _create(oci: OciEnv, *args: str, terminal: bool = False, stdin: bool = False) -> str:
    cid = oci.new_id()
    spec = minimal_spec(list(args), f"/{oci.tag}/{cid}", terminal=terminal)
    oci.runtime.create(cid, spec, [oci.layer], tty=terminal, stdin=stdin)
    return cid


def _running(oci: OciEnv, *args: str) -> tuple[str, dict[str, Any]]:
    """A started container and its config.json process."""
    cid = _create(oci, *args)
    oci.runtime.start(cid)
    return cid, minimal_spec(list(args), "")["process"]


def _run(oci: OciEnv, cid: str, process: dict[str, Any], **kw: Any) -> tuple[int, bytes, bytes]:
    out, err = oci.tmp / "out", oci.tmp / "err"
    with out.open("w+b") as o, err.open("w+b") as e:
        code = run_exec(oci.runtime.cfg, cid, process, stdout=o, stderr=e, **kw)
    return code, out.read_bytes(), err.read_bytes()


class _Reader:
    """Collects what arrives on a pipe/pty fd, for polling from the test."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.data = b""

    def drain(self) -> bytes:
        while select.select([self.fd], [], [], 0)[0]:
            try:
                chunk = os.read(self.fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            self.data += chunk
        return self.data

    def wait_for(self, needle: bytes, timeout: float = 10.0) -> None:
        _until(lambda: needle in self.drain(), timeout)


# -- pure -----------------------------------------------------------------------------------------------


def test_detach_filter() -> None:
    f = DetachFilter(b"\x10\x11")
    assert f.feed(b"abc") == (b"abc", False)
    assert f.feed(b"x\x10") == (b"x", False)  # held: might be the start of the sequence
    assert f.feed(b"y") == (b"\x10y", False)  # not the sequence: released with the next byte
    assert f.feed(b"\x10\x10") == (b"\x10", False)
    assert f.feed(b"\x11rest") == (b"", True)
    assert DetachFilter(b"").feed(b"\x10\x11") == (b"\x10\x11", False)


def test_conmon_argv_interactive_flags() -> None:
    roots = Roots(Path("/s"), Path("/r"))
    cfg = ConmonConfig(runtime="/usr/sbin/runc", runtime_root=roots.runc_root, socket_dir=Path("/r/sock"))
    paths = roots.container("c1")

    def flags(**kw: bool) -> set[str]:
        return {a for a in conmon_argv(cfg, paths, **kw) if a in ("--terminal", "--stdin", "--leave-stdin-open")}

    assert "--full-attach" in conmon_argv(cfg, paths)  # the attach socket lives in the bundle, no symlink
    assert flags() == set()
    assert flags(stdin=True) == {"--stdin"}  # closed when the attached client leaves (Docker's StdinOnce)
    assert flags(stdin=True, leave_stdin_open=True) == {"--stdin", "--leave-stdin-open"}
    assert flags(tty=True, stdin=True) == {"--terminal"}  # the pty master is stdin; -i would close it on detach


def test_exec_spec_inherits_and_overrides() -> None:
    base = minimal_spec(["sleep", "1"], "")["process"]
    base["capabilities"] = {"bounding": ["CAP_CHOWN"], "effective": ["CAP_CHOWN"], "permitted": ["CAP_CHOWN"]}
    base["env"] = ["PATH=/bin", "A=1"]
    user = resolve_user("nobody", PASSWD, GROUP)
    p = exec_spec(base, ["id"], user=user, env=["A=2", "B=3"], workdir="/tmp", tty=True, privileged=False)
    assert p["args"] == ["id"]
    assert p["terminal"] is True
    assert p["cwd"] == "/tmp"
    assert p["env"] == ["PATH=/bin", "A=2", "TERM=xterm", "B=3"]
    assert p["user"] == {"uid": 65534, "gid": 65534, "additionalGids": [65534, 1234]}
    assert p["capabilities"] == {"bounding": ["CAP_CHOWN"], "effective": [], "permitted": []}
    assert p["rlimits"] == base["rlimits"]
    assert p["noNewPrivileges"] is True
    assert base["args"] == ["sleep", "1"]  # the container's process is not touched
    same = exec_spec(base, ["true"], user=None, env=[], workdir=None, tty=False, privileged=False)
    assert (same["user"], same["cwd"], same["capabilities"]) == (base["user"], "/", base["capabilities"])
    priv = exec_spec(base, ["true"], user=None, env=[], workdir=None, tty=False, privileged=True, last_cap=40)
    assert "CAP_SYS_ADMIN" in priv["capabilities"]["effective"]
    with pytest.raises(ComposerError, match="absolute"):
        exec_spec(base, ["true"], user=None, env=[], workdir="tmp", tty=False, privileged=False)
    with pytest.raises(ComposerError, match="no command"):
        exec_spec(base, [], user=None, env=[], workdir=None, tty=False, privileged=False)
    assert merge_env(["A=1", "B=2"], ["A", "B=3", "C=4"]) == ["B=3", "C=4"]


# -- exec -----------------------------------------------------------------------------------------------

@pytest.mark.root
def test_exec_output_and_exit_codes(oci: OciEnv) -> None:
    cid, proc = _running(oci, "sleep", "1000")
    spec = exec_spec(proc, ["sh", "-c", "echo out; echo err >&2; exit 3"], user=None)
    assert _run(oci, cid, spec) == (3, b"out\n", b"err\n")
    code, _, err = _run(oci, cid, exec_spec(proc, ["no-such-command"], user=None))
    assert code == 127
    assert b"executable file not found" in err
    assert _run(oci, cid, exec_spec(proc, ["/no/such"], user=None))[0] == 127
    assert _run(oci, cid, exec_spec(proc, ["/etc"], user=None))[0] == 126  # not executable
    assert _run(oci, cid, exec_spec(proc, ["true"], user=None, workdir="/nope"))[0] == 126
    assert _run(oci, cid, exec_spec(proc, ["sh", "-c", "exit 255"], user=None))[0] == 255
    # without -i the command's stdin is /dev/null even if one is given
    r, w = os.pipe()
    try:
        spec = exec_spec(proc, ["cat"], user=None)
        assert _run(oci, cid, spec, stdin=r)[:2] == (0, b"")
        os.write(w, b"piped\n")
        os.close(w)
        w = -1
        assert _run(oci, cid, spec, stdin=r, interactive=True)[:2] == (0, b"piped\n")
    finally:
        os.close(r)
        if w >= 0:
            os.close(w)
    oci.runtime.stop(cid, timeout=0)


@pytest.mark.root
def test_exec_user_workdir_env(oci: OciEnv) -> None:
    cid, proc = _running(oci, "sleep", "1000")
    rootfs = oci.runtime.paths(cid).rootfs
    (rootfs / "etc" / "passwd").write_text(PASSWD)
    (rootfs / "etc" / "group").write_text(GROUP)
    (rootfs / "work").mkdir()
    user = exec_user(oci.runtime.state(cid).pid, "nobody")
    assert (user.uid, user.gid, user.additional_gids) == (65534, 65534, (65534, 1234))
    with pytest.raises(ComposerError, match="unable to find user"):
        exec_user(oci.runtime.state(cid).pid, "ghost")
    script = 'echo "$(pwd) $FOO $HOME"; cat /proc/self/status'
    spec = exec_spec(proc, ["sh", "-c", script], user=user, env=["FOO=bar"], workdir="/work")
    code, out, _ = _run(oci, cid, spec)
    assert code == 0
    lines = out.decode().splitlines()
    assert lines[0] == "/work bar /nonexistent"
    status = dict(line.split(":\t", 1) for line in lines[1:] if ":\t" in line)
    assert status["Uid"].split()[0] == "65534"
    assert status["Gid"].split()[0] == "65534"
    assert sorted(status["Groups"].split()) == ["1234", "65534"]
    assert int(status["CapEff"], 16) == 0
    oci.runtime.stop(cid, timeout=0)


@pytest.mark.root
def test_exec_detached(oci: OciEnv) -> None:
    cid, proc = _running(oci, "sleep", "1000")
    marker = oci.runtime.paths(cid).rootfs / "tmp" / "marker"
    spec = exec_spec(proc, ["sh", "-c", "sleep 0.3; echo done > /tmp/marker; sleep 1000"], user=None)
    t0 = time.monotonic()
    assert run_exec(oci.runtime.cfg, cid, spec, detach=True) == 0
    assert time.monotonic() - t0 < 5
    _until(marker.exists)
    assert run_exec(oci.runtime.cfg, cid, exec_spec(proc, ["nope"], user=None), detach=True) == 127
    with pytest.raises(ComposerError, match="-d with a terminal"):
        run_exec(oci.runtime.cfg, cid, exec_spec(proc, ["sh"], user=None, tty=True), detach=True, tty=True)
    oci.runtime.stop(cid, timeout=0)


@pytest.mark.root
def test_exec_with_a_terminal(oci: OciEnv) -> None:
    cid, proc = _running(oci, "sleep", "1000")
    master, slave = pty.openpty()
    try:
        os.write(master, b"typed\n")  # waits in the terminal until the command reads it
        script = 'read x; echo "got:$x"; [ -t 0 ] && [ -t 1 ] && echo "tty:$TERM"; exit 4'
        spec = exec_spec(proc, ["sh", "-c", script], user=None, tty=True)
        code = run_exec(oci.runtime.cfg, cid, spec, tty=True, interactive=True, stdin=slave, stdout=slave, stderr=slave)
        assert code == 4
        out = _Reader(master).drain()
        assert b"got:typed\r\n" in out
        assert b"tty:xterm\r\n" in out
    finally:
        os.close(master)
        os.close(slave)
    with pytest.raises(ComposerError, match="needs stdin or stdout to be a terminal"):
        _run(oci, cid, spec, tty=True, interactive=True, stdin=subprocess.DEVNULL)
    oci.runtime.stop(cid, timeout=0)


# -- terminal containers and attach -------------------------------------------------------------------


@pytest.mark.root
def test_tty_container_output_goes_to_the_log(oci: OciEnv) -> None:
    cid = _create(oci, "sh", "-c", "echo hello; [ -t 1 ] && echo is-a-tty", terminal=True)
    oci.runtime.start(cid)
    assert oci.runtime.wait(cid, timeout=10) == 0
    texts = [e.text.rstrip("\r") for e in read_log(oci.runtime.paths(cid).log)]
    assert texts == ["hello", "is-a-tty"]


def _attach(oci: OciEnv, cid: str, **kw: Any) -> AttachResult:
    return attach(oci.runtime.cfg, oci.runtime.paths(cid), **kw)


@pytest.mark.root
def test_attach_receives_output(oci: OciEnv) -> None:
    cid = _create(oci, "sh", "-c", "for i in 1 2 3; do echo line$i; sleep 0.1; done; echo oops >&2; exit 2")
    out, err = oci.tmp / "out", oci.tmp / "err"
    with out.open("wb") as o, err.open("wb") as e:
        result = _attach(oci, cid, stdout=o, stderr=e, on_attached=lambda: oci.runtime.start(cid))
    assert result == AttachResult(detached=False)
    assert out.read_bytes() == b"line1\nline2\nline3\n"
    assert err.read_bytes() == b"oops\n"
    assert oci.runtime.wait(cid, timeout=10) == 2
    with pytest.raises(ComposerError, match="not running"):
        _attach(oci, cid, stdout=1)


@pytest.mark.root
def test_attach_stdin_reaches_the_container(oci: OciEnv) -> None:
    cid = _create(oci, "sh", "-c", "cat; echo end", stdin=True)
    oci.runtime.start(cid)
    r, w = os.pipe()
    os.write(w, b"hello\nworld\n")
    os.close(w)  # end of input: conmon closes cat's stdin, cat and the container end
    out = oci.tmp / "out"
    try:
        with out.open("wb") as o:
            assert _attach(oci, cid, stdin=r, stdout=o, stderr=o) == AttachResult(detached=False)
    finally:
        os.close(r)
    assert out.read_bytes() == b"hello\nworld\nend\n"
    assert oci.runtime.wait(cid, timeout=10) == 0


@pytest.mark.root
def test_attach_detach_keys_and_passthrough(oci: OciEnv) -> None:
    cid = _create(oci, "cat", terminal=True)
    oci.runtime.start(cid)
    out_r, out_w = os.pipe()
    reader = _Reader(out_r)
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        for word in (b"first", b"second"):
            in_r, in_w = os.pipe()
            try:
                session = pool.submit(_attach, oci, cid, stdin=in_r, stdout=out_w, tty=True)
                # a lone ctrl-p followed by another key reaches the container; cat prints it back raw
                os.write(in_w, word + b"\x10x\n")
                reader.wait_for(word + b"\x10x\r\n")
                assert not session.done()
                os.write(in_w, b"\x10\x11")
                assert session.result(timeout=10) == AttachResult(detached=True)
            finally:
                os.close(in_r)
                os.close(in_w)
            assert oci.runtime.state(cid).status == "running"  # detached, not stopped
        assert b"first^Px" in reader.data  # the terminal's own echo of ctrl-p
    finally:
        pool.shutdown(wait=True)
        os.close(out_r)
        os.close(out_w)
    oci.runtime.stop(cid, timeout=1)


@pytest.mark.root
def test_attach_through_a_long_path(oci: OciEnv, tmp_path: Path) -> None:
    """The attach socket's path exceeds sun_path (108 bytes) here; attach goes through /proc/self/fd."""
    deep = tmp_path / ("d" * 100)
    rt = OciRuntime(Roots(state_root=deep / "state", run_root=deep / "run"))
    cid = oci.new_id()
    try:
        rt.create(cid, minimal_spec(["sh", "-c", "sleep 0.2; echo ok"], f"/{oci.tag}/{cid}"), [oci.layer])
        assert len(str(rt.paths(cid).bundle / "attach")) > 108
        out = oci.tmp / "out"
        with out.open("wb") as o:
            result = attach(rt.cfg, rt.paths(cid), stdout=o, on_attached=lambda: rt.start(cid))
        assert result.detached is False
        assert out.read_bytes() == b"ok\n"
        assert rt.wait(cid, timeout=10) == 0
    finally:
        rt.remove(cid, force=True)


@pytest.mark.root
def test_attach_proxies_signals(oci: OciEnv) -> None:
    cid = _create(oci, "sh", "-c", 'trap "echo got-usr1; exit 5" USR1; echo ready; while true; do sleep 0.05; done')
    log = oci.runtime.paths(cid).log
    forwarded: list[int] = []

    def forward(signum: int) -> None:
        forwarded.append(signum)
        oci.runtime.kill(cid, signum)

    def start_then_signal_ourselves() -> None:
        oci.runtime.start(cid)
        _until(lambda: log.exists() and "ready" in log.read_text())
        os.kill(os.getpid(), signal.SIGUSR1)  # would kill pytest without the proxy's handler

    out = oci.tmp / "out"
    with out.open("wb") as o:
        result = _attach(oci, cid, stdout=o, on_signal=forward, on_attached=start_then_signal_ourselves)
    assert result.detached is False
    assert forwarded == [signal.SIGUSR1]
    assert out.read_bytes().endswith(b"got-usr1\n")
    assert oci.runtime.wait(cid, timeout=10) == 5
    assert signal.getsignal(signal.SIGUSR1) is signal.SIG_DFL  # handler restored


@pytest.mark.root
def test_attach_terminal_raw_mode_and_resize(oci: OciEnv) -> None:
    cid = _create(oci, "sh", "-c", "sleep 0.2; stty size; sleep 1; stty size", terminal=True)
    (oci.runtime.paths(cid).rootfs / "bin" / "stty").symlink_to("busybox")
    master, slave = pty.openpty()
    termios.tcsetwinsize(slave, (33, 77))
    before = termios.tcgetattr(slave)
    seen_raw: list[bool] = []

    def grow(_signum: int, _frame: object) -> None:
        seen_raw.append(not termios.tcgetattr(slave)[3] & termios.ICANON)
        termios.tcsetwinsize(slave, (40, 100))
        os.kill(os.getpid(), signal.SIGWINCH)

    old = signal.signal(signal.SIGALRM, grow)
    out = oci.tmp / "out"
    try:
        with out.open("wb") as o:
            start = oci.runtime.start
            signal.setitimer(signal.ITIMER_REAL, 0.7)
            result = _attach(oci, cid, stdin=slave, stdout=o, tty=True, on_attached=lambda: start(cid))
        assert result.detached is False
        assert seen_raw == [True]  # the local terminal was raw while attached...
        assert termios.tcgetattr(slave) == before  # ...and is restored afterwards
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)
        os.close(master)
        os.close(slave)
    assert out.read_bytes() == b"33 77\r\n40 100\r\n"
