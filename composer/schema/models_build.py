"""Models of the service sub-objects that describe how an image is made or deployed:
`build`, `deploy`, `develop`, the lifecycle hooks and the objects they share with services.

Field order is the order `docker compose config` prints (compose-go's struct order), so
`canonical.py` can walk the fields as declared.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import Field, ModelWrapValidatorHandler, PrivateAttr, field_validator, model_validator

from composer.schema.models_common import (
    Bool,
    Bytes,
    Duration,
    EnvMapping,
    Extensible,
    FileMode,
    Float,
    GoStr,
    Int,
    Labels,
    NonNegInt,
    Strict,
    StrList,
    UniqueStrList,
    choice,
    fail,
)

# --- shared by services and builds ----------------------------------------------------------


class FileRef(Extensible):
    """A secret or config granted to a service (or a build): what, where, owned by whom."""

    source: str
    target: str | None = None
    uid: GoStr | None = None
    gid: GoStr | None = None
    mode: FileMode | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"source": data} if isinstance(data, str) else data


ServiceSecret = FileRef
ServiceConfig = FileRef


class Ulimit(Extensible):
    """One ulimit. Written as one number it sets both limits (and prints back as one number)."""

    soft: Int
    hard: Int
    _is_single: bool = PrivateAttr(default=False)

    @model_validator(mode="wrap")
    @classmethod
    def _single(cls, data: Any, handler: ModelWrapValidatorHandler[Ulimit]) -> Ulimit:
        if isinstance(data, Mapping | Ulimit):
            return handler(data)
        if (
            isinstance(data, bool)
            or not isinstance(data, int | str)
            or (isinstance(data, str) and not re.fullmatch(r"[+-]?\d+", data))
        ):
            raise fail("compose_ulimit", "must be a number or a mapping with soft and hard", data)
        limit = handler({"soft": data, "hard": data})
        limit._is_single = True
        return limit

    @property
    def single(self) -> bool:
        """True when written as one number (`nofile: 1024`)."""
        return self._is_single


def check_ulimit_names(value: dict[str, Ulimit]) -> dict[str, Ulimit]:
    """Ulimit names are lowercase words (`nofile`, `nproc`), as in the specification."""
    for name in value:
        if not re.fullmatch(r"[a-z]+", name):
            raise fail(
                "compose_ulimit_name",
                f'invalid ulimit name "{name}" (lowercase letters only)',
                at=(name, "[key]"),
            )
    return value


_HOST_SEPARATORS = ("=", ":")


def parse_extra_hosts(value: Any) -> Any:
    """`["host=ip", "host:ip"]` or `{host: ip | [ip...]}` -> `{host: (ip, ...)}` (Compose's rules)."""
    if isinstance(value, list | tuple):
        hosts: dict[str, list[str]] = {}
        for item in value:
            if not isinstance(item, str):
                raise fail("compose_extra_host", 'entries must be strings like "host=ip"', item)
            for sep in _HOST_SEPARATORS:
                host, found, ips = item.partition(sep)
                if found:
                    hosts.setdefault(host, []).extend(ips.split(","))
                    break
            else:
                raise fail("compose_extra_host", f'"{item}" has no IP address (write "host=ip")')
        value = hosts
    if not isinstance(value, Mapping):
        raise fail("compose_extra_host", 'must be a list of "host=ip" or a mapping of host to IP', value)
    out: dict[str, tuple[str, ...]] = {}
    for host, ips in value.items():
        if not isinstance(host, str) or not host or any(c in host for c in ":="):
            raise fail("compose_extra_host", f'bad host name "{host}"')
        items = ips if isinstance(ips, list | tuple) else ["" if ips is None else ips]
        cleaned = []
        for ip in items:
            if not isinstance(ip, str):
                raise fail("compose_extra_host", f'IP addresses for "{host}" must be strings', ip)
            cleaned.append(ip[1:-1] if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]" else ip)
        out[host] = tuple(cleaned)
    return out


class _BlkioEntry(Strict):
    """Compose matches these keys ignoring case and prints them as `Path`, `Rate`... in JSON."""

    @model_validator(mode="before")
    @classmethod
    def _lowercase(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {k.lower() if k in ("Path", "Weight", "Rate") else k: v for k, v in data.items()}
        return data


class WeightDevice(_BlkioEntry):
    """`blkio_config.weight_device` entry."""

    path: str
    weight: NonNegInt


class ThrottleDevice(_BlkioEntry):
    """`blkio_config.device_*_bps|iops` entry; the rate is a byte size or an IO count."""

    path: str
    rate: Bytes


# --- build ----------------------------------------------------------------------------------


def _ssh_map(value: Any) -> Any:
    """`["default", "id=path"]` -> `{"default": None, "id": "path"}`."""
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list | tuple):
        out: dict[str, Any] = {}
        for item in value:
            if not isinstance(item, str):
                raise fail("compose_ssh", 'entries must be strings like "default" or "id=path"', item)
            key, found, path = item.partition("=")
            out[key] = path if found else None
        return out
    return value


def _bool_as_str(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class Build(Extensible):
    """`build`: how to build the service's image."""

    context: str | None = None
    dockerfile: str | None = None
    dockerfile_inline: str | None = None
    entitlements: StrList = ()
    args: EnvMapping = Field(default_factory=dict)
    provenance: str | None = None
    sbom: str | None = None
    ssh: dict[str, str | None] = Field(default_factory=dict)
    labels: Labels = Field(default_factory=dict)
    cache_from: StrList = ()
    cache_to: StrList = ()
    no_cache: Bool = False
    additional_contexts: Labels = Field(default_factory=dict)
    pull: Bool = False
    extra_hosts: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    isolation: str | None = None
    network: str | None = None
    target: str | None = None
    secrets: tuple[FileRef, ...] = ()
    shm_size: Bytes | None = None
    tags: StrList = ()
    ulimits: dict[str, Ulimit] = Field(default_factory=dict)
    platforms: StrList = ()
    privileged: Bool = False

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"context": data} if isinstance(data, str) else data

    @field_validator("ssh", mode="before")
    @classmethod
    def _ssh(cls, value: Any) -> Any:
        return _ssh_map(value)

    @field_validator("provenance", "sbom", mode="before")
    @classmethod
    def _attestation(cls, value: Any) -> Any:
        return _bool_as_str(value)

    @field_validator("extra_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return parse_extra_hosts(value)

    @field_validator("ulimits")
    @classmethod
    def _ulimit_names(cls, value: dict[str, Ulimit]) -> dict[str, Ulimit]:
        return check_ulimit_names(value)

    @model_validator(mode="after")
    def _exclusive(self) -> Self:
        if self.dockerfile and self.dockerfile_inline:
            raise fail(
                "compose_build",
                '"dockerfile" and "dockerfile_inline" cannot both be set',
                at="dockerfile_inline",
            )
        return self


# --- hooks and develop ----------------------------------------------------------------------


class ServiceHook(Extensible):
    """`post_start` / `pre_stop` entry, and `develop.watch[].exec`: a command run in the container."""

    command: tuple[str, ...]
    user: str | None = None
    privileged: Bool = False
    working_dir: str | None = None
    environment: EnvMapping = Field(default_factory=dict)


WATCH_ACTIONS = ("rebuild", "sync", "restart", "sync+restart", "sync+exec")
WatchAction = Annotated[str, choice("compose_watch_action", WATCH_ACTIONS)]


class WatchTrigger(Extensible):
    """`develop.watch` entry: a path to watch and what to do when it changes."""

    path: str
    action: WatchAction
    target: str | None = None
    exec: ServiceHook | None = None
    include: StrList = ()
    ignore: StrList = ()
    initial_sync: Bool = False

    @field_validator("exec", mode="before")
    @classmethod
    def _no_exec(cls, value: Any) -> Any:
        """`{command: null}` is how `config --format json` prints "no exec"."""
        if isinstance(value, Mapping) and dict(value) == {"command": None}:
            return None
        return value

    @model_validator(mode="after")
    def _needs_target(self) -> Self:
        if not self.target and self.action not in ("rebuild", "restart"):
            raise fail("compose_watch", f'"target" is required for action "{self.action}"', at="target")
        if self.action == "sync+exec" and self.exec is None:
            raise fail("compose_watch", '"exec" is required for action "sync+exec"', at="exec")
        return self


class Develop(Extensible):
    """`develop`: settings for `watch` mode."""

    watch: tuple[WatchTrigger, ...] = ()


# --- deploy ---------------------------------------------------------------------------------


def _device_count(value: Any) -> Any:
    if isinstance(value, str) and value.lower() == "all":
        return -1
    return value


class DeviceRequest(Extensible):
    """A device (typically a GPU) requested from a driver; `count: -1` means all of them."""

    capabilities: UniqueStrList = ()
    driver: str | None = None
    count: Int | None = None
    device_ids: UniqueStrList = ()
    options: Labels = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _default_count(cls, data: Any) -> Any:
        """No `count` and no `device_ids` means all devices, as in Compose."""
        if isinstance(data, Mapping) and "count" not in data and not data.get("device_ids"):
            return {**data, "count": -1}
        return data

    @field_validator("count", mode="before")
    @classmethod
    def _all(cls, value: Any) -> Any:
        return _device_count(value)

    @model_validator(mode="after")
    def _count_or_ids(self) -> Self:
        if self.count is not None and self.device_ids:
            raise fail("compose_device", '"count" and "device_ids" cannot both be set', at="device_ids")
        return self


class ReservedDevice(DeviceRequest):
    """`deploy.resources.reservations.devices` entry: must say which capabilities it needs."""

    capabilities: UniqueStrList


class DiscreteResource(Extensible):
    """`generic_resources[].discrete_resource_spec`."""

    kind: str
    value: Int


class GenericResource(Extensible):
    """`deploy.resources.reservations.generic_resources` entry."""

    discrete_resource_spec: DiscreteResource | None = None


class ResourceLimits(Extensible):
    """`deploy.resources.limits`."""

    cpus: Float | None = None
    memory: Bytes | None = None
    pids: Int | None = None


class ResourceReservations(Extensible):
    """`deploy.resources.reservations`."""

    cpus: Float | None = None
    memory: Bytes | None = None
    devices: tuple[ReservedDevice, ...] = ()
    generic_resources: tuple[GenericResource, ...] = ()


class Resources(Extensible):
    """`deploy.resources`."""

    limits: ResourceLimits | None = None
    reservations: ResourceReservations | None = None


class UpdateConfig(Extensible):
    """`deploy.update_config` and `deploy.rollback_config`."""

    parallelism: NonNegInt | None = None
    delay: Duration | None = None
    failure_action: (
        Annotated[str, choice("compose_failure_action", ("continue", "pause", "rollback"))] | None
    ) = None
    monitor: Duration | None = None
    max_failure_ratio: Float | None = None
    order: Annotated[str, choice("compose_order", ("start-first", "stop-first"))] | None = None


class RestartPolicy(Extensible):
    """`deploy.restart_policy`."""

    condition: Annotated[str, choice("compose_restart_condition", ("none", "on-failure", "any"))] | None = (
        None
    )
    delay: Duration | None = None
    max_attempts: NonNegInt | None = None
    window: Duration | None = None


class PlacementPreference(Extensible):
    """`deploy.placement.preferences` entry."""

    spread: str | None = None


class Placement(Extensible):
    """`deploy.placement`."""

    constraints: StrList = ()
    preferences: tuple[PlacementPreference, ...] = ()
    max_replicas_per_node: NonNegInt | None = None


DEPLOY_MODES = ("replicated", "global", "replicated-job", "global-job")


class Deploy(Extensible):
    """`deploy`: replicas, resources and restart policy of a service."""

    mode: Annotated[str, choice("compose_deploy_mode", DEPLOY_MODES)] | None = None
    replicas: NonNegInt | None = None
    labels: Labels = Field(default_factory=dict)
    update_config: UpdateConfig | None = None
    rollback_config: UpdateConfig | None = None
    resources: Resources | None = None
    restart_policy: RestartPolicy | None = None
    placement: Placement | None = None
    endpoint_mode: Annotated[str, choice("compose_endpoint_mode", ("vip", "dnsrr"))] | None = None


__all__ = [
    "DEPLOY_MODES",
    "WATCH_ACTIONS",
    "Build",
    "Deploy",
    "Develop",
    "DeviceRequest",
    "DiscreteResource",
    "FileRef",
    "GenericResource",
    "Placement",
    "PlacementPreference",
    "ReservedDevice",
    "ResourceLimits",
    "ResourceReservations",
    "Resources",
    "RestartPolicy",
    "ServiceConfig",
    "ServiceHook",
    "ServiceSecret",
    "ThrottleDevice",
    "Ulimit",
    "UpdateConfig",
    "WatchTrigger",
    "WeightDevice",
    "parse_extra_hosts",
]
