"""Registry commands: `image pull/push`, `login`/`logout`, and Compose's `pull`/`push` of a project."""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, TextIO

import click

from composer.cli.context import GlobalOptions
from composer.errors import ComposerError

if TYPE_CHECKING:
    from composer.runtime.images.transfer_progress import TransferProgress


def _transfer(stream: TextIO, quiet: bool) -> TransferProgress:
    from composer.runtime.images.transfer_progress import TransferProgress

    if quiet:
        return TransferProgress(None, "quiet")
    try:
        tty = stream.isatty() and not os.environ.get("NO_COLOR")
    except (AttributeError, ValueError):
        tty = False
    return TransferProgress(stream, "tty" if tty else "plain")


@click.command("pull")
@click.option("--platform", metavar="OS/ARCH[/VARIANT]", default=None, help="Pull the image for this platform.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.argument("reference")
def image_pull(platform: str | None, quiet: bool, reference: str) -> None:
    """Download an image from a registry."""
    from composer.cli.image_cmd import open_store
    from composer.runtime.images.registry import pull

    result = pull(open_store(), reference, platform=platform or os.environ.get("DOCKER_DEFAULT_PLATFORM"),
                  progress=_transfer(sys.stdout, quiet))
    click.echo(result.reference)


@click.command("push")
@click.option("-q", "--quiet", is_flag=True, help="Suppress verbose output.")
@click.argument("reference")
def image_push(quiet: bool, reference: str) -> None:
    """Upload an image to a registry."""
    from composer.cli.image_cmd import open_store
    from composer.runtime.images.registry import push

    push(open_store(), reference, progress=_transfer(sys.stdout, quiet))


@click.command("login")
@click.option("-u", "--username", default=None, help="Username.")
@click.option("-p", "--password", default=None, help="Password.")
@click.option("--password-stdin", is_flag=True, help="Take the password from stdin.")
@click.argument("server", required=False)
def login(username: str | None, password: str | None, password_stdin: bool, server: str | None) -> None:
    """Log in to a registry (Docker Hub when no SERVER is given)."""
    from composer.runtime.images import registry
    from composer.runtime.images.auth import Credentials, server_key, store_credentials

    if password and password_stdin:
        raise ComposerError("--password and --password-stdin are mutually exclusive")
    if password_stdin:
        if not username:
            raise ComposerError("must provide --username with --password-stdin")
        password = sys.stdin.read().rstrip("\r\n")
    elif password:
        click.echo("WARNING! Using --password via the CLI is insecure. Use --password-stdin.", err=True)
    if not username or not password:
        if not sys.stdin.isatty():
            raise ComposerError("cannot prompt for credentials: stdin is not a terminal (use -u and --password-stdin)")
        username = username or click.prompt("Username")
        password = password or click.prompt("Password", hide_input=True)
    assert username is not None
    assert password is not None
    target = server_key(server)
    creds = Credentials(username, password)
    registry.login(target, creds)
    path = store_credentials(target, creds)
    click.echo(f"WARNING! Your password will be stored unencrypted in {path}.", err=True)
    click.echo("Login Succeeded")


@click.command("logout")
@click.argument("server", required=False)
def logout(server: str | None) -> None:
    """Log out from a registry (forget what `composer login` stored)."""
    from composer.runtime.images.auth import remove_credentials, server_key

    target = server_key(server)
    if remove_credentials(target):
        click.echo(f"Removing login credentials for {target}")
    else:
        click.echo(f"Not logged in to {target}")


# -- Compose ----------------------------------------------------------------------------------------


@click.command("pull")
@click.option("--ignore-pull-failures", is_flag=True, help="Pull what it can and ignores images with pull failures.")
@click.option("--include-deps", is_flag=True, help="Also pull services declared as dependencies.")
@click.option("-q", "--quiet", is_flag=True, help="Pull without printing progress information.")
@click.option("--policy", type=click.Choice(["missing", "always"]), default=None,
              help="Apply pull policy (\"missing\"|\"always\").")
@click.option("--ignore-buildable", is_flag=True, help="Ignore images that can be built.")
@click.argument("services", nargs=-1)
@click.pass_obj
def compose_pull(opts: GlobalOptions, ignore_pull_failures: bool, include_deps: bool, quiet: bool,
                 policy: str | None, ignore_buildable: bool, services: tuple[str, ...]) -> None:
    """Pull service images."""
    import trio

    from composer.cli.compose_cmd import _progress
    from composer.cli.config_views import model_document
    from composer.cli.project import check_services, engine_for, project
    from composer.planner.graph import with_dependencies
    from composer.runtime.compose.pull import build_services, jobs, pull_all

    ctx = project(opts, services=services)
    check_services(ctx, services)
    want = ctx.require_model()
    chosen = set(services or want.services)
    if include_deps and services:
        chosen = set(with_dependencies(want.graph, services, no_deps=False))
    built = build_services(model_document(ctx.loaded)) if ctx.loaded is not None else frozenset()
    if ignore_buildable:
        chosen -= set(built)
    progress = _progress(opts, quiet=quiet)
    store = engine_for().images
    todo = [j for j in jobs(store, want, policy or "always", services=chosen, built=built)]
    failures = trio.run(pull_all, store, todo, progress)
    errors = []
    for job in todo:
        if job.reference not in failures:
            continue
        if job.buildable or ignore_pull_failures:
            progress.warn(failures[job.reference])
        else:
            errors.append(failures[job.reference])
    if errors:
        raise ComposerError("; ".join(errors))


@click.command("push")
@click.option("--ignore-push-failures", is_flag=True, help="Push what it can and ignores images with push failures.")
@click.option("--include-deps", is_flag=True, help="Also push images of services declared as dependencies.")
@click.option("-q", "--quiet", is_flag=True, help="Push without printing progress information.")
@click.argument("services", nargs=-1)
@click.pass_obj
def compose_push(opts: GlobalOptions, ignore_push_failures: bool, include_deps: bool, quiet: bool,
                 services: tuple[str, ...]) -> None:
    """Push service images."""
    import trio

    from composer.cli.compose_cmd import _progress
    from composer.cli.project import check_services, engine_for, project
    from composer.planner.graph import with_dependencies
    from composer.runtime.images.registry import push_image

    ctx = project(opts, services=services)
    check_services(ctx, services)
    want = ctx.require_model()
    chosen = set(services or want.services)
    if include_deps and services:
        chosen = set(with_dependencies(want.graph, services, no_deps=False))
    refs = sorted({want.services[s].image for s in chosen if want.services[s].spec.get("image")})
    progress = _progress(opts, quiet=quiet)
    store = engine_for().images
    failures: dict[str, str] = {}

    async def run() -> None:
        async def one(ref: str) -> None:
            progress.event("Image", ref, "Pushing")
            try:
                await push_image(store, ref)
            except ComposerError as err:
                failures[ref] = str(err)
                progress.event("Image", ref, "Error")
                return
            progress.event("Image", ref, "Pushed")

        async with trio.open_nursery() as nursery:
            for ref in refs:
                nursery.start_soon(one, ref)

    trio.run(run)
    if failures:
        if ignore_push_failures:
            for message in failures.values():
                progress.warn(message)
        else:
            raise ComposerError("; ".join(failures[r] for r in refs if r in failures))


def register(cli: click.Group) -> None:
    from composer.cli.image_cmd import image

    image.add_command(image_pull)
    image.add_command(image_push)
    cli.add_command(login)
    cli.add_command(logout)
    cli.add_command(compose_pull)
    cli.add_command(compose_push)
