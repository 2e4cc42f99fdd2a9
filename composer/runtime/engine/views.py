"""How containers look to users: `docker inspect`'s document, `docker ps` rows and their JSON form.

Pure functions of a `Container` (record + live state + paths) and the current time, so the output
formats are tested without running anything; the one exception is the health and restart files beside
the container (`runtime/health.py`, `runtime/restarts.py`), read only where they exist.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from composer.runtime.engine.engine import Container

if TYPE_CHECKING:
    from composer.planner.health import HealthState

ZERO_TIME = "0001-01-01T00:00:00Z"
INIT_FILES = frozenset({"/etc/hosts", "/etc/hostname", "/etc/resolv.conf"})
"""Mounts every container gets; `inspect` and `ps` list only the user's."""
_PROPAGATION = frozenset({"rprivate", "private", "rshared", "shared", "rslave", "slave"})


def _time(value: datetime | None) -> str:
    if value is None:
        return ZERO_TIME
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _env(service: Mapping[str, Any]) -> list[str]:
    raw = service.get("environment") or {}
    if isinstance(raw, Mapping):
        return [k if v is None else f"{k}={v}" for k, v in raw.items()]
    return [str(e) for e in raw]


def _volume_name(c: Container, source: str) -> str | None:
    """The volume whose directory `source` is (or is inside), None for a plain bind mount."""
    prefix = f"{c.paths.dir.parent.parent / 'volumes'}/"
    return source[len(prefix):].split("/", 1)[0] if source.startswith(prefix) else None


def _mount(c: Container, m: Mapping[str, Any]) -> dict[str, Any]:
    """One entry of `inspect`'s Mounts: a volume (Docker's fields for it) or a bind."""
    options = m.get("options") or ()
    source = str(m.get("source") or "")
    name = _volume_name(c, source)
    doc: dict[str, Any] = {"Type": "bind" if name is None else "volume"}
    if name is not None:
        doc["Name"] = name
    doc.update(Source=source, Destination=m.get("destination"))
    if name is not None:
        doc["Driver"] = "local"
    doc.update(
        Mode="ro" if "ro" in options else "",
        RW="ro" not in options,
        Propagation="" if name is not None else next((o for o in options if o in _PROPAGATION), "rprivate"),
    )
    return doc


def _health(c: Container) -> HealthState | None:
    """The container's health state (`runtime/health.py`), None without a healthcheck; a state stored for
    an earlier run reads as a fresh `starting`, as Docker resets it on every start."""
    if not (c.paths.dir / "health.json").exists():
        return None
    from composer.planner.health import HealthState as Fresh
    from composer.runtime.health import load_health, run_key

    state = load_health(c.paths)
    run = run_key(c.state.started_at)
    return state if state is None or state.run == run else Fresh(run=run)


def _restart_count(c: Container) -> int:
    if not (c.paths.dir / "restart.json").exists():
        return 0
    from composer.runtime.restarts import load_restarts

    return load_restarts(c.paths).restart_count


def inspect(c: Container, spec: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """`docker container inspect` for one container; `spec` is its config.json (for env, user, cwd)."""
    r, s, p = c.record, c.state, c.paths
    process = (spec or {}).get("process") or {}
    service = r.service
    status = c.status
    user = service.get("user") or ""
    memory = ((spec or {}).get("linux") or {}).get("resources", {}).get("memory", {}) or {}
    health = _health(c)
    doc: dict[str, Any] = {
        "Id": r.id,
        "Created": r.created,
        "Path": r.path,
        "Args": list(r.args),
        "State": {
            "Status": status,
            "Running": status in ("running", "paused"),
            "Paused": status == "paused",
            "Restarting": False,
            "OOMKilled": s.oom_killed,
            "Dead": False,
            "Pid": s.pid,
            "ExitCode": s.exit_code if s.exit_code is not None else 0,
            "Error": "",
            "StartedAt": _time(s.started_at),
            "FinishedAt": _time(s.finished_at),
        },
        "Image": r.image_id,
        "ResolvConfPath": str(p.dir / "etc" / "resolv.conf"),
        "HostnamePath": str(p.dir / "etc" / "hostname"),
        "HostsPath": str(p.dir / "etc" / "hosts"),
        "LogPath": str(p.log),
        "Name": "/" + r.name,
        "RestartCount": _restart_count(c),
        "Driver": "overlay",
        "Platform": "linux",
        "MountLabel": "",
        "ProcessLabel": "",
        "AppArmorProfile": "",
        "ExecIDs": None,
        "HostConfig": {
            "NetworkMode": service.get("network_mode") or next(iter(r.networks), "private"),
            "AutoRemove": r.auto_remove,
            "Privileged": bool(service.get("privileged")),
            "ReadonlyRootfs": bool(service.get("read_only")),
            "CapAdd": service.get("cap_add"),
            "CapDrop": service.get("cap_drop"),
            "Init": service.get("init"),
            "Memory": int(memory.get("limit") or 0),
            "PidsLimit": (((spec or {}).get("linux") or {}).get("resources", {}).get("pids") or {}).get("limit"),
            "CgroupParent": r.cgroups_path.rsplit("/", 1)[0],
        },
        "GraphDriver": {
            "Name": "overlay",
            "Data": {"UpperDir": str(p.upper), "WorkDir": str(p.work), "MergedDir": str(p.rootfs)},
        },
        "Mounts": [_mount(c, m) for m in r.mounts if m.get("destination") not in INIT_FILES],
        "Config": {
            "Hostname": r.hostname,
            "Domainname": service.get("domainname") or "",
            "User": user,
            "AttachStdin": False,
            "AttachStdout": False,
            "AttachStderr": False,
            "Tty": r.tty,
            "OpenStdin": r.stdin_open,
            "StdinOnce": False,
            "Env": list(process.get("env") or _env(service)),
            "Cmd": service.get("command"),
            "Image": r.image_ref,
            "WorkingDir": process.get("cwd") or service.get("working_dir") or "",
            "Entrypoint": service.get("entrypoint"),
            "Labels": dict(r.labels),
            "StopSignal": r.stop_signal,
            "StopTimeout": r.stop_timeout,
        },
        "NetworkSettings": {
            "Networks": {
                name: {
                    "NetworkID": n.get("NetworkID", ""),
                    "IPAddress": n.get("IPAddress", ""),
                    "IPPrefixLen": int(n.get("IPPrefixLen") or 0),
                    "Gateway": n.get("Gateway", ""),
                    "MacAddress": n.get("MacAddress", ""),
                    "Aliases": [a for a in n.get("Aliases", "").split(",") if a] or None,
                }
                for name, n in r.networks.items()
            },
            "Ports": ports_doc(c),
        },
    }
    if health is not None:
        doc["State"]["Health"] = health.inspect_doc()
    return doc


def _port_key(p: Mapping[str, str]) -> tuple[int, str, str, int]:
    return int(p["ContainerPort"]), p["Protocol"], p["HostIp"], int(p["HostPort"])


def ports_doc(c: Container) -> dict[str, list[dict[str, str]] | None]:
    """`NetworkSettings.Ports`: `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}`, exposed-only ports null."""
    out: dict[str, list[dict[str, str]] | None] = {}
    for p in sorted(c.record.ports, key=_port_key):
        found = out.setdefault(f"{p['ContainerPort']}/{p['Protocol']}", [])
        if found is not None:
            found.append({"HostIp": p["HostIp"], "HostPort": p["HostPort"]})
    for spec in c.record.service.get("expose") or ():
        port, _, protocol = str(spec).partition("/")
        if port.isdigit():
            out.setdefault(f"{port}/{protocol or 'tcp'}", None)
    return out


def ports_text(c: Container) -> str:
    """`docker ps`'s PORTS column: `0.0.0.0:8080->80/tcp, 127.0.0.1:5353->53/udp`."""
    return ", ".join(f"{p['HostIp']}:{p['HostPort']}->{p['ContainerPort']}/{p['Protocol']}"
                     for p in sorted(c.record.ports, key=_port_key))


def port_lines(ports: Sequence[Mapping[str, str]], private_port: str | None = None) -> list[str]:
    """`docker port`: `80/tcp -> 0.0.0.0:8080` per mapping, or only `0.0.0.0:8080` for one PRIVATE_PORT[/PROTO]."""
    chosen = sorted(ports, key=_port_key)
    if private_port is None:
        return [f"{p['ContainerPort']}/{p['Protocol']} -> {p['HostIp']}:{p['HostPort']}" for p in chosen]
    number, _, protocol = private_port.partition("/")
    return [f"{p['HostIp']}:{p['HostPort']}" for p in chosen
            if p["ContainerPort"] == number and p["Protocol"] == (protocol or "tcp")]


def human_duration(seconds: float) -> str:
    """Docker's `units.HumanDuration`: "Less than a second", "5 seconds", "About a minute", "3 hours"…"""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def status_text(c: Container, now: datetime) -> str:
    """`docker ps`'s STATUS column: "Up 5 seconds", "Up 2 minutes (Paused)", "Exited (0) 3 seconds ago", "Created"."""
    status = c.status
    if status in ("running", "paused"):
        started = c.state.started_at or now
        text = "Up " + human_duration((now - started).total_seconds())
        if status == "paused":
            return text + " (Paused)"
        health = _health(c)
        if health is not None:
            from composer.planner.health import status_suffix

            text += status_suffix(health.status)
        return text
    if status == "exited":
        finished = c.state.finished_at or now
        return f"Exited ({c.state.exit_code or 0}) {human_duration((now - finished).total_seconds())} ago"
    if status == "removing":
        return "Removal In Progress"
    return "Created"


def command_text(c: Container, *, truncate: bool = True) -> str:
    """The COMMAND column: the command line quoted, cut at 20 characters with `…` as Docker does."""
    text = " ".join([c.record.path, *c.record.args]).strip()
    if truncate and len(text) > 20:
        text = text[:19] + "…"
    return json.dumps(text, ensure_ascii=False)


def row(c: Container, now: datetime, *, truncate: bool = True) -> dict[str, Any]:
    """The fields of `docker ps --format json` for one container."""
    created = _parse(c.record.created) or now
    labels = ",".join(f"{k}={v}" for k, v in sorted(c.record.labels.items()))
    return {
        "Command": command_text(c, truncate=truncate),
        "CreatedAt": created.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S +0000 UTC"),
        "ID": c.record.short_id if truncate else c.record.id,
        "Image": c.record.image_ref,
        "Labels": labels,
        "LocalVolumes": str(len(set(c.record.volumes))),
        "Mounts": ",".join(
            _volume_name(c, str(m.get("source"))) or str(m.get("source"))
            for m in c.record.mounts
            if m.get("destination") not in INIT_FILES
        ),
        "Names": c.record.name,
        "Networks": ",".join(c.record.networks),
        "Ports": ports_text(c),
        "RunningFor": human_duration((now - created).total_seconds()) + " ago",
        "Size": "0B",
        "State": c.status,
        "Status": status_text(c, now),
    }
