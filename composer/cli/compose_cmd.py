"""The Compose lifecycle commands: up, down, create, start, stop, restart, kill, pause, unpause, rm, ps.

`up` is level-triggered: observe -> diff into a Plan -> execute (trio, as parallel as the plan's DAG
allows) -> observe again, until nothing is left to do. Every command on a project holds the project's
lock, so two at once serialize (the one that waits says which process it waits for).
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from composer.cli.context import GlobalOptions
from composer.errors import ComposerError

if TYPE_CHECKING:
    from composer.cli.project import ProjectContext
    from composer.planner.plan import Plan, UpOptions
    from composer.runtime.compose.progress import Progress
    from composer.runtime.engine.engine import Engine

MAX_PASSES = 5


def _limit(opts: GlobalOptions) -> int | None:
    if opts.parallel is not None:
        return None if opts.parallel < 0 else opts.parallel
    raw = os.environ.get("COMPOSE_PARALLEL_LIMIT", "")
    return int(raw) if raw.strip().lstrip("-").isdigit() and int(raw) > 0 else None


def _progress(opts: GlobalOptions, *, quiet: bool = False) -> Progress:
    from composer.runtime.compose.progress import Progress, choose_mode

    stream = sys.stdout if os.environ.get("COMPOSE_STATUS_STDOUT") else sys.stderr
    return Progress(stream, quiet=quiet, mode=choose_mode(opts.progress, opts.ansi, stream))


def _scale(values: Sequence[str]) -> dict[str, int]:
    out = {}
    for value in values:
        name, sep, count = value.partition("=")
        if not sep or not count.isdigit():
            raise ComposerError(f"invalid --scale {value!r}: use SERVICE=NUMBER")
        out[name] = int(count)
    return out


def _fail(outcome: Any, plan: Plan) -> None:
    errors = outcome.errors(plan)
    if errors:
        raise ComposerError("; ".join(errors))


def converge(
    engine: Engine,
    ctx: ProjectContext,
    options: UpOptions,
    *,
    opts: GlobalOptions,
    progress: Progress,
    timeout: float | None = None,
    dry_run: bool = False,
    pull: str | None = None,
    quiet_pull: bool = False,
    build: str = "missing",
) -> None:
    """Bring the selected services to their desired state: observe, diff, execute, again until done."""
    from composer.planner.plan import diff
    from composer.runtime.compose.lock import project_lock
    from composer.runtime.compose.observe import observe

    want = ctx.require_model()
    images = {want.services[s].image for s in options.services or want.services}
    if not (dry_run or opts.dry_run):
        from composer.cli.config_views import model_document
        from composer.runtime.compose.pull import build_services, ensure_images

        built = build_services(model_document(ctx.loaded)) if ctx.loaded is not None else frozenset()
        ensure_images(engine, want, pull, None if quiet_pull else progress, services=options.services or None,
                      built=built)
        selected = options.services or frozenset(want.services)
        to_build = sorted(s for s in selected & built if build == "always" or (
            build != "never" and not _image_present(engine, want.services[s].image)))
        if to_build:
            from composer.runtime.compose.build import build_services as build_images

            build_images(engine, ctx, to_build, no_cache=False, progress=progress)
    with project_lock(engine.roots.run_root, want.project, "up"):
        plan = diff(want, observe(engine, want.project, images), options)
        if os.environ.get("COMPOSE_IGNORE_ORPHANS", "").lower() not in ("1", "true"):
            for warning in plan.warnings:
                progress.warn(warning)
        if dry_run or opts.dry_run:
            sys.stdout.write(plan.render())
            return
        if not plan.empty:
            import trio  # only now: a no-op `up` does without the event loop's import

            from composer.runtime.compose.apply import Applier
            from composer.runtime.compose.executor import execute
            from composer.runtime.compose.ports import check_plan_ports

            check_plan_ports(engine, want, plan)
            applier = Applier(engine, want, progress, no_start=options.no_start, timeout=timeout)
        for _ in range(MAX_PASSES):
            if plan.empty:
                break
            with engine.defer_hosts():
                outcome = trio.run(execute, plan, applier, _limit(opts))
            _fail(outcome, plan)
            # again, level-triggered; what ran once is not forced twice, exited one-shots stay exited
            options = dataclasses.replace(options, force_recreate=False, always_recreate_deps=False,
                                          renew_anon_volumes=False, start_stopped=False)
            plan = diff(want, observe(engine, want.project, images), options)
        else:
            raise ComposerError(f"project {want.project} did not converge: still to do: "
                                + "; ".join(a.text() for a in plan.actions if a.kind != "keep"))
    from composer.runtime.compose.supervisor import ensure_supervisor

    ensure_supervisor(engine, want.project)


def _image_present(engine: Engine, ref: str) -> bool:
    try:
        engine.images.get(ref)
    except ComposerError:
        return False
    return True


def _build_mode(build: bool, no_build: bool) -> str:
    if build and no_build:
        raise ComposerError("--build and --no-build are incompatible")
    return "always" if build else "never" if no_build else "missing"


def bring_up(ctx: ProjectContext, services: Sequence[str], *, no_deps: bool = False,
             opts: GlobalOptions | None = None) -> None:
    """Start `services` (with what they need, unless `no_deps`) as `up -d` would; for `run`."""
    from composer.cli.project import engine_for
    from composer.planner.graph import with_dependencies
    from composer.planner.plan import UpOptions

    want = ctx.require_model()
    chosen = with_dependencies(want.graph, services, no_deps=no_deps)
    if not no_deps:
        chosen -= set(services)  # `run web` starts what web needs, not web itself
    if not chosen:
        return
    opts = opts or GlobalOptions()
    converge(engine_for(), ctx, UpOptions(services=frozenset(chosen), start_stopped=False), opts=opts,
             progress=_progress(opts))


# -- up / create -----------------------------------------------------------------------------------


def _recreate_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--force-recreate", is_flag=True,
                     help="Recreate containers even if their configuration and image haven't changed."),
        click.option("--no-recreate", is_flag=True,
                     help="If containers already exist, don't recreate them. Incompatible with --force-recreate."),
        click.option("--always-recreate-deps", is_flag=True, help="Recreate dependent containers."),
        click.option("--remove-orphans", is_flag=True,
                     help="Remove containers for services not defined in the Compose file."),
        click.option("-V", "--renew-anon-volumes", is_flag=True,
                     help="Recreate anonymous volumes instead of retrieving data from the previous containers."),
        click.option("--scale", multiple=True, metavar="SERVICE=NUM",
                     help="Scale SERVICE to NUM instances. Overrides the `scale` setting in the Compose file."),
        click.option("--build", is_flag=True, help="Build images before starting containers."),
        click.option("--no-build", is_flag=True, help="Don't build an image, even if it's policy."),
        click.option("--pull", type=click.Choice(["always", "missing", "never"]), default=None,
                     help="Pull image before running."),
        click.option("--quiet-pull", is_flag=True, help="Pull without printing progress information."),
        click.option("--dry-run", "dry_run", is_flag=True,
                     help="Print the plan (each action and why); change nothing."),
    ]):
        fn = option(fn)
    return fn


def _up_options(services: Sequence[str], no_deps: bool, force_recreate: bool, no_recreate: bool,
                always_recreate_deps: bool, remove_orphans: bool, renew_anon_volumes: bool, no_start: bool,
                ctx: ProjectContext) -> UpOptions:
    from composer.planner.graph import with_dependencies
    from composer.planner.plan import UpOptions

    if force_recreate and no_recreate:
        raise ComposerError("--force-recreate and --no-recreate are incompatible")
    want = ctx.require_model()
    chosen = with_dependencies(want.graph, services, no_deps=no_deps)
    if os.environ.get("COMPOSE_REMOVE_ORPHANS", "").lower() in ("1", "true"):
        remove_orphans = True
    return UpOptions(services=frozenset(chosen), force_recreate=force_recreate, no_recreate=no_recreate,
                     always_recreate_deps=always_recreate_deps, renew_anon_volumes=renew_anon_volumes,
                     remove_orphans=remove_orphans, no_start=no_start)


@click.command("up")
@click.option("-d", "--detach", is_flag=True, help="Detached mode: Run containers in the background.")
@_recreate_options
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("--no-start", is_flag=True, help="Don't start the services after creating them.")
@click.option("--wait", "wait_ready", is_flag=True, help="Wait for services to be running|healthy. Implies detached.")
@click.option("--wait-timeout", type=int, default=None, metavar="SECONDS",
              help="Maximum duration in seconds to wait for the project to be running|healthy.")
@click.option("-t", "--timeout", type=int, default=None, metavar="SECONDS",
              help="Use this timeout in seconds for container shutdown when attached or when containers are "
                   "already running.")
@click.option("--abort-on-container-exit", is_flag=True,
              help="Stops all containers if any container was stopped. Incompatible with -d.")
@click.option("--abort-on-container-failure", is_flag=True,
              help="Stops all containers if any container exited with failure. Incompatible with -d.")
@click.option("--exit-code-from", metavar="SERVICE",
              help="Return the exit code of the selected service container. Implies --abort-on-container-exit.")
@click.option("--attach", multiple=True, metavar="SERVICE", help="Restrict attaching to the specified services.")
@click.option("--no-attach", multiple=True, metavar="SERVICE", help="Do not attach (stream logs) to the specified "
              "services.")
@click.option("--attach-dependencies", is_flag=True, help="Automatically attach to log output of dependent services.")
@click.option("--no-color", is_flag=True, help="Produce monochrome output.")
@click.option("--no-log-prefix", is_flag=True, help="Don't print prefix in logs.")
@click.option("--timestamps", is_flag=True, help="Show timestamps.")
@click.option("-y", "--yes", is_flag=True, help="Assume \"yes\" as answer to all prompts.")
@click.argument("services", nargs=-1)
@click.pass_obj
def up(opts: GlobalOptions, detach: bool, force_recreate: bool, no_recreate: bool, always_recreate_deps: bool,
       remove_orphans: bool, renew_anon_volumes: bool, scale: tuple[str, ...], build: bool, no_build: bool,
       pull: str | None, quiet_pull: bool, dry_run: bool, no_deps: bool, no_start: bool, wait_ready: bool,
       wait_timeout: int | None, timeout: int | None, abort_on_container_exit: bool,
       abort_on_container_failure: bool, exit_code_from: str | None, attach: tuple[str, ...],
       no_attach: tuple[str, ...], attach_dependencies: bool, no_color: bool, no_log_prefix: bool,
       timestamps: bool, yes: bool, services: tuple[str, ...]) -> None:
    """Create and start containers."""
    from composer.cli.project import engine_for, project

    began = datetime.now(UTC)
    if exit_code_from:
        abort_on_container_exit = True
    if detach and (abort_on_container_exit or abort_on_container_failure):
        raise ComposerError("--abort-on-container-exit and --abort-on-container-failure are incompatible with -d")
    if wait_ready:
        detach = True
    ctx = project(opts, services=services, scale=_scale(scale))
    options = _up_options(services, no_deps, force_recreate, no_recreate, always_recreate_deps, remove_orphans,
                          renew_anon_volumes, no_start, ctx)
    if exit_code_from and exit_code_from not in ctx.require_model().services:
        raise ComposerError(f"no such service: {exit_code_from}")
    if dry_run or opts.dry_run:
        engine = engine_for()
        converge(engine, ctx, options, opts=opts, progress=_progress(opts), dry_run=True)
        return
    engine = engine_for()
    converge(engine, ctx, options, opts=opts, progress=_progress(opts), timeout=timeout, pull=pull,
             quiet_pull=quiet_pull, build=_build_mode(build, no_build))
    if no_start:
        return
    if wait_ready:
        from composer.runtime.compose.readiness import wait_until_ready

        wait_until_ready(engine, ctx.require_model(), sorted(options.services or ()), timeout=wait_timeout,
                         progress=_progress(opts))
        return
    if detach:
        return
    from composer.runtime.compose.foreground import Attached, run_foreground

    want = ctx.require_model()
    shown = set(attach) if attach else set(services or want.services) if not attach_dependencies else set(
        options.services or ())
    shown -= set(no_attach)
    shown = {s for s in shown if want.services[s].spec.get("attach") is not False or s in attach}
    code = run_foreground(engine, want, Attached(
        services=sorted(options.services or ()), shown=sorted(shown), abort_on_exit=abort_on_container_exit,
        abort_on_failure=abort_on_container_failure, exit_code_from=exit_code_from, timeout=timeout,
        color=not no_color and sys.stdout.isatty() and opts.ansi != "never", prefix=not no_log_prefix,
        timestamps=timestamps, since=began), _progress(opts))
    sys.exit(code)


@click.command("create")
@_recreate_options
@click.option("-y", "--yes", is_flag=True, help="Assume \"yes\" as answer to all prompts.")
@click.argument("services", nargs=-1)
@click.pass_obj
def create(opts: GlobalOptions, force_recreate: bool, no_recreate: bool, always_recreate_deps: bool,
           remove_orphans: bool, renew_anon_volumes: bool, scale: tuple[str, ...], build: bool, no_build: bool,
           pull: str | None, quiet_pull: bool, dry_run: bool, yes: bool, services: tuple[str, ...]) -> None:
    """Creates containers for a service."""
    from composer.cli.project import engine_for, project

    ctx = project(opts, services=services, scale=_scale(scale))
    options = _up_options(services, False, force_recreate, no_recreate, always_recreate_deps, remove_orphans,
                          renew_anon_volumes, True, ctx)
    converge(engine_for(), ctx, options, opts=opts, progress=_progress(opts), dry_run=dry_run, pull=pull,
             quiet_pull=quiet_pull, build=_build_mode(build, no_build))


# -- down --------------------------------------------------------------------------------------------


@click.command("down")
@click.option("-v", "--volumes", is_flag=True,
              help="Remove named volumes declared in the \"volumes\" section of the Compose file and anonymous "
                   "volumes attached to containers.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not defined in the Compose file.")
@click.option("-t", "--timeout", type=int, default=None, metavar="SECONDS",
              help="Specify a shutdown timeout in seconds.")
@click.option("--rmi", type=click.Choice(["local", "all"]), default=None,
              help='Remove images used by services. "local" remove only images that don\'t have a custom tag.')
@click.option("--dry-run", "dry_run", is_flag=True, help="Print the plan (each action and why); change nothing.")
@click.argument("services", nargs=-1)
@click.pass_obj
def down(opts: GlobalOptions, volumes: bool, remove_orphans: bool, timeout: int | None, rmi: str | None,
         dry_run: bool, services: tuple[str, ...]) -> None:
    """Stop and remove containers, networks."""
    import trio

    from composer.cli.project import engine_for, project
    from composer.planner.plan import down_plan
    from composer.runtime.compose.apply import Applier
    from composer.runtime.compose.executor import execute
    from composer.runtime.compose.lock import project_lock
    from composer.runtime.compose.observe import observe

    ctx = project(opts, need_model=False)
    if os.environ.get("COMPOSE_REMOVE_ORPHANS", "").lower() in ("1", "true"):
        remove_orphans = True
    engine = engine_for()
    progress = _progress(opts)
    with project_lock(engine.roots.run_root, ctx.name, "down"):
        from composer.runtime.compose.supervisor import stop_supervisor

        stop_supervisor(engine, ctx.name)
        plan = down_plan(ctx.want, ctx.name, observe(engine, ctx.name, unfinished=True), volumes=volumes,
                         remove_orphans=remove_orphans or ctx.want is None)
        if services:
            keep = set(services)
            plan = dataclasses.replace(plan, actions=tuple(
                a for a in plan.actions if a.service in keep))
        if dry_run or opts.dry_run:
            sys.stdout.write(plan.render())
            return
        want = ctx.want
        if want is None:
            import networkx as nx

            from composer.planner.desired import DesiredState

            want = DesiredState(project=ctx.name, services={}, networks={}, volumes={}, graph=nx.DiGraph())
        applier = Applier(engine, want, progress, timeout=timeout)

        async def run(action: Any) -> None:
            if action.id.startswith("remove:"):
                await applier.remove(action.target, volumes=volumes)
            else:
                await applier(action)

        with engine.defer_hosts():
            outcome = trio.run(execute, plan, run, _limit(opts))
        _fail(outcome, plan)
        if not services and not dry_run:
            from composer.runtime.compose.files import forget

            forget(engine.roots.state_root, ctx.name)
        if rmi:
            _remove_images(engine, ctx, rmi, progress)


def _remove_images(engine: Engine, ctx: ProjectContext, rmi: str, progress: Progress) -> None:
    """`down --rmi`: `all` removes every service image, `local` only those without a custom tag (built ones)."""
    if ctx.want is None:
        return
    for svc in ctx.want.services.values():
        if rmi == "local" and ctx.want and svc.spec.get("image"):
            continue
        try:
            engine.images.remove(svc.image, in_use=engine.image_in_use)
        except ComposerError as exc:
            progress.warn(str(exc))
            continue
        progress.event("Image", svc.image, "Removed")


# -- start / stop / restart / kill / pause / unpause / rm ----------------------------------------------


def _each(opts: GlobalOptions, services: Sequence[str], what: str, act: Callable[[Engine, Any], None], *,
          all: bool = True, need_model: bool = False, reverse: bool = False) -> None:
    """Apply `act` to each of the selected services' containers, in parallel, under the project lock."""
    import trio

    from composer.cli.project import check_services, engine_for, project, project_containers
    from composer.runtime.compose.lock import project_lock

    ctx = project(opts, need_model=need_model)
    check_services(ctx, services)
    engine = engine_for()
    errors: list[str] = []

    async def one(c: Any) -> None:
        try:
            await trio.to_thread.run_sync(act, engine, c)
        except ComposerError as exc:
            errors.append(f"{c.name}: {exc}")

    async def run(containers: Sequence[Any]) -> None:
        limiter = trio.CapacityLimiter(_limit(opts) or 64)

        async def bounded(c: Any) -> None:
            async with limiter:
                await one(c)

        async with trio.open_nursery() as nursery:
            for c in containers:
                nursery.start_soon(bounded, c)

    with project_lock(engine.roots.run_root, ctx.name, what):
        containers = project_containers(engine, ctx.name, services, all=all)
        if not containers and services:
            raise ComposerError(f"no container found for service {services[0]!r}")
        for batch in _batches(ctx, containers, reverse=reverse):
            trio.run(run, batch)
    if errors:
        raise ComposerError("; ".join(errors))


def _batches(ctx: ProjectContext, containers: Sequence[Any], *, reverse: bool) -> list[list[Any]]:
    """Containers grouped by dependency level (dependencies first, or last with `reverse`)."""
    from composer.planner import labels as d

    if ctx.want is None:
        return [list(containers)]
    import networkx as nx

    graph = ctx.want.graph
    level: dict[str, int] = {}
    for name in reversed(list(nx.topological_sort(graph))):
        level[name] = 1 + max((level[t] for t in graph.successors(name)), default=-1)
    groups: dict[int, list[Any]] = {}
    for c in containers:
        groups.setdefault(level.get(c.record.labels.get(d.SERVICE, ""), 0), []).append(c)
    order = sorted(groups, reverse=reverse)
    return [groups[k] for k in order]


@click.command("start")
@click.option("--wait", "wait_ready", is_flag=True, help="Wait for services to be running|healthy.")
@click.option("--wait-timeout", type=int, default=None, help="Maximum duration to wait for the project to be ready.")
@click.argument("services", nargs=-1)
@click.pass_obj
def start(opts: GlobalOptions, wait_ready: bool, wait_timeout: int | None, services: tuple[str, ...]) -> None:
    """Start services."""
    progress = _progress(opts)
    from composer.runtime import restarts

    def act(engine: Engine, c: Any) -> None:
        progress.event("Container", c.name, "Starting")
        engine.start(c.id)
        restarts.clear_stopped_by_user(engine.roots, c.id)
        progress.event("Container", c.name, "Started")

    _each(opts, services, "start", act)
    from composer.cli.project import engine_for, project

    ctx = project(opts, need_model=False)
    from composer.runtime.compose.supervisor import ensure_supervisor

    engine = engine_for()
    ensure_supervisor(engine, ctx.name)
    if wait_ready and ctx.want is not None:
        from composer.runtime.compose.readiness import wait_until_ready

        wait_until_ready(engine, ctx.want, list(services or ctx.want.services), timeout=wait_timeout,
                         progress=_progress(opts))


def _stop(engine: Engine, c: Any, timeout: int | None, progress: Progress) -> None:
    from composer.runtime import restarts

    restarts.mark_stopped_by_user(engine.roots, c.id)
    progress.event("Container", c.name, "Stopping")
    if c.record.service.get("pre_stop") and c.status == "running":
        from composer.runtime.compose.hooks import pre_stop_sync

        pre_stop_sync(engine, c.id, c.name, c.record.service["pre_stop"])
    engine.stop(c.id, timeout=timeout)
    progress.event("Container", c.name, "Stopped")


@click.command("stop")
@click.option("-t", "--timeout", type=int, default=None, metavar="SECONDS",
              help="Specify a shutdown timeout in seconds.")
@click.argument("services", nargs=-1)
@click.pass_obj
def stop(opts: GlobalOptions, timeout: int | None, services: tuple[str, ...]) -> None:
    """Stop services."""
    progress = _progress(opts)
    _each(opts, services, "stop", lambda engine, c: _stop(engine, c, timeout, progress), all=False, reverse=True)


@click.command("restart")
@click.option("-t", "--timeout", type=int, default=None, metavar="SECONDS",
              help="Specify a shutdown timeout in seconds.")
@click.option("--no-deps", is_flag=True, help="Don't restart dependent services.")
@click.argument("services", nargs=-1)
@click.pass_obj
def restart(opts: GlobalOptions, timeout: int | None, no_deps: bool, services: tuple[str, ...]) -> None:
    """Restart service containers."""
    progress = _progress(opts)
    from composer.runtime import restarts

    def act(engine: Engine, c: Any) -> None:
        restarts.mark_stopped_by_user(engine.roots, c.id)
        progress.event("Container", c.name, "Restarting")
        engine.restart(c.id, timeout=timeout)
        restarts.clear_stopped_by_user(engine.roots, c.id)
        progress.event("Container", c.name, "Started")

    _each(opts, services, "restart", act)


@click.command("kill")
@click.option("-s", "--signal", "sig", default="SIGKILL", help="SIGNAL to send to the container.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not defined in the Compose file.")
@click.argument("services", nargs=-1)
@click.pass_obj
def kill(opts: GlobalOptions, sig: str, remove_orphans: bool, services: tuple[str, ...]) -> None:
    """Force stop service containers."""
    progress = _progress(opts)
    from composer.runtime import restarts

    def act(engine: Engine, c: Any) -> None:
        if sig.upper().removeprefix("SIG") in ("KILL", "TERM", "INT", "9", "15", "2"):
            restarts.mark_stopped_by_user(engine.roots, c.id)
        progress.event("Container", c.name, "Killing")
        engine.kill(c.id, sig)
        progress.event("Container", c.name, "Killed")

    _each(opts, services, "kill", act, all=False)


@click.command("pause")
@click.argument("services", nargs=-1)
@click.pass_obj
def pause(opts: GlobalOptions, services: tuple[str, ...]) -> None:
    """Pause services."""
    progress = _progress(opts)
    def act(engine: Engine, c: Any) -> None:
        engine.pause(c.id)
        progress.event("Container", c.name, "Paused")

    _each(opts, services, "pause", act, all=False)


@click.command("unpause")
@click.argument("services", nargs=-1)
@click.pass_obj
def unpause(opts: GlobalOptions, services: tuple[str, ...]) -> None:
    """Unpause services."""
    progress = _progress(opts)
    def act(engine: Engine, c: Any) -> None:
        engine.unpause(c.id)
        progress.event("Container", c.name, "Unpaused")

    _each(opts, services, "unpause", act, all=False)


@click.command("rm")
@click.option("-f", "--force", is_flag=True, help="Don't ask to confirm removal.")
@click.option("-s", "--stop", "stop_first", is_flag=True, help="Stop the containers, if required, before removing.")
@click.option("-v", "--volumes", is_flag=True, help="Remove any anonymous volumes attached to containers.")
@click.argument("services", nargs=-1)
@click.pass_obj
def rm(opts: GlobalOptions, force: bool, stop_first: bool, volumes: bool, services: tuple[str, ...]) -> None:
    """Removes stopped service containers."""
    progress = _progress(opts)
    from composer.cli.project import engine_for, project, project_containers

    ctx = project(opts, need_model=False)
    engine = engine_for()
    if stop_first:
        _each(opts, services, "rm", lambda e, c: _stop(e, c, None, progress), all=False, reverse=True)
    found = [c for c in project_containers(engine, ctx.name, services) if c.status not in ("running", "paused")]
    if not found:
        print("No stopped containers", file=sys.stderr)
        return
    if not force:
        names = ", ".join(c.name for c in found)
        if not sys.stdin.isatty() or not click.confirm(f"Going to remove {names}\nAre you sure?", default=False,
                                                        err=True):
            return

    def act(engine: Engine, c: Any) -> None:
        if c.status in ("running", "paused"):
            return
        progress.event("Container", c.name, "Removing")
        engine.remove(c.id, volumes=volumes)
        progress.event("Container", c.name, "Removed")

    _each(opts, services, "rm", act)


# -- ps -----------------------------------------------------------------------------------------------


def ps_row(c: Any, now: datetime) -> dict[str, Any]:
    """The fields of `docker compose ps --format json` for one container."""
    from composer.planner import labels as d
    from composer.runtime.engine import views

    base = views.row(c, now, truncate=False)
    health = ""
    status = base["Status"]
    for word in ("healthy", "unhealthy", "starting"):
        if f"({word})" in status or f"(health: {word})" in status:
            health = word
    publishers = [
        {"URL": p["HostIp"], "TargetPort": int(p["ContainerPort"]), "PublishedPort": int(p["HostPort"]),
         "Protocol": p["Protocol"]}
        for p in c.record.ports
    ]
    for spec in c.record.service.get("expose") or ():
        port, _, proto = str(spec).partition("/")
        if port.isdigit():
            publishers.append({"URL": "", "TargetPort": int(port), "PublishedPort": 0, "Protocol": proto or "tcp"})
    return {
        "Command": " ".join([c.record.path, *c.record.args]).strip(),
        "CreatedAt": base["CreatedAt"],
        "ExitCode": c.state.exit_code or 0,
        "Health": health,
        "ID": c.record.id,
        "Image": c.record.image_ref,
        "Labels": base["Labels"],
        "LocalVolumes": base["LocalVolumes"],
        "Mounts": base["Mounts"],
        "Name": c.record.name,
        "Names": c.record.name,
        "Networks": base["Networks"],
        "Ports": base["Ports"],
        "Project": c.record.labels.get(d.PROJECT, ""),
        "Publishers": publishers,
        "RunningFor": base["RunningFor"],
        "Service": c.record.labels.get(d.SERVICE, ""),
        "Size": base["Size"],
        "State": base["State"],
        "Status": status,
    }


PS_COLUMNS = (("NAME", "Name"), ("IMAGE", "Image"), ("COMMAND", "Command"), ("SERVICE", "Service"),
              ("CREATED", "RunningFor"), ("STATUS", "Status"), ("PORTS", "Ports"))


@click.command("ps")
@click.option("-a", "--all", "show_all", is_flag=True,
              help="Show all stopped containers (including those created by the run command).")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.option("--services", "list_services", is_flag=True, help="Display services.")
@click.option("--status", multiple=True, type=click.Choice(
    ["paused", "restarting", "removing", "running", "dead", "created", "exited"]), help="Filter services by status.")
@click.option("--filter", "filters", multiple=True, metavar="KEY=VALUE", help="Filter services by a property "
              "(supported filters: status).")
@click.option("--format", "fmt", default="table", help="Format the output: table, json, or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--orphans/--no-orphans", default=True, help="Include orphaned services (not declared by project).")
@click.argument("services", nargs=-1)
@click.pass_obj
def ps(opts: GlobalOptions, show_all: bool, quiet: bool, list_services: bool, status: tuple[str, ...],
       filters: tuple[str, ...], fmt: str, no_trunc: bool, orphans: bool, services: tuple[str, ...]) -> None:
    """List containers."""
    from composer.cli.project import check_services, engine_for, project, project_containers, project_name

    ctx = project(opts, need_model=False) if not orphans else project_name(opts)
    check_services(ctx, services)
    wanted_status = set(status)
    for f in filters:
        key, _, value = f.partition("=")
        if key != "status":
            raise ComposerError(f"invalid filter {key!r}: only status is supported")
        wanted_status.add(value)
    engine = engine_for()
    containers = project_containers(engine, ctx.name, services, all=True, oneoff=show_all)
    if not show_all and not wanted_status:
        containers = [c for c in containers if c.status in ("running", "paused", "restarting", "removing")]
    if wanted_status:
        containers = [c for c in containers if c.status in wanted_status]
    if not orphans and ctx.want is not None:
        containers = [c for c in containers if c.record.labels.get("com.docker.compose.service") in ctx.want.services]
    if list_services:
        seen: list[str] = []
        for c in containers:
            name = c.record.labels.get("com.docker.compose.service", "")
            if name not in seen:
                seen.append(name)
        sys.stdout.write("".join(f"{s}\n" for s in seen))
        return
    if quiet:
        sys.stdout.write("".join(f"{c.id}\n" for c in containers))
        return
    now = datetime.now(UTC)
    rows = [ps_row(c, now) for c in containers]
    if fmt == "json":
        sys.stdout.write("".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))
        return
    for r in rows:
        if not no_trunc and len(r["Command"]) > 20:
            r["Command"] = r["Command"][:19] + "…"
        r["Command"] = json.dumps(r["Command"], ensure_ascii=False)
    if fmt in ("table", ""):  # the default table without the template engine (its import is a tenth of `ps`)
        from composer.tabwriter import rows_table

        cells = [[title for title, _ in PS_COLUMNS], *([str(r[key]) for _, key in PS_COLUMNS] for r in rows)]
        sys.stdout.write(rows_table(cells))
        return
    from composer.cli.gotemplate import render_rows

    sys.stdout.write(render_rows(fmt, rows, {key: title for title, key in PS_COLUMNS}))


def register(cli: click.Group) -> None:
    from composer.cli.secret_cmd import secret

    cli.add_command(secret)
    for command in (up, down, create, start, stop, restart, kill, pause, unpause, rm, ps):
        cli.add_command(command)

