"""`docker run` flags -> the Compose-shaped service mapping the engine creates containers from.

Pure: the caller reads `--env-file` files and the process environment and passes their text and
values in. One shape for both entry points means `container run` and `up` share every rule of the
OCI spec generator.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from composer.errors import ComposerError


@dataclass(frozen=True, slots=True)
class RunFlags:
    """The flags of `container create`/`run`, as click parsed them."""

    command: Sequence[str] = ()
    hostname: str | None = None
    domainname: str | None = None
    env: Sequence[str] = ()
    env_files: Sequence[tuple[str, str]] = ()  # (name, text)
    volumes: Sequence[str] = ()
    devices: Sequence[str] = ()
    interactive: bool = False
    tty: bool = False
    user: str | None = None
    workdir: str | None = None
    entrypoint: str | None = None
    init: bool = False
    cap_add: Sequence[str] = ()
    cap_drop: Sequence[str] = ()
    privileged: bool = False
    read_only: bool = False
    memory: str | None = None
    memory_reservation: str | None = None
    memory_swap: str | None = None
    cpus: str | None = None
    cpu_shares: int | None = None
    cpuset_cpus: str | None = None
    pids_limit: int | None = None
    labels: Sequence[str] = ()
    network: str | None = None
    ip: str | None = None
    network_aliases: Sequence[str] = ()
    mac_address: str | None = None
    stop_signal: str | None = None
    stop_timeout: int | None = None
    tmpfs: Sequence[str] = ()
    security_opt: Sequence[str] = ()
    ulimits: Sequence[str] = ()
    sysctls: Sequence[str] = ()
    shm_size: str | None = None
    group_add: Sequence[str] = ()
    dns: Sequence[str] = ()
    dns_search: Sequence[str] = ()
    dns_option: Sequence[str] = ()
    add_host: Sequence[str] = ()
    volumes_from: Sequence[str] = ()
    links: Sequence[str] = ()
    oom_score_adj: int | None = None
    publish: Sequence[str] = ()
    publish_all: bool = False
    expose: Sequence[str] = ()
    image_exposed: Sequence[str] = ()
    """The image's `ExposedPorts` keys (`80/tcp`), which `-P` publishes with `--expose`'s ports."""
    extra: Mapping[str, Any] = field(default_factory=dict)


def parse_env_file(name: str, text: str, environ: Mapping[str, str]) -> dict[str, str | None]:
    """`docker run --env-file`: `KEY=VALUE` taken literally (no quotes, no expansion), `KEY` alone from the
    environment, `#` comment lines; an empty key is an error naming the line."""
    out: dict[str, str | None] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.lstrip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not key.strip() or any(c.isspace() for c in key.strip()):
            raise ComposerError(f"{name}:{number}: invalid environment variable {raw!r}")
        out[key.strip()] = value if sep else environ.get(key.strip())
    return out


def _env_items(items: Iterable[str], environ: Mapping[str, str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not key:
            raise ComposerError(f"invalid environment variable {item!r}: the name is empty")
        out[key] = value if sep else environ.get(key)
    return out


def parse_pairs(items: Iterable[str], what: str) -> dict[str, str]:
    """`KEY=VALUE` items (labels, options); a missing `=` means an empty value, an empty key is an error."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise ComposerError(f"invalid {what} {item!r}")
        out[key] = value
    return out


def parse_volume(spec: str, cwd: str) -> dict[str, Any]:
    """`-v SRC:DST[:OPTS]` in Compose's long syntax; a relative `./x` source is a bind from `cwd`."""
    parts = spec.split(":")
    if len(parts) == 1:
        return {"type": "volume", "target": parts[0]}
    if len(parts) > 3:
        raise ComposerError(f"invalid volume specification {spec!r}")
    source, target = parts[0], parts[1]
    options = parts[2].split(",") if len(parts) == 3 else []
    if not target.startswith("/"):
        raise ComposerError(f"invalid volume specification {spec!r}: the destination must be an absolute path")
    volume: dict[str, Any] = {"target": target}
    if source.startswith(("/", ".", "~")):
        if source.startswith("~"):
            source = os.path.expanduser(source)
        volume.update(type="bind", source=os.path.normpath(os.path.join(cwd, source)), bind={"create_host_path": True})
    else:
        volume.update(type="volume", source=source)
    for opt in options:
        if opt == "ro":
            volume["read_only"] = True
        elif opt == "rw":
            pass
        elif opt in ("rprivate", "private", "rshared", "shared", "rslave", "slave"):
            volume.setdefault("bind", {})["propagation"] = opt
        elif opt == "nocopy":
            if volume["type"] == "volume":
                volume.setdefault("volume", {})["nocopy"] = True  # no copy-up from the image into the volume
        elif opt in ("z", "Z"):
            pass  # SELinux relabelling (no SELinux here)
        else:
            raise ComposerError(f"invalid volume specification {spec!r}: unknown option {opt!r}")
    return volume


def _ulimits(items: Iterable[str]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for item in items:
        name, sep, value = item.partition("=")
        soft, _, hard = value.partition(":")
        try:
            out[name] = {"soft": int(soft), "hard": int(hard or soft)}
        except ValueError:
            raise ComposerError(f"invalid ulimit {item!r}: expected NAME=SOFT[:HARD]")
        if not sep:
            raise ComposerError(f"invalid ulimit {item!r}: expected NAME=SOFT[:HARD]")
    return out


def _exposed(spec: str) -> list[tuple[int, str]]:
    """`--expose 80`, `8000-8010/udp` or an image's `80/tcp`: (port, protocol) pairs."""
    from composer.schema.ports import PROTOCOLS

    port, _, protocol = spec.partition("/")
    protocol = (protocol or "tcp").lower()
    low, _, high = port.partition("-")
    if not low.isdigit() or not (high or low).isdigit() or protocol not in PROTOCOLS:
        raise ComposerError(f"invalid port {spec!r} to expose: use PORT[-END][/PROTOCOL]")
    if not 0 < int(low) <= int(high or low) <= 65535:
        raise ComposerError(f"invalid port {spec!r} to expose: use PORT[-END][/PROTOCOL]")
    return [(n, protocol) for n in range(int(low), int(high or low) + 1)]


def parse_publish(flags: RunFlags) -> list[dict[str, Any]]:
    """`-p` in Compose's long syntax, then `-P`'s entries (exposed ports not already published, random host port)."""
    from composer.schema.ports import FORMAT_HINT, parse_port

    ports: list[dict[str, Any]] = []
    for spec in flags.publish:
        try:
            ports += parse_port(spec)
        except ValueError as err:
            raise ComposerError(f"invalid port {spec!r}: {err}", hint=FORMAT_HINT) from None
    if flags.publish_all:
        done = {(p["target"], p["protocol"]) for p in ports}
        for spec in [*flags.image_exposed, *flags.expose]:
            for port, protocol in _exposed(spec):
                if (port, protocol) not in done:
                    done.add((port, protocol))
                    ports.append({"mode": "ingress", "target": port, "protocol": protocol})
    return ports


def service_from_flags(flags: RunFlags, *, environ: Mapping[str, str], cwd: str) -> dict[str, Any]:
    """The service mapping `docker run` flags mean, in the shape `config --format json` prints."""
    service: dict[str, Any] = {}
    environment: dict[str, str | None] = {}
    for name, text in flags.env_files:
        environment.update(parse_env_file(name, text, environ))
    environment.update(_env_items(flags.env, environ))
    if environment:
        service["environment"] = environment
    if flags.command:
        service["command"] = list(flags.command)
    if flags.entrypoint is not None:
        service["entrypoint"] = [flags.entrypoint] if flags.entrypoint else []
    simple = {
        "hostname": flags.hostname,
        "domainname": flags.domainname,
        "user": flags.user,
        "working_dir": flags.workdir,
        "mem_limit": flags.memory,
        "mem_reservation": flags.memory_reservation,
        "memswap_limit": flags.memory_swap,
        "cpus": flags.cpus,
        "cpu_shares": flags.cpu_shares,
        "cpuset": flags.cpuset_cpus,
        "pids_limit": flags.pids_limit,
        "stop_signal": flags.stop_signal,
        "shm_size": flags.shm_size,
        "oom_score_adj": flags.oom_score_adj,
    }
    service.update({k: v for k, v in simple.items() if v is not None})
    if flags.stop_timeout is not None:
        service["stop_grace_period"] = f"{flags.stop_timeout}s"
    for key, value in (
        ("stdin_open", flags.interactive),
        ("tty", flags.tty),
        ("init", flags.init),
        ("privileged", flags.privileged),
        ("read_only", flags.read_only),
    ):
        if value:
            service[key] = True
    for key, values in (
        ("cap_add", flags.cap_add),
        ("cap_drop", flags.cap_drop),
        ("devices", flags.devices),
        ("tmpfs", flags.tmpfs),
        ("security_opt", flags.security_opt),
        ("group_add", flags.group_add),
        ("dns", flags.dns),
        ("dns_search", flags.dns_search),
        ("dns_opt", flags.dns_option),
        ("extra_hosts", flags.add_host),
        ("volumes_from", flags.volumes_from),
        ("links", flags.links),
    ):
        if values:
            service[key] = list(values)
    if flags.volumes:
        service["volumes"] = [parse_volume(v, cwd) for v in flags.volumes]
    if flags.labels:
        service["labels"] = parse_pairs(flags.labels, "label")
    if flags.sysctls:
        service["sysctls"] = parse_pairs(flags.sysctls, "sysctl")
    if flags.ulimits:
        service["ulimits"] = _ulimits(flags.ulimits)
    if flags.network in ("none", "host") or (flags.network or "").startswith("container:"):
        service["network_mode"] = flags.network
    elif flags.network is not None:
        if flags.network == "bridge":
            raise ComposerError("network 'bridge' (Docker's docker0) does not exist here: create a network with "
                                "`composer network create NAME` and use --network NAME")
        endpoint: dict[str, Any] = {}
        if flags.ip:
            endpoint["ipv4_address"] = flags.ip
        if flags.network_aliases:
            endpoint["aliases"] = list(flags.network_aliases)
        if flags.mac_address:
            endpoint["mac_address"] = flags.mac_address
        service["networks"] = {flags.network: endpoint or None}
    elif flags.ip or flags.network_aliases:
        raise ComposerError("--ip and --network-alias need --network NAME")
    for spec in flags.expose:
        _exposed(spec)  # checked here, kept as written
    if flags.expose:
        service["expose"] = list(flags.expose)
    ports = parse_publish(flags)
    if ports and "networks" not in service:
        if flags.network is None:
            raise ComposerError("publishing ports (-p/-P) needs a bridge network: add --network NAME "
                                "(create one with `composer network create NAME`)")
        ports = []  # host, none, container:NAME: Docker discards published ports too
    if ports:
        service["ports"] = ports
    service.update(flags.extra)
    return service
