"""The Compose models: coverage of the specification, coercions, defaults and value rules."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from composer.schema.models import (
    BUILD_FIELDS,
    PROJECT_FIELDS,
    SERVICE_FIELDS,
    BlkioConfig,
    Build,
    Config,
    CredentialSpec,
    DependsOn,
    Deploy,
    Develop,
    DeviceMapping,
    DeviceRequest,
    DiscreteResource,
    EnvFile,
    Extends,
    FileRef,
    GenericResource,
    Healthcheck,
    Include,
    Ipam,
    IpamPool,
    Logging,
    Model,
    MountBind,
    MountImage,
    MountTmpfs,
    MountVolume,
    Network,
    Placement,
    PlacementPreference,
    PortConfig,
    Project,
    Provider,
    ReservedDevice,
    ResourceLimits,
    ResourceReservations,
    Resources,
    RestartPolicy,
    Secret,
    Service,
    ServiceHook,
    ServiceModel,
    ServiceNetwork,
    ThrottleDevice,
    Ulimit,
    UpdateConfig,
    Volume,
    VolumeMount,
    WatchTrigger,
    WeightDevice,
    compose_keys,
)
from composer.schema.models_common import format_duration, go_sprint, parse_bytes, parse_duration

SPEC_PATH = Path("/work/shared/data/compose-spec/compose-spec.json")


def service(**keys: Any) -> Service:
    return Service.model_validate({"image": "busybox", **keys})


def errors_of(model: type[BaseModel], data: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        model.model_validate(data)
    return [str(e["msg"]) for e in info.value.errors()]


# --- every key of the specification is a field -------------------------------------------------


def _spec() -> dict[str, Any]:
    if not SPEC_PATH.exists():
        pytest.skip("compose-spec.json test data not available")
    spec: dict[str, Any] = json.loads(SPEC_PATH.read_text())
    return spec


def _at(spec: dict[str, Any], pointer: str) -> dict[str, Any]:
    """Follow a slash path through the schema, resolving `$ref`s on the way."""
    node: Any = spec
    for part in pointer.split("/"):
        node = node[int(part)] if isinstance(node, list) else node[part]
        while isinstance(node, dict) and "$ref" in node:
            node = _at(spec, node["$ref"].removeprefix("#/"))
    return dict(node)


SVC = "definitions/service/properties"
DEPLOY = "definitions/deployment/properties"
MOUNT = f"{SVC}/volumes/items/oneOf/1"
SPEC_OBJECTS: list[tuple[str, type[BaseModel]]] = [
    ("", Project),
    ("definitions/service", Service),
    (f"{SVC}/build/oneOf/1", Build),
    (f"{SVC}/blkio_config", BlkioConfig),
    ("definitions/blkio_limit", ThrottleDevice),
    ("definitions/blkio_weight", WeightDevice),
    (f"{SVC}/credential_spec", CredentialSpec),
    (f"{SVC}/depends_on/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$", DependsOn),
    (f"{SVC}/devices/items/oneOf/1", DeviceMapping),
    (f"{SVC}/extends/oneOf/1", Extends),
    (f"{SVC}/provider", Provider),
    (f"{SVC}/logging", Logging),
    (f"{SVC}/models/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$", ServiceModel),
    (f"{SVC}/networks/oneOf/1/patternProperties/^[a-zA-Z0-9._-]+$/oneOf/0", ServiceNetwork),
    (f"{SVC}/ports/items/oneOf/2", PortConfig),
    (MOUNT, VolumeMount),
    (f"{MOUNT}/properties/bind", MountBind),
    (f"{MOUNT}/properties/volume", MountVolume),
    (f"{MOUNT}/properties/tmpfs", MountTmpfs),
    (f"{MOUNT}/properties/image", MountImage),
    ("definitions/healthcheck", Healthcheck),
    ("definitions/development", Develop),
    ("definitions/development/properties/watch/items", WatchTrigger),
    ("definitions/deployment", Deploy),
    (f"{DEPLOY}/update_config", UpdateConfig),
    (f"{DEPLOY}/rollback_config", UpdateConfig),
    (f"{DEPLOY}/resources", Resources),
    (f"{DEPLOY}/resources/properties/limits", ResourceLimits),
    (f"{DEPLOY}/resources/properties/reservations", ResourceReservations),
    (f"{DEPLOY}/restart_policy", RestartPolicy),
    (f"{DEPLOY}/placement", Placement),
    (f"{DEPLOY}/placement/properties/preferences/items", PlacementPreference),
    ("definitions/generic_resources/items", GenericResource),
    ("definitions/generic_resources/items/properties/discrete_resource_spec", DiscreteResource),
    ("definitions/devices/items", ReservedDevice),
    ("definitions/gpus/oneOf/1/items", DeviceRequest),
    ("definitions/include/oneOf/1", Include),
    ("definitions/network", Network),
    ("definitions/network/properties/ipam", Ipam),
    ("definitions/network/properties/ipam/properties/config/items", IpamPool),
    ("definitions/volume", Volume),
    ("definitions/secret", Secret),
    ("definitions/config", Config),
    ("definitions/model", Model),
    ("definitions/service_hook", ServiceHook),
    ("definitions/env_file/oneOf/1/items/oneOf/1", EnvFile),
    ("definitions/service_config_or_secret/items/oneOf/1", FileRef),
    ("definitions/ulimits/patternProperties/^[a-z]+$/oneOf/1", Ulimit),
]


@pytest.mark.parametrize(("pointer", "model"), SPEC_OBJECTS, ids=[p or "top" for p, _ in SPEC_OBJECTS])
def test_every_spec_key_is_a_field(pointer: str, model: type[BaseModel]) -> None:
    spec = _spec()
    node = _at(spec, pointer) if pointer else spec
    assert compose_keys(model) == set(node["properties"])


@pytest.mark.parametrize(("pointer", "model"), SPEC_OBJECTS, ids=[p or "top" for p, _ in SPEC_OBJECTS])
def test_extensions_allowed_where_the_spec_allows_them(pointer: str, model: type[BaseModel]) -> None:
    spec = _spec()
    node = _at(spec, pointer) if pointer else spec
    allows = "^x-" in node.get("patternProperties", {}) or model is DeviceRequest
    assert (model.model_fields.get("extensions") is not None) == allows


def test_field_sets_are_exported() -> None:
    assert "restart" in SERVICE_FIELDS
    assert "extensions" not in SERVICE_FIELDS
    assert "dockerfile_inline" in BUILD_FIELDS
    assert {"services", "networks", "models", "include"} <= PROJECT_FIELDS


# --- values as interpolation leaves them ---------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("Yes", True), ("on", True), ("FALSE", False)]
)
def test_booleans_from_strings(text: str, expected: bool) -> None:
    assert service(privileged=text).privileged is expected


def test_boolean_refuses_other_strings_and_numbers() -> None:
    assert errors_of(Service, {"image": "x", "tty": "1"}) == ['must be true or false, got "1"']
    assert errors_of(Service, {"image": "x", "tty": 1}) == ["must be true or false, got 1"]


def test_integers_from_strings_but_not_booleans() -> None:
    assert PortConfig.model_validate({"target": "8080"}).target == 8080
    assert errors_of(PortConfig, {"target": True}) == ["must be an integer, got true"]
    assert errors_of(PortConfig, {"target": 8.5}) == ["must be an integer, got 8.5"]


def test_numbers_in_maps_become_strings_as_go_writes_them() -> None:
    svc = service(environment={"A": 1, "B": None, "C": True, "D": 1.5, "E": 1e6}, labels={"l": None, "n": 2})
    assert svc.environment == {"A": "1", "B": None, "C": "true", "D": "1.5", "E": "1e+06"}
    assert svc.labels == {"l": "", "n": "2"}


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.5, "0.5"), (100.0, "100"), (1234567.0, "1.234567e+06"), (1e-5, "1e-05"), (-2.0, "-2")],
)
def test_go_sprint_of_floats(value: float, text: str) -> None:
    assert go_sprint(value) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024", 1024),
        ("1k", 1024),
        ("512m", 512 << 20),
        ("2GiB", 2 << 30),
        ("1.5k", 1536),
        ("10 MB", 10 << 20),
    ],
)
def test_byte_sizes(text: str, size: int) -> None:
    assert parse_bytes(text) == size
    assert service(shm_size=text).shm_size == size


def test_bad_byte_size() -> None:
    assert errors_of(Service, {"image": "x", "mem_limit": "lots"})[0].startswith("must be a size in bytes")


@pytest.mark.parametrize(
    ("text", "go"),
    [
        ("90s", "1m30s"),
        ("1h", "1h0m0s"),
        ("1.5h", "1h30m0s"),
        ("500ms", "500ms"),
        ("0", "0s"),
        ("1d", "24h0m0s"),
    ],
)
def test_durations_parse_and_print_like_go(text: str, go: str) -> None:
    assert format_duration(parse_duration(text)) == go


def test_duration_refuses_bare_numbers() -> None:
    msgs = errors_of(Healthcheck, {"interval": 10})
    assert msgs == ['must be a duration such as "30s", "1m30s" or "500ms", got 10']
    assert Healthcheck.model_validate({"interval": "1m30s"}).interval == timedelta(seconds=90)


def test_file_mode_string_is_octal_number_is_itself() -> None:
    assert FileRef.model_validate({"source": "s", "mode": "0440"}).mode == 0o440
    assert FileRef.model_validate({"source": "s", "mode": 288}).mode == 288


# --- defaults and shapes Compose fills in --------------------------------------------------------


def test_port_defaults_and_published_as_string() -> None:
    port = PortConfig.model_validate({"target": 80, "published": 8080})
    assert (port.mode, port.protocol, port.published) == ("ingress", "tcp", "8080")


def test_depends_on_defaults_and_list_form() -> None:
    svc = service(depends_on=["db"])
    assert svc.depends_on["db"] == DependsOn(condition="service_started", required=True, restart=False)


def test_device_request_counts_all_by_default() -> None:
    assert DeviceRequest.model_validate({"driver": "nvidia"}).count == -1
    assert DeviceRequest.model_validate({"count": "all"}).count == -1
    assert DeviceRequest.model_validate({"device_ids": ["0"]}).count is None
    assert service(gpus="all").gpus == (DeviceRequest(count=-1),)


def test_simple_short_forms_are_accepted() -> None:
    svc = service(
        networks=["front"],
        models=["m"],
        dns="8.8.8.8",
        tmpfs="/run",
        build=".",
        extends="base",
        env_file="a.env",
    )
    assert svc.networks == {"front": None}
    assert svc.models == {"m": None}
    assert svc.dns == ("8.8.8.8",)
    assert svc.tmpfs == ("/run",)
    assert svc.build is not None
    assert svc.build.context == "."
    assert svc.extends == Extends(service="base")
    assert svc.env_file == (EnvFile(path="a.env", required=True),)
    assert service(secrets=["s"]).secrets == (FileRef(source="s"),)
    assert Healthcheck.model_validate({"test": "curl x"}).test == ("CMD-SHELL", "curl x")


def test_ulimits_single_number_or_pair() -> None:
    svc = service(ulimits={"nofile": 1024, "nproc": {"soft": 1, "hard": "2"}})
    assert (svc.ulimits["nofile"].soft, svc.ulimits["nofile"].hard, svc.ulimits["nofile"].single) == (
        1024,
        1024,
        True,
    )
    assert (svc.ulimits["nproc"].soft, svc.ulimits["nproc"].hard, svc.ulimits["nproc"].single) == (
        1,
        2,
        False,
    )
    assert errors_of(Service, {"image": "x", "ulimits": {"NoFile": 1}}) == [
        'invalid ulimit name "NoFile" (lowercase letters only)'
    ]


def test_extra_hosts_from_list_or_map() -> None:
    listed = service(extra_hosts=["a=1.1.1.1", "b:::1", "a=[::2]"])
    assert listed.extra_hosts == {"a": ("1.1.1.1", "::2"), "b": ("::1",)}
    mapped = service(extra_hosts={"a": "1.1.1.1", "b": ["::1", "2.2.2.2"]})
    assert mapped.extra_hosts == {"a": ("1.1.1.1",), "b": ("::1", "2.2.2.2")}
    assert errors_of(Service, {"image": "x", "extra_hosts": ["nohost"]}) == [
        '"nohost" has no IP address (write "host=ip")'
    ]


def test_external_object_folds_into_name() -> None:
    vol = Volume.model_validate({"external": {"name": "real"}})
    assert (vol.external, vol.name) == (True, "real")
    assert Network.model_validate({"external": "true"}).external is True


def test_blkio_keys_as_json_output_spells_them() -> None:
    blkio = BlkioConfig.model_validate({"weight_device": [{"Path": "/dev/sda", "Weight": 400}]})
    assert blkio.weight_device == (WeightDevice(path="/dev/sda", weight=400),)


def test_watch_exec_null_command_means_no_exec() -> None:
    trigger = WatchTrigger.model_validate({"path": "/src", "action": "rebuild", "exec": {"command": None}})
    assert trigger.exec is None


# --- extensions ------------------------------------------------------------------------------------


def test_extensions_are_kept_in_order() -> None:
    svc = service(**{"x-b": 1, "x-a": {"deep": [1]}})
    assert list(svc.extensions.items()) == [("x-b", 1), ("x-a", {"deep": [1]})]
    project = Project.model_validate({"services": {}, "x-top": True})
    assert project.extensions == {"x-top": True}


def test_extensions_refused_where_the_spec_refuses_them() -> None:
    assert errors_of(BlkioConfig, {"x-a": 1}) == ["Extra inputs are not permitted"]


def test_unknown_key_is_refused() -> None:
    with pytest.raises(ValidationError) as info:
        Service.model_validate({"image": "x", "restat": "always"})
    assert info.value.errors()[0]["type"] == "extra_forbidden"


# --- value rules -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["no", "always", "on-failure", "on-failure:5", "unless-stopped"])
def test_restart_values(value: str) -> None:
    assert service(restart=value).restart == value


@pytest.mark.parametrize("value", ["sometimes", "on-failure:x", "never", ""])
def test_restart_refused(value: str) -> None:
    assert errors_of(Service, {"image": "x", "restart": value})[0].startswith(f'invalid value "{value}"')


@pytest.mark.parametrize(
    "value",
    ["always", "never", "missing", "if_not_present", "build", "refresh", "daily", "weekly", "every_1h30m"],
)
def test_pull_policy_values(value: str) -> None:
    assert service(pull_policy=value).pull_policy == value


@pytest.mark.parametrize("value", ["hourly", "every_", "every_5x", "always "])
def test_pull_policy_refused(value: str) -> None:
    assert errors_of(Service, {"image": "x", "pull_policy": value})[0].startswith("invalid value")


def test_condition_protocol_mount_type() -> None:
    assert errors_of(DependsOn, {"condition": "service_ready"})[0].startswith('invalid value "service_ready"')
    assert PortConfig.model_validate({"target": 1, "protocol": "UDP"}).protocol == "UDP"
    assert errors_of(PortConfig, {"target": 1, "protocol": "icmp"})[0].startswith('invalid value "icmp"')
    assert errors_of(VolumeMount, {"type": "blind", "target": "/x"})[0].startswith('invalid value "blind"')


@pytest.mark.parametrize("value", ["8080", "8000-8010", "0"])
def test_published_ports(value: str) -> None:
    assert PortConfig.model_validate({"target": 80, "published": value}).published == value


@pytest.mark.parametrize("value", ["abc", "70000", "9-1", "1-2-3"])
def test_published_refused(value: str) -> None:
    assert errors_of(PortConfig, {"target": 80, "published": value})


def test_names() -> None:
    assert Project.model_validate({"name": "my_app-1"}).name == "my_app-1"
    assert errors_of(Project, {"name": "My App"})[0].startswith('invalid project name "My App"')
    assert errors_of(Project, {"services": {"we b": {"image": "x"}}})[0].startswith('invalid name "we b"')
    assert service(container_name="web.1").container_name == "web.1"
    assert errors_of(Service, {"image": "x", "container_name": "-x"})[0].startswith(
        'invalid container name "-x"'
    )


def test_mount_options_must_fit_the_type() -> None:
    msgs = errors_of(VolumeMount, {"type": "tmpfs", "target": "/t", "bind": {}})
    assert msgs == ['"bind" options do not apply to a tmpfs mount']
    assert errors_of(VolumeMount, {"type": "tmpfs", "source": "/a", "target": "/t"}) == [
        "a tmpfs mount has no source"
    ]
    assert errors_of(VolumeMount, {"type": "bind", "target": "/t"}) == ["a bind mount needs a source"]
    assert errors_of(VolumeMount, {"type": "volume"}) == ["Field required"]


def test_service_needs_an_image_a_build_or_a_provider() -> None:
    assert errors_of(Service, {}) == ['needs "image" or "build" (or "provider")']
    assert Service.model_validate({"provider": {"type": "x"}}).image is None


def test_resource_settings_must_agree_with_deploy() -> None:
    data = {"image": "x", "cpus": 1, "deploy": {"resources": {"limits": {"cpus": "0.5"}}}}
    assert errors_of(Service, data) == [
        '"cpus" and "deploy.resources.limits.cpus" are set to different values'
    ]
    service(mem_limit="1g", deploy={"resources": {"limits": {"memory": "1024m"}}})


def test_mount_targets_are_unique() -> None:
    data = {"image": "x", "tmpfs": ["/a:size=1"], "volumes": [{"type": "volume", "target": "/a"}]}
    assert errors_of(Service, data) == ['"/a" is already mounted by tmpfs[0]']


def test_secrets_and_configs_need_a_source() -> None:
    assert errors_of(Secret, {}) == ['needs "file" or "environment" (or "external: true")']
    assert Secret.model_validate({"external": True}).external
    assert errors_of(Config, {"file": "a", "content": "b"}) == ['"file" and "content" cannot both be set']


def test_external_volume_takes_no_driver() -> None:
    assert errors_of(Volume, {"external": True, "labels": {"a": "b"}}) == [
        '"labels" cannot be set on an external resource'
    ]


def test_unique_string_lists() -> None:
    assert errors_of(Service, {"image": "x", "cap_add": ["NET_ADMIN", "NET_ADMIN"]}) == [
        '"NET_ADMIN" is listed more than once'
    ]


def test_models_are_frozen() -> None:
    svc = service()
    with pytest.raises(ValidationError):
        svc.image = "other"  # type: ignore[misc]
