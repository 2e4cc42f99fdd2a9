"""Desired state: what a Compose project should look like on the engine, computed from the model alone.

The input is the canonical project (`composer config --format json`). The output names every
network, volume and service the way Docker Compose v2 does (`<project>_<net>`, `<project>-<svc>-<n>`),
with its `com.docker.compose.*` labels and config hash, and rewrites each service into the shape the
engine takes: project-level names for networks and volumes, container names for `service:x` references.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError
from composer.planner import files as f
from composer.planner import labels as _labels
from composer.planner.graph import service_graph
from composer.planner.hashing import config_hash

if TYPE_CHECKING:
    import networkx as nx

# the label names, also spelled here for the modules that know them as `desired.X`
LABEL = _labels.LABEL
PROJECT = _labels.PROJECT
SERVICE = _labels.SERVICE
NUMBER = _labels.NUMBER
ONEOFF = _labels.ONEOFF
HASH = _labels.HASH
DEPENDS = _labels.DEPENDS
IMAGE = _labels.IMAGE
WORKING_DIR = _labels.WORKING_DIR
CONFIG_FILES = _labels.CONFIG_FILES
ENV_FILE = _labels.ENV_FILE
VERSION = _labels.VERSION
NETWORK = _labels.NETWORK
VOLUME = _labels.VOLUME

FILES_KEY = "x-composer-files"
"""Engine-spec key holding the digests of the secrets and configs a service mounts (`"config x" -> sha256`)."""
ADDED = "x-composer-added"
"""Marks a mount the runtime adds to a service (a secret's file, an inherited anonymous volume): not config."""
COMPOSE_VERSION = "2.40.3"
"""The Docker Compose version whose behaviour composer follows, written where Compose writes its own."""


@dataclass(frozen=True, slots=True)
class DesiredNetwork:
    key: str
    name: str
    external: bool = False
    driver: str = "bridge"
    internal: bool = False
    ipam: tuple[Mapping[str, Any], ...] = ()
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredVolume:
    key: str
    name: str
    external: bool = False
    driver: str = "local"
    options: Mapping[str, str] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DesiredService:
    """One service: how many containers, what each is made from, and what it is labelled with."""

    name: str
    replicas: int
    image: str
    config_hash: str
    spec: Mapping[str, Any]
    """The service in the engine's shape (project names resolved, `service:x` -> `container:NAME`)."""
    labels: Mapping[str, str]
    """Every label but the container number and the image id (known only on the engine)."""
    container_name: str | None = None
    networks: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    files: tuple[f.FileMount, ...] = ()
    """Secrets and configs mounted as files."""

    def container(self, project: str, number: int) -> str:
        return self.container_name or f"{project}-{self.name}-{number}"


@dataclass(frozen=True, slots=True)
class DesiredState:
    project: str
    services: Mapping[str, DesiredService]
    networks: Mapping[str, DesiredNetwork]
    volumes: Mapping[str, DesiredVolume]
    graph: nx.DiGraph[str]
    all_services: frozenset[str] = frozenset()
    """Services of the model, enabled or not (containers of others are orphans)."""
    contents: Mapping[tuple[str, str], bytes] = field(default_factory=dict, repr=False)
    """Bytes of each secret and config, by (kind, key), as the edge read them (never printed)."""


@dataclass(frozen=True, slots=True)
class ProjectInfo:
    """Where the project came from, for the labels."""

    name: str
    working_dir: str = ""
    config_files: Sequence[str] = ()
    env_files: Sequence[str] = ()


def replicas(service: Mapping[str, Any], override: int | None = None) -> int:
    """`--scale` wins, then `scale`, then `deploy.replicas`, else 1."""
    if override is not None:
        return override
    if service.get("scale") is not None:
        return int(service["scale"])
    deploy = service.get("deploy") or {}
    if deploy.get("replicas") is not None:
        return int(deploy["replicas"])
    return 1


def first_container(project: str, services: Mapping[str, Any], name: str) -> str:
    """The container that stands for service `name` in `service:x` references (its first replica)."""
    svc = services.get(name)
    if svc is None:
        raise ComposerError(f"no such service: {name}")
    return str(svc.get("container_name") or f"{project}-{name}-1")


def _resolve_service_refs(project: str, services: Mapping[str, Any], spec: dict[str, Any]) -> None:
    for key in ("network_mode", "ipc", "pid"):
        value = spec.get(key)
        if isinstance(value, str) and value.startswith("service:"):
            spec[key] = "container:" + first_container(project, services, value.split(":", 1)[1])
    if spec.get("volumes_from"):
        out = []
        for entry in spec["volumes_from"]:
            text = str(entry)
            if text.startswith("container:"):
                out.append(text)
                continue
            text = text.removeprefix("service:")
            name, _, mode = text.partition(":")
            out.append("container:" + first_container(project, services, name) + (f":{mode}" if mode else ""))
        spec["volumes_from"] = out
    if spec.get("links"):
        links = []
        for entry in spec["links"]:
            name, _, alias = str(entry).partition(":")
            links.append(f"{first_container(project, services, name)}:{alias or name}")
        spec["links"] = links


def engine_spec(
    project: str,
    name: str,
    service: Mapping[str, Any],
    services: Mapping[str, Any],
    networks: Mapping[str, DesiredNetwork],
    volumes: Mapping[str, DesiredVolume],
) -> dict[str, Any]:
    """The service as the engine creates containers from it."""
    spec = {key: value for key, value in service.items() if key not in ("build", "depends_on", "profiles")}
    if spec.get("network_mode"):
        spec.pop("networks", None)
    else:
        wanted = spec.get("networks") or {}
        out_nets: dict[str, Any] = {}
        for key, cfg in wanted.items():
            if key not in networks:
                raise ComposerError(f'service "{name}" refers to undefined network {key}')
            cfg = dict(cfg or {})
            cfg["aliases"] = [name, *[a for a in cfg.get("aliases") or () if a != name]]
            out_nets[networks[key].name] = cfg
        spec["networks"] = out_nets
    mounts = []
    for mount in spec.get("volumes") or ():
        if isinstance(mount, Mapping) and mount.get("type") == "volume" and mount.get("source"):
            source = str(mount["source"])
            if source not in volumes:
                raise ComposerError(f'service "{name}" refers to undefined volume {source}')
            mount = {**mount, "source": volumes[source].name}
        mounts.append(mount)
    if mounts:
        spec["volumes"] = mounts
    _resolve_service_refs(project, services, spec)
    return spec


def depends_label(service: Mapping[str, Any]) -> str:
    """`db:service_healthy:false,cache:service_started:false`, as Compose writes it."""
    depends = service.get("depends_on") or {}
    parts = []
    for dep, spec in depends.items():
        spec = spec or {}
        parts.append(f"{dep}:{spec.get('condition') or 'service_started'}:{str(bool(spec.get('restart'))).lower()}")
    return ",".join(parts)


def desired_state(
    document: Mapping[str, Any],
    info: ProjectInfo,
    *,
    scale: Mapping[str, int] | None = None,
    all_services: Sequence[str] = (),
    graph: nx.DiGraph[str] | None = None,
    hash_document: Mapping[str, Any] | None = None,
    contents: Mapping[tuple[str, str], bytes] | None = None,
) -> DesiredState:
    """The whole desired state of a canonical project document.

    Pass the `graph` built from the located model (`service_graph(loaded.services)`) so that a cycle
    error names file and line; without it the graph is built from the plain document. `hash_document` is
    the document `config --hash` hashes (values `$$`-escaped as `config` prints them), so the label and
    `config --hash` agree; by default `document` itself.
    """
    project = info.name
    scale = dict(scale or {})
    services: Mapping[str, Any] = document.get("services") or {}
    for name in scale:
        if name not in services:
            raise ComposerError(f"--scale: no such service: {name}")
    base = {PROJECT: project, VERSION: COMPOSE_VERSION}
    for key, cfg in (document.get("networks") or {}).items():
        if (cfg or {}).get("enable_ipv6"):
            raise ComposerError(f"network {key}: enable_ipv6 is not supported: composer's native engine "
                                "makes IPv4 networks only (remove enable_ipv6)")
    networks = {
        key: DesiredNetwork(
            key=key,
            name=str(cfg.get("name") or f"{project}_{key}"),
            external=bool(cfg.get("external")),
            driver=str(cfg.get("driver") or "bridge"),
            internal=bool(cfg.get("internal")),
            ipam=tuple((cfg.get("ipam") or {}).get("config") or ()),
            options={str(k): str(v) for k, v in (cfg.get("driver_opts") or {}).items()},
            labels={**{str(k): str(v) for k, v in (cfg.get("labels") or {}).items()}, **base, NETWORK: key},
        )
        for key, cfg in (document.get("networks") or {}).items()
        for cfg in [cfg or {}]
    }
    volumes = {
        key: DesiredVolume(
            key=key,
            name=str(cfg.get("name") or f"{project}_{key}"),
            external=bool(cfg.get("external")),
            driver=str(cfg.get("driver") or "local"),
            options={str(k): str(v) for k, v in (cfg.get("driver_opts") or {}).items()},
            labels={**{str(k): str(v) for k, v in (cfg.get("labels") or {}).items()}, **base, VOLUME: key},
        )
        for key, cfg in (document.get("volumes") or {}).items()
        for cfg in [cfg or {}]
    }
    out: dict[str, DesiredService] = {}
    for name, service in services.items():
        count = replicas(service, scale.get(name))
        if count > 1 and service.get("container_name"):
            raise ComposerError(
                f'service "{name}": container_name "{service["container_name"]}" is set, so it cannot be scaled '
                f"to {count} containers"
            )
        labels = {
            **{str(k): str(v) for k, v in (service.get("labels") or {}).items()},
            **base,
            SERVICE: name,
            ONEOFF: "False",
            HASH: "",
            DEPENDS: depends_label(service),
            WORKING_DIR: info.working_dir,
            CONFIG_FILES: ",".join(info.config_files),
        }
        if info.env_files:
            labels[ENV_FILE] = ",".join(info.env_files)
        spec = engine_spec(project, name, service, services, networks, volumes)
        mounted = f.mounts(name, service, document)
        digests = f.digests(mounted, contents or {})
        hashed = dict(((hash_document or document).get("services") or {}).get(name, service))
        if digests:
            spec[FILES_KEY] = digests
            hashed[FILES_KEY] = digests
        labels[HASH] = config_hash(hashed)
        used_volumes = tuple(
            str(m["source"]) for m in service.get("volumes") or ()
            if isinstance(m, Mapping) and m.get("type") == "volume" and m.get("source")
        )
        out[name] = DesiredService(
            name=name,
            replicas=count,
            image=str(service.get("image") or f"{project}-{name}"),
            config_hash=labels[HASH],
            spec=spec,
            labels=labels,
            container_name=service.get("container_name"),
            networks=tuple(service.get("networks") or ()) if not service.get("network_mode") else (),
            volumes=used_volumes,
            files=tuple(mounted),
        )
    return DesiredState(
        project=project,
        services=out,
        networks=networks,
        volumes=volumes,
        graph=graph if graph is not None else service_graph(services),
        all_services=frozenset(all_services or services),
        contents=dict(contents or {}),
    )
