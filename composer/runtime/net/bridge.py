"""Linux bridges, one per network: created with the gateway address and up, idempotently."""

from __future__ import annotations

from ipaddress import IPv4Interface

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

ENOENT = 2
ENODEV = 19


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _kind(ipr: IPRoute, index: int) -> str | None:
    link = ipr.get_links(index)[0]
    info = link.get_attr("IFLA_LINKINFO")
    return str(info.get_attr("IFLA_INFO_KIND")) if info is not None else None


def create(name: str, address: IPv4Interface | None, mtu: int | None = None) -> int:
    """Make the bridge (or complete a half-made one) with `address` and up; return its index."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            options: dict[str, object] = {"ifname": name, "kind": "bridge"}
            if mtu is not None:
                options["mtu"] = mtu
            try:
                ipr.link("add", **options)
            except NetlinkError as exc:
                if exc.code != 17:  # EEXIST: another process won the race, which is fine
                    raise
            index = _index(ipr, name)
            assert index is not None
        elif _kind(ipr, index) != "bridge":
            raise RuntimeError(f"{name} exists and is not a bridge")
        if address is not None:
            present = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in ipr.get_addr(index=index, family=2)}
            if (str(address.ip), address.network.prefixlen) not in present:
                ipr.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
        ipr.link("set", index=index, state="up")
        return index


def delete(name: str) -> None:
    """Remove the bridge (its ports are detached by the kernel); nothing happens when it is gone."""
    with IPRoute() as ipr:
        index = _index(ipr, name)
        if index is None:
            return
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code not in (ENOENT, ENODEV):
                raise


def list_bridges(prefix: str) -> list[str]:
    """Names of the bridges whose name starts with `prefix` (composer's are `cmp-`)."""
    with IPRoute() as ipr:
        out = []
        for link in ipr.get_links():
            name = str(link.get_attr("IFLA_IFNAME"))
            info = link.get_attr("IFLA_LINKINFO")
            if name.startswith(prefix) and info is not None and info.get_attr("IFLA_INFO_KIND") == "bridge":
                out.append(name)
        return sorted(out)
