"""The plan executor with a fake `run` (no engine, no root): parallel as the DAG allows, failures fail only
dependents, errors name the action and the engine's message, `limit` bounds concurrency, keeps are not run.
Also the plan that a killed recreate leaves to the next `up` (pure)."""

from __future__ import annotations

import itertools

import trio
import trio.testing

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.plan import Action, ObservedContainer, ObservedState, Plan, diff
from composer.runtime.compose.executor import DependencyFailed, execute


def container(service: str, number: int = 1, kind: str = "create", after: tuple[str, ...] = ()) -> Action:
    return Action(f"container:demo-{service}-{number}", kind, f"demo-{service}-{number}",  # type: ignore[arg-type]
                  service=service, number=number, after=after)


class Recorder:
    """A fake `run`: each action takes `seconds` (trio time), some fail with an engine-like error."""

    def __init__(self, seconds: float = 1.0, failing: dict[str, str] | None = None) -> None:
        self.seconds = seconds
        self.failing = failing or {}
        self.started: dict[str, float] = {}
        self.ended: dict[str, float] = {}
        self.in_flight = 0
        self.max_in_flight = 0

    async def __call__(self, action: Action) -> None:
        self.started[action.id] = trio.current_time()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await trio.sleep(self.seconds)
            if action.id in self.failing:
                raise ComposerError(self.failing[action.id])
        finally:
            self.in_flight -= 1
            self.ended[action.id] = trio.current_time()


async def test_actions_run_as_parallel_as_the_dag_allows(autojump_clock: trio.testing.MockClock) -> None:
    net = Action("network:demo_default", "create", "demo_default")
    db = container("db", after=(net.id,))
    cache = container("cache", after=(net.id,))
    web = container("web", after=(db.id, cache.id))
    worker = container("worker", after=(net.id,))
    plan = Plan((web, worker, cache, db, net))  # order in the plan does not matter, only `after`
    run = Recorder()
    t0 = trio.current_time()
    outcome = await execute(plan, run)
    assert outcome.ok
    assert set(outcome.done) == {a.id for a in plan.actions}
    started = {aid: t - t0 for aid, t in run.started.items()}
    assert started == {net.id: 0, db.id: 1, cache.id: 1, worker.id: 1, web.id: 2}
    assert trio.current_time() - t0 == 3  # three levels, not five actions in a row
    assert run.max_in_flight == 3


async def test_a_failed_action_fails_its_dependents_not_its_siblings(autojump_clock: trio.testing.MockClock) -> None:
    db = container("db")
    cache = container("cache")
    web = container("web", after=(db.id,))
    proxy = container("proxy", after=(web.id,))
    worker = container("worker", after=(cache.id,))
    plan = Plan((db, cache, web, proxy, worker))
    message = 'the container name "/demo-db-1" is already in use by container "0123abcd"'
    run = Recorder(failing={db.id: message})
    outcome = await execute(plan, run)
    assert not outcome.ok
    assert set(outcome.done) == {cache.id, worker.id}  # the siblings and their dependents went on
    assert isinstance(outcome.failed[db.id], ComposerError)
    assert isinstance(outcome.failed[web.id], DependencyFailed)
    assert isinstance(outcome.failed[proxy.id], DependencyFailed)  # transitively
    assert str(outcome.failed[web.id]) == f"not done: {db.id} failed"
    assert web.id not in run.started
    assert proxy.id not in run.started
    # one line per root cause, naming the action and the engine's message; skipped dependents are not repeated
    assert outcome.errors(plan) == [f"db-1: {message}"]


async def test_errors_name_networks_and_volumes_too(autojump_clock: trio.testing.MockClock) -> None:
    net = Action("network:demo_front", "create", "demo_front")
    vol = Action("volume:demo_data", "create", "demo_data")
    db = container("db", after=(net.id, vol.id))
    plan = Plan((net, vol, db))
    run = Recorder(failing={net.id: "subnet 10.1.0.0/24 overlaps with another network",
                            vol.id: "volume demo_data: driver 'nfs' is not supported"})
    outcome = await execute(plan, run)
    assert sorted(outcome.errors(plan)) == ["network demo_front: subnet 10.1.0.0/24 overlaps with another network",
                                            "volume demo_data: volume demo_data: driver 'nfs' is not supported"]
    assert isinstance(outcome.failed[db.id], DependencyFailed)


async def test_a_non_composer_exception_is_recorded_too(autojump_clock: trio.testing.MockClock) -> None:
    db = container("db")
    web = container("web", after=(db.id,))

    async def run(action: Action) -> None:
        if action is db:
            raise OSError(28, "No space left on device")

    outcome = await execute(Plan((db, web)), run)
    assert outcome.errors(Plan((db, web))) == ["db-1: [Errno 28] No space left on device"]
    assert isinstance(outcome.failed[web.id], DependencyFailed)


async def test_limit_bounds_how_many_run_at_once(autojump_clock: trio.testing.MockClock) -> None:
    plan = Plan(tuple(container("app", n) for n in range(1, 11)))
    for limit, expected_max, expected_time in ((3, 3, 4), (1, 1, 10), (None, 10, 1), (0, 10, 1), (64, 10, 1)):
        run = Recorder()
        t0 = trio.current_time()
        outcome = await execute(plan, run, limit)
        assert outcome.ok
        assert run.max_in_flight == expected_max, limit
        assert trio.current_time() - t0 == expected_time, limit  # ceil(10 / limit) rounds of one second


async def test_limit_counts_only_running_actions_not_waiting_ones(autojump_clock: trio.testing.MockClock) -> None:
    """Actions waiting for their dependencies hold no slot, so a chain with limit 1 cannot deadlock."""
    chain = [container("c", 1)]
    for n in range(2, 6):
        chain.append(container("c", n, after=(chain[-1].id,)))
    run = Recorder()
    with trio.fail_after(100):
        outcome = await execute(Plan(tuple(reversed(chain))), run, 1)
    assert outcome.ok
    assert [run.started[a.id] < run.started[b.id] for a, b in itertools.pairwise(chain)] == [True] * 4


async def test_keeps_are_not_run_but_count_as_done(autojump_clock: trio.testing.MockClock) -> None:
    db = container("db", kind="keep")
    web = container("web", kind="recreate", after=(db.id,))
    plan = Plan((db, web))
    assert not plan.empty
    run = Recorder()
    outcome = await execute(plan, run)
    assert outcome.ok
    assert set(outcome.done) == {db.id, web.id}
    assert set(run.started) == {web.id}
    only_keeps = Plan((db,))
    assert only_keeps.empty
    run = Recorder()
    outcome = await execute(only_keeps, run)
    assert outcome.done == {db.id: db}
    assert run.started == {}


async def test_an_empty_plan_does_nothing() -> None:
    outcome = await execute(Plan(), Recorder())
    assert outcome.ok
    assert outcome.done == {}


# -- what the next `up` does with what a killed recreate left ------------------------------------------------


def _want() -> d.DesiredState:
    from tests.planner.test_plan import INFO, doc

    return d.desired_state(doc(web={"environment": {"GEN": "2"}}), INFO)


def _observed(want: d.DesiredState, containers: list[ObservedContainer]) -> ObservedState:
    return ObservedState(containers=containers, networks={"demo_default": {d.PROJECT: "demo"}},
                         volumes={"demo_data": {d.PROJECT: "demo"}}, images={"busybox": "sha256:img"})


def _container(want: d.DesiredState, cid: str, name: str, *, current: bool, status: str) -> ObservedContainer:
    svc = want.services["web"]
    labels = {**svc.labels, d.NUMBER: "1", d.IMAGE: "sha256:img"}
    if not current:
        labels[d.HASH] = "outdated"
    return ObservedContainer(id=cid.ljust(64, "0"), name=name, service="web", number=1, status=status,
                             labels=labels, spec=svc.spec)


def test_killed_after_the_new_container_was_made_the_duplicate_goes_first() -> None:
    """The replacement has the temporary name `<old id>_<name>` the new recreate takes again: it must be gone
    before the recreate makes its own replacement."""
    want = _want()
    old = _container(want, "aaaa", "demo-web-1", current=False, status="running")
    new = _container(want, "bbbb", "aaaa00000000_demo-web-1", current=True, status="created")
    plan = diff(want, _observed(want, [old, new]))
    actions = plan.by_id()
    recreate = actions["container:demo-web-1"]
    assert recreate.kind == "recreate"
    assert recreate.replaces == old.id
    remove = actions[f"remove:{new.id}"]
    assert remove.reason == "duplicate"
    assert remove.id in recreate.after


def test_killed_after_the_old_container_went_the_new_one_is_renamed() -> None:
    want = _want()
    new = _container(want, "bbbb", "aaaa00000000_demo-web-1", current=True, status="created")
    plan = diff(want, _observed(want, [new]))
    assert plan.render() == "web-1: rename (finish an interrupted recreate)\n"


async def test_the_duplicate_removal_runs_before_the_recreate(autojump_clock: trio.testing.MockClock) -> None:
    want = _want()
    old = _container(want, "aaaa", "demo-web-1", current=False, status="running")
    new = _container(want, "bbbb", "aaaa00000000_demo-web-1", current=True, status="created")
    plan = diff(want, _observed(want, [old, new]))
    run = Recorder()
    outcome = await execute(plan, run)
    assert outcome.ok
    assert run.ended[f"remove:{new.id}"] <= run.started["container:demo-web-1"]
