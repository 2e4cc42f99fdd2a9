"""`composer config`: print the resolved project in Docker Compose v2's canonical form."""

from __future__ import annotations

import json
from typing import Any

import click

from composer.cli.context import GlobalOptions
from composer.cli.render import warn


@click.command()
@click.argument("services", nargs=-1)
@click.option("--format", "fmt", type=click.Choice(["yaml", "json"]), default="yaml", help="Format the output.")
@click.option("-q", "--quiet", is_flag=True, help="Only validate the configuration, don't print anything.")
@click.option("--services", "list_services", is_flag=True, help="Print the service names, one per line.")
@click.option("--volumes", "list_volumes", is_flag=True, help="Print the volume names, one per line.")
@click.option("--networks", "list_networks", is_flag=True, help="Print the network names, one per line.")
@click.option("--images", "list_images", is_flag=True, help="Print the image names, one per line.")
@click.option("--profiles", "list_profiles", is_flag=True, help="Print the profile names, one per line.")
@click.option("--hash", "hash_of", metavar="SERVICE", help="Print the service config hash, one per line ('*' for all).")
@click.option("--environment", "show_environment", is_flag=True, help="Print the environment used for interpolation.")
@click.option("--variables", "show_variables", is_flag=True, help="Print the model variables and default values.")
@click.option("--no-interpolate", is_flag=True, help="Don't interpolate environment variables.")
@click.option("--no-normalize", is_flag=True, help="Don't normalize the compose model.")
@click.option("--no-path-resolution", is_flag=True, help="Don't resolve file paths.")
@click.option("-o", "--output", metavar="FILE", help="Save to FILE instead of stdout.")
@click.pass_obj
def config(opts: GlobalOptions, services: tuple[str, ...], fmt: str, quiet: bool, list_services: bool,
           list_volumes: bool, list_networks: bool, list_images: bool, list_profiles: bool, hash_of: str | None,
           show_environment: bool, show_variables: bool, no_interpolate: bool, no_normalize: bool,
           no_path_resolution: bool, output: str | None) -> None:
    """Parse, resolve and render the compose file in canonical format."""
    from composer.cli import config_views as views

    loaded = opts.load(services=services, interpolate=not no_interpolate and not show_variables,
                       normalize=not no_normalize, resolve_paths=not no_path_resolution)
    warn(loaded.diagnostics.warnings)
    if quiet:
        return
    lines: list[str] | None = None
    if list_services:
        lines = views.service_names(loaded, services)
    elif list_volumes:
        lines = list(loaded.doc.get("volumes") or {})
    elif list_networks:
        lines = list(loaded.doc.get("networks") or {})
    elif list_images:
        lines = views.images(loaded)
    elif list_profiles:
        lines = views.profiles(loaded)
    elif hash_of is not None:
        lines = views.hashes(loaded, hash_of)
    elif show_environment:
        lines = [f"{key}={value}" for key, value in sorted(loaded.environment.items())]
    elif show_variables:
        text = views.variables_table(loaded, fmt)
    if lines is not None:
        text = "".join(f"{line}\n" for line in lines)
    elif not show_variables:
        document = views.canonical(loaded, services, escape_dollars=not no_interpolate, yaml=fmt == "yaml")
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if fmt == "json" else _yaml(document)
    _write(text, output)


def _yaml(document: dict[str, Any]) -> str:
    from composer.schema.yamlout import dump

    return dump(document)


def _write(text: str, output: str | None) -> None:
    if output:
        with open(output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        click.echo(text, nl=False)
