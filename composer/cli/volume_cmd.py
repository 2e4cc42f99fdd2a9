"""`composer volume ...`: the native engine's volumes (Docker's `local` driver), with `docker volume`'s output.

State lives under `COMPOSER_ROOT` (default /var/lib/composer), volumes in `<root>/volumes/<name>/_data`.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from composer.runtime.engine.volumes import VolumeStore

DEFAULT_STATE_ROOT = "/var/lib/composer"


def open_store() -> VolumeStore:
    from composer.runtime.engine.volumes import VolumeStore

    return VolumeStore(Path(os.environ.get("COMPOSER_ROOT") or DEFAULT_STATE_ROOT))


def _repair() -> None:
    """Finish what killed container commands left first: a dead half-created container must not hold a volume."""
    from composer.cli.container_cmd import engine
    from composer.errors import ComposerError

    with contextlib.suppress(ComposerError, OSError):
        engine().repair()


def _pairs(items: tuple[str, ...]) -> dict[str, str]:
    from composer.cli.run_options import parse_pairs

    return parse_pairs(items, "key=value")


@click.group("volume")
def volume() -> None:
    """Manage volumes of the native engine."""


@volume.command("create")
@click.option("--name", "name_opt", metavar="NAME", help="Specify volume name.")
@click.option("-d", "--driver", default="local", show_default=True, help="Specify volume driver name.")
@click.option("-l", "--label", "labels", multiple=True, metavar="LABEL", help="Set metadata for a volume.")
@click.option("-o", "--opt", "opts", multiple=True, metavar="OPT", help="Set driver specific options.")
@click.argument("name", required=False)
def create(name_opt: str | None, driver: str, labels: tuple[str, ...], opts: tuple[str, ...],
           name: str | None) -> None:
    """Create a volume (anonymous, with a random name, when none is given)."""
    from composer.errors import ComposerError

    if name_opt and name and name_opt != name:
        raise ComposerError("conflicting options: either specify --name or provide positional arg, not both")
    store = open_store()
    with store.lock():
        created = store.create(name or name_opt or None, labels=_pairs(labels), options=_pairs(opts), driver=driver)
    click.echo(created.name)


@volume.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display volume names.")
@click.option("--format", "fmt", metavar="FORMAT", help="Format output: table, json, or a Go template.")
@click.option("-f", "--filter", "filters", multiple=True, metavar="FILTER",
              help="Provide filter values (e.g. 'dangling=true', 'name=x', 'label=k=v').")
def ls(quiet: bool, fmt: str | None, filters: tuple[str, ...]) -> None:
    """List volumes."""
    if any(f.startswith("dangling=") for f in filters):
        _repair()
    found = open_store().list_volumes(filters)
    if quiet:
        for v in found:
            click.echo(v.name)
        return
    if fmt == "json":
        for v in found:
            click.echo(json.dumps(v.row()))
        return
    if fmt and fmt != "table":
        from composer.cli.gotemplate import render_table

        click.echo(render_table(fmt, [v.row() for v in found], {"Name": "VOLUME NAME"}), nl=False)
        return
    from composer.tabwriter import tabwrite

    text = "".join(f"{v.driver}\t{v.name}\n" for v in found)
    click.echo(tabwrite("DRIVER\tVOLUME NAME\n" + text), nl=False)


@volume.command("inspect")
@click.option("-f", "--format", "fmt", metavar="TEMPLATE", help="Format output using a Go template (or json).")
@click.argument("names", nargs=-1, required=True)
def inspect(fmt: str | None, names: tuple[str, ...]) -> int:
    """Display detailed information on one or more volumes."""
    from composer.errors import ComposerError

    store = open_store()
    docs: list[dict[str, Any]] = []
    failed = 0
    for name in names:
        try:
            docs.append(store.get(name).inspect())
        except ComposerError:
            failed += 1
            click.echo(f"composer: error: no such volume: {name}", err=True)
    if fmt and fmt != "json":
        from composer.cli.gotemplate import render

        for doc in docs:
            click.echo(render(fmt, doc))
    elif fmt == "json":
        for doc in docs:
            click.echo(json.dumps(doc))
    else:
        click.echo(json.dumps(docs, indent=4))
    return 1 if failed else 0


@volume.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not fail on a missing volume (a volume in use stays).")
@click.argument("names", nargs=-1, required=True)
def rm(force: bool, names: tuple[str, ...]) -> int:
    """Remove one or more volumes; a volume a container uses is refused."""
    from composer.cli.render import for_each_ref

    _repair()
    store = open_store()
    return for_each_ref(names, lambda name: store.remove(name, force=force))


@volume.command("prune")
@click.option("-a", "--all", "all_volumes", is_flag=True, help="Remove all unused volumes, not just anonymous ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
@click.option("--filter", "filters", multiple=True, metavar="FILTER", help="Provide filter values (e.g. 'label=k').")
def prune(all_volumes: bool, force: bool, filters: tuple[str, ...]) -> None:
    """Remove unused volumes (anonymous ones unless -a)."""
    from composer.cli.image_cmd import _size
    from composer.errors import ComposerError

    labels = []
    for item in filters:
        key, sep, value = item.partition("=")
        if key == "label" and sep:
            labels.append(value)
        elif key == "all" and sep:
            all_volumes = all_volumes or value.lower() in ("1", "true")
        else:
            raise ComposerError(f"invalid filter {item!r}: volume prune takes label=KEY[=VALUE] and all=true")
    if not force:
        what = "all local volumes" if all_volumes else "anonymous local volumes"
        click.echo(f"WARNING! This will remove {what} not used by at least one container.")
        if not click.confirm("Are you sure you want to continue?", default=False):
            return
    _repair()
    report = open_store().prune(all_volumes=all_volumes, labels=labels)
    if report.removed:
        click.echo("Deleted Volumes:")
        for name in report.removed:
            click.echo(name)
        click.echo("")
    click.echo(f"Total reclaimed space: {_size(report.space_reclaimed)}")
