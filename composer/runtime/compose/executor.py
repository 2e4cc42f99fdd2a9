"""Run a Plan's actions with as much parallelism as its DAG allows.

Each action starts once everything in its `after` has succeeded; a failed action fails its dependents
(they are skipped, naming the cause) but never its siblings. A capacity limiter bounds how many run at
once (`--parallel`, `COMPOSE_PARALLEL_LIMIT`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from composer.planner.plan import Action, Plan


class DependencyFailed(Exception):
    """An action was not run because one it waits for failed."""


@dataclass
class Outcome:
    done: dict[str, Action] = field(default_factory=dict)
    failed: dict[str, BaseException] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.failed

    def errors(self, plan: Plan) -> list[str]:
        """One line per root cause (skipped dependents are named by the cause, not repeated)."""
        actions = plan.by_id()
        out = []
        for aid, exc in self.failed.items():
            if isinstance(exc, DependencyFailed):
                continue
            out.append(f"{actions[aid].label}: {exc}")
        return out


async def execute(
    plan: Plan,
    run: Callable[[Action], Awaitable[None]],
    limit: int | None = None,
) -> Outcome:
    """Run every action of `plan` through `run`; the outcome says what succeeded and what failed."""
    outcome = Outcome()
    finished = {a.id: trio.Event() for a in plan.actions}
    limiter = trio.CapacityLimiter(limit if limit and limit > 0 else max(1, len(plan.actions)))

    async def one(action: Action) -> None:
        try:
            for dep in action.after:
                if dep in finished:
                    await finished[dep].wait()
            bad = [dep for dep in action.after if dep in outcome.failed]
            if bad:
                outcome.failed[action.id] = DependencyFailed(f"not done: {bad[0]} failed")
                return
            if action.kind == "keep":
                outcome.done[action.id] = action
                return
            async with limiter:
                await run(action)
            outcome.done[action.id] = action
        except Exception as exc:
            outcome.failed[action.id] = exc
        finally:
            finished[action.id].set()

    async with trio.open_nursery() as nursery:
        for action in plan.actions:
            nursery.start_soon(one, action)
    return outcome
