"""`composer image build` (docker build on the native engine) and Compose's `composer build`.

`image history` already lives in image_cmd.py; this module only adds the build commands.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import click

from composer.cli.context import GlobalOptions
from composer.errors import ComposerError


def _build_args(values: Sequence[str]) -> dict[str, str | None]:
    """`--build-arg K=V`, or `K` alone to take the value from the environment (as Docker does)."""
    out: dict[str, str | None] = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not key:
            raise ComposerError(f"invalid --build-arg {value!r}: use NAME=VALUE")
        out[key] = val if sep else os.environ.get(key)
    return out


def _secrets(values: Sequence[str]) -> dict[str, bytes]:
    """`--secret id=ID[,src=PATH|,env=VAR]` (buildx's syntax, `type=file|env` allowed): id -> content.
    With neither `src` nor `env`, the environment variable named like the id is read."""
    out: dict[str, bytes] = {}
    for value in values:
        fields: dict[str, str] = {}
        for item in value.split(","):
            key, sep, val = item.partition("=")
            key = key.strip().lower()
            key = {"source": "src"}.get(key, key)
            if not sep or key not in ("id", "src", "env", "type") or key in fields:
                raise ComposerError(f"invalid --secret {value!r}: use id=ID[,src=PATH|,env=VAR]")
            fields[key] = val
        kind = fields.get("type")
        if kind not in (None, "file", "env"):
            raise ComposerError(f"invalid --secret {value!r}: type is file or env")
        ident = fields.get("id") or ""
        src, env = fields.get("src"), fields.get("env")
        if kind == "env" and env is None:
            env, src = src or ident, None
        if not ident:
            ident = os.path.basename(src) if src else env or ""
        if not ident:
            raise ComposerError(f"invalid --secret {value!r}: an id is needed")
        if src is not None and env is not None:
            raise ComposerError(f"invalid --secret {value!r}: give src or env, not both")
        if src is None and env is None:
            if kind == "file":
                src = ident
            else:
                env = ident
        if src is not None:
            try:
                out[ident] = Path(src).expanduser().read_bytes()
            except OSError as err:
                raise ComposerError(f"--secret {ident}: cannot read {src}: {err.strerror}") from None
        else:
            assert env is not None
            if env not in os.environ:
                raise ComposerError(f"--secret {ident}: environment variable {env} is not set")
            out[ident] = os.environ[env].encode()
    return out


@click.command("build")
@click.option("-t", "--tag", "tags", multiple=True, metavar="NAME[:TAG]", help="Name and optionally a tag.")
@click.option("-f", "--file", "dockerfile", metavar="PATH", help="Name of the Dockerfile (default: PATH/Dockerfile).")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set build-time variables.")
@click.option("--target", metavar="STAGE", help="Set the target build stage to build.")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the build output and print image ID on success.")
@click.option("--network", metavar="MODE", help="Networking mode for RUN instructions (none, host).")
@click.option("--label", "labels", multiple=True, metavar="K=V", help="Set metadata for an image.")
@click.option("--pull", is_flag=True, help="Always pull the base images (FROM) of the build.")
@click.option("--secret", "secrets", multiple=True, metavar="id=ID[,src=PATH|,env=VAR]",
              help="A secret for RUN --mount=type=secret.")
@click.argument("path")
def image_build(tags: tuple[str, ...], dockerfile: str | None, build_args: tuple[str, ...], target: str | None,
                no_cache: bool, quiet: bool, network: str | None, labels: tuple[str, ...], pull: bool,
                secrets: tuple[str, ...], path: str) -> None:
    """Build an image from a Dockerfile."""
    from composer.cli.container_cmd import engine
    from composer.runtime.build.builder import Builder, BuildOptions
    from composer.runtime.build.progress import Progress

    context = Path(path)
    dockerfile_text = None
    if dockerfile == "-":
        dockerfile_text = sys.stdin.read()
    options = BuildOptions(
        context=context,
        dockerfile=Path(dockerfile) if dockerfile and dockerfile != "-" else None,
        dockerfile_inline=dockerfile_text,
        tags=list(tags),
        build_args=_build_args(build_args),
        target=target,
        no_cache=no_cache,
        labels=dict(label.partition("=")[::2] for label in labels),
        network=network,
        pull=pull,
        secrets=_secrets(secrets),
    )
    if options.dockerfile is not None and not options.dockerfile.is_absolute():  # -f is relative to the cwd
        options = dataclasses.replace(options, dockerfile=Path.cwd() / options.dockerfile)
    result = Builder(engine(), Progress(sys.stderr, quiet=quiet)).build(options)
    if quiet:
        click.echo(result.image_id)
        return
    click.echo(f"Successfully built {result.image_id} ({result.cached}/{result.steps} layer steps cached)", err=True)
    for tag in tags:
        click.echo(f"Successfully tagged {tag}", err=True)


def register_image(image_group: click.Group) -> None:
    """Add `build` to `composer image`."""
    image_group.add_command(image_build)


@click.command("build")
@click.option("--no-cache", is_flag=True, help="Do not use cache when building the image.")
@click.option("--pull", is_flag=True, help="Always attempt to pull a newer version of the base images.")
@click.option("--build-arg", "build_args", multiple=True, metavar="K=V", help="Set build-time variables for services.")
@click.option("-q", "--quiet", is_flag=True, help="Don't print anything to STDOUT.")
@click.option("--with-dependencies", is_flag=True, help="Also build dependencies (transitively).")
@click.argument("services", nargs=-1)
@click.pass_obj
def compose_build(opts: GlobalOptions, no_cache: bool, pull: bool, build_args: tuple[str, ...], quiet: bool,
                  with_dependencies: bool, services: tuple[str, ...]) -> None:
    """Build or rebuild services."""
    from composer.cli.project import check_services, engine_for, project
    from composer.planner.graph import with_dependencies as deps
    from composer.runtime.compose.build import build_sections, build_services
    from composer.runtime.compose.progress import Progress, choose_mode

    ctx = project(opts, services=services)
    check_services(ctx, services)
    want = ctx.require_model()
    chosen = deps(want.graph, services, no_deps=not with_dependencies) if services else set(want.services)
    order = [name for name in sorted(want.services) if name in chosen and name in build_sections(ctx)]
    if not order:
        return
    stream = sys.stderr
    progress = Progress(stream, quiet=quiet, mode=choose_mode(opts.progress, opts.ansi, stream))
    build_services(engine_for(opts), ctx, order, no_cache=no_cache, progress=progress,
                   build_args=_build_args(build_args), pull=pull)


@click.group("builder")
def builder() -> None:
    """Manage the build cache."""


@builder.command("prune")
@click.option("-a", "--all", "prune_all", is_flag=True, help="Remove all unused build cache, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def builder_prune(prune_all: bool, force: bool) -> None:
    """Remove build cache: RUN --mount=type=cache directories, and with -a every cached step."""
    from composer.cli.image_cmd import _in_use, _size, open_store, state_root
    from composer.runtime.build.prune import prune_build_cache

    report = prune_build_cache(Path(state_root()) / "build", open_store(), all=prune_all, in_use=_in_use())
    if report.deleted:
        click.echo("Deleted build cache objects:")
        for item in report.deleted:
            click.echo(item)
        click.echo()
    for name in report.busy:
        click.echo(f"cache mount {name} is in use by a running build: kept", err=True)
    click.echo(f"Total reclaimed space: {_size(report.space_reclaimed)}")


def register(cli: click.Group) -> None:
    """Add Compose's `build` to the top-level `composer` command, `build` to its `image` group, and `builder`."""
    cli.add_command(builder)
    cli.add_command(compose_build)
    group = cli.commands.get("image")
    if isinstance(group, click.Group):
        register_image(group)


__all__ = ["compose_build", "image_build", "register", "register_image"]
