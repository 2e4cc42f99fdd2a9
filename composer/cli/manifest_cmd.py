"""`composer manifest create/annotate/inspect/push/rm`: multi-architecture lists, as `docker manifest`."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from composer.errors import ComposerError

if TYPE_CHECKING:
    from composer.runtime.images.manifests import ManifestLists


def _lists() -> ManifestLists:
    from composer.cli.image_cmd import state_root
    from composer.runtime.images.manifests import ManifestLists

    return ManifestLists(state_root())


@click.group("manifest")
def manifest() -> None:
    """Manage manifest lists (multi-architecture images)."""


@manifest.command("create")
@click.option("-a", "--amend", is_flag=True, help="Amend an existing manifest list.")
@click.argument("manifest_list")
@click.argument("manifests", nargs=-1, required=True)
def create(amend: bool, manifest_list: str, manifests: tuple[str, ...]) -> None:
    """Create a local manifest list from images already pushed to a registry."""
    from composer.runtime.images.manifests import create as create_list

    mlist = create_list(_lists(), manifest_list, manifests, amend=amend)
    click.echo(f"Created manifest list {mlist.name}")


@manifest.command("annotate")
@click.option("--os", "os_name", default=None, help="Set operating system.")
@click.option("--arch", default=None, help="Set architecture.")
@click.option("--variant", default=None, help="Set architecture variant.")
@click.option("--os-version", default=None, help="Set operating system version.")
@click.option("--os-features", default=None, help="Set operating system feature (comma list).")
@click.argument("manifest_list")
@click.argument("manifest_ref")
def annotate(os_name: str | None, arch: str | None, variant: str | None, os_version: str | None,
             os_features: str | None, manifest_list: str, manifest_ref: str) -> None:
    """Add platform information to an entry of a local manifest list."""
    from composer.runtime.images.manifests import annotate as annotate_list

    features = [f for f in (os_features or "").split(",") if f]
    annotate_list(_lists(), manifest_list, manifest_ref, os_name=os_name, arch=arch, variant=variant,
                  os_version=os_version, os_features=features)


@manifest.command("inspect")
@click.option("-v", "--verbose", is_flag=True, help="Output additional info including layers and platform.")
@click.argument("refs", nargs=-1, required=True)
def inspect(verbose: bool, refs: tuple[str, ...]) -> None:
    """Show a manifest list (the local one if there is one, else the registry's) or a manifest."""
    import trio

    from composer.runtime.images.manifests import inspect_local, inspect_remote

    if len(refs) > 2:
        raise ComposerError("manifest inspect takes [MANIFEST_LIST] MANIFEST")
    if len(refs) == 2:  # one entry of a local list
        mlist = _lists().get(refs[0])
        if mlist is None:
            raise ComposerError(f"No such manifest: {refs[0]}")
        from composer.runtime.images.reference import parse_reference

        wanted = str(parse_reference(refs[1]).with_default_tag())
        for entry in mlist.entries:
            if entry.ref == wanted or entry.digest == refs[1]:
                click.echo(entry.body.decode())
                return
        raise ComposerError(f"manifest for image {refs[1]} does not exist in {mlist.name}")
    local = inspect_local(_lists(), refs[0], verbose=verbose)
    click.echo(local if local is not None else trio.run(inspect_remote, refs[0]))


@manifest.command("push")
@click.option("-p", "--purge", is_flag=True, help="Remove the local manifest list after push.")
@click.argument("manifest_list")
def push(purge: bool, manifest_list: str) -> None:
    """Push a manifest list to its repository."""
    from composer.runtime.images.manifests import push as push_list

    pushed = push_list(_lists(), manifest_list, purge=purge)
    click.echo(pushed.digest)


@manifest.command("rm")
@click.argument("manifest_lists", nargs=-1, required=True)
def rm(manifest_lists: tuple[str, ...]) -> None:
    """Delete one or more manifest lists from local storage."""
    lists = _lists()
    missing = [name for name in manifest_lists if not lists.remove(name)]
    if missing:
        raise ComposerError("; ".join(f"No such manifest: {name}" for name in missing))


def register(cli: click.Group) -> None:
    cli.add_command(manifest)
