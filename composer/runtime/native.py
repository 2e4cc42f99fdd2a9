"""The native engine behind the async `Runtime` protocol: each call runs the synchronous engine in a
worker thread (trio.to_thread), bounded so that a 50-container `up` does not start 50 runc at once
beyond what the machine can take."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TypeVar

import trio

from composer.runtime.engine.engine import Container, CreateRequest, Engine

T = TypeVar("T")


class NativeRuntime:
    """`Runtime` for the daemonless engine."""

    def __init__(self, engine: Engine, *, parallel: int = 32) -> None:
        self.engine = engine
        self._limit = trio.CapacityLimiter(max(1, parallel))

    async def _run(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._limit)

    async def create(self, request: CreateRequest) -> str:
        record = await self._run(functools.partial(self.engine.create, request))
        return record.id

    async def start(self, ref: str) -> None:
        await self._run(functools.partial(self.engine.start, ref))

    async def stop(self, ref: str, *, grace: float | None = None, signal: str | None = None) -> None:
        await self._run(functools.partial(self.engine.stop, ref, timeout=grace, signal=signal))

    async def kill(self, ref: str, signal: str = "KILL") -> None:
        await self._run(functools.partial(self.engine.kill, ref, signal))

    async def pause(self, ref: str) -> None:
        await self._run(functools.partial(self.engine.pause, ref))

    async def unpause(self, ref: str) -> None:
        await self._run(functools.partial(self.engine.unpause, ref))

    async def remove(self, ref: str, *, force: bool = False) -> None:
        await self._run(functools.partial(self.engine.remove, ref, force=force))

    async def wait(self, ref: str) -> int:
        # waiting is not work: it must not hold one of the limited worker slots
        return await trio.to_thread.run_sync(functools.partial(self.engine.wait, ref), abandon_on_cancel=True)

    async def get(self, ref: str) -> Container:
        return await self._run(functools.partial(self.engine.get, ref))

    async def list(self, *, all: bool = True) -> Sequence[Container]:
        return await self._run(functools.partial(self.engine.list, all=all))
