"""The `Service` model and the small objects that only services use.

Field order is the order `docker compose config` prints (compose-go's struct order), so
`canonical.py` can walk the fields as declared. A few shape conversions that need no parsing
(`"8.8.8.8"` -> `["8.8.8.8"]`, a list of network names -> a map) are accepted here too, so the
model reads both the expand phase's output and hand-written long syntax.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Self

from pydantic import AfterValidator, Field, field_validator, model_validator

from composer.schema.models_build import (
    Build,
    Deploy,
    Develop,
    DeviceRequest,
    FileRef,
    ServiceHook,
    ThrottleDevice,
    Ulimit,
    WeightDevice,
    check_ulimit_names,
    parse_extra_hosts,
)
from composer.schema.models_common import (
    AS_STRING,
    Bool,
    Bytes,
    Duration,
    EnvMapping,
    Extensible,
    Float,
    GoStrList,
    Int,
    Labels,
    NonNegInt,
    ResourceName,
    Strict,
    StrList,
    UniqueStrList,
    choice,
    fail,
)

# --- ports ----------------------------------------------------------------------------------

_PUBLISHED = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")


def _published(value: Any) -> Any:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise fail("compose_port", 'must be a port number or a range such as "8000-8010"', value)
    match = _PUBLISHED.fullmatch(value)
    if not match or any(int(p) > 65535 for p in match.groups() if p):
        raise fail("compose_port", 'must be a port number or a range such as "8000-8010"', value)
    if match.group(2) and int(match.group(2)) < int(match.group(1)):
        raise fail("compose_port", f'range "{value}" ends before it starts')
    return value


def _protocol(value: str) -> str:
    if value.lower() not in ("tcp", "udp", "sctp"):
        raise fail("compose_protocol", f'invalid value "{value}" (expected one of: tcp, udp, sctp)')
    return value


class PortConfig(Extensible):
    """`ports` entry in long syntax. `published` is a string: it may be a range."""

    name: str | None = None
    mode: Annotated[str, choice("compose_port_mode", ("ingress", "host"))] = "ingress"
    host_ip: str | None = None
    target: Annotated[Int, Field(ge=1, le=65535)]
    published: Annotated[str, AfterValidator(_published)] | None = None
    protocol: Annotated[str, AfterValidator(_protocol)] = "tcp"
    app_protocol: str | None = None

    @field_validator("published", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return None if value == "" else value


# --- volumes --------------------------------------------------------------------------------

MOUNT_TYPES = ("bind", "volume", "tmpfs", "cluster", "npipe", "image")


class MountBind(Extensible):
    """`volumes[].bind`: options of a bind mount."""

    selinux: Annotated[str, choice("compose_selinux", ("z", "Z"))] | None = None
    propagation: (
        Annotated[
            str,
            choice("compose_propagation", ("shared", "slave", "private", "rshared", "rslave", "rprivate")),
        ]
        | None
    ) = None
    create_host_path: Bool | None = None
    recursive: (
        Annotated[str, choice("compose_recursive", ("enabled", "disabled", "writable", "readonly"))] | None
    ) = None


class MountVolume(Extensible):
    """`volumes[].volume`: options of a named or anonymous volume mount."""

    labels: Labels = Field(default_factory=dict)
    nocopy: Bool = False
    subpath: str | None = None


class MountTmpfs(Extensible):
    """`volumes[].tmpfs`: options of a tmpfs mount."""

    size: Bytes | None = None
    mode: NonNegInt | None = None


class MountImage(Extensible):
    """`volumes[].image`: options of an image mount."""

    subpath: str | None = None


class VolumeMount(Extensible):
    """`volumes` entry in long syntax."""

    type: Annotated[str, choice("compose_mount_type", MOUNT_TYPES)]
    source: str | None = None
    target: str
    read_only: Bool = False
    consistency: str | None = None
    bind: MountBind | None = None
    volume: MountVolume | None = None
    tmpfs: MountTmpfs | None = None
    image: MountImage | None = None

    @model_validator(mode="after")
    def _fits_type(self) -> Self:
        for option in ("bind", "volume", "tmpfs", "image"):
            if getattr(self, option) is not None and option != self.type:
                raise fail(
                    "compose_mount", f'"{option}" options do not apply to a {self.type} mount', at=option
                )
        if self.type == "tmpfs" and self.source:
            raise fail("compose_mount", "a tmpfs mount has no source", at="source")
        if self.type in ("bind", "image", "npipe") and not self.source:
            raise fail("compose_mount", f"a {self.type} mount needs a source", at="source")
        return self


# --- networks, dependencies, devices ----------------------------------------------------------


class ServiceNetwork(Extensible):
    """`networks.<name>` of a service: how it joins that network."""

    aliases: UniqueStrList = ()
    driver_opts: Labels = Field(default_factory=dict)
    gw_priority: Int = 0
    interface_name: str | None = None
    ipv4_address: str | None = None
    ipv6_address: str | None = None
    link_local_ips: UniqueStrList = ()
    mac_address: str | None = None
    priority: Int = 0


DEPENDS_CONDITIONS = ("service_started", "service_healthy", "service_completed_successfully")


class DependsOn(Extensible):
    """`depends_on.<service>`: when this service may start, and whether a restart cascades."""

    condition: Annotated[str, choice("compose_condition", DEPENDS_CONDITIONS)] = "service_started"
    restart: Bool = False
    required: Bool = True


class DeviceMapping(Extensible):
    """`devices` entry in long syntax."""

    source: str
    target: str | None = None
    permissions: str | None = None


class EnvFile(Strict):
    """`env_file` entry: a file of variables, possibly optional."""

    path: str
    required: Bool = True
    format: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


# --- other sub-objects --------------------------------------------------------------------------


class Healthcheck(Extensible):
    """`healthcheck`: how to probe the container, and how often."""

    test: tuple[str, ...] = ()
    timeout: Duration | None = None
    interval: Duration | None = None
    retries: NonNegInt | None = None
    start_period: Duration | None = None
    start_interval: Duration | None = None
    disable: Bool = False

    @field_validator("test", mode="before")
    @classmethod
    def _shell(cls, value: Any) -> Any:
        return ("CMD-SHELL", value) if isinstance(value, str) else value

    @field_validator("test")
    @classmethod
    def _kind(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and value[0] not in ("CMD", "CMD-SHELL", "NONE"):
            raise fail(
                "compose_healthcheck", f'must start with "CMD", "CMD-SHELL" or "NONE", not "{value[0]}"'
            )
        return value


class Logging(Extensible):
    """`logging`: the log driver and its options."""

    driver: str | None = None
    options: Labels = Field(default_factory=dict)


class BlkioConfig(Strict):
    """`blkio_config`: block IO weights and limits."""

    weight: Annotated[Int, Field(ge=10, le=1000)] | None = None
    weight_device: tuple[WeightDevice, ...] = ()
    device_read_bps: tuple[ThrottleDevice, ...] = ()
    device_read_iops: tuple[ThrottleDevice, ...] = ()
    device_write_bps: tuple[ThrottleDevice, ...] = ()
    device_write_iops: tuple[ThrottleDevice, ...] = ()


class CredentialSpec(Extensible):
    """`credential_spec` (Windows managed service accounts)."""

    config: str | None = None
    file: str | None = None
    registry: str | None = None


class Extends(Strict):
    """`extends`: the service this one is based on (resolved by the extends phase)."""

    file: str | None = None
    service: str

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"service": data} if isinstance(data, str) else data


class Provider(Extensible):
    """`provider`: a service managed by an external plugin instead of a container."""

    type: str
    options: dict[str, GoStrList] = Field(default_factory=dict)


class ServiceModel(Extensible):
    """`models.<name>` of a service: the variables that receive the model's endpoint and name."""

    endpoint_var: str | None = None
    model_var: str | None = None


# --- value rules of service keys ----------------------------------------------------------------

_RESTART = re.compile(r"no|always|unless-stopped|on-failure(:\d+)?")


def _restart(value: str) -> str:
    if not _RESTART.fullmatch(value):
        raise fail(
            "compose_restart",
            f'invalid value "{value}" (expected one of: no, always, on-failure[:N], unless-stopped)',
        )
    return value


_PULL = re.compile(r"always|never|build|if_not_present|missing|refresh|daily|weekly|every_(\d+[wdhms])+")


def _pull_policy(value: str) -> str:
    if not _PULL.fullmatch(value):
        raise fail(
            "compose_pull_policy",
            f'invalid value "{value}" (expected one of: always, never, missing, if_not_present, build, '
            "refresh, daily, weekly, every_<duration>)",
        )
    return value


_CONTAINER_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")


def _container_name(value: str) -> str:
    if not _CONTAINER_NAME.fullmatch(value):
        raise fail(
            "compose_container_name",
            f'invalid container name "{value}" (start with a letter or digit, then letters, digits, '
            '".", "_" or "-"; at least 2 characters)',
        )
    return value


def _names_to_map(value: Any) -> Any:
    """`[a, b]` -> `{a: None, b: None}` (service `networks` and `models` in short syntax)."""
    if isinstance(value, list | tuple):
        return dict.fromkeys(value)
    return value


class Service(Extensible):
    """One service of the project, in the canonical long form."""

    profiles: UniqueStrList = ()
    annotations: Labels = Field(default_factory=dict)
    attach: Bool | None = None
    build: Build | None = None
    develop: Develop | None = None
    blkio_config: BlkioConfig | None = None
    cap_add: UniqueStrList = ()
    cap_drop: UniqueStrList = ()
    cgroup_parent: str | None = None
    cgroup: Annotated[str, choice("compose_cgroup", ("host", "private"))] | None = None
    cpu_count: NonNegInt = 0
    cpu_percent: Annotated[Float, Field(ge=0, le=100)] = 0
    cpu_period: Int = 0
    cpu_quota: Int = 0
    cpu_rt_period: Int = 0
    cpu_rt_runtime: Int = 0
    cpus: Annotated[Float, Field(ge=0)] = 0
    cpuset: str | None = None
    cpu_shares: Int = 0
    command: tuple[str, ...] | None = None
    configs: tuple[FileRef, ...] = ()
    container_name: Annotated[str, AfterValidator(_container_name)] | None = None
    credential_spec: CredentialSpec | None = None
    depends_on: dict[ResourceName, DependsOn] = Field(default_factory=dict)
    deploy: Deploy | None = None
    device_cgroup_rules: UniqueStrList = ()
    devices: tuple[DeviceMapping, ...] = ()
    dns: UniqueStrList = ()
    dns_opt: UniqueStrList = ()
    dns_search: UniqueStrList = ()
    domainname: str | None = None
    entrypoint: tuple[str, ...] | None = None
    provider: Provider | None = None
    environment: EnvMapping = Field(default_factory=dict)
    env_file: tuple[EnvFile, ...] = ()
    expose: GoStrList = ()
    extends: Extends | None = None
    external_links: UniqueStrList = ()
    extra_hosts: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    group_add: GoStrList = ()
    gpus: tuple[DeviceRequest, ...] = ()
    hostname: str | None = None
    healthcheck: Healthcheck | None = None
    image: str | None = None
    init: Bool | None = None
    ipc: str | None = None
    isolation: str | None = None
    labels: Labels = Field(default_factory=dict)
    label_file: StrList = ()
    links: UniqueStrList = ()
    logging: Logging | None = None
    mem_limit: Bytes = 0
    mem_reservation: Bytes = 0
    memswap_limit: Bytes = 0
    mem_swappiness: Annotated[Int, Field(ge=0, le=100), AS_STRING] = 0
    mac_address: str | None = None
    models: dict[ResourceName, ServiceModel | None] = Field(default_factory=dict)
    network_mode: str | None = None
    networks: dict[ResourceName, ServiceNetwork | None] = Field(default_factory=dict)
    oom_kill_disable: Bool = False
    oom_score_adj: Annotated[Int, Field(ge=-1000, le=1000)] = 0
    pid: str | None = None
    pids_limit: Int = 0
    platform: str | None = None
    ports: tuple[PortConfig, ...] = ()
    privileged: Bool = False
    pull_policy: Annotated[str, AfterValidator(_pull_policy)] | None = None
    pull_refresh_after: str | None = None
    read_only: Bool = False
    restart: Annotated[str, AfterValidator(_restart)] | None = None
    runtime: str | None = None
    scale: NonNegInt | None = None
    secrets: tuple[FileRef, ...] = ()
    security_opt: UniqueStrList = ()
    shm_size: Bytes = 0
    stdin_open: Bool = False
    stop_grace_period: Duration | None = None
    stop_signal: str | None = None
    storage_opt: Labels = Field(default_factory=dict)
    sysctls: Labels = Field(default_factory=dict)
    tmpfs: StrList = ()
    tty: Bool = False
    ulimits: dict[str, Ulimit] = Field(default_factory=dict)
    use_api_socket: Bool = False
    user: str | None = None
    userns_mode: str | None = None
    uts: str | None = None
    volumes: tuple[VolumeMount, ...] = ()
    volumes_from: UniqueStrList = ()
    working_dir: str | None = None
    post_start: tuple[ServiceHook, ...] = ()
    pre_stop: tuple[ServiceHook, ...] = ()

    @field_validator("networks", "models", mode="before")
    @classmethod
    def _name_list(cls, value: Any) -> Any:
        return _names_to_map(value)

    @field_validator("depends_on", mode="before")
    @classmethod
    def _depends_list(cls, value: Any) -> Any:
        if isinstance(value, list | tuple):
            return {name: {} for name in value}
        return value

    @field_validator("gpus", mode="before")
    @classmethod
    def _all_gpus(cls, value: Any) -> Any:
        if value == "all":
            return [{"count": -1}]
        if isinstance(value, str):
            raise fail("compose_gpus", 'must be "all" or a list of device requests', value)
        return value

    @field_validator("extra_hosts", mode="before")
    @classmethod
    def _hosts(cls, value: Any) -> Any:
        return parse_extra_hosts(value)

    @field_validator("ulimits")
    @classmethod
    def _ulimit_names(cls, value: dict[str, Ulimit]) -> dict[str, Ulimit]:
        return check_ulimit_names(value)

    @field_validator("env_file", mode="before")
    @classmethod
    def _one_file(cls, value: Any) -> Any:
        return [value] if isinstance(value, str | Mapping) else value

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        """Rules within one service (rules between services live in `references.py`)."""
        if self.image is None and self.build is None and self.provider is None:
            raise fail("compose_service", 'needs "image" or "build" (or "provider")')
        if (
            self.build
            and self.build.platforms
            and self.platform
            and self.platform not in self.build.platforms
        ):
            raise fail(
                "compose_service",
                f'"build.platforms" must include the service platform "{self.platform}"',
                at=("build", "platforms"),
            )
        limits = self.deploy.resources.limits if self.deploy and self.deploy.resources else None
        reservations = self.deploy.resources.reservations if self.deploy and self.deploy.resources else None
        pairs: tuple[tuple[str, object, str, object], ...] = (
            ("cpus", self.cpus, "limits.cpus", limits.cpus if limits else None),
            ("mem_limit", self.mem_limit, "limits.memory", limits.memory if limits else None),
            ("pids_limit", self.pids_limit, "limits.pids", limits.pids if limits else None),
            (
                "mem_reservation",
                self.mem_reservation,
                "reservations.memory",
                reservations.memory if reservations else None,
            ),
        )
        for key, mine, deploy_key, theirs in pairs:
            if mine and theirs is not None and mine != theirs:
                raise fail(
                    "compose_service",
                    f'"{key}" and "deploy.resources.{deploy_key}" are set to different values',
                    at=key,
                )
        mounted: dict[str, str] = {}
        targets = [(f"tmpfs[{i}]", t.partition(":")[0], ("tmpfs", i)) for i, t in enumerate(self.tmpfs)]
        targets += [(f"volumes[{i}]", v.target, ("volumes", i)) for i, v in enumerate(self.volumes)]
        for where, target, at in targets:
            if target in mounted:
                raise fail("compose_mount", f'"{target}" is already mounted by {mounted[target]}', at=at)
            mounted[target] = where
        return self


__all__ = [
    "DEPENDS_CONDITIONS",
    "MOUNT_TYPES",
    "BlkioConfig",
    "CredentialSpec",
    "DependsOn",
    "DeviceMapping",
    "EnvFile",
    "Extends",
    "Healthcheck",
    "Logging",
    "MountBind",
    "MountImage",
    "MountTmpfs",
    "MountVolume",
    "PortConfig",
    "Provider",
    "Service",
    "ServiceModel",
    "ServiceNetwork",
    "VolumeMount",
]
