"""Egress NAT, forwarding and isolation for composer bridges, as nftables rules in a table of composer's own.

One table (`inet composer` by default) holds fixed rules that consult sets; adding or removing a network only
adds or removes set elements, so both are idempotent and never duplicate a rule:

- `same` (bridge . bridge): traffic that stays on one bridge is accepted first (with br_netfilter, bridged
  packets pass the forward hook with the bridge as both input and output);
- `internal`: anything else in or out of an internal network's bridge is dropped: no route out;
- `bridges`: traffic between two composer bridges is dropped (isolation); from a bridge out is accepted; into a
  bridge only replies and DNATed (published) connections;
- `masq` (subnets): masqueraded when leaving through a non-composer interface.

An accept in one nftables table does not override a drop in another, and dockerd sets the iptables FORWARD policy
to DROP. So when the iptables FORWARD policy is DROP (or dockerd's `DOCKER-USER` chain exists), composer also
inserts two plain accepts for its bridge name prefix (in `DOCKER-USER`, the chain Docker keeps for users, else at
the top of FORWARD); the filtering above stays in composer's table, whose drops are final.

IPv4 forwarding must be on for egress (`net.ipv4.ip_forward=1`); `add_network` turns it on, as dockerd does.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from ipaddress import IPv4Network
from pathlib import Path
from typing import Any

DEFAULT_TABLE = "composer"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


class NftError(RuntimeError):
    pass


@dataclass(frozen=True)
class NatNetwork:
    """What the rules need to know about one network."""

    bridge: str
    subnet: IPv4Network
    internal: bool = False


def nft_binary() -> str:
    found = shutil.which("nft")
    if found is None:
        raise NftError("nft is not installed (apt-get install -y nftables)")
    return found


def _nft(script: str, *, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run([nft_binary(), "-f", "-"], input=script, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise NftError(f"nft failed: {result.stderr.strip()}\nscript:\n{script}")
    return result


def table_script(table: str) -> str:
    """The whole table; `create table` makes the transaction fail (atomically) if it already exists."""
    t = f"inet {table}"
    return "\n".join([
        f"create table {t}",
        f"add set {t} bridges {{ type ifname; }}",
        f"add set {t} internal {{ type ifname; }}",
        f"add set {t} same {{ type ifname . ifname; }}",
        f"add set {t} masq {{ type ipv4_addr; flags interval; }}",
        f"add chain {t} forward {{ type filter hook forward priority filter; policy accept; }}",
        f"add rule {t} forward iifname . oifname @same accept",
        f"add rule {t} forward iifname @internal drop",
        f"add rule {t} forward oifname @internal drop",
        f"add rule {t} forward iifname @bridges oifname @bridges drop",
        f"add rule {t} forward iifname @bridges accept",
        f"add rule {t} forward oifname @bridges ct state established,related accept",
        f"add rule {t} forward oifname @bridges ct status dnat accept",
        f"add rule {t} forward oifname @bridges drop",
        f"add chain {t} postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add rule {t} postrouting ip saddr @masq oifname != @bridges masquerade",
        "",
    ])


def table_exists(table: str = DEFAULT_TABLE) -> bool:
    result = subprocess.run([nft_binary(), "list", "table", "inet", table], capture_output=True, text=True)
    return result.returncode == 0


def ensure_table(table: str = DEFAULT_TABLE) -> None:
    """Create the table once; a concurrent creator winning the race is fine."""
    if table_exists(table):
        return
    result = _nft(table_script(table), check=False)
    if result.returncode != 0 and not table_exists(table):
        raise NftError(f"nft failed: {result.stderr.strip()}")


def delete_table(table: str = DEFAULT_TABLE) -> None:
    if table_exists(table):
        _nft(f"delete table inet {table}\n", check=False)


def _elements(net: NatNetwork) -> dict[str, str]:
    b = json.dumps(net.bridge)  # a quoted nft string
    out = {"bridges": b, "same": f"{b} . {b}"}
    if net.internal:
        out["internal"] = b
    else:
        out["masq"] = str(net.subnet)
    return out


def _delete_elements(table: str, elements: dict[str, str]) -> None:
    """One transaction per element: deleting an absent element is an error that must not undo the others."""
    for set_name, element in elements.items():
        result = _nft(f"delete element inet {table} {set_name} {{ {element} }}\n", check=False)
        gone = ("No such file or directory", "element does not exist")
        if result.returncode != 0 and not any(text in result.stderr for text in gone):
            raise NftError(f"nft failed: {result.stderr.strip()}")


def add_network(net: NatNetwork, table: str = DEFAULT_TABLE, bridge_prefix: str = "cmp-") -> None:
    """Let the network's bridge forward (NAT out unless internal) and isolate it from other composer bridges."""
    ensure_table(table)
    wanted = _elements(net)
    stale = {"internal": json.dumps(net.bridge)} if not net.internal else {"masq": str(net.subnet)}
    _delete_elements(table, stale)  # the network changed between internal and not
    _nft("".join(f"add element inet {table} {s} {{ {e} }}\n" for s, e in wanted.items()))
    if not net.internal:
        enable_ip_forward()
        ensure_iptables_accept(bridge_prefix)


def remove_network(net: NatNetwork, table: str = DEFAULT_TABLE) -> None:
    """Forget the network's elements; nothing happens for what is already gone."""
    if not table_exists(table):
        return
    elements = _elements(net)
    elements["internal"] = json.dumps(net.bridge)
    elements["masq"] = str(net.subnet)
    _delete_elements(table, elements)


def list_table(table: str = DEFAULT_TABLE) -> dict[str, Any]:
    """The table as nft's JSON (for checks and tests); empty when it does not exist."""
    result = subprocess.run([nft_binary(), "-j", "list", "table", "inet", table], capture_output=True, text=True)
    return json.loads(result.stdout) if result.returncode == 0 else {}


def enable_ip_forward() -> bool:
    """Turn on IPv4 forwarding (global, as dockerd does); True if it was off."""
    if IP_FORWARD.read_text().strip() == "1":
        return False
    IP_FORWARD.write_text("1\n")
    return True


def _iptables(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([shutil.which("iptables") or "iptables", "-w", *args], capture_output=True, text=True)


def _accept_rules(prefix: str) -> list[list[str]]:
    return [["-i", f"{prefix}+", "-j", "ACCEPT"], ["-o", f"{prefix}+", "-j", "ACCEPT"]]


def iptables_accept_chain() -> str | None:
    """Where accepts are needed: `DOCKER-USER` if dockerd made it, FORWARD if its policy is DROP, else nowhere."""
    if shutil.which("iptables") is None:
        return None
    if _iptables("-S", "DOCKER-USER").returncode == 0:
        return "DOCKER-USER"
    listing = _iptables("-S", "FORWARD")
    if listing.returncode == 0 and "-P FORWARD DROP" in listing.stdout.splitlines():
        return "FORWARD"
    return None


def ensure_iptables_accept(prefix: str) -> str | None:
    """Insert the two accepts for bridges named `<prefix>*` where iptables would drop them; return the chain."""
    chain = iptables_accept_chain()
    if chain is None:
        return None
    for rule in _accept_rules(prefix):
        if _iptables("-C", chain, *rule).returncode != 0:
            result = _iptables("-I", chain, "1", *rule)
            if result.returncode != 0:
                raise NftError(f"iptables -I {chain} {' '.join(rule)} failed: {result.stderr.strip()}")
    return chain


def remove_iptables_accept(prefix: str) -> None:
    """Remove the accepts from both candidate chains (when composer's last network goes)."""
    if shutil.which("iptables") is None:
        return
    for chain in ("DOCKER-USER", "FORWARD"):
        for rule in _accept_rules(prefix):
            while _iptables("-C", chain, *rule).returncode == 0:
                _iptables("-D", chain, *rule)


# -- published ports ---------------------------------------------------------------------------------------------
#
# Without a userland proxy (as dockerd with `userland-proxy: false`, or netavark), a published port is only DNAT:
# `port_pre` rewrites packets arriving for a host address, `port_out` those the host itself sends (curl to
# 127.0.0.1:8080). A packet from 127.0.0.1 may only leave through the bridge with `route_localnet=1` on it, and is
# masqueraded (`port_post`) so the container's reply comes back to the bridge address instead of its own loopback.
# Each mapping is one rule per chain whose comment is the container's ID, so removal finds exactly its rules.
#
# Containers reach a published port through the host too (their gateway or another host address): `port_hairpin`
# masquerades DNATed connections from a composer subnet into a bridge, so the reply goes back through the host (and
# un-DNATs) instead of straight to a peer on the same bridge (only br_netfilter would un-DNAT that); and `forward`
# accepts DNATed connections between two composer bridges ahead of the isolation drop (a published port is the
# one way in from another network). A table made before these existed gets them on its next port mapping.

PORT_CHAINS = ("port_pre", "port_out")


@dataclass(frozen=True)
class PortMapping:
    """One published port: host address (empty = every local address) and port to the container's address and port."""

    host_ip: str
    host_port: int
    protocol: str
    container_ip: str
    container_port: int


def _port_chains_script(table: str) -> str:
    """The three chains (the hairpin one comes after: `ensure_hairpin`); `create chain` makes the transaction
    fail (atomically) if they already exist."""
    t = f"inet {table}"
    return "\n".join([
        f"create chain {t} port_pre {{ type nat hook prerouting priority dstnat; policy accept; }}",
        f"create chain {t} port_out {{ type nat hook output priority -100; policy accept; }}",
        f"create chain {t} port_post {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add rule {t} port_post ip saddr 127.0.0.0/8 oifname @bridges ct status dnat masquerade",
        "",
    ])


ISOLATION_RULE = "iifname @bridges oifname @bridges drop"
DNAT_ACCEPT_RULE = "iifname @bridges oifname @bridges ct status dnat accept"


def _hairpin_script(table: str, before: int) -> str:
    """The hairpin chain, and the forward accept inserted before the isolation drop (rule handle `before`)."""
    t = f"inet {table}"
    return "\n".join([
        f"create chain {t} port_hairpin {{ type nat hook postrouting priority srcnat; policy accept; }}",
        f"add rule {t} port_hairpin ip saddr @masq oifname @bridges ct status dnat masquerade",
        f"insert rule {t} forward handle {before} {DNAT_ACCEPT_RULE}",
        "",
    ])


def _rule_handle(table: str, chain: str, text: str) -> int | None:
    """The handle of the rule of `chain` that nft prints as `text` (None if there is none)."""
    listing = subprocess.run([nft_binary(), "-a", "list", "chain", "inet", table, chain], capture_output=True,
                             text=True)
    for line in listing.stdout.splitlines():
        rule, _, handle = line.strip().partition(" # handle ")
        if rule == text and handle.isdigit():
            return int(handle)
    return None


def ensure_hairpin(table: str = DEFAULT_TABLE) -> None:
    """Let containers reach published ports through the host (once per table; a concurrent creator may win)."""
    if _chain_exists(table, "port_hairpin"):
        return
    before = _rule_handle(table, "forward", ISOLATION_RULE)
    if before is None:
        raise NftError(f"nft table inet {table}: no rule {ISOLATION_RULE!r} in chain forward")
    result = _nft(_hairpin_script(table, before), check=False)
    if result.returncode != 0 and not _chain_exists(table, "port_hairpin"):
        raise NftError(f"nft failed: {result.stderr.strip()}")


def _chain_exists(table: str, chain: str) -> bool:
    result = subprocess.run([nft_binary(), "list", "chain", "inet", table, chain], capture_output=True, text=True)
    return result.returncode == 0


def ensure_port_chains(table: str = DEFAULT_TABLE) -> None:
    """The port chains once per table (tables made before ports existed get them on first use)."""
    ensure_table(table)
    if not _chain_exists(table, "port_post"):
        result = _nft(_port_chains_script(table), check=False)
        if result.returncode != 0 and not _chain_exists(table, "port_post"):
            raise NftError(f"nft failed: {result.stderr.strip()}")
    ensure_hairpin(table)


def _match(mapping: PortMapping) -> str:
    """Which packets a mapping takes: to its host address, or to any local one when it has none."""
    if mapping.host_ip in ("", "0.0.0.0"):
        where = "fib daddr type local"
    else:
        where = f"ip daddr {mapping.host_ip}"
    return f"meta nfproto ipv4 {where} meta l4proto {mapping.protocol} th dport {mapping.host_port}"


def port_rules(mapping: PortMapping, owner: str) -> list[tuple[str, str]]:
    """(chain, rule text) for one mapping, tagged with `owner` (a container ID)."""
    action = f"dnat ip to {mapping.container_ip}:{mapping.container_port} comment {json.dumps(owner)}"
    return [(chain, f"{_match(mapping)} {action}") for chain in PORT_CHAINS]


def _owned_handles(table: str, owner: str) -> list[tuple[str, int]]:
    """(chain, handle) of every port rule whose comment is `owner`."""
    listing = list_table(table)
    out = []
    for item in listing.get("nftables", []):
        rule = item.get("rule")
        if rule and rule.get("chain") in PORT_CHAINS and rule.get("comment") == owner:
            out.append((str(rule["chain"]), int(rule["handle"])))
    return out


def set_port_mappings(owner: str, mappings: list[PortMapping], bridges: list[str],
                      table: str = DEFAULT_TABLE) -> None:
    """Make `owner`'s port rules exactly `mappings` (one transaction: old rules out, new in); idempotent."""
    ensure_port_chains(table)
    for bridge in bridges:
        route_localnet(bridge)
    t = f"inet {table}"
    lines = [f"delete rule {t} {chain} handle {handle}" for chain, handle in _owned_handles(table, owner)]
    for mapping in mappings:
        lines += [f"add rule {t} {chain} {rule}" for chain, rule in port_rules(mapping, owner)]
    if lines:
        _nft("\n".join(lines) + "\n")


def remove_port_mappings(owner: str, table: str = DEFAULT_TABLE) -> None:
    """Remove `owner`'s port rules; nothing happens when there are none (or no table)."""
    if not table_exists(table):
        return
    handles = _owned_handles(table, owner)
    if handles:
        _nft("".join(f"delete rule inet {table} {chain} handle {handle}\n" for chain, handle in handles))


def route_localnet(bridge: str) -> None:
    """Let packets from 127.0.0.0/8 be routed out through `bridge` (what DNAT of 127.0.0.1 needs)."""
    path = Path(f"/proc/sys/net/ipv4/conf/{bridge}/route_localnet")
    if path.exists() and path.read_text().strip() != "1":
        path.write_text("1\n")
