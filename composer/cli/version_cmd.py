"""`composer version`."""

from __future__ import annotations

import json

import click

from composer import __version__


@click.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["pretty", "json"]), default="pretty",
              help="Format the output.")
@click.option("--short", is_flag=True, help="Shows only composer's version number.")
def version(fmt: str, short: bool) -> None:
    """Show the composer version information."""
    if short:
        click.echo(__version__)
    elif fmt == "json":
        click.echo(json.dumps({"version": __version__}))
    else:
        click.echo(f"composer version {__version__}")
