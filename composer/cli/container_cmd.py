"""`composer container ...`: the native engine's containers, with `docker container`'s flags and output.

State lives under `COMPOSER_ROOT` (default /var/lib/composer) and `COMPOSER_RUN_ROOT` (default
/run/composer); the OCI runtime is `--runtime` / `COMPOSER_RUNTIME` (default runc).
"""

from __future__ import annotations

import json
import os
import signal
import sys
from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Container, Engine

_RUNTIME: dict[str, str | None] = {"name": None}


def engine() -> Engine:
    """The engine for this command, from the environment (checked: root, runc, conmon, overlayfs)."""
    from composer.runtime.engine.engine import DEFAULT_CGROUP_PARENT, DEFAULT_RUN_ROOT, DEFAULT_STATE_ROOT, Engine

    return Engine(
        Path(os.environ.get("COMPOSER_ROOT") or DEFAULT_STATE_ROOT),
        Path(os.environ.get("COMPOSER_RUN_ROOT") or DEFAULT_RUN_ROOT),
        runtime=_RUNTIME["name"] or os.environ.get("COMPOSER_RUNTIME") or "runc",
        conmon=os.environ.get("COMPOSER_CONMON") or "conmon",
        cgroup_parent=os.environ.get("COMPOSER_CGROUP_PARENT") or DEFAULT_CGROUP_PARENT,
        nft_table=os.environ.get("COMPOSER_NFT_TABLE") or "composer",
    )


@click.group("container")
@click.option("--runtime", metavar="PATH", help="OCI runtime (runc-compatible CLI; default runc, or COMPOSER_RUNTIME).")
def container(runtime: str | None) -> None:
    """Manage containers of the native engine."""
    _RUNTIME["name"] = runtime


def _multi(*names: str, help: str, metavar: str = "VALUE") -> Callable[[Any], Any]:
    return click.option(*names, multiple=True, metavar=metavar, help=help)


def _run_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The `docker run` flags shared by `create` and `run`."""
    options = [
        click.option("--name", help="Assign a name to the container."),
        click.option("-h", "--hostname", help="Container host name."),
        click.option("--domainname", help="Container NIS domain name."),
        _multi("-e", "--env", help="Set environment variables."),
        _multi("--env-file", help="Read in a file of environment variables.", metavar="FILE"),
        _multi("-v", "--volume", help="Bind mount a volume (SRC:DST[:ro])."),
        _multi("--device", help="Add a host device to the container."),
        click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached."),
        click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY."),
        click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>])."),
        click.option("-w", "--workdir", help="Working directory inside the container."),
        click.option("--entrypoint", help="Overwrite the default ENTRYPOINT of the image."),
        click.option("--init", is_flag=True, help="Run an init inside the container that forwards signals."),
        _multi("--cap-add", help="Add Linux capabilities."),
        _multi("--cap-drop", help="Drop Linux capabilities."),
        click.option("--privileged", is_flag=True, help="Give extended privileges to this container."),
        click.option("--read-only", is_flag=True, help="Mount the container's root filesystem as read only."),
        click.option("-m", "--memory", help="Memory limit."),
        click.option("--memory-reservation", help="Memory soft limit."),
        click.option("--memory-swap", help="Swap limit equal to memory plus swap: -1 for unlimited."),
        click.option("--cpus", help="Number of CPUs."),
        click.option("-c", "--cpu-shares", type=int, help="CPU shares (relative weight)."),
        click.option("--cpuset-cpus", help="CPUs in which to allow execution (0-3, 0,1)."),
        click.option("--pids-limit", type=int, help="Tune container pids limit (-1 for unlimited)."),
        _multi("-l", "--label", help="Set meta data on a container."),
        click.option("--network", help="Connect to a network (NAME), or none, host, container:NAME."),
        click.option("--ip", help="IPv4 address on the network (e.g. 172.30.100.104)."),
        _multi("--network-alias", help="Add network-scoped alias for the container."),
        click.option("--mac-address", help="Container MAC address on the network."),
        click.option("--stop-signal", help="Signal to stop the container."),
        click.option("--stop-timeout", type=int, help="Timeout (in seconds) to stop a container."),
        _multi("--tmpfs", help="Mount a tmpfs directory."),
        _multi("--security-opt", help="Security options."),
        _multi("--ulimit", help="Ulimit options."),
        _multi("--sysctl", help="Sysctl options."),
        click.option("--shm-size", help="Size of /dev/shm."),
        _multi("--group-add", help="Add additional groups to join."),
        _multi("--dns", help="Set custom DNS servers."),
        _multi("--dns-search", help="Set custom DNS search domains."),
        _multi("--dns-option", help="Set DNS options."),
        _multi("--add-host", help="Add a custom host-to-IP mapping (host:ip)."),
        _multi("--volumes-from", help="Mount volumes from the specified container(s) (NAME[:ro|rw]).",
               metavar="CONTAINER"),
        _multi("--link", help="Add link to another container (NAME[:ALIAS]).", metavar="CONTAINER"),
        click.option("--oom-score-adj", type=int, help="Tune host's OOM preferences (-1000 to 1000)."),
        _multi("-p", "--publish", help="Publish a container's port(s) to the host ([IP:][HOST:]PORT[/PROTO]).",
               metavar="LIST"),
        click.option("-P", "--publish-all", is_flag=True, help="Publish all exposed ports to random ports."),
        _multi("--expose", help="Expose a port or a range of ports."),
        click.option("--rm", "auto_remove", is_flag=True, help="Automatically remove the container when it exits."),
        click.argument("image"),
        click.argument("command", nargs=-1, type=click.UNPROCESSED),
    ]
    for option in reversed(options):
        fn = option(fn)
    return fn


def _request(opts: dict[str, Any], *, leave_stdin_open: bool = True) -> Any:
    from composer.cli.run_options import RunFlags, service_from_flags
    from composer.errors import ComposerError
    from composer.runtime.engine.engine import CreateRequest

    env_files = []
    for name in opts["env_file"]:
        try:
            env_files.append((name, Path(name).read_text()))
        except OSError as err:
            raise ComposerError(f"cannot read env file {name}: {err.strerror}")
    flags = RunFlags(
        command=opts["command"],
        hostname=opts["hostname"],
        domainname=opts["domainname"],
        env=opts["env"],
        env_files=env_files,
        volumes=opts["volume"],
        devices=opts["device"],
        interactive=opts["interactive"],
        tty=opts["tty"],
        user=opts["user"],
        workdir=opts["workdir"],
        entrypoint=opts["entrypoint"],
        init=opts["init"],
        cap_add=opts["cap_add"],
        cap_drop=opts["cap_drop"],
        privileged=opts["privileged"],
        read_only=opts["read_only"],
        memory=opts["memory"],
        memory_reservation=opts["memory_reservation"],
        memory_swap=opts["memory_swap"],
        cpus=opts["cpus"],
        cpu_shares=opts["cpu_shares"],
        cpuset_cpus=opts["cpuset_cpus"],
        pids_limit=opts["pids_limit"],
        labels=opts["label"],
        network=opts["network"],
        ip=opts["ip"],
        network_aliases=opts["network_alias"],
        mac_address=opts["mac_address"],
        stop_signal=opts["stop_signal"],
        stop_timeout=opts["stop_timeout"],
        tmpfs=opts["tmpfs"],
        security_opt=opts["security_opt"],
        ulimits=opts["ulimit"],
        sysctls=opts["sysctl"],
        shm_size=opts["shm_size"],
        group_add=opts["group_add"],
        dns=opts["dns"],
        dns_search=opts["dns_search"],
        dns_option=opts["dns_option"],
        add_host=opts["add_host"],
        volumes_from=opts["volumes_from"],
        links=opts["link"],
        oom_score_adj=opts["oom_score_adj"],
        publish=opts["publish"],
        publish_all=opts["publish_all"],
        expose=opts["expose"],
        image_exposed=_image_exposed(opts["image"]) if opts["publish_all"] else (),
    )
    service = service_from_flags(flags, environ=os.environ, cwd=os.getcwd())
    if service.get("ports"):
        from composer.runtime.net.hostports import check_free

        check_free(service["ports"])  # before anything exists (the engine checks again, with picked ports)
    labels = dict(service.get("labels") or {})
    return CreateRequest(opts["image"], service, name=opts["name"], labels=labels, auto_remove=opts["auto_remove"],
                         leave_stdin_open=leave_stdin_open)


def _image_exposed(image: str) -> list[str]:
    """The image's EXPOSE'd ports (`80/tcp`), what `-P` publishes."""
    config = engine().images.get(image).config_json.get("config") or {}
    return sorted(config.get("ExposedPorts") or {})


def _warn_diagnostics(diagnostics: Any) -> None:
    from composer.cli.render import warn

    warn(diagnostics.warnings)


@container.command("create", context_settings={"allow_interspersed_args": False})
@_run_options
def create(**opts: Any) -> None:
    """Create a new container (not started); prints its ID."""
    from composer.errors import Diagnostics

    diagnostics = Diagnostics()
    record = engine().create(_request(opts), diagnostics=diagnostics)
    _warn_diagnostics(diagnostics)
    click.echo(record.id)


@container.command("run", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Run container in background and print container ID.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy received signals to the process.")
@click.option("--detach-keys", help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q).")
@_run_options
def run(detach: bool, sig_proxy: bool, detach_keys: str | None, **opts: Any) -> int:
    """Create and run a new container from an image."""
    from composer.errors import ComposerError, Diagnostics

    eng = engine()
    diagnostics = Diagnostics()
    request = _request(opts, leave_stdin_open=detach)
    try:
        record = eng.create(request, diagnostics=diagnostics)
    except ComposerError as err:
        code = _exec_failure_code(err.message)
        if code is None:
            raise
        from composer.cli.render import error_lines

        for line in error_lines(err):
            click.echo(line, err=True)
        return code
    _warn_diagnostics(diagnostics)
    if request.auto_remove and not detach:
        eng.hold_for_foreground(record.id)
    try:
        if detach or not (record.stdin_open or record.tty):
            eng.start(record.id)
        if detach:
            click.echo(record.id)
            return 0
        code = _attach_until_exit(eng, record.id, interactive=record.stdin_open, tty=record.tty, sig_proxy=sig_proxy,
                                  detach_keys=detach_keys)
    except BaseException:
        if request.auto_remove:
            import contextlib

            with contextlib.suppress(ComposerError):
                eng.remove(record.id, force=True)
        raise
    if request.auto_remove and code is not None:
        import contextlib

        with contextlib.suppress(ComposerError):  # another command may have swept it already
            eng.remove(record.id, force=True)
    return code or 0


def _exec_failure_code(message: str) -> int | None:
    """Docker's exit codes when the container's command cannot run: 127 not found, 126 not executable."""
    lowered = message.lower()
    if "executable file not found" in lowered or ("no such file or directory" in lowered and "exec" in lowered):
        return 127
    if "permission denied" in lowered and "exec" in lowered:
        return 126
    return None


def _attach_until_exit(eng: Engine, ref: str, *, interactive: bool, tty: bool, sig_proxy: bool,
                       detach_keys: str | None = None) -> int | None:
    """Stream the container's output (and, with -i/-t, our input) until it exits: its exit code, or None if
    the user detached. A created container is started once the attach socket is connected."""
    c = eng.get(ref)
    if interactive or tty:
        from composer.runtime.engine.interactive import attach_container, parse_detach_keys

        keys = parse_detach_keys(detach_keys) if detach_keys else None
        starter = (lambda: eng.start(c.id)) if c.status == "created" else None
        result = attach_container(eng, c.id, stdin=interactive, tty=tty, sig_proxy=sig_proxy and not tty,
                                  on_attached=starter, **({"detach_keys": keys} if keys else {}))
        if result is None:
            return None  # detached: the container keeps running
    else:
        _follow_logs(eng, c, sig_proxy=sig_proxy)
    return eng.wait(c.id)


def _follow_logs(eng: Engine, c: Container, *, sig_proxy: bool) -> None:
    from composer.runtime.engine.logstream import stream_log

    def running() -> bool:
        if eng.get(c.id).state.status in ("running", "paused", "created"):
            return True
        # runc says "stopped" before conmon has drained the last output into the log: its exit file comes after
        try:
            return not c.paths.exit_file.read_text().strip().lstrip("-").isdigit()
        except OSError:
            return False

    previous: dict[signal.Signals, Any] = {}
    if sig_proxy:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
            previous[sig] = signal.signal(sig, lambda s, _f: _proxy(eng, c.id, s))
    try:
        for entry in stream_log(c.paths.log, follow=True, running=running):
            out = sys.stdout if entry.stream == "stdout" else sys.stderr
            out.write(entry.text + "\n")
            out.flush()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _proxy(eng: Engine, ref: str, sig: int) -> None:
    import contextlib

    from composer.errors import ComposerError

    with contextlib.suppress(ComposerError):
        eng.kill(ref, str(sig))


# -- listing -------------------------------------------------------------------------------------


def _matches(c: Container, filters: Sequence[tuple[str, str]]) -> bool:
    """`--filter` as Docker applies it: OR within one key, AND across keys."""
    from composer.errors import ComposerError

    by_key: dict[str, list[str]] = {}
    for key, value in filters:
        by_key.setdefault(key, []).append(value)
    for key, values in by_key.items():
        if key == "id":
            ok = any(c.id.startswith(v) for v in values)
        elif key == "name":
            ok = any(v in c.name for v in values)
        elif key == "label":
            ok = all(_label_match(c.record.labels, v) for v in values)
        elif key == "status":
            ok = c.status in values
        elif key == "exited":
            ok = c.status == "exited" and str(c.state.exit_code) in values
        elif key == "ancestor":
            ok = any(v in (c.record.image_ref, c.record.image_id) or c.record.image_id.startswith(
                "sha256:" + v) for v in values)
        else:
            raise ComposerError(f"invalid filter {key!r}: use id, name, label, status, exited or ancestor")
        if not ok:
            return False
    return True


def _label_match(labels: dict[str, str], wanted: str) -> bool:
    key, sep, value = wanted.partition("=")
    return key in labels and (not sep or labels[key] == value)


def _parse_filters(items: Iterable[str]) -> list[tuple[str, str]]:
    from composer.errors import ComposerError

    out = []
    for item in items:
        key, sep, value = item.partition("=")
        if not sep:
            raise ComposerError(f"bad format of filter {item!r}: expected name=value")
        out.append((key.strip().lower(), value))
    return out


_TABLE = (("ID", "CONTAINER ID"), ("Image", "IMAGE"), ("Command", "COMMAND"), ("RunningFor", "CREATED"),
          ("Status", "STATUS"), ("Ports", "PORTS"), ("Names", "NAMES"))


@container.command("ls")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("-q", "--quiet", is_flag=True, help="Only display container IDs.")
@_multi("-f", "--filter", help="Filter output based on conditions provided.", metavar="FILTER")
@click.option("--format", "fmt", help="Format output: table, json, or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("-n", "--last", type=int, default=-1, help="Show n last created containers (includes all states).")
@click.option("-l", "--latest", is_flag=True, help="Show the latest created container (includes all states).")
def ls(all_: bool, quiet: bool, filter: tuple[str, ...], fmt: str | None, no_trunc: bool, last: int,
       latest: bool) -> None:
    """List containers."""
    from composer.runtime.engine.views import row

    filters = _parse_filters(filter)
    if latest:
        last = 1
    containers = [c for c in engine().list(all=all_ or last > 0) if _matches(c, filters)]
    if last > 0:
        containers = containers[:last]
    now = datetime.now(UTC)
    rows = [row(c, now, truncate=not no_trunc) for c in containers]
    if quiet:
        for r in rows:
            click.echo(r["ID"])
        return
    _print_rows(rows, fmt, _TABLE)


def _print_rows(rows: list[dict[str, Any]], fmt: str | None, table: Sequence[tuple[str, str]]) -> None:
    """`--format`: `table` (default), `json` (one object per line) or a Go template (`table ...` for a header)."""
    if fmt == "json":
        for r in rows:
            click.echo(json.dumps(r, ensure_ascii=False))
        return
    if fmt and fmt != "table":
        from composer.cli.gotemplate import render_rows

        click.echo(render_rows(fmt, rows, headers=dict(table)), nl=False)
        return
    cells = [[header for _, header in table]] + [[str(r[key]) for key, _ in table] for r in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(table))]
    for line in cells:
        click.echo("   ".join(cell.ljust(widths[i]) for i, cell in enumerate(line)).rstrip())


# -- lifecycle -------------------------------------------------------------------------------------


def _each(refs: Sequence[str], action: Callable[[str], Any]) -> int:
    from composer.cli.render import for_each_ref

    return for_each_ref(refs, action)


@container.command("start")
@click.argument("refs", nargs=-1, required=True)
def start(refs: tuple[str, ...]) -> int:
    """Start one or more stopped containers."""
    eng = engine()
    return _each(refs, eng.start)


@container.command("stop")
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.argument("refs", nargs=-1, required=True)
def stop(sig: str | None, timeout: int | None, refs: tuple[str, ...]) -> int:
    """Stop one or more running containers."""
    eng = engine()
    return _each(refs, lambda r: eng.stop(r, timeout=timeout, signal=sig))


@container.command("restart")
@click.option("-s", "--signal", "sig", help="Signal to send to the container.")
@click.option("-t", "--time", "--timeout", "timeout", type=int, help="Seconds to wait before killing the container.")
@click.argument("refs", nargs=-1, required=True)
def restart(sig: str | None, timeout: int | None, refs: tuple[str, ...]) -> int:
    """Restart one or more containers."""
    eng = engine()
    return _each(refs, lambda r: eng.restart(r, timeout=timeout, signal=sig))


@container.command("kill")
@click.option("-s", "--signal", "sig", default="KILL", help="Signal to send to the container.")
@click.argument("refs", nargs=-1, required=True)
def kill(sig: str, refs: tuple[str, ...]) -> int:
    """Kill one or more running containers."""
    eng = engine()
    return _each(refs, lambda r: eng.kill(r, sig))


@container.command("pause")
@click.argument("refs", nargs=-1, required=True)
def pause(refs: tuple[str, ...]) -> int:
    """Pause all processes within one or more containers."""
    eng = engine()
    return _each(refs, eng.pause)


@container.command("unpause")
@click.argument("refs", nargs=-1, required=True)
def unpause(refs: tuple[str, ...]) -> int:
    """Unpause all processes within one or more containers."""
    eng = engine()
    return _each(refs, eng.unpause)


@container.command("rename")
@click.argument("ref")
@click.argument("new_name")
def rename(ref: str, new_name: str) -> None:
    """Rename a container."""
    engine().rename(ref, new_name)


@container.command("rm")
@click.option("-f", "--force", is_flag=True, help="Force the removal of a running container (uses SIGKILL).")
@click.option("-v", "--volumes", is_flag=True, help="Remove anonymous volumes associated with the container.")
@click.argument("refs", nargs=-1, required=True)
def rm(force: bool, volumes: bool, refs: tuple[str, ...]) -> int:
    """Remove one or more containers."""
    eng = engine()
    return _each(refs, lambda r: eng.remove(r, force=force, volumes=volumes))


@container.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune(force: bool) -> None:
    """Remove all stopped containers."""
    eng = engine()
    for c in eng.list(all=True):
        if c.status in ("exited", "created"):
            eng.remove(c.id)
            click.echo(c.id)


@container.command("wait")
@click.argument("refs", nargs=-1, required=True)
def wait(refs: tuple[str, ...]) -> int:
    """Block until one or more containers stop, then print their exit codes."""
    from composer.cli.render import error_lines
    from composer.errors import ComposerError

    eng = engine()
    failed = 0
    for ref in refs:
        try:
            click.echo(str(eng.wait(ref)))
        except ComposerError as err:
            failed += 1
            for line in error_lines(err):
                click.echo(line, err=True)
    return 1 if failed else 0


# -- inspection ------------------------------------------------------------------------------------


@container.command("port")
@click.argument("ref")
@click.argument("private_port", required=False)
def port(ref: str, private_port: str | None) -> None:
    """List port mappings, or look up the public-facing port that is NAT-ed to PRIVATE_PORT[/PROTO]."""
    from composer.errors import ComposerError
    from composer.runtime.engine.views import port_lines

    c = engine().get(ref)
    lines = port_lines(c.record.ports, private_port)
    if private_port and not lines:
        raise ComposerError(f"no public port '{private_port}' published for {c.name}")
    for line in lines:
        click.echo(line)


@container.command("inspect")
@click.option("-f", "--format", "fmt", help="Format the output using a Go template, or json.")
@click.argument("refs", nargs=-1, required=True)
def inspect(fmt: str | None, refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more containers."""
    from composer.runtime.engine.views import inspect as inspect_doc

    eng = engine()
    docs = []
    for ref in refs:
        c = eng.get(ref)
        try:
            spec = json.loads(c.paths.config.read_text())
        except (OSError, ValueError):
            spec = None
        docs.append(inspect_doc(c, spec))
    if fmt and fmt != "json":
        from composer.cli.gotemplate import render

        for doc in docs:
            click.echo(render(fmt, doc))
        return
    if fmt == "json":
        for doc in docs:
            click.echo(json.dumps(doc))
        return
    click.echo(json.dumps(docs, indent=4))


def _parse_when(text: str | None, now: datetime) -> datetime | None:
    from composer.cli.timeargs import parse_timestamp

    return None if text is None else parse_timestamp(text, now)


def _format_timestamp(raw: str) -> str:
    """conmon's RFC 3339 stamp as Docker prints it: UTC, `Z`, nanoseconds without trailing zeros."""
    if raw.endswith("+00:00") or raw.endswith("Z"):
        body = raw.removesuffix("Z").removesuffix("+00:00")
        if "." in body:
            body = body.rstrip("0").rstrip(".")
        return body + "Z"
    moment = datetime.fromisoformat(raw).astimezone(UTC)
    return moment.isoformat().replace("+00:00", "Z")


@container.command("logs")
@click.option("-f", "--follow", is_flag=True, help="Follow log output.")
@click.option("-n", "--tail", default="all", help="Number of lines to show from the end of the logs.")
@click.option("-t", "--timestamps", is_flag=True, help="Show timestamps.")
@click.option("--since", help="Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m).")
@click.option("--until", help="Show logs before a timestamp or relative time.")
@click.argument("ref")
def logs(follow: bool, tail: str, timestamps: bool, since: str | None, until: str | None, ref: str) -> None:
    """Fetch the logs of a container (stdout to stdout, stderr to stderr)."""
    from composer.errors import ComposerError
    from composer.runtime.engine.logstream import stream_log

    if tail == "all" or tail == "-1":
        count = None
    elif tail.isdigit():
        count = int(tail)
    else:
        raise ComposerError(f"invalid --tail {tail!r}: a number or 'all'")
    now = datetime.now(UTC)
    eng = engine()
    c = eng.get(ref)

    def running() -> bool:
        return eng.get(c.id).state.status in ("running", "paused")

    for entry in stream_log(c.paths.log, follow=follow, running=running, tail=count, since=_parse_when(since, now),
                            until=_parse_when(until, now)):
        text = f"{_format_timestamp(entry.timestamp)} {entry.text}" if timestamps else entry.text
        out = sys.stdout if entry.stream == "stdout" else sys.stderr
        out.write(text + "\n")
        out.flush()


# -- file system -----------------------------------------------------------------------------------


@container.command("diff")
@click.argument("ref")
def diff(ref: str) -> None:
    """Inspect changes to files or directories on a container's filesystem (A added, C changed, D deleted)."""
    from composer.runtime.engine.fsdiff import changes

    _record, lowers, upper = engine().layers(ref)
    for change in changes(upper, lowers):
        click.echo(f"{change.kind} {change.path}")


@container.command("commit")
@click.option("-a", "--author", default="", help='Author (e.g. "John Hannibal Smith <hannibal@a-team.com>").')
@_multi("-c", "--change", help="Apply Dockerfile instruction to the created image.")
@click.option("-m", "--message", default="", help="Commit message.")
@click.option("--pause/--no-pause", "pause_it", default=True, help="Pause container during commit (default).")
@click.argument("ref")
@click.argument("reference", required=False)
def commit(author: str, change: tuple[str, ...], message: str, pause_it: bool, ref: str,
           reference: str | None) -> None:
    """Create a new image from a container's changes."""
    from composer.runtime.engine.commit import commit as commit_image

    eng = engine()
    record, _lowers, upper = eng.layers(ref)
    c = eng.get(record.id)
    config = _image_config_of(eng, c)
    paused = False
    if pause_it and c.state.status == "running":
        eng.pause(record.id)
        paused = True
    try:
        image_id = commit_image(eng.images, record.image_id, upper, container_config=config, changes=change,
                                comment=message, author=author, reference=reference)
    finally:
        if paused:
            eng.unpause(record.id)
    click.echo(image_id)


def _image_config_of(eng: Engine, c: Container) -> dict[str, Any]:
    """The image `Config` a commit records: the base image's, with what the container changed (env, cmd...)."""
    config = dict(eng.images.get(c.record.image_id).config_json.get("config") or {})
    try:
        spec = json.loads(c.paths.config.read_text())
    except (OSError, ValueError):
        return config
    process = spec.get("process") or {}
    service = c.record.service
    config["Env"] = [e for e in process.get("env") or () if not e.startswith("HOSTNAME=")]
    if service.get("entrypoint") is not None:
        config["Entrypoint"] = service["entrypoint"]
    if service.get("command") is not None:
        config["Cmd"] = service["command"]
    if service.get("working_dir"):
        config["WorkingDir"] = service["working_dir"]
    if service.get("user"):
        config["User"] = service["user"]
    labels = dict(config.get("Labels") or {})
    labels.update(c.record.labels)
    config["Labels"] = labels or None
    return config


@container.command("export")
@click.option("-o", "--output", help="Write to a file, instead of STDOUT.")
@click.argument("ref")
def export(output: str | None, ref: str) -> None:
    """Export a container's filesystem as a tar archive."""
    from composer.errors import ComposerError
    from composer.runtime.engine.export import export_rootfs

    _record, rootfs = engine().rootfs(ref)
    if output:
        with open(output, "wb") as f:
            export_rootfs(rootfs, f)
    elif sys.stdout.isatty():
        raise ComposerError("refusing to write an archive to a terminal", hint="use -o FILE or redirect stdout")
    else:
        export_rootfs(rootfs, sys.stdout.buffer)
        sys.stdout.buffer.flush()


def _split_container_path(arg: str) -> tuple[str, str] | None:
    """`CONTAINER:PATH` -> (container, path); a local path (absolute, `./x`, or without `:`) -> None."""
    if arg.startswith(("/", ".")) or ":" not in arg:
        return None
    name, _, path = arg.partition(":")
    return name, path or "/"


@container.command("cp")
@click.option("-a", "--archive", is_flag=True, help="Archive mode (copy all uid/gid information).")
@click.option("-L", "--follow-link", is_flag=True, help="Always follow symbol link in SRC_PATH.")
@click.argument("src")
@click.argument("dest")
def cp(archive: bool, follow_link: bool, src: str, dest: str) -> None:
    """Copy files between a container and the local filesystem (`-` streams a tar archive)."""
    from composer.errors import ComposerError
    from composer.runtime.engine.copy import copy_in, copy_out

    source, target = _split_container_path(src), _split_container_path(dest)
    if (source is None) == (target is None):
        raise ComposerError("copying needs exactly one CONTAINER:PATH, as SRC or DEST",
                            hint="composer container cp web:/etc/hosts ./hosts")
    eng = engine()
    if source is not None:
        _record, rootfs = eng.rootfs(source[0])
        out: Any = sys.stdout.buffer if dest == "-" else dest  # a str keeps a trailing "/" or "/."
        copy_out(rootfs, source[1], out, follow_link=follow_link)
        if dest == "-":
            sys.stdout.buffer.flush()
    else:
        assert target is not None
        _record, rootfs = eng.rootfs(target[0])
        inp: Any = sys.stdin.buffer if src == "-" else src
        copy_in(rootfs, inp, target[1], archive=archive, follow_link=follow_link)


# -- interactive -----------------------------------------------------------------------------------


@container.command("exec", context_settings={"allow_interspersed_args": False})
@click.option("-d", "--detach", is_flag=True, help="Detached mode: run command in the background.")
@click.option("-i", "--interactive", is_flag=True, help="Keep STDIN open even if not attached.")
@click.option("-t", "--tty", is_flag=True, help="Allocate a pseudo-TTY.")
@click.option("-u", "--user", help="Username or UID (format: <name|uid>[:<group|gid>]).")
@click.option("-w", "--workdir", help="Working directory inside the container.")
@_multi("-e", "--env", help="Set environment variables.")
@_multi("--env-file", help="Read in a file of environment variables.", metavar="FILE")
@click.option("--privileged", is_flag=True, help="Give extended privileges to the command.")
@click.argument("ref")
@click.argument("command", nargs=-1, required=True, type=click.UNPROCESSED)
def exec_(detach: bool, interactive: bool, tty: bool, user: str | None, workdir: str | None, env: tuple[str, ...],
          env_file: tuple[str, ...], privileged: bool, ref: str, command: tuple[str, ...]) -> int:
    """Execute a command in a running container; exits with the command's exit code."""
    from composer.cli.run_options import parse_env_file
    from composer.errors import ComposerError

    variables: list[str] = []
    for name in env_file:
        try:
            text = Path(name).read_text()
        except OSError as err:
            raise ComposerError(f"cannot read env file {name}: {err.strerror}")
        variables += [k if v is None else f"{k}={v}" for k, v in parse_env_file(name, text, os.environ).items()]
    for item in env:
        key, sep, _ = item.partition("=")
        variables.append(item if sep or key not in os.environ else f"{key}={os.environ[key]}")
    return engine().exec(ref, command, user=user, env=variables, workdir=workdir, tty=tty, interactive=interactive,
                         detach=detach, privileged=privileged)


exec_.name = "exec"


@container.command("attach")
@click.option("--no-stdin", is_flag=True, help="Do not attach STDIN.")
@click.option("--sig-proxy/--no-sig-proxy", default=True, help="Proxy all received signals to the process.")
@click.option("--detach-keys", help="Override the key sequence for detaching a container (default ctrl-p,ctrl-q).")
@click.argument("ref")
def attach(no_stdin: bool, sig_proxy: bool, detach_keys: str | None, ref: str) -> int:
    """Attach local standard input, output, and error streams to a running container."""
    from composer.errors import ComposerError

    eng = engine()
    c = eng.get(ref)
    if c.status != "running":
        raise ComposerError(f"cannot attach to a stopped container, start it first: {c.name}")
    code = _attach_until_exit(eng, c.id, interactive=c.record.stdin_open and not no_stdin, tty=c.record.tty,
                              sig_proxy=sig_proxy, detach_keys=detach_keys)
    return code or 0


# -- processes and resources -----------------------------------------------------------------------


@container.command("top", context_settings={"allow_interspersed_args": False, "ignore_unknown_options": True})
@click.argument("ref")
@click.argument("ps_args", nargs=-1, type=click.UNPROCESSED)
def top(ref: str, ps_args: tuple[str, ...]) -> None:
    """Display the running processes of a container (`ps` options after the name; default -ef)."""
    from composer.errors import ComposerError
    from composer.runtime.engine.top import DEFAULT_PS_ARGS, format_top
    from composer.runtime.engine.top import top as run_top
    from composer.runtime.oci.cgroups import cgroup_pids

    c = engine().get(ref)
    if c.state.status not in ("running", "paused") or not c.state.pid:
        raise ComposerError(f"container {c.name} is not running")
    result = run_top(cgroup_pids(c.state.pid), ps_args or DEFAULT_PS_ARGS)
    click.echo(format_top(result), nl=False)


@container.command("stats")
@click.option("-a", "--all", "all_", is_flag=True, help="Show all containers (default shows just running).")
@click.option("--no-stream", is_flag=True, help="Disable streaming stats and only pull the first result.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate output.")
@click.option("--format", "fmt", help="Format output: table, json, or a Go template.")
@click.argument("refs", nargs=-1)
def stats(all_: bool, no_stream: bool, no_trunc: bool, fmt: str | None, refs: tuple[str, ...]) -> None:
    """Display a live stream of container resource usage statistics (from the cgroup counters)."""
    import time

    from composer.errors import ComposerError
    from composer.runtime.engine.stats import STATS_HEADERS, invalid_entry, stats_entry, stats_table
    from composer.runtime.oci.cgroups import CgroupStats, find_cgroup_paths, read_stats

    eng = engine()
    previous: dict[str, CgroupStats] = {}

    def sample() -> list[Any]:
        chosen = [eng.get(r) for r in refs] if refs else eng.list(all=all_)
        entries = []
        for c in chosen:
            running = c.state.status in ("running", "paused") and c.state.pid
            try:
                if not running:
                    raise ComposerError("not running")
                cur = read_stats(c.state.pid, paths=find_cgroup_paths(c.state.pid))
            except ComposerError:
                entries.append(invalid_entry(c.id, c.name))
                previous.pop(c.id, None)
                continue
            entries.append(stats_entry(c.id, c.name, cur, previous.get(c.id), trunc=not no_trunc))
            previous[c.id] = cur
        return entries

    def show(entries: list[Any]) -> str:
        if fmt == "json":
            return "".join(json.dumps(e.as_dict()) + "\n" for e in entries)
        if fmt and fmt != "table":
            from composer.cli.gotemplate import render_rows

            return render_rows(fmt, [e.as_dict() for e in entries], headers=STATS_HEADERS)
        text: str = stats_table(entries)
        return text

    sample()  # the first sample only sets the baseline for CPU %
    time.sleep(0.5 if no_stream else 0.2)
    if no_stream:
        click.echo(show(sample()), nl=False)
        return
    clear = "\x1b[2J\x1b[H" if sys.stdout.isatty() else ""
    while True:
        click.echo(clear + show(sample()), nl=False)
        time.sleep(1.0)


container.add_command(ls, "ps")  # `docker container ps` and `docker container list` are the same command
container.add_command(ls, "list")
