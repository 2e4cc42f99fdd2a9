"""`OciRuntime.state` reads runc's own files instead of running `runc state`: both must agree at every step."""

from __future__ import annotations

import time
from typing import Any

from composer.runtime.oci.lifecycle import OciRuntime
from tests.runtime.oci.conftest import OciEnv


def _both(runtime: OciRuntime, cid: str) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    fast = runtime._read_runc_state(cid)
    slow = runtime._runtime_state(cid)
    return fast, None if slow is None else {"status": slow["status"], "pid": slow["pid"]}


def test_files_agree_with_runc_state_through_the_lifecycle(oci: OciEnv) -> None:
    rt = oci.runtime
    cid, pid = oci.create("sleep", "600")
    seen = []
    for step in ("created", "running", "paused", "resumed", "killed", "removed"):
        if step == "running":
            rt.start(cid)
        elif step == "paused":
            rt.pause(cid)
        elif step == "resumed":
            rt.resume(cid)
        elif step == "killed":
            rt.kill(cid, "KILL")
            rt.wait(cid, timeout=10)
            time.sleep(0.1)
        elif step == "removed":
            rt.remove(cid, force=True)
        fast, slow = _both(rt, cid)
        assert fast == slow, step
        seen.append(None if fast is None else fast["status"])
    assert seen == ["created", "running", "paused", "running", "stopped", None]
    assert pid > 0


def test_unreadable_state_falls_back_to_runc(oci: OciEnv) -> None:
    rt = oci.runtime
    cid, _ = oci.create("sleep", "600")
    state = rt.cfg.runtime_root / cid / "state.json"
    saved = state.read_bytes()
    try:
        state.write_bytes(b"{not json")
        try:
            rt._read_runc_state(cid)
        except LookupError:
            pass
        else:
            raise AssertionError("a torn state file must not be trusted")
    finally:
        state.write_bytes(saved)
    assert rt.state(cid).status == "created"
    rt.remove(cid, force=True)
