"""Models of the project's top-level resources: networks, volumes, secrets, configs, models,
and `include` entries.

Field order is the order `docker compose config` prints (compose-go's struct order).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from pydantic import Field, model_validator

from composer.schema.models_common import Bool, Extensible, Int, Labels, Strict, StrList, fail


def fold_external(data: Any) -> Any:
    """`external: {name: x}` (deprecated) -> `name: x, external: true`, as Compose does."""
    if not isinstance(data, Mapping) or not isinstance(data.get("external"), Mapping):
        return data
    external = dict(data["external"])
    out = {**data, "external": True}
    ext_name = external.pop("name", None)
    unknown = [k for k in external if not str(k).startswith("x-")]
    if unknown:
        raise fail("compose_external", f'unknown key "{unknown[0]}" (only "name" is allowed)', at="external")
    if ext_name is not None:
        if "name" in data and data["name"] != ext_name:
            raise fail(
                "compose_external", '"name" and "external.name" differ; set only "name"', at="external"
            )
        out["name"] = ext_name
    return out


class _External(Extensible):
    """A resource that may exist outside the project (`external: true`)."""

    @model_validator(mode="before")
    @classmethod
    def _external_object(cls, data: Any) -> Any:
        return fold_external(data)

    def _only_name_if_external(self, allowed: frozenset[str]) -> None:
        if not getattr(self, "external", False):
            return
        for key in type(self).model_fields:
            if key in allowed or key == "extensions":
                continue
            if getattr(self, key):
                raise fail("compose_external", f'"{key}" cannot be set on an external resource', at=key)


class IpamPool(Extensible):
    """`ipam.config` entry: one subnet and its addresses."""

    subnet: str | None = None
    gateway: str | None = None
    ip_range: str | None = None
    aux_addresses: dict[str, str] = Field(default_factory=dict)


class Ipam(Extensible):
    """`ipam` of a network."""

    driver: str | None = None
    config: tuple[IpamPool, ...] = ()
    options: dict[str, str] = Field(default_factory=dict)


class Network(_External):
    """A top-level network."""

    name: str | None = None
    driver: str | None = None
    driver_opts: Labels = Field(default_factory=dict)
    ipam: Ipam | None = None
    external: Bool = False
    internal: Bool = False
    attachable: Bool = False
    labels: Labels = Field(default_factory=dict)
    enable_ipv4: Bool | None = None
    enable_ipv6: Bool | None = None


class Volume(_External):
    """A top-level named volume."""

    name: str | None = None
    driver: str | None = None
    driver_opts: Labels = Field(default_factory=dict)
    external: Bool = False
    labels: Labels = Field(default_factory=dict)

    @model_validator(mode="after")
    def _external_alone(self) -> Self:
        """Compose refuses `driver`, `driver_opts` or `labels` on an external volume."""
        self._only_name_if_external(frozenset({"name", "external"}))
        return self


class Secret(_External):
    """A top-level secret: read from a file or an environment variable, or external."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    external: Bool = False
    labels: Labels = Field(default_factory=dict)
    driver: str | None = None
    driver_opts: Labels = Field(default_factory=dict)
    template_driver: str | None = None

    @model_validator(mode="after")
    def _has_source(self) -> Self:
        if not self.external and not self.file and not self.environment:
            raise fail("compose_secret", 'needs "file" or "environment" (or "external: true")')
        if self.file and self.environment:
            raise fail("compose_secret", '"file" and "environment" cannot both be set', at="environment")
        return self


class Config(_External):
    """A top-level config: a file, an environment variable, inline content, or external."""

    name: str | None = None
    file: str | None = None
    environment: str | None = None
    content: str | None = None
    external: Bool = False
    labels: Labels = Field(default_factory=dict)
    template_driver: str | None = None

    @model_validator(mode="after")
    def _has_source(self) -> Self:
        sources = [k for k in ("file", "environment", "content") if getattr(self, k) is not None]
        if not self.external and not sources:
            raise fail("compose_config", 'needs "file", "environment" or "content" (or "external: true")')
        if len(sources) > 1:
            raise fail(
                "compose_config", f'"{sources[0]}" and "{sources[1]}" cannot both be set', at=sources[1]
            )
        return self


class Model(Extensible):
    """A top-level AI model that services can use."""

    name: str | None = None
    model: str
    context_size: Int | None = None
    runtime_flags: tuple[str, ...] = ()


class Include(Strict):
    """An `include` entry (resolved by the include phase; kept so it can be validated)."""

    path: StrList
    project_directory: str | None = None
    env_file: StrList = ()

    @model_validator(mode="before")
    @classmethod
    def _short(cls, data: Any) -> Any:
        return {"path": data} if isinstance(data, str) else data


__all__ = ["Config", "Include", "Ipam", "IpamPool", "Model", "Network", "Secret", "Volume", "fold_external"]
