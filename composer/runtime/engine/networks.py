"""Networks of the native engine: records, address leases, and the bridge + NAT rules behind them.

A network is `<state root>/networks/<id>.json` (name, subnet, gateway, options, labels, leases) plus what
exists in the kernel: a Linux bridge named from its ID (`ipam.bridge_name`) and its elements in composer's
nftables table. Every change holds `<state root>/networks/.lock`, so two commands never pick the same
subnet or lease the same address. Records are written before the kernel objects exist (`phase: creating`)
and kernel objects are removed before the record goes, so running a killed command again completes it.

`macvlan` and `ipvlan` networks (`driver_opts.parent`) have no kernel objects of their own: no bridge, no NAT.
A container on one gets a sub-interface of the parent link in its namespace (`composer.runtime.net.sublink`);
the record remembers that namespace per lease, so `network disconnect` can find the interface again.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.planner import ipam
from composer.runtime import failpoints
from composer.runtime.engine.locks import locked
from composer.runtime.fsutil import write_atomic

NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*")
PREDEFINED = ("none", "host", "bridge")
"""Docker's predefined network names; `bridge` (docker0) has no composer counterpart yet."""
DRIVERS = ("bridge", "macvlan", "ipvlan")


@dataclass(slots=True)
class NetworkRecord:
    """One network as created, with the addresses leased to containers (container ID -> address)."""

    id: str
    name: str
    subnet: str
    gateway: str
    ip_range: str
    reserved: list[str]
    created: str
    internal: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    phase: str = "creating"
    leases: dict[str, str] = field(default_factory=dict)
    driver: str = "bridge"
    default_route: bool = True
    """Containers get a default route through the gateway (macvlan/ipvlan: only when a gateway was given)."""
    namespaces: dict[str, str] = field(default_factory=dict)
    """macvlan/ipvlan: container ID -> the namespace its sub-interface lives in."""

    @property
    def sublink(self) -> bool:
        """True for macvlan/ipvlan: a sub-interface of `options["parent"]`, no bridge and no NAT."""
        return self.driver != "bridge"

    @property
    def bridge(self) -> str:
        return ipam.bridge_name(self.id)

    def addressing(self) -> ipam.Addressing:
        return ipam.Addressing(
            IPv4Network(self.subnet),
            IPv4Address(self.gateway),
            IPv4Network(self.ip_range),
            frozenset(IPv4Address(a) for a in self.reserved),
        )


class NetworkStore:
    """Networks under `<state root>/networks`; kernel work goes through `composer.runtime.net`."""

    def __init__(self, state_root: Path, *, nft_table: str = "composer") -> None:
        self.root = Path(state_root) / "networks"
        self.nft_table = nft_table

    @contextlib.contextmanager
    def _lock(self) -> Iterator[None]:
        with locked(self.root / ".lock"):
            yield

    def _path(self, network_id: str) -> Path:
        return self.root / f"{network_id}.json"

    def _save(self, record: NetworkRecord) -> None:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(self._path(record.id), json.dumps(asdict(record), sort_keys=True).encode())

    def records(self) -> list[NetworkRecord]:
        out = []
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            with contextlib.suppress(OSError, ValueError, TypeError):
                raw = json.loads(path.read_bytes())
                out.append(NetworkRecord(**{k: v for k, v in raw.items() if k in NetworkRecord.__dataclass_fields__}))
        return out

    def get(self, ref: str) -> NetworkRecord:
        """A network by name, full ID or unambiguous ID prefix."""
        found = self.records()
        for record in found:
            if ref in (record.name, record.id):
                return record
        matches = [r for r in found if ref and r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        raise ComposerError(f"network {ref} not found")

    # -- create / remove -----------------------------------------------------------------------------

    def create(
        self,
        name: str,
        *,
        ipam_config: Sequence[Mapping[str, Any]] = (),
        internal: bool = False,
        labels: Mapping[str, str] | None = None,
        options: Mapping[str, str] | None = None,
        exist_ok: bool = False,
        driver: str = "bridge",
    ) -> NetworkRecord:
        """A network with a subnet that collides with nothing the host routes; for a bridge network the bridge and
        NAT rules, for macvlan/ipvlan nothing in the kernel (its parent link must exist)."""
        import secrets

        from composer.runtime.net import bridge, host_routes, nat

        if not NAME_RE.fullmatch(name) or name in PREDEFINED:
            raise ComposerError(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*, not none/host/bridge")
        if driver not in DRIVERS:
            raise ComposerError(f"network driver {driver!r} is not supported: use {', '.join(DRIVERS)}")
        if driver != "bridge":
            from composer.runtime.net import sublink

            sublink.check_options(driver, dict(options or {}))
            sublink.parent_index(driver, str((options or {})["parent"]))
        with self._lock():
            existing = next((r for r in self.records() if r.name == name), None)
            if existing is not None and existing.phase == "ready":
                if exist_ok:
                    return existing
                raise ComposerError(f"network with name {name} already exists")
            if existing is not None:
                record = existing  # a killed create: finish it with the addressing it chose
            else:
                config = ipam.parse_ipam_config(list(ipam_config))
                used = [IPv4Network(r.subnet) for r in self.records()]
                plan = ipam.plan_addressing(config, host_routes.host_networks(), used)
                record = NetworkRecord(
                    id=secrets.token_hex(32),
                    name=name,
                    subnet=str(plan.subnet),
                    gateway=str(plan.gateway),
                    ip_range=str(plan.ip_range),
                    reserved=sorted(str(a) for a in plan.reserved),
                    created=datetime.now(UTC).isoformat().replace("+00:00", "Z"),
                    internal=internal,
                    labels=dict(labels or {}),
                    options=dict(options or {}),
                    driver=driver,
                    default_route=driver == "bridge" or config.gateway is not None,
                )
                self._save(record)
                failpoints.hit("network.after-record")
            addressing = record.addressing()
            if not record.sublink:
                bridge.create(record.bridge, ipam.interface_address(addressing, addressing.gateway))
                nat.add_network(nat.NatNetwork(record.bridge, addressing.subnet, record.internal), self.nft_table)
            record.phase = "ready"
            self._save(record)
            return record

    def remove(self, ref: str) -> NetworkRecord:
        """Remove a network no container is attached to: its NAT rules, its bridge, then its record."""
        from composer.runtime.net import bridge, nat

        with self._lock():
            record = self.get(ref)
            if record.leases:
                attached = ", ".join(sorted(c[:12] for c in record.leases))
                raise ComposerError(f"network {record.name} has active endpoints ({attached}): remove them first")
            if not record.sublink:  # macvlan/ipvlan: nothing of the parent link is touched
                nat.remove_network(nat.NatNetwork(record.bridge, IPv4Network(record.subnet), record.internal),
                                   self.nft_table)
                bridge.delete(record.bridge)
            self._path(record.id).unlink(missing_ok=True)
            return record

    # -- leases --------------------------------------------------------------------------------------

    def lease(self, ref: str, container_id: str, requested: str | None = None,
              netns: Path | None = None) -> tuple[NetworkRecord, IPv4Address]:
        """An address on the network for a container (the same one again if it already has one); a macvlan/ipvlan
        network also records the container's namespace `netns`."""
        with self._lock():
            record = self.get(ref)
            if record.phase != "ready":
                raise ComposerError(f"network {record.name} is not ready: run `composer network create` again")
            if container_id in record.leases:
                return record, IPv4Address(record.leases[container_id])
            wanted = IPv4Address(requested) if requested else None
            taken = [IPv4Address(a) for a in record.leases.values()]
            address = ipam.allocate_address(record.addressing(), taken, wanted)
            record.leases[container_id] = str(address)
            if record.sublink and netns is not None:
                record.namespaces[container_id] = str(netns)
            self._save(record)
            return record, address

    def release(self, container_id: str, *, network_id: str | None = None) -> None:
        """Give back the addresses a container holds: all of them (removal), or on one network (disconnect)."""
        with self._lock():
            for record in self.records():
                if network_id not in (None, record.id):
                    continue
                gone = record.namespaces.pop(container_id, None) is not None
                if record.leases.pop(container_id, None) is not None or gone:
                    self._save(record)

    # -- views -----------------------------------------------------------------------------------------

    def inspect(self, record: NetworkRecord) -> dict[str, Any]:
        """`docker network inspect` fields."""
        return {
            "Name": record.name,
            "Id": record.id,
            "Created": record.created,
            "Scope": "local",
            "Driver": record.driver,
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": None,
                     "Config": [{"Subnet": record.subnet, "Gateway": record.gateway,
                                 **({"IPRange": record.ip_range} if record.ip_range != record.subnet else {})}]},
            "Internal": record.internal,
            "Attachable": False,
            "Ingress": False,
            "ConfigOnly": False,
            "Containers": {cid: {"IPv4Address": f"{ip}/{IPv4Network(record.subnet).prefixlen}"}
                           for cid, ip in sorted(record.leases.items())},
            "Options": {**({} if record.sublink else {"com.docker.network.bridge.name": record.bridge}),
                        **record.options},
            "Labels": dict(record.labels),
        }


# -- containers on networks ------------------------------------------------------------------------


def _priority(cfg: Mapping[str, Any] | None) -> int:
    value = (cfg or {}).get("gw_priority", (cfg or {}).get("priority", 0))
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def attach_container(
    store: NetworkStore,
    netns_dir: Path,
    container_id: str,
    networks: Mapping[str, Mapping[str, Any] | None],
    *,
    first_index: int = 0,
    default_route: bool = True,
) -> tuple[Path, dict[str, dict[str, str]]]:
    """A network namespace for the container with one interface per network (eth0, eth1... in the order given).

    Each interface gets a leased address (`ipv4_address` honoured), a MAC (`mac_address`, else Docker's
    02:42:<address>), and the network with the highest `gw_priority` (the first on a tie) carries the default
    route, unless it is internal. Returns the namespace path and, per network, what `inspect` shows. Safe to
    run again after a crash: leases, the namespace and the veth pairs are all found again.
    """
    from composer.runtime.net import netns, veth

    path = netns.create(netns_dir, container_id)
    ordered = list(networks.items())
    gateway_net = max(ordered, key=lambda item: _priority(item[1]))[0] if ordered and default_route else None
    out: dict[str, dict[str, str]] = {}
    for index, (name, cfg) in enumerate(ordered, start=first_index):
        cfg = cfg or {}
        record, address = store.lease(name, container_id, cfg.get("ipv4_address"), path)
        addressing = record.addressing()
        mac = str(cfg.get("mac_address") or ipam.mac_address(address))
        if record.sublink:
            _attach_sublink(record, path, index, address, mac, route=name == gateway_net)
        else:
            veth.attach(
                path,
                host_name=ipam.veth_host_name(container_id, record.id),
                peer_temp_name=ipam.veth_peer_temp_name(container_id, record.id),
                ifname=ipam.container_ifname(index),
                bridge=record.bridge,
                address=ipam.interface_address(addressing, address),
                mac=mac,
                gateway=addressing.gateway if name == gateway_net and not record.internal else None,
            )
        out[name] = {"NetworkID": record.id, "IPAddress": str(address), "Gateway": str(addressing.gateway),
                     "IPPrefixLen": str(addressing.subnet.prefixlen), "MacAddress": mac,
                     "Aliases": ",".join(str(a) for a in cfg.get("aliases") or ())}
    return path, out


def _attach_sublink(record: NetworkRecord, path: Path, index: int, address: IPv4Address, mac: str,
                    *, route: bool) -> None:
    """A macvlan/ipvlan interface of the network's parent link as `eth<index>` in the namespace at `path`."""
    from composer.runtime.net import sublink

    addressing = record.addressing()
    sublink.attach(
        path,
        kind=record.driver,
        parent=record.options["parent"],
        mode=record.options.get(f"{record.driver}_mode"),
        ifname=ipam.container_ifname(index),
        address=ipam.interface_address(addressing, address),
        mac=mac,
        gateway=addressing.gateway if route and record.default_route and not record.internal else None,
    )


def _detach_sublink(record: NetworkRecord, container_id: str, netns: Path | None) -> None:
    from composer.runtime.net import sublink

    where = netns if netns is not None else record.namespaces.get(container_id)
    address = record.leases.get(container_id)
    if where and address:
        sublink.detach(Path(where), address)


def detach_network(store: NetworkStore, container_id: str, network_id: str) -> None:
    """Take one network's interface and lease away from a container (`network disconnect`)."""
    from composer.runtime.net import veth

    record = next((r for r in store.records() if r.id == network_id), None)
    if record is not None and record.sublink:
        _detach_sublink(record, container_id, None)
    else:
        veth.detach(ipam.veth_host_name(container_id, network_id))
    store.release(container_id, network_id=network_id)


def detach_container(store: NetworkStore, netns_dir: Path, container_id: str) -> None:
    """Undo `attach_container`: veth pairs, leases, the namespace (and its directory's mount once empty)."""
    leased = [r for r in store.records() if container_id in r.leases]
    if not leased and not (netns_dir / container_id).exists():
        return
    from composer.runtime.net import netns

    pairs = []
    for record in leased:
        if record.sublink:
            _detach_sublink(record, container_id, netns_dir / container_id)
        else:
            pairs.append(ipam.veth_host_name(container_id, record.id))
    # The namespace first: its end gone, the kernel takes the veth pairs away in a batch with other namespaces.
    released = netns.delete(netns_dir, container_id)
    netns.await_links_gone(pairs, timeout=1.0 if released else 0.0)
    store.release(container_id)
    netns.release_dir(netns_dir)
