"""Real containers on runc + conmon: logs, exit codes that outlive the call, stop/kill, idempotent remove."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from composer.errors import ComposerError
from composer.runtime.oci.conmon import read_pidfile
from composer.runtime.oci.logs import read_log
from composer.runtime.oci.rootfs import is_mounted
from tests.runtime.oci.conftest import OciEnv, conmon_pids

pytestmark = pytest.mark.root


def _ppid(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])


def test_echo_logs_streams_and_exit_code(oci: OciEnv) -> None:
    cid, pid = oci.create("sh", "-c", "echo hello; echo err >&2; echo bye")
    assert pid > 0
    rt = oci.runtime
    assert rt.state(cid).status == "created"
    conmon_pid = read_pidfile(rt.paths(cid).conmon_pidfile)
    assert conmon_pid is not None
    assert _ppid(conmon_pid) != os.getpid()  # daemonised: conmon outlives the composer process
    rt.start(cid)
    assert rt.wait(cid, timeout=10) == 0
    st = rt.state(cid)
    assert (st.status, st.exit_code, st.pid) == ("stopped", 0, 0)
    assert st.started_at is not None
    assert st.finished_at is not None
    assert st.finished_at >= st.started_at.replace(microsecond=0)
    entries = read_log(rt.paths(cid).log)
    assert [(e.stream, e.text) for e in entries if e.stream == "stdout"] == [("stdout", "hello"), ("stdout", "bye")]
    assert [(e.stream, e.text) for e in entries if e.stream == "stderr"] == [("stderr", "err")]
    # the order between stdout and stderr is not kept by conmon (two pipes), so tail one stream
    assert [e.text for e in read_log(rt.paths(cid).log, tail=1, streams=("stdout",))] == ["bye"]
    raw = rt.paths(cid).log.read_text().splitlines()
    assert any(line.endswith(" stdout F hello") for line in raw)
    rt.remove(cid)


def test_exit_code_is_recorded(oci: OciEnv) -> None:
    cid, _ = oci.create("sh", "-c", "exit 3")
    oci.runtime.start(cid)
    assert oci.runtime.wait(cid, timeout=10) == 3
    assert oci.runtime.state(cid).exit_code == 3


def test_stop_pid1_ignoring_sigterm_ends_with_137(oci: OciEnv) -> None:
    cid, _ = oci.create("sleep", "1000")
    rt = oci.runtime
    rt.start(cid)
    rt.start(cid)  # already running: a no-op
    st = rt.state(cid)
    assert st.status == "running"
    assert st.pid > 0
    t0 = time.monotonic()
    assert rt.stop(cid, "TERM", timeout=1) == 137
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 10
    assert rt.state(cid).status == "stopped"
    assert rt.stop(cid) == 137  # stopping a stopped container reports its exit code again
    with pytest.raises(ComposerError, match="cannot be started again"):
        rt.start(cid)


def test_stop_pid1_handling_sigterm_exits_promptly(oci: OciEnv) -> None:
    cid, _ = oci.create("sh", "-c", "trap 'exit 7' TERM; while true; do sleep 0.1; done")
    rt = oci.runtime
    rt.start(cid)
    time.sleep(0.3)  # let the shell install its trap
    t0 = time.monotonic()
    assert rt.stop(cid, "SIGTERM", timeout=10) == 7
    assert time.monotonic() - t0 < 5


def test_kill_with_signal(oci: OciEnv) -> None:
    cid, _ = oci.create("sleep", "1000")
    rt = oci.runtime
    rt.start(cid)
    rt.kill(cid, 9)
    assert rt.wait(cid, timeout=10) == 137
    with pytest.raises(ComposerError, match="not running"):
        rt.kill(cid, "TERM")
    with pytest.raises(ComposerError, match="invalid signal"):
        rt.kill(cid, "NOPE")


def test_create_is_idempotent(oci: OciEnv) -> None:
    cid = oci.new_id()
    spec = oci.spec(cid, "sleep", "1000")
    pid = oci.runtime.create(cid, spec, [oci.layer])
    assert oci.runtime.create(cid, spec, [oci.layer]) == pid
    assert len(conmon_pids(cid)) == 1


def test_remove_twice_and_refuse_running(oci: OciEnv) -> None:
    cid, _ = oci.create("sleep", "1000")
    rt = oci.runtime
    rt.start(cid)
    paths = rt.paths(cid)
    assert is_mounted(paths.rootfs)
    with pytest.raises(ComposerError, match="is running"):
        rt.remove(cid)
    rt.remove(cid, force=True)
    rt.remove(cid, force=True)
    rt.remove(cid)
    assert not paths.dir.exists()
    assert not is_mounted(paths.rootfs)
    assert conmon_pids(cid) == []
    with pytest.raises(ComposerError, match="no such container"):
        rt.state(cid)


def test_runtime_error_is_reported_and_cleaned_up(oci: OciEnv) -> None:
    cid = oci.new_id()
    with pytest.raises(ComposerError, match="no such file or directory") as info:
        oci.runtime.create(cid, oci.spec(cid, "/no/such/binary"), [oci.layer])
    assert "runc create failed" in info.value.message
    paths = oci.runtime.paths(cid)
    assert not paths.dir.exists()
    assert not is_mounted(paths.rootfs)
    assert conmon_pids(cid) == []
