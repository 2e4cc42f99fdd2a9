"""The `composer` command: global options as `docker compose` has them, then one subcommand.

Heavy modules (pydantic, ruamel.yaml, trio) are imported inside the commands so `--help` and
argument errors stay fast. User mistakes become one `composer: error: ...` line and exit 1.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import click

from composer import __version__
from composer.cli.context import GlobalOptions

F = TypeVar("F", bound=Callable[..., Any])

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 110}


@click.group(context_settings=CONTEXT, invoke_without_command=False)
@click.option("-f", "--file", "files", multiple=True, metavar="FILE",
              help="Compose configuration files (repeatable; - for stdin).")
@click.option("-p", "--project-name", "project_name", metavar="NAME", help="Project name.")
@click.option("--profile", "profiles", multiple=True, metavar="NAME", help="Profile to enable (repeatable).")
@click.option("--env-file", "env_files", multiple=True, metavar="PATH", help="Alternate environment file (repeatable).")
@click.option("--project-directory", metavar="PATH", help="Alternate working directory (default: the first file's).")
@click.option("--parallel", type=int, default=None, metavar="N", help="Maximum parallelism, -1 for unlimited.")
@click.option("--dry-run", is_flag=True, help="Execute command in dry run mode.")
@click.option("--ansi", type=click.Choice(["never", "always", "auto"]), default="auto",
              help="Control when to print ANSI control characters.")
@click.option("--progress", type=click.Choice(["auto", "tty", "plain", "json", "quiet"]), default=None,
              help="Set type of progress output.")
@click.option("--strict", is_flag=True, help="Make Compose keys composer does not support errors, not warnings.")
@click.version_option(__version__, "-v", "--version", prog_name="composer", message="composer version %(version)s")
@click.pass_context
def cli(ctx: click.Context, /, **options: Any) -> None:
    """composer: define and run multi-container applications from Compose files, without a daemon."""
    ctx.obj = GlobalOptions.from_click(options)


def _register() -> None:
    from composer.cli import (
        build_cmd,
        compose_cmd,
        compose_tools,
        config_cmd,
        container_cmd,
        image_cmd,
        manifest_cmd,
        network_cmd,
        registry_cmd,
        version_cmd,
        volume_cmd,
    )

    cli.add_command(config_cmd.config)
    cli.add_command(version_cmd.version)
    cli.add_command(image_cmd.image)
    cli.add_command(container_cmd.container)
    cli.add_command(network_cmd.network)
    cli.add_command(volume_cmd.volume)
    compose_cmd.register(cli)
    compose_tools.register(cli)
    registry_cmd.register(cli)
    build_cmd.register(cli)  # `composer build` and `composer image build`
    manifest_cmd.register(cli)  # `composer manifest create/annotate/inspect/push/rm`


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point: run the CLI, turning user errors into one line and exit status 1."""
    from composer.cli.render import run_guarded

    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["compose"]:
        args = args[1:]  # `composer compose up` == `composer up`, for tools that drive `docker compose`
    run_guarded(lambda: cli.main(args=args, prog_name="composer", standalone_mode=False))
