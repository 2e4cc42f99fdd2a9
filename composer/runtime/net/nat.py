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
