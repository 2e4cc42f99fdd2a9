"""`composer secret create/ls/inspect/rm`: the engine's stored secrets, for `external: true` in Compose files."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from composer.runtime.engine.secrets import SecretStore


def _store() -> SecretStore:
    from composer.runtime.engine.engine import DEFAULT_STATE_ROOT
    from composer.runtime.engine.secrets import SecretStore

    return SecretStore(Path(os.environ.get("COMPOSER_ROOT") or DEFAULT_STATE_ROOT))


@click.group("secret")
def secret() -> None:
    """Manage the engine's secrets (values are never shown)."""


@secret.command("create")
@click.option("-l", "--label", "labels", multiple=True, metavar="KEY=VALUE", help="Secret labels.")
@click.argument("name")
@click.argument("file")
def create(labels: tuple[str, ...], name: str, file: str) -> None:
    """Create a secret from a file, or from stdin with `-`."""
    from composer.errors import ComposerError

    try:
        data = sys.stdin.buffer.read() if file == "-" else Path(file).read_bytes()
    except OSError as exc:
        raise ComposerError(f"cannot read {file}: {exc.strerror}") from None
    store = _store()
    made = store.create(name, data, labels=dict(label.partition("=")[::2] for label in labels))
    click.echo(made.id)


@secret.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display IDs.")
@click.option("--format", "fmt", default="table", help="table, json, or a Go template.")
def ls(quiet: bool, fmt: str) -> None:
    """List secrets."""
    store = _store()
    found = store.all()
    if quiet:
        click.echo("".join(f"{s.id}\n" for s in found), nl=False)
        return
    rows = [{"ID": s.id, "Name": s.name, "CreatedAt": s.created, "UpdatedAt": s.created} for s in found]
    if fmt == "json":
        click.echo("".join(json.dumps(r) + "\n" for r in rows), nl=False)
        return
    from composer.cli.gotemplate import render_rows

    if fmt == "table":
        fmt = "table {{.ID}}\t{{.Name}}\t{{.CreatedAt}}\t{{.UpdatedAt}}"
    click.echo(render_rows(fmt, rows, {"ID": "ID", "Name": "NAME", "CreatedAt": "CREATED", "UpdatedAt": "UPDATED"}),
               nl=False)


@secret.command("inspect")
@click.argument("names", nargs=-1, required=True)
def inspect(names: tuple[str, ...]) -> None:
    """Display detailed information on secrets (never their values)."""
    store = _store()
    click.echo(json.dumps([store.get(n).inspect() for n in names], indent=4))


@secret.command("rm")
@click.argument("names", nargs=-1, required=True)
def rm(names: tuple[str, ...]) -> None:
    """Remove secrets."""
    store = _store()
    for name in names:
        store.remove(name)
        click.echo(name)
