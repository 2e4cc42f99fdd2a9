"""The project as `docker compose config` prints it, so tools that read that output read ours.

`to_canonical(project)` gives the structure of `docker compose config --format json`;
`to_canonical(project, yaml=True)` gives the structure (and key order) of the YAML output. The
two differ, because Compose builds them differently (compose-go v2.9.1, Docker Compose v2.40):

* JSON: the top-level keys are sorted and `models` is left out; `x-*` keys are printed only at
  the top level; `command` and `entrypoint` are always there (`null` when unset); `ipam`,
  `deploy.resources`, `deploy.placement` and `develop.watch[].exec` are printed even when empty;
  `blkio_config` device entries use the keys `Path`, `Weight`, `Rate`.
* YAML: top-level keys in the order name, services, networks, volumes, secrets, configs, models,
  then `x-*`; every object ends with its own `x-*` keys; unset `command`/`entrypoint` and the
  empty objects above are left out; blkio keys are lowercase.

Keys of objects come in the order Compose declares them (as the models do); keys of maps
(services, environment, labels...) are sorted: by code point for JSON, by yaml.v3's "natural"
order for YAML (`yaml_key_order`). Compose also prints every `$` as `$$` after interpolation,
so the output can be read again without being interpolated twice (`escape_dollars`).
"""

from __future__ import annotations

import functools
import struct
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from datetime import timedelta
from typing import Any, get_args

from pydantic import BaseModel

from composer.schema.models import (
    Build,
    DependsOn,
    Deploy,
    DeviceRequest,
    DiscreteResource,
    EnvFile,
    Healthcheck,
    Network,
    Project,
    ReservedDevice,
    RestartPolicy,
    Service,
    ServiceHook,
    ThrottleDevice,
    Ulimit,
    UpdateConfig,
    WatchTrigger,
    WeightDevice,
)
from composer.schema.models_common import EXTENSIONS_ALIAS, PrintAs, format_duration

# Fields Compose keeps behind a pointer: printed whenever set, even to false, 0 or "0s".
_POINTER: dict[type[BaseModel], frozenset[str]] = {
    Service: frozenset({"attach", "init", "scale", "stop_grace_period", "command", "entrypoint"}),
    Healthcheck: frozenset({"timeout", "interval", "retries", "start_period", "start_interval"}),
    Deploy: frozenset({"replicas"}),
    UpdateConfig: frozenset({"parallelism"}),
    RestartPolicy: frozenset({"delay", "max_attempts", "window"}),
    Network: frozenset({"enable_ipv4", "enable_ipv6"}),
}
# Fields Compose prints whatever their value.
_ALWAYS: dict[type[BaseModel], frozenset[str]] = {
    DependsOn: frozenset({"required"}),
    DiscreteResource: frozenset({"kind", "value"}),
    WatchTrigger: frozenset({"path", "action"}),
    ServiceHook: frozenset({"command"}),
}
# Fields printed in JSON even when unset, with this value; left out of YAML when empty.
_JSON_DEFAULTS: dict[type[BaseModel], dict[str, Any]] = {
    Service: {"command": None, "entrypoint": None},
    Network: {"ipam": {}},
    Deploy: {"resources": {}, "placement": {}},
    WatchTrigger: {"exec": {"command": None}},
}
_YAML_OMIT_EMPTY = frozenset(
    {(Network, "ipam"), (Deploy, "resources"), (Deploy, "placement"), (WatchTrigger, "exec")}
)
# Objects whose `x-*` keys Compose drops even from YAML.
_NO_EXTENSIONS = frozenset({DeviceRequest, ReservedDevice, Ulimit})
_BLKIO_JSON_KEYS = {"path": "Path", "weight": "Weight", "rate": "Rate"}


def to_canonical(project: Project, *, yaml: bool = False, escape_dollars: bool = False) -> dict[str, Any]:
    """The project as `docker compose config` prints it (`--format json`, or YAML if `yaml`).

    Dict order is the printed key order. `escape_dollars` writes every `$` as `$$`, as `config`
    does unless `--no-interpolate` (off by default: the CLI escapes the document it prints).
    """
    out = _Printer(yaml).project(project)
    return _escape(out) if escape_dollars else out


def yaml_key_order(keys: Iterable[str]) -> list[str]:
    """Map keys in the order yaml.v3 writes them: digit runs compare as numbers (`a2` < `a10`)."""
    return sorted(keys, key=functools.cmp_to_key(_yaml_cmp))


class _Printer:
    """One conversion; `yaml` picks the YAML flavour of the differences listed above."""

    def __init__(self, yaml: bool) -> None:
        self.yaml = yaml

    def project(self, project: Project) -> dict[str, Any]:
        sections: list[tuple[str, Any]] = [("services", self.map_of(project.services))]
        for key in ("networks", "volumes", "secrets", "configs") + (("models",) if self.yaml else ()):
            resources = getattr(project, key)
            if resources:
                sections.append((key, self.map_of(resources)))
        ext = [(k, self.value(v)) for k, v in self.sorted_items(project.extensions)]
        if self.yaml:
            head = [("name", project.name)] if project.name else []
            return dict(head + sections + ext)
        return dict(sorted([("name", project.name or ""), *sections, *ext]))

    def map_of(self, items: Mapping[str, Any]) -> dict[str, Any]:
        return {key: self.value(item) for key, item in self.sorted_items(items)}

    def sorted_items(self, items: Mapping[str, Any]) -> list[tuple[str, Any]]:
        keys = yaml_key_order(items) if self.yaml else sorted(items)
        return [(key, items[key]) for key in keys]

    def value(self, value: Any) -> Any:
        """Any value found in a model: objects, maps, lists and scalars as Compose writes them."""
        if isinstance(value, Ulimit):
            return self.ulimit(value)
        if isinstance(value, BaseModel):
            return self.model(value)
        if isinstance(value, Mapping):
            return self.map_of(value)
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        if isinstance(value, timedelta):
            return format_duration(value)
        return value

    def model(self, model: BaseModel) -> dict[str, Any]:
        cls = type(model)
        out: dict[str, Any] = {}
        for name, how in _plan(cls):
            raw = getattr(model, name)
            special = _SPECIAL.get((cls, name))
            if special is not None:
                if raw:
                    out[name] = special(self, raw)
                continue
            if raw is None or _is_zero(raw):
                keep = name in _ALWAYS.get(cls, ()) or (raw is not None and name in _POINTER.get(cls, ()))
                if not keep:
                    default = _JSON_DEFAULTS.get(cls, {})
                    if not self.yaml and name in default:
                        out[name] = default[name]
                    continue
            printed = self.scalar(raw, how)
            if self.yaml and (cls, name) in _YAML_OMIT_EMPTY and printed == {}:
                continue
            out[_BLKIO_JSON_KEYS.get(name, name) if self._blkio(cls) else name] = printed
        if self.yaml and cls not in _NO_EXTENSIONS:
            extensions = getattr(model, "extensions", None) or {}
            for key, item in self.sorted_items(extensions):
                out[key] = self.value(item)
        return out

    def _blkio(self, cls: type[BaseModel]) -> bool:
        return not self.yaml and cls in (WeightDevice, ThrottleDevice)

    def scalar(self, value: Any, how: str | None) -> Any:
        if how == "string" and isinstance(value, int):
            return str(value)
        if how == "octal" and isinstance(value, int):
            return f"0{value:o}"
        if isinstance(value, float):
            return _float32(value)  # every float of the Compose model is a Go float32
        return self.value(value)

    def ulimit(self, limit: Ulimit) -> Any:
        if limit.single and limit.soft:
            return limit.soft
        if self.yaml:
            return {"soft": limit.soft, "hard": limit.hard}
        return {k: v for k, v in (("soft", limit.soft), ("hard", limit.hard)) if v}

    def extra_hosts(self, hosts: Mapping[str, tuple[str, ...]]) -> list[str]:
        return sorted(f"{host}={ip}" for host, ips in hosts.items() for ip in ips)

    def env_files(self, files: tuple[EnvFile, ...]) -> list[Any]:
        out: list[Any] = []
        for item in files:
            if item.required:
                out.append(item.path)
            elif self.yaml:
                out.append({"path": item.path, "required": False})
            else:
                entry: dict[str, Any] = {"path": item.path, "required": False}
                if item.format:
                    entry["format"] = item.format
                out.append(entry)
        return out

    def ssh(self, keys: Mapping[str, str | None]) -> list[str]:
        # Compose writes `id: path` in YAML and fails on paths in JSON; we write `id=path` there.
        sep = ": " if self.yaml else "="
        return [key if path is None else f"{key}{sep}{path}" for key, path in keys.items()]


_SPECIAL: dict[tuple[type[BaseModel], str], Callable[[_Printer, Any], Any]] = {
    (Service, "extra_hosts"): _Printer.extra_hosts,
    (Build, "extra_hosts"): _Printer.extra_hosts,
    (Service, "env_file"): _Printer.env_files,
    (Build, "ssh"): _Printer.ssh,
}


@functools.cache
def _plan(cls: type[BaseModel]) -> tuple[tuple[str, str | None], ...]:
    """The printed fields of a model, in order, each with its `PrintAs` mark if any."""
    plan: list[tuple[str, str | None]] = []
    for name, info in cls.model_fields.items():
        if info.alias == EXTENSIONS_ALIAS:
            continue
        marks = [m.how for m in _walk_metadata([info.annotation, *info.metadata]) if isinstance(m, PrintAs)]
        plan.append((name, marks[0] if marks else None))
    return tuple(plan)


def _walk_metadata(roots: list[Any]) -> Iterable[Any]:
    stack = list(roots)
    while stack:
        item = stack.pop()
        yield item
        stack.extend(get_args(item))


def _is_zero(value: Any) -> bool:
    """Go's notion of an empty value for `omitempty`."""
    if isinstance(value, bool | int | float | str | timedelta | list | tuple | dict):
        return not value
    return False


def _float32(value: float) -> float | int:
    """A float32 as Go prints it: the shortest decimal that reads back as the same float32."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        shortest = float(f"{single:.{digits}g}")
        if struct.unpack("f", struct.pack("f", shortest))[0] == single:
            break
    else:
        shortest = single
    return int(shortest) if shortest.is_integer() and abs(shortest) < 1e21 else shortest


def _escape(node: Any) -> Any:
    if isinstance(node, str):
        return node.replace("$", "$$")
    if isinstance(node, dict):
        return {_escape(k): _escape(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_escape(v) for v in node]
    return node


def _yaml_cmp(a: str, b: str) -> int:
    """yaml.v3's `keyList.Less` for two string keys, as a comparison function."""
    if a == b:
        return 0
    return -1 if _yaml_less(a, b) else 1


def _is_letter(ch: str) -> bool:
    return unicodedata.category(ch).startswith("L")


def _is_digit(ch: str) -> bool:
    return unicodedata.category(ch) == "Nd"


def _yaml_less(a: str, b: str) -> bool:
    digits = False
    for i in range(min(len(a), len(b))):
        ca, cb = a[i], b[i]
        if ca == cb:
            digits = _is_digit(ca)
            continue
        al, bl = _is_letter(ca), _is_letter(cb)
        if al and bl:
            return ca < cb
        if al or bl:
            return al if digits else bl
        an = bn = 0
        if ca == "0" or cb == "0":
            j = i - 1
            while j >= 0 and _is_digit(a[j]):
                if a[j] != "0":
                    an = bn = 1
                    break
                j -= 1
        ai = i
        while ai < len(a) and _is_digit(a[ai]):
            an = an * 10 + ord(a[ai]) - 48
            ai += 1
        bi = i
        while bi < len(b) and _is_digit(b[bi]):
            bn = bn * 10 + ord(b[bi]) - 48
            bi += 1
        if an != bn:
            return an < bn
        if ai != bi:
            return ai < bi
        return ca < cb
    return len(a) < len(b)


__all__ = ["to_canonical", "yaml_key_order"]
