"""The JSON documents of images: OCI descriptors, manifests, indexes, image configs.

Hand-written (no maintained Python library covers them, see `reference/ecosystem.md` 1.5). They
validate what composer relies on and keep every other field (`extra="allow"`), so a config
round-trips byte-for-byte through the blob store: the stored blob, not the model, is the truth.
Docker's schema-2 media types are accepted next to OCI's because `docker save` writes them.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

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


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)


class Platform(_Doc):
    architecture: str
    os: str
    variant: str | None = None
    os_version: str | None = Field(default=None, alias="os.version")


class Descriptor(_Doc):
    media_type: str = Field(alias="mediaType")
    digest: str
    size: int = Field(ge=0)
    annotations: dict[str, str] | None = None
    platform: Platform | None = None

    @field_validator("digest")
    @classmethod
    def _digest(cls, value: str) -> str:
        try:
            return check_digest(value)
        except ComposerError as err:
            raise ValueError(err.message) from None


class Manifest(_Doc):
    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    config: Descriptor
    layers: list[Descriptor]
    annotations: dict[str, str] | None = None


class Index(_Doc):
    schema_version: int = Field(alias="schemaVersion")
    media_type: str | None = Field(default=None, alias="mediaType")
    manifests: list[Descriptor]
    annotations: dict[str, str] | None = None


class Healthcheck(_Doc):
    """Docker's extension to the OCI config; durations are nanoseconds."""

    test: list[str] | None = Field(default=None, alias="Test")
    interval: int | None = Field(default=None, alias="Interval")
    timeout: int | None = Field(default=None, alias="Timeout")
    start_period: int | None = Field(default=None, alias="StartPeriod")
    start_interval: int | None = Field(default=None, alias="StartInterval")
    retries: int | None = Field(default=None, alias="Retries")


class ContainerConfig(_Doc):
    """The `config` object of an image config: what a container runs by default."""

    user: str | None = Field(default=None, alias="User")
    exposed_ports: dict[str, dict[str, Any]] | None = Field(default=None, alias="ExposedPorts")
    env: list[str] | None = Field(default=None, alias="Env")
    entrypoint: list[str] | None = Field(default=None, alias="Entrypoint")
    cmd: list[str] | None = Field(default=None, alias="Cmd")
    volumes: dict[str, dict[str, Any]] | None = Field(default=None, alias="Volumes")
    working_dir: str | None = Field(default=None, alias="WorkingDir")
    labels: dict[str, str] | None = Field(default=None, alias="Labels")
    stop_signal: str | None = Field(default=None, alias="StopSignal")
    healthcheck: Healthcheck | None = Field(default=None, alias="Healthcheck")
    args_escaped: bool | None = Field(default=None, alias="ArgsEscaped")
    on_build: list[str] | None = Field(default=None, alias="OnBuild")
    shell: list[str] | None = Field(default=None, alias="Shell")


class RootFS(_Doc):
    type: str
    diff_ids: list[str]

    @field_validator("diff_ids")
    @classmethod
    def _digests(cls, value: list[str]) -> list[str]:
        for digest in value:
            try:
                check_digest(digest)
            except ComposerError as err:
                raise ValueError(err.message) from None
        return value


class HistoryEntry(_Doc):
    created: str | None = None
    created_by: str | None = None
    author: str | None = None
    comment: str | None = None
    empty_layer: bool | None = None


class ImageConfig(_Doc):
    """An OCI / Docker image config; its sha256 is the image ID."""

    architecture: str = ""
    os: str = ""
    variant: str | None = None
    created: str | None = None
    author: str | None = None
    config: ContainerConfig | None = None
    rootfs: RootFS
    history: list[HistoryEntry] | None = None


_M = TypeVar("_M", bound=BaseModel)


def parse_doc(model: type[_M], data: bytes, what: str) -> _M:
    """Parse one JSON document; malformed or mistyped input is a one-line ComposerError."""
    try:
        raw = json.loads(data)
    except (ValueError, UnicodeDecodeError) as err:
        raise ComposerError(f"{what}: not valid JSON ({err})") from None
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "document"
        raise ComposerError(f"{what}: {where}: {first['msg']}") from None


def dump_json(value: Any) -> bytes:
    """Compact, key-sorted JSON: stable bytes, so equal documents have equal digests."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()
