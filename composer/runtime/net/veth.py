"""A container's link to one network: a veth pair, host end on the bridge, peer as ethN in the container netns.

Order of steps (each is safe to repeat): if the container side already exists the pair is only re-checked;
otherwise any half-made pair from a killed run is deleted (deleting one end deletes both), the pair is created
with the peer under a temporary host-side name, the peer moves into the namespace and is renamed there, then
addresses, MAC, state and the default route are set.
"""

from __future__ import annotations

import contextlib
import os
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from composer.runtime.net import netns

EEXIST = 17
ENOENT = 2
ENODEV = 19


def _index(ipr: IPRoute, name: str) -> int | None:
    found = ipr.link_lookup(ifname=name)
    return int(found[0]) if found else None


def _delete(ipr: IPRoute, name: str) -> None:
    index = _index(ipr, name)
    if index is not None:
        try:
            ipr.link("del", index=index)
        except NetlinkError as exc:
            if exc.code not in (ENOENT, ENODEV):
                raise


def attach(
    netns_path: Path,
    *,
    host_name: str,
    peer_temp_name: str,
    ifname: str,
    bridge: str,
    address: IPv4Interface,
    mac: str,
    gateway: IPv4Address | None,
) -> None:
    """Connect the namespace to `bridge` as `ifname` with `address`; `gateway` set = default route through it."""
    with netns.netlink(netns_path) as inside:
        present = _index(inside, ifname) is not None
    with IPRoute() as host:
        bridge_index = _index(host, bridge)
        if bridge_index is None:
            raise RuntimeError(f"bridge {bridge} does not exist")
        if not present:
            _delete(host, host_name)
            _delete(host, peer_temp_name)
            host.link("add", ifname=host_name, kind="veth", peer=peer_temp_name)
            peer_index = _index(host, peer_temp_name)
            fd = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                host.link("set", index=peer_index, net_ns_fd=fd)
            finally:
                os.close(fd)
        host_index = _index(host, host_name)
        if host_index is None:
            raise RuntimeError(f"{ifname} exists in {netns_path} but its host end {host_name} is gone")
        host.link("set", index=host_index, master=bridge_index, state="up")
    _hairpin(host_name)
    with netns.netlink(netns_path) as inside:
        index = _index(inside, ifname)
        if index is None:
            index = _index(inside, peer_temp_name)
            assert index is not None, f"{peer_temp_name} did not arrive in {netns_path}"
            inside.link("set", index=index, ifname=ifname)
        inside.link("set", index=index, address=mac)
        have = {(a.get_attr("IFA_ADDRESS"), a["prefixlen"]) for a in inside.get_addr(index=index, family=2)}
        if (str(address.ip), address.network.prefixlen) not in have:
            inside.addr("add", index=index, address=str(address.ip), prefixlen=address.network.prefixlen)
        inside.link("set", index=index, state="up")
        if gateway is not None:
            try:
                inside.route("add", dst="0.0.0.0/0", gateway=str(gateway), oif=index)
            except NetlinkError as exc:
                if exc.code != EEXIST:
                    raise


def detach(host_name: str) -> None:
    """Remove the pair by its host end (the container end goes with it); nothing happens when it is gone."""
    with IPRoute() as host:
        _delete(host, host_name)


def _hairpin(host_name: str) -> None:
    """Let the bridge send a frame back out of the port it came in on: a container reaching its own published
    port through the host comes back DNATed to itself (pyroute2 has no bridge-port call; sysfs does it)."""
    with contextlib.suppress(OSError):  # no sysfs for this namespace: only the hairpin case is lost
        Path(f"/sys/class/net/{host_name}/brport/hairpin_mode").write_text("1")
