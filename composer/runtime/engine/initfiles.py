"""The files every container gets bind-mounted over its image's: /etc/hosts, /etc/hostname, /etc/resolv.conf.

Content is computed by pure functions (tested alone); `write_init_files` puts them in the container's
directory. With `network_mode: host` the host's own hosts and resolv.conf are copied, as Docker does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from composer.planner.ocispec import Mount

HOSTS_HEADER = (
    "127.0.0.1\tlocalhost\n"
    "::1\tlocalhost ip6-localhost ip6-loopback\n"
    "fe00::0\tip6-localnet\n"
    "ff00::0\tip6-mcastprefix\n"
    "ff02::1\tip6-allnodes\n"
    "ff02::2\tip6-allrouters\n"
)
FALLBACK_NAMESERVERS = ("8.8.8.8", "8.8.4.4")
"""Docker's fallback when every host nameserver is a loopback address a container cannot reach."""


def _extra_hosts(extra: Any) -> list[tuple[str, str]]:
    """`extra_hosts` as (name, address) pairs; Compose prints a mapping, `docker run` gives `name:addr` items."""
    pairs: list[tuple[str, str]] = []
    if isinstance(extra, Mapping):
        for name, value in extra.items():
            for address in value if isinstance(value, list) else [value]:
                pairs.append((str(name), str(address)))
    else:
        for item in extra or ():
            text = str(item)
            sep = "=" if "=" in text else ":"
            name, _, address = text.partition(sep)
            pairs.append((name.strip(), address.strip().strip("[]")))
    return pairs


def hosts_file(
    hostname: str,
    *,
    domainname: str = "",
    addresses: Sequence[str] = (),
    extra_hosts: Any = None,
    host_gateway: str | None = None,
    host_hosts: str | None = None,
    peers: Sequence[tuple[str, Sequence[str]]] = (),
) -> str:
    """/etc/hosts: the standard entries (or the host's file), `extra_hosts`, this container's own names, then
    its peers on shared networks (address, names), which is how composer resolves service names."""
    text = host_hosts if host_hosts is not None else HOSTS_HEADER
    if text and not text.endswith("\n"):
        text += "\n"
    for name, address in _extra_hosts(extra_hosts):
        if address == "host-gateway":
            if host_gateway is None:
                continue
            address = host_gateway
        text += f"{address}\t{name}\n"
    if host_hosts is None:
        names = f"{hostname}.{domainname} {hostname}" if domainname else hostname
        for address in addresses:
            text += f"{address}\t{names}\n"
    for address, peer_names in peers:
        text += f"{address}\t{' '.join(dict.fromkeys(peer_names))}\n"
    return text


def _nameservers(lines: Iterable[str]) -> list[str]:
    return [ln.split()[1] for ln in lines if ln.split()[:1] == ["nameserver"] and len(ln.split()) > 1]


def resolv_conf(
    host_text: str,
    *,
    host_network: bool,
    dns: Sequence[str] = (),
    dns_search: Sequence[str] = (),
    dns_opt: Sequence[str] = (),
) -> str:
    """resolv.conf from the host's, with `dns`/`dns_search`/`dns_opt` replacing the matching lines.

    Outside the host's network namespace a loopback nameserver (systemd-resolved's 127.0.0.53, a
    local dnsmasq) is unreachable, so those are dropped and Docker's public fallback is used if none is left.
    """
    lines = host_text.splitlines()
    servers = list(dns) or _nameservers(lines)
    if not host_network and not dns:
        servers = [s for s in servers if not s.startswith("127.") and s != "::1"] or list(FALLBACK_NAMESERVERS)
    search: list[str] = list(dns_search)
    if not search:
        for ln in lines:
            words = ln.split()
            if words[:1] in (["search"], ["domain"]):
                search = words[1:]
    options: list[str] = list(dns_opt)
    if not options:
        for ln in lines:
            words = ln.split()
            if words[:1] == ["options"]:
                options += words[1:]
    out = [f"nameserver {s}" for s in servers]
    if search and search != ["."]:
        out.append("search " + " ".join(search))
    if options:
        out.append("options " + " ".join(options))
    return "\n".join(out) + "\n"


def _list(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return [str(v) for v in value]


def write_init_files(
    directory: Path,
    service: Mapping[str, Any],
    hostname: str,
    *,
    addresses: Sequence[str] = (),
    peers: Sequence[tuple[str, Sequence[str]]] = (),
) -> list[Mount]:
    """Write hosts, hostname and resolv.conf for a container and return the bind mounts for them."""
    host_network = str(service.get("network_mode") or "") == "host"
    directory.mkdir(parents=True, exist_ok=True)
    try:
        host_resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        host_resolv = ""
    host_hosts = None
    if host_network:
        try:
            host_hosts = Path("/etc/hosts").read_text()
        except OSError:
            host_hosts = HOSTS_HEADER
    files = {
        "hosts": hosts_file(
            hostname,
            domainname=str(service.get("domainname") or ""),
            extra_hosts=service.get("extra_hosts"),
            host_hosts=host_hosts,
            addresses=addresses[:1],
            peers=peers,
        ),
        "hostname": hostname + "\n",
        "resolv.conf": resolv_conf(
            host_resolv,
            host_network=host_network,
            dns=_list(service.get("dns")),
            dns_search=_list(service.get("dns_search")),
            dns_opt=_list(service.get("dns_opt")),
        ),
    }
    mounts = []
    for name, content in files.items():
        path = directory / name
        path.write_text(content)
        path.chmod(0o644)
        mounts.append(Mount(f"/etc/{name}", str(path), "bind", ("rbind", "rprivate")))
    return mounts
