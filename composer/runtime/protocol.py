"""The one async interface every engine backend offers the reconciler and the CLI.

Small on purpose: containers now; networks and volumes join with the networking engine. The native
engine implements it (`runtime.native`); a Docker Engine API backend and the fake runtime of the
planner tests will too.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Container, CreateRequest


class Runtime(Protocol):
    """Containers, addressed by ID, name or unambiguous ID prefix."""

    async def create(self, request: CreateRequest) -> str:
        """Create a container (not started); its ID."""
        ...

    async def start(self, ref: str) -> None: ...

    async def stop(self, ref: str, *, grace: float | None = None, signal: str | None = None) -> None: ...

    async def kill(self, ref: str, signal: str = "KILL") -> None: ...

    async def pause(self, ref: str) -> None: ...

    async def unpause(self, ref: str) -> None: ...

    async def remove(self, ref: str, *, force: bool = False) -> None: ...

    async def wait(self, ref: str) -> int:
        """Block until the container exits; its exit code."""
        ...

    async def get(self, ref: str) -> Container: ...

    async def list(self, *, all: bool = True) -> Sequence[Container]: ...
