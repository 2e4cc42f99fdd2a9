"""The short syntax of `ports`, read into the long form Docker Compose prints.

`[HOST_IP:][HOST_PORT[-END]:]CONTAINER_PORT[-END][/PROTOCOL]`, as Compose reads it (through
Docker's `nat.ParsePortSpec`):

* the text is cut at every `:`; the last piece is the container port, the one before it the
  host port, and everything before that the host IP, so `::1:8080:80` binds `::1`; an IP in
  brackets (`[::1]:8080:80`) loses them;
* the protocol is everything after the first `/` (tcp, udp or sctp, any case; empty means tcp);
* a container range makes one entry per port, paired with a host range of the same size; a
  single container port with a host range keeps the range as `published` (`8000-8010`);
* entries come out sorted as Compose sorts them: by the text `PORT/PROTOCOL` (so 100 before 98).

Every entry gets `mode: ingress`; `published` is a string, `target` an int.
"""

from __future__ import annotations

import ipaddress
from typing import Any

PROTOCOLS = ("tcp", "udp", "sctp")
FORMAT_HINT = "use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"


def _number(text: str) -> int:
    """A port number as Go's ParseUint(text, 10, 16) reads it: digits only, at most 65535."""
    if not text or not text.isascii() or not text.isdigit():
        raise ValueError(text)
    value = int(text)
    if value > 65535:
        raise ValueError(text)
    return value


def _range(text: str) -> tuple[int, int]:
    """`80` or `8000-8010` (Compose ignores anything after a second `-`)."""
    if "-" not in text:
        port = _number(text)
        return port, port
    parts = text.split("-")
    low, high = _number(parts[0]), _number(parts[1])
    if high < low:
        raise ValueError(text)
    return low, high


def is_ip(text: str) -> bool:
    """Whether Go's `net.ParseIP` would accept `text` (an IPv4 or IPv6 address, no zone)."""
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _split(spec: str) -> tuple[str, str, str]:
    """(host IP, host port, container part) from the `:`-separated text."""
    parts = spec.split(":")
    if len(parts) == 1:
        return "", "", parts[0]
    if len(parts) == 2:
        return "", parts[0], parts[1]
    return ":".join(parts[:-2]), parts[-2], parts[-1]


def parse_port(spec: str) -> list[dict[str, Any]]:
    """The long-form entries of one short `ports` item; ValueError saying what is wrong."""
    host_ip, host, container = _split(spec)
    port, slash, written = container.partition("/")
    if not port:
        raise ValueError("no container port")
    protocol = written.lower() if slash and written else "tcp"
    if protocol not in PROTOCOLS:
        raise ValueError(f'invalid protocol "{written}" (use tcp, udp or sctp)')
    if host_ip.startswith("["):
        if not host_ip.endswith("]") or len(host_ip) < 2:
            raise ValueError(f'invalid IP address "{host_ip}"')
        host_ip = host_ip[1:-1]
    if host_ip and not is_ip(host_ip):
        raise ValueError(f'invalid IP address "{host_ip}"')
    try:
        low, high = _range(port)
    except ValueError:
        raise ValueError(f'invalid container port "{port}" (a number up to 65535, or a range such as 8000-8010)')
    host_low = host_high = 0
    if host:
        try:
            host_low, host_high = _range(host)
        except ValueError:
            raise ValueError(f'invalid host port "{host}" (a number up to 65535, or a range such as 8000-8010)')
        if high != low and high - low != host_high - host_low:
            raise ValueError(f'container and host port ranges differ in size ("{port}" and "{host}")')
    entries = []
    for offset in range(high - low + 1):
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = low + offset
        if host:
            if low == high and host_low != host_high:
                entry["published"] = f"{host_low}-{host_high}"
            else:
                entry["published"] = str(host_low + offset)
        entry["protocol"] = protocol
        entries.append(entry)
    entries.sort(key=lambda e: f"{e['target']}/{protocol}")
    return entries
