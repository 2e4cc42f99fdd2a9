"""pydantic v2 models of a whole Compose project in its canonical (long) form.

These are what phase 8 (`validate.py`) checks a loaded document against: every key of the
Compose Specification is a field here, unknown keys are errors (except `x-*`, which are kept),
and values are checked against the rules Compose and the engine apply. The models are frozen:
phases after validation read them and build new objects instead of editing them.

The topics live in their own modules (`models_service`, `models_build`, `models_resources`,
`models_common`); this one adds `Project` and re-exports them all.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import AfterValidator, Field, field_validator

from composer.schema.models_build import (
    Build,
    Deploy,
    Develop,
    DeviceRequest,
    DiscreteResource,
    FileRef,
    GenericResource,
    Placement,
    PlacementPreference,
    ReservedDevice,
    ResourceLimits,
    ResourceReservations,
    Resources,
    RestartPolicy,
    ServiceConfig,
    ServiceHook,
    ServiceSecret,
    ThrottleDevice,
    Ulimit,
    UpdateConfig,
    WatchTrigger,
    WeightDevice,
)
from composer.schema.models_common import EXTENSIONS_ALIAS, Extensible, ResourceName, compose_keys, fail
from composer.schema.models_resources import Config, Include, Ipam, IpamPool, Model, Network, Secret, Volume
from composer.schema.models_service import (
    BlkioConfig,
    CredentialSpec,
    DependsOn,
    DeviceMapping,
    EnvFile,
    Extends,
    Healthcheck,
    Logging,
    MountBind,
    MountImage,
    MountTmpfs,
    MountVolume,
    PortConfig,
    Provider,
    Service,
    ServiceModel,
    ServiceNetwork,
    VolumeMount,
)

_PROJECT_NAME = re.compile(r"[a-z0-9][a-z0-9_-]*")


def _project_name(value: str) -> str:
    if not _PROJECT_NAME.fullmatch(value):
        raise fail(
            "compose_project_name",
            f'invalid project name "{value}" (use lowercase letters, digits, "-" and "_", '
            "starting with a letter or digit)",
        )
    return value


def _null_is_empty(value: Any) -> Any:
    """`networks: {front: }` declares a network with every setting left to its default."""
    if isinstance(value, Mapping):
        return {key: {} if item is None else item for key, item in value.items()}
    return value


class Project(Extensible):
    """A whole Compose project: services and the resources they use."""

    version: str | None = None
    name: Annotated[str, AfterValidator(_project_name)] | None = None
    include: tuple[Include, ...] = ()
    services: dict[ResourceName, Service] = Field(default_factory=dict)
    networks: dict[ResourceName, Network] = Field(default_factory=dict)
    volumes: dict[ResourceName, Volume] = Field(default_factory=dict)
    secrets: dict[ResourceName, Secret] = Field(default_factory=dict)
    configs: dict[ResourceName, Config] = Field(default_factory=dict)
    models: dict[ResourceName, Model] = Field(default_factory=dict)

    @field_validator("networks", "volumes", mode="before")
    @classmethod
    def _declared_only(cls, value: Any) -> Any:
        return _null_is_empty(value)


PROJECT_FIELDS = compose_keys(Project)
SERVICE_FIELDS = compose_keys(Service)
BUILD_FIELDS = compose_keys(Build)
DEPLOY_FIELDS = compose_keys(Deploy)
DEVELOP_FIELDS = compose_keys(Develop)
HEALTHCHECK_FIELDS = compose_keys(Healthcheck)
NETWORK_FIELDS = compose_keys(Network)
VOLUME_FIELDS = compose_keys(Volume)
SECRET_FIELDS = compose_keys(Secret)
CONFIG_FIELDS = compose_keys(Config)
MODEL_FIELDS = compose_keys(Model)
INCLUDE_FIELDS = compose_keys(Include)
"""The Compose keys each object accepts, for the "every key honoured or refused" checks."""

__all__ = [
    "BUILD_FIELDS",
    "CONFIG_FIELDS",
    "DEPLOY_FIELDS",
    "DEVELOP_FIELDS",
    "EXTENSIONS_ALIAS",
    "HEALTHCHECK_FIELDS",
    "INCLUDE_FIELDS",
    "MODEL_FIELDS",
    "NETWORK_FIELDS",
    "PROJECT_FIELDS",
    "SECRET_FIELDS",
    "SERVICE_FIELDS",
    "VOLUME_FIELDS",
    "BlkioConfig",
    "Build",
    "Config",
    "CredentialSpec",
    "DependsOn",
    "Deploy",
    "Develop",
    "DeviceMapping",
    "DeviceRequest",
    "DiscreteResource",
    "EnvFile",
    "Extends",
    "Extensible",
    "FileRef",
    "GenericResource",
    "Healthcheck",
    "Include",
    "Ipam",
    "IpamPool",
    "Logging",
    "Model",
    "MountBind",
    "MountImage",
    "MountTmpfs",
    "MountVolume",
    "Network",
    "Placement",
    "PlacementPreference",
    "PortConfig",
    "Project",
    "Provider",
    "ReservedDevice",
    "ResourceLimits",
    "ResourceReservations",
    "Resources",
    "RestartPolicy",
    "Secret",
    "Service",
    "ServiceConfig",
    "ServiceHook",
    "ServiceModel",
    "ServiceNetwork",
    "ServiceSecret",
    "ThrottleDevice",
    "Ulimit",
    "UpdateConfig",
    "Volume",
    "VolumeMount",
    "WatchTrigger",
    "WeightDevice",
    "compose_keys",
]
