"""Host ports for published container ports: is one free, who holds it, and a free one when none is given.

Nothing holds a published port open (the mapping is DNAT only), so "free" means nothing on the host can bind it
now; a container-only port gets whatever the kernel hands out from its ephemeral range for a bind to port 0.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from composer.errors import ComposerError

ANY = "0.0.0.0"
_SOCKET_TYPES = {"tcp": socket.SOCK_STREAM, "udp": socket.SOCK_DGRAM}
_LISTEN_STATES = {"tcp": "0A", "udp": "07"}  # LISTEN, and an unconnected (bound) UDP socket


def _bind(host_ip: str, port: int, protocol: str) -> int:
    """Bind (and close) a socket; the port bound. OSError when it cannot be had."""
    kind = _SOCKET_TYPES.get(protocol)
    if kind is None:  # sctp: nothing cheap to try, the kernel will tell at use
        return port
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT leftover is no owner
        sock.bind((host_ip or ANY, port))
        return int(sock.getsockname()[1])


def label(host_ip: str, port: int | str, protocol: str) -> str:
    return f"{host_ip or ANY}:{port}/{protocol}"


def owner(port: int, protocol: str) -> str | None:
    """`name, pid N` of a process with a socket bound to `port`, from /proc (None if not found cheaply)."""
    inodes = set()
    for suffix in ("", "6"):
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/net/{protocol}{suffix}").read_text().splitlines()[1:]:
                fields = line.split()
                if len(fields) > 9 and int(fields[1].rsplit(":", 1)[1], 16) == port and \
                        fields[3] == _LISTEN_STATES.get(protocol):
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.scandir(proc / "fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(fd.path) in inodes:
                        name = (proc / "comm").read_text().strip()
                        return f"{name}, pid {proc.name}"
    return None


def in_use_error(host_ip: str, port: int, protocol: str) -> ComposerError:
    who = owner(port, protocol)
    by = f" (by {who})" if who else ""
    return ComposerError(f"port {label(host_ip, port, protocol)} is already in use{by}")


def _overlaps(ip_a: str, ip_b: str) -> bool:
    return ip_a in ("", ANY) or ip_b in ("", ANY) or ip_a == ip_b


def _claimer(claimed: Iterable[Mapping[str, str]], host_ip: str, port: int, protocol: str) -> Mapping[str, str] | None:
    """The claim (another container's published port) that `host_ip:port/protocol` collides with."""
    return next((c for c in claimed if str(c.get("HostPort")) == str(port) and c.get("Protocol") == protocol
                 and _overlaps(str(c.get("HostIp", "")), host_ip)), None)


def _taken_by(claimed: Iterable[Mapping[str, str]], host_ip: str, port: int, protocol: str) -> bool:
    return _claimer(claimed, host_ip, port, protocol) is not None


def _free(host_ip: str, port: int, protocol: str, claimed: Iterable[Mapping[str, str]]) -> bool:
    if _taken_by(claimed, host_ip, port, protocol):
        return False
    try:
        _bind(host_ip, port, protocol)
    except OSError:
        return False
    return True


def check_host_ip(host_ip: str) -> None:
    if ":" in host_ip and host_ip != "::":
        raise ComposerError(f"cannot publish on {host_ip}: only IPv4 host addresses are supported")


def resolve(entry: Mapping[str, Any], claimed: list[dict[str, str]]) -> tuple[str, int]:
    """(host IP, host port) for one long-syntax `ports` entry: the given port if free, the first free one of a
    range, or one from the kernel's ephemeral range; ComposerError naming the port (and its owner) otherwise."""
    host_ip = str(entry.get("host_ip") or "")
    if host_ip == "::":
        host_ip = ""
    check_host_ip(host_ip)
    protocol = str(entry.get("protocol") or "tcp")
    published = str(entry.get("published") or "")
    if not published:
        for _ in range(20):
            try:
                port = _bind(host_ip, 0, protocol) if protocol in _SOCKET_TYPES else 0
            except OSError as err:
                raise ComposerError(f"cannot pick a host port on {host_ip or ANY}: {err.strerror}") from None
            if port and not _taken_by(claimed, host_ip, port, protocol):
                return host_ip or ANY, port
        raise ComposerError(f"no free host port on {host_ip or ANY} for {protocol}")
    low_text, _, high_text = published.partition("-")
    try:
        low, high = int(low_text), int(high_text or low_text)
    except ValueError:
        raise ComposerError(f"invalid published port {published!r}") from None
    for port in range(low, high + 1):
        if _free(host_ip, port, protocol, claimed):
            return host_ip or ANY, port
    if low == high:
        holder = _claimer(claimed, host_ip, low, protocol)
        if holder is not None and holder.get("Container"):
            where = label(host_ip, low, protocol)
            raise ComposerError(f"port {where} is already in use (by container {holder['Container']})")
        raise in_use_error(host_ip, low, protocol)
    raise ComposerError(f"ports {host_ip or ANY}:{published}/{protocol} are all in use")


def check_free(ports: Iterable[Mapping[str, Any]]) -> None:
    """Fail before anything is created when a fixed host port is taken (ranges and random ports are picked later)."""
    for entry in ports:
        host_ip = str(entry.get("host_ip") or "")
        check_host_ip(host_ip)
        published = str(entry.get("published") or "")
        if published.isdigit():
            protocol = str(entry.get("protocol") or "tcp")
            try:
                _bind("" if host_ip == "::" else host_ip, int(published), protocol)
            except OSError as err:
                if err.errno == errno.EADDRINUSE:
                    raise in_use_error(host_ip, int(published), protocol) from None
                raise ComposerError(f"cannot publish {label(host_ip, published, protocol)}: {err.strerror}") from None


def long_entries(ports: Iterable[Any]) -> list[dict[str, Any]]:
    """A service's `ports` in the long syntax (short strings read by the schema's own parser)."""
    from composer.schema.ports import parse_port

    out: list[dict[str, Any]] = []
    for item in ports:
        if isinstance(item, Mapping):
            out.append(dict(item))
        else:
            try:
                out += parse_port(str(item))
            except ValueError as err:
                raise ComposerError(f"invalid port {item!r}: {err}") from None
    return out


def bind_all(ports: Iterable[Any], claimed: list[dict[str, str]]) -> list[dict[str, str]]:
    """Host side of every entry (HostIp, HostPort, Protocol, ContainerPort), each checked against the host and
    the ports other containers hold (`claimed`, with their `Container` name; it grows as ports are picked)."""
    claimed = list(claimed)
    out: list[dict[str, str]] = []
    for entry in long_entries(ports):
        protocol = str(entry.get("protocol") or "tcp")
        host_ip, host_port = resolve(entry, claimed)
        binding = {"HostIp": host_ip, "HostPort": str(host_port), "Protocol": protocol,
                   "ContainerPort": str(entry.get("target"))}
        claimed.append({**binding, "Container": ""})
        out.append(binding)
    return out
