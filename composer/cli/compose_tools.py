"""The Compose commands that look into or act on one project's containers: logs, exec, run, top, port,
images, events, wait, ls, cp.

Each finds the project's containers by their `com.docker.compose.*` labels and hands one container to
the engine-level machinery `composer container ...` uses (logs, exec, attach, top, cp). Output, flags
and exit codes follow `docker compose` v2.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from composer.cli.context import GlobalOptions
from composer.errors import ComposerError
from composer.tabwriter import rows_table

if TYPE_CHECKING:
    from composer.cli.project import ProjectContext
    from composer.runtime.compose.events import Snapshot
    from composer.runtime.engine.engine import Container, Engine

SLUG = "com.docker.compose.slug"


def _multi(*names: str, help: str, metavar: str = "VALUE") -> Callable[[Any], Any]:
    return click.option(*names, multiple=True, metavar=metavar, help=help)


def _context(opts: GlobalOptions, services: Sequence[str] = (), *, need_model: bool = False) -> ProjectContext:
    from composer.cli.project import check_services, project

    ctx = project(opts, need_model=need_model)
    check_services(ctx, services)
    return ctx


def _one(engine: Engine, project: str, service: str, index: int | None, *, running: bool,
         oneoff: bool = False) -> Container:
    """The container of `service` a single-container command acts on (`--index`, default the first)."""
    from composer.cli.project import project_containers

    found = project_containers(engine, project, [service], all=True, oneoff=oneoff, index=index)
    if running:
        found = [c for c in found if c.status in ("running", "paused")]
    if not found:
        if running:
            raise ComposerError(f'service "{service}" is not running')
        raise ComposerError(f"no container found for {service}" + (f"_{index}" if index else ""))
    return found[0]


def color_wanted(opts: GlobalOptions, no_color: bool) -> bool:
    if no_color or opts.ansi == "never" or os.environ.get("NO_COLOR"):
        return False
    return opts.ansi == "always" or sys.stdout.isatty()


# -- logs --------------------------------------------------------------------------------------------


def parse_tail(tail: str) -> int | None:
    if tail in ("all", "-1", ""):
        return None
    if tail.isdigit():
        return int(tail)
    raise ComposerError(f"invalid --tail {tail!r}: a number or 'all'")


@click.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all",
              help="Number of lines to show from the end of the logs for each container.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@click.option("--no-color", is_flag=True, help="Produce monochrome output.")
@click.option("--no-log-prefix", is_flag=True, help="Don't print prefix in logs.")
@click.option("--index", type=int, default=None, help="Index of the container if service has multiple replicas.")
@click.argument("services", nargs=-1)
@click.pass_obj
def logs(opts: GlobalOptions, follow: bool, tail: str, timestamps: bool, since: str | None, until: str | None,
         no_color: bool, no_log_prefix: bool, index: int | None, services: tuple[str, ...]) -> None:
    """View output from containers."""
    import trio

    from composer.cli.project import engine_for
    from composer.cli.timeargs import parse_timestamp
    from composer.runtime.compose.logs import follow_project_logs

    ctx = _context(opts, services)
    now = datetime.now(UTC)
    trio.run(lambda: follow_project_logs(
        engine_for(), ctx.name, services, follow=follow, tail=parse_tail(tail), timestamps=timestamps,
        since=parse_timestamp(since, now) if since else None, until=parse_timestamp(until, now) if until else None,
        prefix=not no_log_prefix, color=color_wanted(opts, no_color), out=sys.stdout, err=sys.stderr,
        index=index or None))


# -- exec ---------------------------------------------------------------------------------------------


def _env_items(items: Sequence[str]) -> list[str]:
    """`-e KEY=VALUE`, or `-e KEY` from our environment (left out when unset)."""
    out = []
    for item in items:
        key, sep, _ = item.partition("=")
        if sep:
            out.append(item)
        elif key in os.environ:
            out.append(f"{key}={os.environ[key]}")
    return out


@click.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: Run command in the background.")
@_multi("-e", "--env", help="Set environment variables.")
@click.option("--index", type=int, default=None, help="Index of the container if service has multiple replicas.")
@click.option("-T", "--no-tty", "--no-TTY", "no_tty", is_flag=True,
              help="Disable pseudo-TTY allocation. By default 'composer exec' allocates a TTY.")
@click.option("-i", "--interactive", is_flag=True, default=True, hidden=True, help="Keep STDIN open (default).")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the process.")
@click.option("-u", "--user", help="Run the command as this user.")
@click.option("-w", "--workdir", help="Path to workdir directory for this command.")
@click.argument("service")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
@click.pass_obj
def exec_(opts: GlobalOptions, detach: bool, env: tuple[str, ...], index: int | None, no_tty: bool,
          interactive: bool, privileged: bool, user: str | None, workdir: str | None, service: str,
          command: tuple[str, ...]) -> int:
    """Execute a command in a running container; exits with the command's exit code."""
    from composer.cli.project import engine_for

    ctx = _context(opts, [service])
    engine = engine_for()
    c = _one(engine, ctx.name, service, index or 1, running=True)
    tty = not no_tty and not detach and sys.stdin.isatty()
    return engine.exec(c.id, command, user=user, env=_env_items(env), workdir=workdir, tty=tty,
                       interactive=interactive and not detach, detach=detach, privileged=privileged)


exec_.name = "exec"


# -- run ----------------------------------------------------------------------------------------------


def run_spec(base: Mapping[str, Any], *, command: Sequence[str], entrypoint: str | None, env: Sequence[str],
             volumes: Sequence[str], publish: Sequence[str], service_ports: bool, user: str | None,
             workdir: str | None, tty: bool, stdin_open: bool, cwd: str) -> dict[str, Any]:
    """The one-off container's service mapping: the service's, with `run`'s overrides (Compose's
    applyRunOptions): no restart policy, no published ports unless asked, no network aliases."""
    from composer.cli.run_options import RunFlags, service_from_flags

    spec = dict(base)
    flags = service_from_flags(RunFlags(env=env, volumes=volumes, publish=publish), environ=os.environ, cwd=cwd)
    spec.pop("restart", None)
    spec.pop("container_name", None)
    deploy = dict(spec.get("deploy") or {})
    if deploy.pop("restart_policy", None) is not None:
        spec["deploy"] = deploy
    if not service_ports:
        spec.pop("ports", None)
    if flags.get("ports"):
        spec["ports"] = [*(spec.get("ports") or ()), *flags["ports"]]
    if flags.get("volumes"):
        spec["volumes"] = [*(spec.get("volumes") or ()), *flags["volumes"]]
    if flags.get("environment"):
        environment = dict(spec.get("environment") or {})
        environment.update({k: v for k, v in flags["environment"].items() if v is not None})
        spec["environment"] = environment
    if spec.get("networks"):
        spec["networks"] = {name: {k: v for k, v in dict(cfg or {}).items() if k != "aliases"}
                            for name, cfg in spec["networks"].items()}
    if command:
        spec["command"] = list(command)
    if entrypoint is not None:
        spec["entrypoint"] = shlex.split(entrypoint)
        if not command:
            spec["command"] = []
    if user:
        spec["user"] = user
    if workdir:
        spec["working_dir"] = workdir
    spec["tty"] = tty
    spec["stdin_open"] = stdin_open
    return spec


def run_labels(service_labels: Mapping[str, str], image_id: str, slug: str, extra: Sequence[str]) -> dict[str, str]:
    from composer.planner import labels as d

    labels = {**service_labels, d.NUMBER: "-1", d.IMAGE: image_id, d.ONEOFF: "True", SLUG: slug}
    for item in extra:
        key, _, value = item.partition("=")
        labels[key] = value
    return labels


def _images_for_run(engine: Any, ctx: Any, service: str, *, pull: str | None, build: bool, quiet: bool) -> None:
    """The service's image as `up` would get it: pulled by its pull_policy (or `--pull`), built if it has
    `build:` and is missing (or with `--build`)."""
    from composer.cli.config_views import model_document
    from composer.runtime.compose.progress import Progress
    from composer.runtime.compose.pull import build_services, ensure_images

    want = ctx.require_model()
    progress = Progress(sys.stderr, quiet=quiet)
    built = build_services(model_document(ctx.loaded)) if ctx.loaded is not None else frozenset()
    ensure_images(engine, want, pull, progress, services=[service], built=built)
    if service in built:
        try:
            present = bool(engine.images.get(want.services[service].image))
        except ComposerError:
            present = False
        if build or not present:
            from composer.runtime.compose.build import build_services as build_images

            build_images(engine, ctx, [service], no_cache=False, progress=progress)


@click.command("run", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID.")
@click.option("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits.")
@_multi("-e", "--env", help="Set environment variables.")
@_multi("-l", "--label", help="Add or override a label.")
@click.option("--name", help="Assign a name to the container.")
@click.option("--entrypoint", help="Override the entrypoint of the image.")
@click.option("--no-deps", is_flag=True, help="Don't start linked services.")
@click.option("-P", "--service-ports", is_flag=True,
              help="Run command with all service's ports enabled and mapped to the host.")
@_multi("-p", "--publish", help="Publish a container's port(s) to the host.")
@_multi("-v", "--volume", help="Bind mount a volume.")
@click.option("-u", "--user", help="Run as specified username or uid.")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@click.option("-T", "--no-TTY", "--no-tty", "no_tty", is_flag=True,
              help="Disable pseudo-TTY allocation (default: auto-detected).")
@click.option("-i", "--interactive/--no-interactive", default=True, help="Keep STDIN open even if not attached.")
@click.option("-q", "--quiet", is_flag=True, help="Don't print anything to STDOUT.")
@click.option("--remove-orphans", is_flag=True, help="Remove containers for services not defined in the Compose file.")
@click.option("--pull", type=click.Choice(["always", "missing", "never"]), default=None,
              help="Pull image before running (default: the service's pull_policy).")
@click.option("--build", is_flag=True, help="Build image before starting container.")
@click.argument("service")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
@click.pass_obj
def run(opts: GlobalOptions, detach: bool, auto_remove: bool, env: tuple[str, ...], label: tuple[str, ...],
        name: str | None, entrypoint: str | None, no_deps: bool, service_ports: bool, publish: tuple[str, ...],
        volume: tuple[str, ...], user: str | None, workdir: str | None, no_tty: bool, interactive: bool,
        quiet: bool, remove_orphans: bool, pull: str | None, build: bool, service: str,
        command: tuple[str, ...]) -> int:
    """Run a one-off command on a service."""
    import contextlib
    import secrets

    from composer.cli.container_cmd import _attach_until_exit, _exec_failure_code
    from composer.cli.project import engine_for, project
    from composer.runtime.engine.engine import CreateRequest

    ctx = project(opts, services=[service])
    want = ctx.require_model()
    if service not in want.services:
        raise ComposerError(f"no such service: {service}")
    if not no_deps:
        from composer.cli.compose_cmd import bring_up

        bring_up(ctx, [service], no_deps=False, opts=opts)
    svc = want.services[service]
    engine = engine_for()
    _images_for_run(engine, ctx, service, pull=pull, build=build, quiet=quiet)
    tty = not no_tty and sys.stdin.isatty()
    stdin_open = interactive and not detach
    spec = run_spec(svc.spec, command=command, entrypoint=entrypoint, env=env, volumes=volume, publish=publish,
                    service_ports=service_ports, user=user, workdir=workdir, tty=tty, stdin_open=stdin_open,
                    cwd=os.getcwd())
    if spec.get("ports"):
        from composer.runtime.net.hostports import check_free

        check_free(spec["ports"])
    if svc.files:
        from composer.runtime.compose.files import bind_mounts

        spec["volumes"] = [*(spec.get("volumes") or ()), *bind_mounts(
            engine.roots.state_root, want.project, svc.name, svc.files, want.contents)]
    slug = secrets.token_hex(32)
    labels = run_labels(svc.labels, str(engine._image(svc.image).id), slug, label)
    request = CreateRequest(image=svc.image, service=spec, name=name or f"{want.project}-{service}-run-{slug[:12]}",
                            labels=labels, auto_remove=auto_remove, leave_stdin_open=detach)
    try:
        record = engine.create(request)
    except ComposerError as err:
        code = _exec_failure_code(err.message)
        if code is None:
            raise
        from composer.cli.render import error_lines

        for line in error_lines(err):
            click.echo(line, err=True)
        return code
    if auto_remove and not detach:
        engine.hold_for_foreground(record.id)
    try:
        if detach or not (record.stdin_open or record.tty):
            engine.start(record.id)
        if detach:
            if not quiet:
                click.echo(record.id)
            return 0
        code = _attach_until_exit(engine, record.id, interactive=record.stdin_open, tty=record.tty, sig_proxy=True)
    except BaseException:
        if auto_remove:
            with contextlib.suppress(ComposerError):
                engine.remove(record.id, force=True)
        raise
    if auto_remove and code is not None:
        with contextlib.suppress(ComposerError):
            engine.remove(record.id, force=True)
    return code or 0


# -- top / port ---------------------------------------------------------------------------------------


def top_table(rows: Sequence[tuple[str, str, Sequence[str], Sequence[Sequence[str]]]]) -> str:
    """Compose's `top`: one table, SERVICE and # first, CMD last, columns padded by 2 (min width 4)."""
    header: list[str] = ["SERVICE", "#"]
    entries: list[dict[str, str]] = []
    for service, number, titles, processes in rows:
        for proc in processes:
            entry = {"SERVICE": service, "#": number}
            for title, value in zip(titles, proc, strict=False):
                if title not in header:
                    header.append(title)
                entry[title] = value
            entries.append(entry)
    if not entries:
        return ""
    if "CMD" in header:
        header.remove("CMD")
        header.append("CMD")
    return rows_table([header, *[[e.get(h, "-") for h in header] for e in entries]], minwidth=4, padding=2)


@click.command("top")
@click.argument("services", nargs=-1)
@click.pass_obj
def top(opts: GlobalOptions, services: tuple[str, ...]) -> None:
    """Display the running processes."""
    from composer.cli.project import engine_for, project_containers
    from composer.planner import labels as d
    from composer.runtime.engine.top import DEFAULT_PS_ARGS
    from composer.runtime.engine.top import top as run_top
    from composer.runtime.oci.cgroups import cgroup_pids

    ctx = _context(opts, services)
    engine = engine_for()
    rows = []
    for c in sorted(project_containers(engine, ctx.name, services, all=False), key=lambda c: c.name):
        if c.state.status not in ("running", "paused") or not c.state.pid:
            continue
        result = run_top(cgroup_pids(c.state.pid), DEFAULT_PS_ARGS)
        rows.append((c.record.labels.get(d.SERVICE, ""), c.record.labels.get(d.NUMBER, ""), result.titles,
                     result.processes))
    sys.stdout.write(top_table(rows))


@click.command("port")
@click.option("--index", type=int, default=None, help="Index of the container if service has multiple replicas.")
@click.option("--protocol", type=click.Choice(["tcp", "udp"]), default="tcp", help="tcp or udp.")
@click.argument("service")
@click.argument("private_port", type=int)
@click.pass_obj
def port(opts: GlobalOptions, index: int | None, protocol: str, service: str, private_port: int) -> None:
    """Print the public port for a port binding."""
    from composer.cli.project import engine_for
    from composer.runtime.engine.views import port_lines

    ctx = _context(opts, [service])
    c = _one(engine_for(), ctx.name, service, index or 1, running=False)
    lines = port_lines(c.record.ports, f"{private_port}/{protocol}")
    if not lines:
        raise ComposerError(f"no port {private_port}/{protocol} for container {c.name}")
    click.echo(lines[0])


# -- images -------------------------------------------------------------------------------------------


def split_reference(ref: str) -> tuple[str, str]:
    """`repo[:tag][@digest]` -> (repo, tag); a registry port is not a tag."""
    name = ref.split("@", 1)[0]
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        return name[:colon], name[colon + 1:]
    return name, "latest" if "@" not in ref else ""


def image_rows(engine: Engine, containers: Sequence[Container]) -> list[dict[str, Any]]:
    """One row per container: `docker compose images --format json`'s fields."""
    rows = []
    for c in sorted(containers, key=lambda c: c.name):
        try:
            image = engine._image(c.record.image_id)
        except ComposerError:
            continue
        config = image.config_json
        repo, tag = split_reference(c.record.image_ref)
        platform = "/".join(p for p in (config.get("os"), config.get("architecture"), config.get("variant")) if p)
        row: dict[str, Any] = {"ID": str(image.id), "ContainerName": c.name, "Repository": repo, "Tag": tag,
                               "Platform": platform, "Size": int(image.size)}
        if image.created:
            row["Created"] = image.created
        rows.append(row)
    return rows


@click.command("images")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              help="Format the output. Values: [table | json].")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.argument("services", nargs=-1)
@click.pass_obj
def images(opts: GlobalOptions, fmt: str, quiet: bool, services: tuple[str, ...]) -> None:
    """List images used by the created containers."""
    from composer.cli.image_cmd import _ago, _size
    from composer.cli.project import engine_for, project_containers

    ctx = _context(opts, services)
    engine = engine_for()
    rows = image_rows(engine, project_containers(engine, ctx.name, services, all=True, oneoff=True))
    if quiet:
        seen: list[str] = []
        for r in rows:
            short = r["ID"].partition(":")[2] or r["ID"]
            if short not in seen:
                seen.append(short)
        sys.stdout.write("".join(f"{i}\n" for i in seen))
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, separators=(",", ":")) + "\n")
        return
    table = [["CONTAINER", "REPOSITORY", "TAG", "PLATFORM", "IMAGE ID", "SIZE", "CREATED"]]
    for r in rows:
        table.append([r["ContainerName"], r["Repository"] or "<none>", r["Tag"] or "<none>", r["Platform"],
                      (r["ID"].partition(":")[2] or r["ID"])[:12], _size(r["Size"]), _ago(r.get("Created"))])
    sys.stdout.write(rows_table(table, minwidth=20, padding=3))


# -- events -------------------------------------------------------------------------------------------


def snapshot(engine: Engine, project: str) -> dict[str, Snapshot]:
    from composer.runtime import restarts
    from composer.runtime.compose.events import Snapshot
    from composer.runtime.compose.observe import project_containers
    from composer.runtime.health import read_health

    out = {}
    for c in project_containers(engine, project):
        health = read_health(engine.roots, c.id)
        out[c.id] = Snapshot(id=c.id, name=c.name, image=c.record.image_ref, status=c.status,
                             labels=dict(c.record.labels), exit_code=c.state.exit_code,
                             health=getattr(health, "status", None) if health is not None else None,
                             stopped_by_user=restarts.stopped_by_user(engine.roots, c.id))
    return out


@click.command("events")
@click.option("--json", "as_json", is_flag=True, help="Output events as a stream of json objects.")
@click.option("--since", help="Show all events created since timestamp (only now onwards: there is no event log).")
@click.option("--until", help="Stream events until this timestamp.")
@click.argument("services", nargs=-1)
@click.pass_obj
def events(opts: GlobalOptions, as_json: bool, since: str | None, until: str | None,
           services: tuple[str, ...]) -> None:
    """Receive real time events from containers (polled: there is no daemon to ask)."""
    from composer.cli.project import engine_for
    from composer.cli.timeargs import parse_timestamp
    from composer.runtime.compose.events import changes

    ctx = _context(opts, services)
    engine = engine_for()
    end = parse_timestamp(until, datetime.now(UTC)) if until else None
    before = snapshot(engine, ctx.name)
    while end is None or datetime.now(UTC) < end:
        time.sleep(POLL_EVENTS)
        after = snapshot(engine, ctx.name)
        for event in changes(before, after, datetime.now(UTC), services):
            sys.stdout.write(event.json() if as_json else event.text())
            sys.stdout.flush()
        before = after


POLL_EVENTS = 0.2


# -- wait / ls / cp -----------------------------------------------------------------------------------


@click.command("wait")
@click.option("--down-project", is_flag=True, help="Drops project when the first container stops (not supported).")
@click.argument("services", nargs=-1, required=True)
@click.pass_obj
def wait(opts: GlobalOptions, down_project: bool, services: tuple[str, ...]) -> int:
    """Block until containers of all (or specified) services stop; exit with the first one's exit code."""
    from composer.cli.project import engine_for, project_containers

    if down_project:
        raise ComposerError("wait --down-project is not supported yet", hint="run `composer down` after `wait`")
    ctx = _context(opts, services)
    engine = engine_for()
    ids = [c.id for c in project_containers(engine, ctx.name, services, all=True)]
    if not ids:
        raise ComposerError(f"no containers for project {ctx.name!r}" + (f" and services {', '.join(services)}"
                                                                          if services else ""))
    while True:
        for cid in ids:
            try:
                c = engine.get(cid)
            except ComposerError:
                return 0
            if c.status in ("exited", "dead"):
                return c.state.exit_code or 0
        time.sleep(0.1)


def stacks(containers: Sequence[Container]) -> list[dict[str, str]]:
    """`docker compose ls` rows: projects by name, `running(2), exited(1)` statuses, their config files."""
    from composer.planner import labels as d

    by_project: dict[str, list[Container]] = {}
    for c in containers:
        name = c.record.labels.get(d.PROJECT)
        if name:
            by_project.setdefault(name, []).append(c)
    out = []
    for name in sorted(by_project):
        counts: dict[str, int] = {}
        files: list[str] = []
        for c in by_project[name]:
            counts[c.status] = counts.get(c.status, 0) + 1
            for f in (c.record.labels.get(d.CONFIG_FILES) or "").split(","):
                if f and f not in files:
                    files.append(f)
        status = ", ".join(f"{s}({n})" for s, n in sorted(counts.items()))
        out.append({"Name": name, "Status": status, "ConfigFiles": ",".join(files)})
    return out


@click.command("ls")
@click.option("-a", "--all", "show_all", is_flag=True, help="Show all stopped Compose projects.")
@click.option("-q", "--quiet", is_flag=True, help="Only display project names.")
@click.option("--filter", "filters", multiple=True, metavar="FILTER", help="Filter output based on conditions "
              "provided (name=REGEXP).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              help="Format the output. Values: [table | json].")
@click.pass_obj
def ls(opts: GlobalOptions, show_all: bool, quiet: bool, filters: tuple[str, ...], fmt: str) -> None:
    """List running compose projects."""
    import re

    from composer.cli.project import engine_for

    patterns = []
    for f in filters:
        key, sep, value = f.partition("=")
        if not sep:
            raise ComposerError(f"bad format of filter {f!r}: expected name=value")
        if key.strip().lower() != "name":
            raise ComposerError(f"invalid filter {key!r}")
        patterns.append(value)
    rows = stacks(engine_for().list(all=show_all))
    if patterns:
        rows = [r for r in rows if any(re.search(p, r["Name"]) for p in patterns)]
    if quiet:
        sys.stdout.write("".join(f"{r['Name']}\n" for r in rows))
        return
    if fmt == "json":
        sys.stdout.write(json.dumps(rows, separators=(",", ":")) + "\n")
        return
    table = [["NAME", "STATUS", "CONFIG FILES"], *[[r["Name"], r["Status"], r["ConfigFiles"]] for r in rows]]
    sys.stdout.write(rows_table(table, minwidth=20, padding=3))


@click.command("cp")
@click.option("--all", "all_", is_flag=True, help="Include containers created by the run command.")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.option("--index", type=int, default=None, help="Index of the container if service has multiple replicas.")
@click.argument("src")
@click.argument("dest")
@click.pass_obj
def cp(opts: GlobalOptions, all_: bool, archive: bool, follow_link: bool, index: int | None, src: str,
       dest: str) -> None:
    """Copy files/folders between a service container and the local filesystem."""
    from composer.cli.container_cmd import _split_container_path
    from composer.cli.project import engine_for, project_containers
    from composer.runtime.engine.copy import copy_in, copy_out

    source, target = _split_container_path(src), _split_container_path(dest)
    if (source is None) == (target is None):
        raise ComposerError("copying needs exactly one SERVICE:PATH, as SRC or DEST",
                            hint="composer cp web:/etc/hosts ./hosts")
    service = (source or target or ("", ""))[0]
    ctx = _context(opts, [service])
    engine = engine_for()
    if source is not None:
        c = _one(engine, ctx.name, service, index, running=False, oneoff=all_)
        _record, rootfs = engine.rootfs(c.id)
        out: Any = sys.stdout.buffer if dest == "-" else dest
        copy_out(rootfs, source[1], out, follow_link=follow_link)
        if dest == "-":
            sys.stdout.buffer.flush()
        return
    assert target is not None
    chosen = project_containers(engine, ctx.name, [service], all=True, oneoff=all_, index=index)
    if not chosen:
        raise ComposerError(f"no container found for service {service!r}")
    data = sys.stdin.buffer.read() if src == "-" else None
    for c in chosen:
        _record, rootfs = engine.rootfs(c.id)
        if data is not None:
            import io

            copy_in(rootfs, io.BytesIO(data), target[1], archive=archive, follow_link=follow_link)
        else:
            copy_in(rootfs, src, target[1], archive=archive, follow_link=follow_link)


def register(cli: click.Group) -> None:
    for command in (logs, exec_, run, top, port, images, events, wait, ls, cp):
        cli.add_command(command)
