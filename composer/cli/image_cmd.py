"""`composer image ...`: the native engine's image store (`composer images` is Compose's, of a project).

State lives under `--root` / `COMPOSER_ROOT` (default /var/lib/composer), images in `<root>/images`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from composer.runtime.images import ImageStore

DEFAULT_STATE_ROOT = "/var/lib/composer"


def state_root() -> str:
    return os.environ.get("COMPOSER_ROOT") or DEFAULT_STATE_ROOT


def open_store() -> ImageStore:
    from composer.runtime.images import ImageStore

    return ImageStore(os.path.join(state_root(), "images"))


def _size(size: int) -> str:
    """Docker's human sizes: decimal units, three significant digits."""
    value = float(size)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if value < 1000 or unit == "TB":
            return f"{value:.3g}{unit}"
        value /= 1000
    return f"{size}B"


def _ago(created: str | None) -> str:
    if not created:
        return "N/A"
    try:
        moment = datetime.fromisoformat(created.replace("Z", "+00:00"))
    except ValueError:
        return "N/A"
    seconds = max(0.0, time.time() - moment.astimezone(UTC).timestamp())
    for span, name in ((86400 * 365, "year"), (86400 * 30, "month"), (86400 * 7, "week"), (86400, "day"),
                       (3600, "hour"), (60, "minute")):
        if seconds >= span:
            count = int(seconds // span)
            return f"{count} {name}{'s' if count > 1 else ''} ago"
    return "Less than a minute ago"


def _in_use() -> Callable[[str], bool]:
    """Whether a container of the native engine was made from an image (such images are kept)."""
    from pathlib import Path

    from composer.runtime.engine.records import images_in_use

    used = images_in_use(Path(state_root()) / "containers")
    return used.__contains__


@click.group("image")
def image() -> None:
    """Manage images of the native engine."""


@image.command("load")
@click.option("-i", "--input", "source", metavar="FILE", help="Read from a tar archive file instead of STDIN.")
@click.option("-q", "--quiet", is_flag=True, help="Suppress the load output.")
def load(source: str | None, quiet: bool) -> None:
    """Load images from a tar archive (docker save format or OCI layout)."""
    loaded = open_store().load(source if source else sys.stdin.buffer)
    for item in loaded:
        for warning in getattr(item, "warnings", ()):
            click.echo(f"composer: warning: {warning}", err=True)
        if not quiet:
            for message in item.messages():
                click.echo(message)


@image.command("save")
@click.option("-o", "--output", metavar="FILE", help="Write to a file, instead of STDOUT.")
@click.argument("refs", nargs=-1, required=True)
def save(output: str | None, refs: tuple[str, ...]) -> None:
    """Save images to a tar archive (docker save format, with an OCI layout inside)."""
    from composer.errors import ComposerError
    from composer.runtime.images.archive import save_to_path

    store = open_store()
    if output:
        save_to_path(store, list(refs), output)
    elif sys.stdout.isatty():
        raise ComposerError("refusing to write an archive to a terminal", hint="use -o FILE or redirect stdout")
    else:
        store.save(list(refs), sys.stdout.buffer)


@image.command("import")
@click.option("-c", "--change", "changes", multiple=True, help="Apply a Dockerfile instruction to the image.")
@click.option("-m", "--message", default="", help="Set the commit message for the imported image.")
@click.argument("source")
@click.argument("reference", required=False)
def import_(changes: tuple[str, ...], message: str, source: str, reference: str | None) -> None:
    """Import a root filesystem tarball (FILE or -) as a one-layer image."""
    from composer.runtime.images import import_rootfs

    stream: Any = sys.stdin.buffer if source == "-" else source
    loaded = import_rootfs(open_store(), stream, reference=reference, changes=changes, message=message,
                           source_name=None if source == "-" else source)
    click.echo(loaded.id)


@image.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", help="Format the output.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
def ls(quiet: bool, fmt: str, no_trunc: bool) -> None:
    """List images."""
    from composer.runtime.images.reference import short_id

    rows = []
    for summary in open_store().list_images():
        image_id = summary.id if no_trunc else short_id(summary.id)
        for tag in summary.repo_tags or ("<none>:<none>",):
            repository, _, tag_name = tag.rpartition(":")
            rows.append({"Repository": repository, "Tag": tag_name, "ID": image_id,
                         "CreatedSince": _ago(summary.created), "Size": _size(summary.size)})
    if quiet:
        for image_id in dict.fromkeys(row["ID"] for row in rows):
            click.echo(image_id)
    elif fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
    else:
        header = {"Repository": "REPOSITORY", "Tag": "TAG", "ID": "IMAGE ID", "CreatedSince": "CREATED",
                  "Size": "SIZE"}
        table = [header, *rows]
        widths = {key: max(len(row[key]) for row in table) for key in header}
        for row in table:
            click.echo("   ".join(row[key].ljust(widths[key]) for key in header).rstrip())


@image.command("inspect")
@click.argument("refs", nargs=-1, required=True)
def inspect(refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more images."""
    store = open_store()
    click.echo(json.dumps([store.inspect(ref) for ref in refs], indent=4))


@image.command("history")
@click.option("-q", "--quiet", is_flag=True, help="Only show image IDs.")
@click.option("--no-trunc", is_flag=True, help="Don't truncate output.")
@click.option("--format", "fmt", default="", help="Format output using a Go template, or json.")
@click.argument("ref")
def history(quiet: bool, no_trunc: bool, fmt: str, ref: str) -> None:
    """Show the history of an image."""
    rows = open_store().history(ref)
    if quiet:
        for row in rows:
            click.echo(row["Id"] if no_trunc or row["Id"] == "<missing>" else row["Id"].removeprefix("sha256:")[:12])
        return
    shown = []
    for row in rows:
        created = datetime.fromtimestamp(row["Created"], UTC).isoformat() if row.get("Created") else ""
        created_by = row.get("CreatedBy") or ""
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        image_id = row["Id"]
        if image_id != "<missing>" and not no_trunc:
            image_id = image_id.removeprefix("sha256:")[:12]
        shown.append({"ID": image_id, "CreatedSince": _ago(created), "CreatedAt": created, "CreatedBy": created_by,
                      "Size": _size(row.get("Size", 0)), "Comment": row.get("Comment", "")})
    if fmt == "json":
        for item in shown:
            click.echo(json.dumps(item, separators=(",", ":")))
        return
    if fmt and fmt != "table":
        from composer.cli.gotemplate import render_rows

        click.echo(render_rows(fmt, shown, {"ID": "IMAGE", "CreatedSince": "CREATED", "CreatedAt": "CREATED AT",
                                             "CreatedBy": "CREATED BY", "Size": "SIZE", "Comment": "COMMENT"}),
                   nl=False)
        return
    from composer.tabwriter import rows_table

    table = [["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"],
             *([r["ID"], r["CreatedSince"], r["CreatedBy"], r["Size"], r["Comment"]] for r in shown)]
    click.echo(rows_table(table), nl=False)


@image.command("tag")
@click.argument("source")
@click.argument("target")
def tag(source: str, target: str) -> None:
    """Create a tag TARGET that refers to SOURCE."""
    open_store().tag(source, target)


@image.command("rm")
@click.option("-f", "--force", is_flag=True, help="Remove the image even if it has several tags.")
@click.argument("refs", nargs=-1, required=True)
def rm(force: bool, refs: tuple[str, ...]) -> None:
    """Remove one or more images."""
    store = open_store()
    in_use = _in_use()
    for ref in refs:
        for event in store.remove(ref, force=force, in_use=in_use):
            click.echo(str(event))


@image.command("prune")
@click.option("-a", "--all", "all_images", is_flag=True, help="Remove all unused images, not just dangling ones.")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune(all_images: bool, force: bool) -> None:
    """Remove unused images."""
    report = open_store().prune(all=all_images, in_use=_in_use())
    for event in report.events:
        click.echo(str(event))
    click.echo(f"Total reclaimed space: {_size(report.space_reclaimed)}")

