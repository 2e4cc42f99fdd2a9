"""macvlan and ipvlan interfaces: a sub-interface of a host link (the parent), made straight in a container's namespace.

No bridge, no veth, no NAT: the sub-interface is created with the namespace as its home (`IFLA_NET_NS_FD`), so
nothing ever appears in the host's namespace under a temporary name, and the parent is never touched. It goes away
with the namespace, or by `detach` (found by its address) on `network disconnect`. Every step is safe to repeat.
"""

from __future__ import annotations

import errno
import os
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from composer.errors import ComposerError
from composer.runtime.net import netns

KINDS = ("macvlan", "ipvlan")
MACVLAN_MODES = ("bridge", "private", "vepa", "passthru")
IPVLAN_MODES = {"l2": 0, "l3": 1, "l3s": 2}


def check_options(kind: str, options: dict[str, str]) -> None:
    """The driver options this driver knows, checked before a network is recorded."""
    if not options.get("parent"):
        raise ComposerError(f"a {kind} network needs its parent link: -o parent=LINK (driver_opts.parent)")
    if kind == "macvlan" and options.get("macvlan_mode", "bridge") not in MACVLAN_MODES:
        raise ComposerError(f"macvlan_mode {options['macvlan_mode']!r}: use one of {', '.join(MACVLAN_MODES)}")
    if kind == "ipvlan" and options.get("ipvlan_mode", "l2") not in IPVLAN_MODES:
        raise ComposerError(f"ipvlan_mode {options['ipvlan_mode']!r}: use one of {', '.join(IPVLAN_MODES)}")


def parent_index(kind: str, parent: str) -> int:
    """The parent link's index in the host's namespace; one clear error naming it when there is none."""
    with IPRoute() as ipr:
        found = ipr.link_lookup(ifname=parent)
    if not found:
        raise ComposerError(f"{kind} parent link {parent!r} does not exist on this host")
    return int(found[0])


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def attach(
    netns_path: Path,
    *,
    kind: str,
    parent: str,
    mode: str | None,
    ifname: str,
    address: IPv4Interface,
    mac: str | None,
    gateway: IPv4Address | None,
) -> None:
    """`ifname` in the namespace: a `kind` sub-interface of `parent` with `address`, up; a default route through
    `gateway` when given (ipvlan l3 modes have no neighbours: the route is through the device)."""
    with netns.netlink(netns_path) as inside:
        present = _index(inside, ifname) is not None
    if not present:
        link = parent_index(kind, parent)
        options: dict[str, object] = {"ifname": ifname, "kind": kind, "link": link}
        if kind == "macvlan":
            options["macvlan_mode"] = mode or "bridge"
        else:
            options["ipvlan_mode"] = IPVLAN_MODES[mode or "l2"]
        fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with IPRoute() as host:
                host.link("add", net_ns_fd=fd, **options)
        except NetlinkError as exc:
            if exc.code == errno.EOPNOTSUPP:
                raise ComposerError(f"this kernel has no {kind} support (load the {kind} module)") from None
            if exc.code != errno.EEXIST:
                raise ComposerError(f"cannot make a {kind} interface on {parent!r}: {exc.args[1]}") from None
        finally:
            os.close(fd)
    with netns.netlink(netns_path) as inside:
        index = _index(inside, ifname)
        assert index is not None, f"{ifname} did not appear in {netns_path}"
        if mac is not None and kind == "macvlan":
            inside.link("set", index=index, address=mac)
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in inside.get_addr(index=index, family=2)}
        if (str(address.ip), address.network.prefixlen) not in have:
            inside.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
        inside.link("set", index=index, state="up")
        if gateway is not None:
            route: dict[str, object] = {"dst": "0.0.0.0/0", "oif": index}
            if not (kind == "ipvlan" and (mode or "l2") != "l2"):
                route["gateway"] = str(gateway)
            try:
                inside.route("add", **route)
            except NetlinkError as exc:
                if exc.code != errno.EEXIST:
                    raise


def detach(netns_path: Path, address: str) -> None:
    """Delete the interface that carries `address` in the namespace; nothing happens when it (or the namespace)
    is gone."""
    from composer.runtime.net.netns import is_mounted_netns

    if not is_mounted_netns(netns_path):
        return
    with netns.netlink(netns_path) as inside:
        for entry in inside.get_addr(family=2, address=address):
            try:
                inside.link("del", index=entry["index"])
            except NetlinkError as exc:
                if exc.code not in (errno.ENOENT, errno.ENODEV):
                    raise
