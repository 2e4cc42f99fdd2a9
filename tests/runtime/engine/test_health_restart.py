"""Healthchecks and restart policies on real containers: the watchers the project supervisor runs."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
import trio

from composer.planner.health import HealthSpec, health_spec
from composer.planner.restarts import RestartPolicy, restart_policy
from composer.runtime import restarts
from composer.runtime.engine.engine import CreateRequest
from composer.runtime.health import read_health, watch_health
from composer.runtime.oci.exec import exec_spec
from composer.runtime.oci.probe import run_probe
from composer.runtime.restarts import read_restarts, watch_restarts
from tests.runtime.engine.enginefix import APP, BASE, EngineEnv, inspect

pytestmark = pytest.mark.root


def _run(eng: EngineEnv, command: list[str], name: str) -> str:
    record = eng.engine.create(CreateRequest(BASE, {"command": command}, name=name))
    eng.engine.start(record.id)
    return record.id


async def _until(predicate: Callable[[], bool], limit: float, step: float = 0.05) -> bool:
    """Poll `predicate` (the watchers write files; nothing to wait on) for at most `limit` seconds."""
    with trio.move_on_after(limit):
        while True:
            if predicate():
                return True
            await trio.sleep(step)
    return False


async def test_passing_check_becomes_healthy_and_shows_in_ps_and_inspect(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "hc-ok")
    spec = health_spec({"test": ["CMD-SHELL", "echo fine; exit 0"], "interval": "200ms", "timeout": "2s"}, None)
    assert spec is not None
    assert read_health(eng.engine.roots, cid) is None
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_health, eng.engine, cid, spec)
        assert await _until(lambda: getattr(read_health(eng.engine.roots, cid), "status", None) == "starting", 2)
        assert await _until(lambda: getattr(read_health(eng.engine.roots, cid), "status", None) == "healthy", 5)
        nursery.cancel_scope.cancel()
    state = read_health(eng.engine.roots, cid)
    assert state is not None
    assert state.failing_streak == 0
    assert state.log[-1].exit_code == 0
    assert state.log[-1].output == "fine\n"
    doc = inspect(eng, "hc-ok")
    assert doc["State"]["Health"]["Status"] == "healthy"
    assert set(doc["State"]["Health"]) == {"Status", "FailingStreak", "Log"}
    assert doc["State"]["Health"]["Log"][-1]["Output"] == "fine\n"
    ls = eng.cli("ls", "--format", "{{.Status}}")
    assert ls.code == 0, ls.stderr
    assert ls.stdout.strip().endswith("(healthy)")


async def test_failing_check_becomes_unhealthy_after_retries(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "hc-bad")
    spec = HealthSpec(("/bin/sh", "-c", "echo broken >&2; exit 1"), interval=0.1, timeout=2.0, retries=2)
    statuses: list[tuple[str, int]] = []

    def status() -> str | None:
        state = read_health(eng.engine.roots, cid)
        if state is not None and (not statuses or statuses[-1] != (state.status, state.failing_streak)):
            statuses.append((state.status, state.failing_streak))
        return None if state is None else state.status

    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_health, eng.engine, cid, spec)
        assert await _until(lambda: status() == "unhealthy", 5, step=0.01)
        nursery.cancel_scope.cancel()
    state = read_health(eng.engine.roots, cid)
    assert state is not None
    assert state.failing_streak >= 2
    assert [p.exit_code for p in state.log] == [1] * len(state.log)
    assert state.log[0].output == "broken\n"
    assert ("starting", 1) in statuses
    ls = eng.cli("ls", "--format", "{{.Status}}")
    assert ls.stdout.strip().endswith("(unhealthy)")


async def test_start_period_and_stop_marks_unhealthy(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "hc-period")
    spec = HealthSpec(("false",), interval=5.0, timeout=2.0, start_period=30.0, start_interval=0.1, retries=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_health, eng.engine, cid, spec)
        assert await _until(lambda: len(getattr(read_health(eng.engine.roots, cid), "log", ())) >= 3, 5)
        state = read_health(eng.engine.roots, cid)
        assert state is not None
        assert (state.status, state.failing_streak) == ("starting", 0)  # failures in the start period don't count
        assert eng.cli("ls", "--format", "{{.Status}}").stdout.strip().endswith("(health: starting)")
        eng.engine.stop(cid, timeout=0)
        # the watcher notices at its next (start_interval) tick and ends by itself
        assert await _until(lambda: getattr(read_health(eng.engine.roots, cid), "status", None) == "unhealthy", 5)
    assert "(health" not in eng.cli("ls", "-a", "--format", "{{.Status}}").stdout


async def test_probe_timeout_kills_the_probe(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "hc-slow")
    spec = json.loads(eng.engine.roots.container(cid).config.read_text())
    process = exec_spec(spec["process"], ["sleep", "30"], user=None)
    started = time.monotonic()
    outcome = await run_probe(eng.engine.oci.cfg, cid, process, 0.3)
    assert outcome.timed_out
    assert time.monotonic() - started < 3
    top = eng.cli("top", cid)
    assert "sleep 30" not in top.stdout
    health = HealthSpec(("sleep", "30"), interval=0.1, timeout=0.2, retries=1)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_health, eng.engine, cid, health)
        assert await _until(lambda: getattr(read_health(eng.engine.roots, cid), "status", None) == "unhealthy", 5)
        nursery.cancel_scope.cancel()
    state = read_health(eng.engine.roots, cid)
    assert state is not None
    assert state.log[-1].exit_code == -1
    assert state.log[-1].output == "Health check exceeded timeout (200ms)"


async def test_missing_command_and_image_healthcheck(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "hc-missing")
    spec = json.loads(eng.engine.roots.container(cid).config.read_text())
    outcome = await run_probe(eng.engine.oci.cfg, cid, exec_spec(spec["process"], ["/nope"], user=None), 5)
    assert outcome.exit_code is None
    assert outcome.error
    # the app image's HEALTHCHECK, with the service's interval: merged as dockerd merges them
    image = eng.engine.images.get(APP)
    merged = health_spec({"interval": "1s"}, (image.config_json.get("config") or {}).get("Healthcheck"))
    assert merged == HealthSpec(("/usr/local/bin/healthcheck",), 1.0, 3.0, 1.0, 5.0, 3)


async def test_on_failure_restarts_twice_then_leaves_it_exited(eng: EngineEnv) -> None:
    cid = _run(eng, ["sh", "-c", "exit 3"], "rs-fail")
    policy = restart_policy({"restart": "on-failure:2"})
    assert policy == RestartPolicy("on-failure", 2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_restarts, eng.engine, cid, policy)
        assert await _until(lambda: read_restarts(eng.engine.roots, cid).restart_count == 2, 10)
        await trio.sleep(1.5)  # more than the next back-off (0.4 s): no third restart
        nursery.cancel_scope.cancel()
    c = eng.engine.get(cid)
    assert c.status == "exited"
    assert c.state.exit_code == 3
    record = read_restarts(eng.engine.roots, cid)
    assert (record.restart_count, record.attempts, record.last_exit_code) == (2, 2, 3)
    assert record.delay == pytest.approx(0.2)
    assert inspect(eng, "rs-fail")["RestartCount"] == 2
    # a user start counts from zero again (RestartCount keeps the total)
    restarts.clear_stopped_by_user(eng.engine.roots, cid)
    assert read_restarts(eng.engine.roots, cid).attempts == 0
    assert read_restarts(eng.engine.roots, cid).restart_count == 2


async def test_always_restarts_even_after_success(eng: EngineEnv) -> None:
    cid = _run(eng, ["sh", "-c", "sleep 0.2; exit 0"], "rs-always")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_restarts, eng.engine, cid, RestartPolicy("always"))
        assert await _until(lambda: read_restarts(eng.engine.roots, cid).restart_count >= 2, 10)
        nursery.cancel_scope.cancel()
    assert read_restarts(eng.engine.roots, cid).last_exit_code == 0
    eng.engine.stop(cid, timeout=0)


async def test_a_user_stop_is_not_undone(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "rs-user")
    async with trio.open_nursery() as nursery:
        nursery.start_soon(watch_restarts, eng.engine, cid, RestartPolicy("always"),
                           lambda: restarts.stopped_by_user(eng.engine.roots, cid))
        await trio.sleep(0.3)
        restarts.mark_stopped_by_user(eng.engine.roots, cid)
        await trio.to_thread.run_sync(lambda: eng.engine.stop(cid, timeout=0))
        await trio.sleep(1.0)
        assert eng.engine.get(cid).status == "exited"
        # started again by the user: the policy applies again
        eng.engine.start(cid)
        restarts.clear_stopped_by_user(eng.engine.roots, cid)
        eng.engine.kill(cid)
        assert await _until(lambda: read_restarts(eng.engine.roots, cid).restart_count == 1, 5)
        assert await _until(lambda: eng.engine.get(cid).status == "running", 5)
        nursery.cancel_scope.cancel()
    assert inspect(eng, "rs-user")["RestartCount"] == 1
    eng.engine.stop(cid, timeout=0)


async def test_watcher_returns_when_the_container_is_removed(eng: EngineEnv) -> None:
    cid = _run(eng, ["sleep", "1000"], "rs-gone")
    spec = HealthSpec(("true",), interval=0.1)
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch_restarts, eng.engine, cid, RestartPolicy("always"))
            nursery.start_soon(watch_health, eng.engine, cid, spec)
            await trio.sleep(0.3)
            restarts.mark_stopped_by_user(eng.engine.roots, cid)
            await trio.to_thread.run_sync(lambda: eng.engine.remove(cid, force=True))
