"""`composer network ...`: bridge, macvlan and ipvlan networks of the native engine, with `docker network`'s
flags and output.

Networks live under `COMPOSER_ROOT` (default /var/lib/composer); `COMPOSER_NFT_TABLE` names composer's
nftables table (default `composer`; tests use their own).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from composer.runtime.engine.networks import NetworkStore


def store() -> NetworkStore:
    from composer.errors import ComposerError
    from composer.runtime.engine.engine import DEFAULT_STATE_ROOT
    from composer.runtime.engine.networks import NetworkStore

    if os.geteuid() != 0:
        raise ComposerError("networks need root (bridges, namespaces and nftables rules): run composer as root")
    return NetworkStore(Path(os.environ.get("COMPOSER_ROOT") or DEFAULT_STATE_ROOT),
                        nft_table=os.environ.get("COMPOSER_NFT_TABLE") or "composer")


@click.group("network")
def network() -> None:
    """Manage networks of the native engine."""


@network.command("create")
@click.option("-d", "--driver", default="bridge", help="Driver to manage the network (bridge, macvlan, ipvlan).")
@click.option("--subnet", help="Subnet in CIDR format.")
@click.option("--gateway", help="IPv4 gateway for the subnet.")
@click.option("--ip-range", help="Allocate container IPs from a sub-range.")
@click.option("--aux-address", "aux", multiple=True, help="Auxiliary IPv4 addresses (name=ip).")
@click.option("--internal", is_flag=True, help="Restrict external access to the network.")
@click.option("--ipv6", is_flag=True, help="Enable IPv6 networking (not supported yet: refused).")
@click.option("-l", "--label", "labels", multiple=True, help="Set metadata on a network.")
@click.option("-o", "--opt", "opts", multiple=True,
              help="Set driver specific options (macvlan/ipvlan: parent=LINK, macvlan_mode, ipvlan_mode=l2|l3).")
@click.argument("name")
def create(driver: str, subnet: str | None, gateway: str | None, ip_range: str | None, aux: tuple[str, ...],
           internal: bool, ipv6: bool, labels: tuple[str, ...], opts: tuple[str, ...], name: str) -> None:
    """Create a network; prints its ID."""
    from composer.errors import ComposerError

    if ipv6:
        raise ComposerError("IPv6 networks are not supported yet: composer's bridges are IPv4 only")
    entry: dict[str, Any] = {}
    if subnet:
        entry["subnet"] = subnet
    if gateway:
        entry["gateway"] = gateway
    if ip_range:
        entry["ip_range"] = ip_range
    if aux:
        entry["aux_addresses"] = dict(a.split("=", 1) for a in aux if "=" in a)
    record = store().create(name, ipam_config=[entry] if entry else [], internal=internal,
                            labels=_pairs(labels), options=_pairs(opts), driver=driver)
    click.echo(record.id)


def _pairs(items: tuple[str, ...]) -> dict[str, str]:
    from composer.cli.run_options import parse_pairs

    return parse_pairs(items, "key=value")


@network.command("ls")
@click.option("-q", "--quiet", is_flag=True, help="Only display network IDs.")
@click.option("--format", "fmt", help="Format output: table, json, or a Go template.")
@click.option("--no-trunc", is_flag=True, help="Do not truncate the output.")
def ls(quiet: bool, fmt: str | None, no_trunc: bool) -> None:
    """List networks."""
    rows = [{"ID": r.id if no_trunc else r.id[:12], "Name": r.name, "Driver": r.driver, "Scope": "local",
             "Internal": str(r.internal).lower(), "Labels": ",".join(f"{k}={v}" for k, v in sorted(r.labels.items())),
             "CreatedAt": r.created} for r in store().records() if r.phase == "ready"]
    if quiet:
        for row in rows:
            click.echo(row["ID"])
    elif fmt == "json":
        for row in rows:
            click.echo(json.dumps(row))
    elif fmt and fmt != "table":
        from composer.cli.gotemplate import render_rows

        click.echo(render_rows(fmt, rows, {"ID": "NETWORK ID", "Name": "NAME", "Driver": "DRIVER", "Scope": "SCOPE"}),
                   nl=False)
    else:
        table = [("NETWORK ID", "NAME", "DRIVER", "SCOPE")] + [(r["ID"], r["Name"], r["Driver"], r["Scope"])
                                                               for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(4)]
        for line in table:
            click.echo("   ".join(c.ljust(widths[i]) for i, c in enumerate(line)).rstrip())


@network.command("inspect")
@click.option("-f", "--format", "fmt", help="Format the output using a Go template.")
@click.argument("refs", nargs=-1, required=True)
def inspect(fmt: str | None, refs: tuple[str, ...]) -> None:
    """Display detailed information on one or more networks."""
    s = store()
    docs = [s.inspect(s.get(ref)) for ref in refs]
    if fmt:
        from composer.cli.gotemplate import render

        for doc in docs:
            click.echo(render(fmt, doc))
        return
    click.echo(json.dumps(docs, indent=4))


@network.command("rm")
@click.option("-f", "--force", is_flag=True, help="Do not error if the network does not exist.")
@click.argument("refs", nargs=-1, required=True)
def rm(force: bool, refs: tuple[str, ...]) -> int:
    """Remove one or more networks."""
    from composer.cli.render import for_each_ref

    s = store()
    return for_each_ref(refs, s.remove, skip=(lambda err: force and "not found" in err.message))


@network.command("prune")
@click.option("-f", "--force", is_flag=True, help="Do not prompt for confirmation.")
def prune(force: bool) -> None:
    """Remove all networks no container uses."""
    s = store()
    removed = [s.remove(r.id).name for r in s.records() if not r.leases]
    if removed:
        click.echo("Deleted Networks:")
        for name in removed:
            click.echo(name)


@network.command("connect")
@click.option("--ip", help="IPv4 address.")
@click.option("--alias", "aliases", multiple=True, help="Add network-scoped alias for the container.")
@click.argument("name")
@click.argument("container")
def connect(ip: str | None, aliases: tuple[str, ...], name: str, container: str) -> None:
    """Connect a container to a network."""
    from composer.cli.container_cmd import engine

    engine().connect(container, name, ip=ip, aliases=aliases)


@network.command("disconnect")
@click.option("-f", "--force", is_flag=True, help="Force the container to disconnect from a network.")
@click.argument("name")
@click.argument("container")
def disconnect(force: bool, name: str, container: str) -> None:
    """Disconnect a container from a network."""
    from composer.cli.container_cmd import engine

    engine().disconnect(container, name)
