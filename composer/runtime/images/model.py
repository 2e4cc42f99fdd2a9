"""The JSON documents of images: OCI descriptors, manifests, indexes, image configs.

Hand-written (no maintained Python library covers them, see `reference/ecosystem.md` 1.5). They
validate what composer relies on and keep every other field (`extra`), so nothing is lost; the stored
blob, not the model, is the truth. Docker's schema-2 media types are accepted next to OCI's because
`docker save` writes them.

Plain frozen dataclasses with a small field table each, not pydantic: every image command (a pull,
a `run`) parses these, and building nine pydantic models cost about 60 ms of start-up.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from composer.errors import ComposerError
from composer.runtime.images.reference import check_digest

OCI_LAYOUT_VERSION = "1.0.0"

MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MT_OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
MT_DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MT_DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
MT_DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
MT_DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar"
MT_DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"

INDEX_TYPES = frozenset({MT_OCI_INDEX, MT_DOCKER_LIST})
MANIFEST_TYPES = frozenset({MT_OCI_MANIFEST, MT_DOCKER_MANIFEST})
CONFIG_TYPES = frozenset({MT_OCI_CONFIG, MT_DOCKER_CONFIG})
LAYER_TYPES = frozenset(
    {
        MT_OCI_LAYER,
        MT_OCI_LAYER_GZIP,
        MT_OCI_LAYER_ZSTD,
        MT_DOCKER_LAYER,
        MT_DOCKER_LAYER_GZIP,
        # Non-distributable ("foreign") layers are ordinary tars once they are in an archive.
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)

ANNOTATION_REF_NAME = "org.opencontainers.image.ref.name"
ANNOTATION_CONTAINERD_NAME = "io.containerd.image.name"


class _Invalid(Exception):
    def __init__(self, loc: tuple[str | int, ...], msg: str) -> None:
        super().__init__(msg)
        self.loc, self.msg = loc, msg


Convert = Callable[[Any, tuple[str | int, ...]], Any]


def _str(value: Any, loc: tuple[str | int, ...]) -> str:
    if not isinstance(value, str):
        raise _Invalid(loc, "Input should be a valid string")
    return value


def _int(value: Any, loc: tuple[str | int, ...]) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Invalid(loc, "Input should be a valid integer")
    return value


def _size(value: Any, loc: tuple[str | int, ...]) -> int:
    if _int(value, loc) < 0:
        raise _Invalid(loc, "Input should be greater than or equal to 0")
    return int(value)


def _bool(value: Any, loc: tuple[str | int, ...]) -> bool:
    if not isinstance(value, bool):
        raise _Invalid(loc, "Input should be a valid boolean")
    return value


def _digest(value: Any, loc: tuple[str | int, ...]) -> str:
    try:
        return check_digest(_str(value, loc))
    except ComposerError as err:
        raise _Invalid(loc, f"Value error, {err.message}") from None


def _list(item: Convert) -> Convert:
    def convert(value: Any, loc: tuple[str | int, ...]) -> list[Any]:
        if not isinstance(value, list):
            raise _Invalid(loc, "Input should be a valid list")
        return [item(v, (*loc, i)) for i, v in enumerate(value)]
    return convert


def _dict(item: Convert | None) -> Convert:
    def convert(value: Any, loc: tuple[str | int, ...]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise _Invalid(loc, "Input should be a valid dictionary")
        return {str(k): v if item is None else item(v, (*loc, str(k))) for k, v in value.items()}
    return convert


def _object(value: Any, loc: tuple[str | int, ...]) -> Any:
    if not isinstance(value, dict):
        raise _Invalid(loc, "Input should be a valid dictionary")
    return value


def _doc(kind: type[_D]) -> Convert:
    return lambda value, loc: kind.parse(value, loc)


_REQUIRED = object()


class _Doc:
    """A JSON object: the fields of `FIELDS` (attribute, JSON key, converter, default or _REQUIRED), checked
    and converted; `null` counts as absent; every other key is kept in `extra`."""

    FIELDS: ClassVar[tuple[tuple[str, str, Convert, Any], ...]] = ()
    extra: Mapping[str, Any]

    @classmethod
    def parse(cls: type[_D], raw: Any, loc: tuple[str | int, ...] = ()) -> _D:
        if not isinstance(raw, dict):
            raise _Invalid(loc, "Input should be a valid dictionary")
        known = {key for _, key, _, _ in cls.FIELDS}
        values: dict[str, Any] = {}
        for attr, key, convert, default in cls.FIELDS:
            value = raw.get(key)
            if value is None and attr != key:
                value = raw.get(attr)  # populated by name, as the models always allowed
            if value is None:
                if default is _REQUIRED:
                    raise _Invalid((*loc, key), "Field required")
                values[attr] = default
            else:
                values[attr] = convert(value, (*loc, key))
        return cls(**values, extra={k: v for k, v in raw.items() if k not in known})  # type: ignore[call-arg]

    def to_json(self) -> dict[str, Any]:
        """The document under its JSON keys, absent (None) fields left out, extra keys kept."""
        out: dict[str, Any] = {}
        for attr, key, _, _ in self.FIELDS:
            value = getattr(self, attr)
            if isinstance(value, _Doc):
                out[key] = value.to_json()
            elif isinstance(value, list):
                out[key] = [v.to_json() if isinstance(v, _Doc) else copy.deepcopy(v) for v in value]
            elif value is not None:
                out[key] = copy.deepcopy(value)  # the caller may edit it; the model stays as parsed
        out.update(copy.deepcopy(dict(self.extra)))
        return out


_D = TypeVar("_D", bound=_Doc)


@dataclass(frozen=True, slots=True)
class Platform(_Doc):
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("architecture", "architecture", _str, _REQUIRED), ("os", "os", _str, _REQUIRED),
              ("variant", "variant", _str, None), ("os_version", "os.version", _str, None))


@dataclass(frozen=True, slots=True)
class Descriptor(_Doc):
    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] | None = None
    platform: Platform | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("media_type", "mediaType", _str, _REQUIRED), ("digest", "digest", _digest, _REQUIRED),
              ("size", "size", _size, _REQUIRED), ("annotations", "annotations", _dict(_str), None),
              ("platform", "platform", _doc(Platform), None))


@dataclass(frozen=True, slots=True)
class Manifest(_Doc):
    schema_version: int
    config: Descriptor
    layers: list[Descriptor]
    media_type: str | None = None
    annotations: dict[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("schema_version", "schemaVersion", _int, _REQUIRED), ("media_type", "mediaType", _str, None),
              ("config", "config", _doc(Descriptor), _REQUIRED),
              ("layers", "layers", _list(_doc(Descriptor)), _REQUIRED),
              ("annotations", "annotations", _dict(_str), None))


@dataclass(frozen=True, slots=True)
class Index(_Doc):
    schema_version: int
    manifests: list[Descriptor]
    media_type: str | None = None
    annotations: dict[str, str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("schema_version", "schemaVersion", _int, _REQUIRED), ("media_type", "mediaType", _str, None),
              ("manifests", "manifests", _list(_doc(Descriptor)), _REQUIRED),
              ("annotations", "annotations", _dict(_str), None))


@dataclass(frozen=True, slots=True)
class Healthcheck(_Doc):
    """Docker's extension to the OCI config; durations are nanoseconds."""

    test: list[str] | None = None
    interval: int | None = None
    timeout: int | None = None
    start_period: int | None = None
    start_interval: int | None = None
    retries: int | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("test", "Test", _list(_str), None), ("interval", "Interval", _int, None),
              ("timeout", "Timeout", _int, None), ("start_period", "StartPeriod", _int, None),
              ("start_interval", "StartInterval", _int, None), ("retries", "Retries", _int, None))


@dataclass(frozen=True, slots=True)
class ContainerConfig(_Doc):
    """The `config` object of an image config: what a container runs by default."""

    user: str | None = None
    exposed_ports: dict[str, Any] | None = None
    env: list[str] | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    volumes: dict[str, Any] | None = None
    working_dir: str | None = None
    labels: dict[str, str] | None = None
    stop_signal: str | None = None
    healthcheck: Healthcheck | None = None
    args_escaped: bool | None = None
    on_build: list[str] | None = None
    shell: list[str] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("user", "User", _str, None), ("exposed_ports", "ExposedPorts", _dict(_object), None),
              ("env", "Env", _list(_str), None), ("entrypoint", "Entrypoint", _list(_str), None),
              ("cmd", "Cmd", _list(_str), None), ("volumes", "Volumes", _dict(_object), None),
              ("working_dir", "WorkingDir", _str, None), ("labels", "Labels", _dict(_str), None),
              ("stop_signal", "StopSignal", _str, None), ("healthcheck", "Healthcheck", _doc(Healthcheck), None),
              ("args_escaped", "ArgsEscaped", _bool, None), ("on_build", "OnBuild", _list(_str), None),
              ("shell", "Shell", _list(_str), None))


@dataclass(frozen=True, slots=True)
class RootFS(_Doc):
    type: str
    diff_ids: list[str]
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("type", "type", _str, _REQUIRED), ("diff_ids", "diff_ids", _list(_digest), _REQUIRED))


@dataclass(frozen=True, slots=True)
class HistoryEntry(_Doc):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("created", "created", _str, None), ("created_by", "created_by", _str, None),
              ("author", "author", _str, None), ("comment", "comment", _str, None),
              ("empty_layer", "empty_layer", _bool, None))


@dataclass(frozen=True, slots=True)
class ImageConfig(_Doc):
    """An OCI / Docker image config; its sha256 is the image ID."""

    rootfs: RootFS
    architecture: str = ""
    os: str = ""
    variant: str | None = None
    created: str | None = None
    author: str | None = None
    config: ContainerConfig | None = None
    history: list[HistoryEntry] | None = None
    extra: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    FIELDS = (("rootfs", "rootfs", _doc(RootFS), _REQUIRED), ("architecture", "architecture", _str, ""),
              ("os", "os", _str, ""), ("variant", "variant", _str, None), ("created", "created", _str, None),
              ("author", "author", _str, None), ("config", "config", _doc(ContainerConfig), None),
              ("history", "history", _list(_doc(HistoryEntry)), None))


def parse_doc(model: type[_D], data: bytes, what: str) -> _D:
    """Parse one JSON document; malformed or mistyped input is a one-line ComposerError."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ComposerError(f"{what}: not valid JSON ({err})") from None
    try:
        return model.parse(raw)
    except _Invalid as err:
        where = ".".join(str(p) for p in err.loc) or "document"
        raise ComposerError(f"{what}: {where}: {err.msg}") from None


def dump_json(value: Any) -> bytes:
    """Compact, key-sorted JSON: stable bytes, so equal documents have equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
