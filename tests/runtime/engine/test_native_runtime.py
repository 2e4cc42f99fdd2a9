"""The async `Runtime` protocol over the native engine: parallel create/start/wait under trio."""

from __future__ import annotations

import pytest
import trio

from composer.runtime.engine.engine import CreateRequest
from composer.runtime.native import NativeRuntime
from composer.runtime.protocol import Runtime
from tests.runtime.engine.enginefix import BASE, EngineEnv

pytestmark = pytest.mark.root


async def test_parallel_containers_through_the_protocol(eng: EngineEnv) -> None:
    runtime: Runtime = NativeRuntime(eng.engine, parallel=4)
    codes: dict[str, int] = {}

    async def one(i: int) -> None:
        cid = await runtime.create(CreateRequest(BASE, {"command": ["sh", "-c", f"exit {i}"]}, name=f"p{i}"))
        await runtime.start(cid)
        codes[f"p{i}"] = await runtime.wait(cid)

    async with trio.open_nursery() as nursery:
        for i in range(8):
            nursery.start_soon(one, i)
    assert codes == {f"p{i}": i for i in range(8)}
    listed = await runtime.list(all=True)
    assert sorted(c.name for c in listed) == [f"p{i}" for i in range(8)]
    assert all(c.status == "exited" for c in listed)
    async with trio.open_nursery() as nursery:
        for c in listed:
            nursery.start_soon(runtime.remove, c.id)
    assert await runtime.list(all=True) == []


async def test_stop_and_cancellation(eng: EngineEnv) -> None:
    runtime = NativeRuntime(eng.engine)
    cid = await runtime.create(CreateRequest(BASE, {"command": ["sleep", "100"]}))
    await runtime.start(cid)
    with trio.move_on_after(0.2):
        await runtime.wait(cid)  # a wait is abandoned on cancel, the container keeps running
    assert (await runtime.get(cid)).status == "running"
    await runtime.pause(cid)
    assert (await runtime.get(cid)).status == "paused"
    await runtime.unpause(cid)
    await runtime.stop(cid, grace=0.5)
    assert (await runtime.get(cid)).state.exit_code == 137
    await runtime.remove(cid)
