"""Addresses and interface names for bridge networks, decided by pure functions.

The effectful side (`composer/runtime/net/`) reads the host's routes and the subnets of existing composer
networks and passes them in here as values, so every decision can be unit-tested without a kernel.

Subnet pool. Docker's default address pools are 172.17.0.0/16 ... 172.31.0.0/16 (one /16 each) and
192.168.0.0/16 cut into /20s. composer uses the same candidates so that users see the subnets they know, but tries
172.17.0.0/16 last: it is the address `docker0` takes by default, and a dockerd started after composer should still
find it free. A candidate is skipped when it overlaps any host route or address or any subnet already used by a
composer network.

Allocation. The gateway defaults to the first host address of the subnet; container addresses come from `ip_range`
(the whole subnet when unset), lowest free first, never the network, broadcast, gateway or `aux_addresses`.
Only IPv4 is planned here: IPv6 entries of `ipam.config` are ignored.

Interface names must fit IFNAMSIZ (15 bytes) and never contain user text, so they are hashes of ids, as Docker's
`br-<12 hex>` and `veth<7 random>` are.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from composer.errors import ComposerError

IFNAMSIZ_MAX = 15
BRIDGE_PREFIX = "cmp-"
VETH_PREFIX = "vcmp"
PEER_PREFIX = "pcmp"

# (pool, prefix length of the subnets cut from it), in the order they are tried.
Pool = tuple[IPv4Network, int]
DEFAULT_POOLS: tuple[Pool, ...] = (
    *((IPv4Network(f"172.{n}.0.0/16"), 16) for n in range(18, 32)),
    (IPv4Network("192.168.0.0/16"), 20),
    (IPv4Network("172.17.0.0/16"), 16),
)


def _hex(*parts: str) -> str:
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def bridge_name(network_id: str) -> str:
    """`cmp-` + 10 hex of sha256(network id): 14 bytes, stable across runs, never user text."""
    return BRIDGE_PREFIX + _hex(network_id)[:10]


def veth_host_name(container_id: str, network_id: str) -> str:
    """The host end of a container's veth on one network: `vcmp` + 11 hex = 15 bytes."""
    return VETH_PREFIX + _hex(container_id, network_id)[:11]


def veth_peer_temp_name(container_id: str, network_id: str) -> str:
    """The peer's name in the host netns, between creation and its move into the container (`pcmp` + 11 hex)."""
    return PEER_PREFIX + _hex(container_id, network_id)[:11]


def container_ifname(index: int) -> str:
    """`eth0`, `eth1`, ... in the order the container's networks are attached."""
    return f"eth{index}"


def mac_address(address: IPv4Address) -> str:
    """Docker's scheme: locally administered `02:42` + the four bytes of the IPv4 address, so it is stable."""
    return "02:42:" + ":".join(f"{b:02x}" for b in address.packed)


@dataclass(frozen=True)
class IpamConfig:
    """The IPv4 entry of a Compose network's `ipam.config`, parsed; every field optional."""

    subnet: IPv4Network | None = None
    ip_range: IPv4Network | None = None
    gateway: IPv4Address | None = None
    aux_addresses: Mapping[str, IPv4Address] = field(default_factory=dict)


@dataclass(frozen=True)
class Addressing:
    """A network's decided addressing: what the bridge gets and where container addresses come from."""

    subnet: IPv4Network
    gateway: IPv4Address
    ip_range: IPv4Network
    reserved: frozenset[IPv4Address]

    @property
    def bridge_address(self) -> IPv4Interface:
        return IPv4Interface(f"{self.gateway}/{self.subnet.prefixlen}")


def _network(value: Any, what: str) -> IPv4Network | None:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError as exc:
        raise ComposerError(f"ipam {what} {value!r} is not a valid subnet: {exc}")
    return net if isinstance(net, IPv4Network) else None


def _address(value: Any, what: str) -> IPv4Address:
    try:
        return IPv4Address(str(value))
    except ValueError:
        raise ComposerError(f"ipam {what} {value!r} is not a valid IPv4 address")


def parse_ipam_config(entries: Sequence[Mapping[str, Any]]) -> IpamConfig:
    """The first IPv4 entry of `ipam.config` (an IPv6 `subnet` is skipped); an empty config when there is none."""
    for entry in entries:
        subnet = _network(entry["subnet"], "subnet") if entry.get("subnet") is not None else None
        if entry.get("subnet") is not None and subnet is None:
            continue  # an IPv6 subnet
        ip_range = _network(entry["ip_range"], "ip_range") if entry.get("ip_range") is not None else None
        gateway = _address(entry["gateway"], "gateway") if entry.get("gateway") is not None else None
        aux = {str(k): _address(v, f"aux_addresses.{k}") for k, v in (entry.get("aux_addresses") or {}).items()}
        return IpamConfig(subnet, ip_range, gateway, aux)
    return IpamConfig()


def candidate_subnets(pools: Iterable[Pool] = DEFAULT_POOLS) -> Iterable[IPv4Network]:
    for pool, prefix in pools:
        yield from pool.subnets(new_prefix=prefix)


def choose_subnet(occupied: Iterable[IPv4Network], pools: Iterable[Pool] = DEFAULT_POOLS) -> IPv4Network:
    """The first candidate that overlaps nothing in `occupied` (host routes, host addresses, composer networks)."""
    taken = [net for net in occupied if net.prefixlen > 0]  # a default route overlaps everything; it is no claim
    for candidate in candidate_subnets(pools):
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise ComposerError(
        "no free subnet left in the address pools: every candidate overlaps a host route or another network",
        hint="remove unused networks (composer network prune) or set ipam.config.subnet",
    )


def plan_addressing(
    config: IpamConfig,
    host_networks: Iterable[IPv4Network],
    used_subnets: Iterable[IPv4Network],
    pools: Iterable[Pool] = DEFAULT_POOLS,
) -> Addressing:
    """The addressing of a new network: the configured subnet, checked, or a free one from the pools."""
    used = list(used_subnets)
    if config.subnet is None:
        if config.ip_range is not None or config.gateway is not None or config.aux_addresses:
            raise ComposerError("ipam ip_range, gateway and aux_addresses need an explicit subnet")
        subnet = choose_subnet([*host_networks, *used], pools)
    else:
        subnet = config.subnet
        clash = next((net for net in used if net.overlaps(subnet)), None)
        if clash is not None:
            raise ComposerError(f"subnet {subnet} overlaps {clash}, already used by another network")
    if subnet.prefixlen > 30:
        raise ComposerError(f"subnet {subnet} is too small: it needs room for a gateway and a container (/30 at most)")
    ip_range = config.ip_range or subnet
    if not ip_range.subnet_of(subnet):
        raise ComposerError(f"ipam ip_range {ip_range} is not inside subnet {subnet}")
    gateway = config.gateway or next(subnet.hosts())
    edges = {subnet.network_address, subnet.broadcast_address}
    if gateway not in subnet or gateway in edges:
        raise ComposerError(f"ipam gateway {gateway} is not a host address of subnet {subnet}")
    for name, aux in config.aux_addresses.items():
        if aux not in subnet:
            raise ComposerError(f"ipam aux_addresses {name}={aux} is not inside subnet {subnet}")
    reserved = frozenset({*edges, gateway, *config.aux_addresses.values()})
    return Addressing(subnet, gateway, ip_range, reserved)


def allocate_address(
    addressing: Addressing, in_use: Iterable[IPv4Address], requested: IPv4Address | None = None
) -> IPv4Address:
    """A container's address: `requested` (an `ipv4_address`) if it is free, else the lowest free one in ip_range."""
    taken = set(in_use)
    if requested is not None:
        if requested not in addressing.subnet:
            raise ComposerError(f"ipv4_address {requested} is not inside the network's subnet {addressing.subnet}")
        if requested in addressing.reserved:
            raise ComposerError(f"ipv4_address {requested} is reserved (network, broadcast, gateway or aux address)")
        if requested in taken:
            raise ComposerError(f"ipv4_address {requested} is already in use on this network")
        return requested
    for candidate in addressing.ip_range:  # every address: ip_range's own edges are hosts of the subnet
        if candidate not in addressing.reserved and candidate not in taken:
            return candidate
    raise ComposerError(f"no free address left in {addressing.ip_range}")


def interface_address(addressing: Addressing, address: IPv4Address) -> IPv4Interface:
    """The address with the network's prefix length, as the container's interface carries it."""
    return IPv4Interface(f"{address}/{addressing.subnet.prefixlen}")
