"""Phase 3: short syntax becomes long syntax, per file, before merging.

Context-free rewrites only, so that merge sees one shape per field: the shapes that
`docker compose config --format json` prints (checked against its binary, see
tests/schema/test_expand_oracle.py). Durations become Go duration strings (`90s` -> `1m30s`);
sizes written as text become strings of bytes (`64m` -> `"67108864"`), sizes written as ints
stay ints. Defaults that need the whole project (the `default` network, resource names, build
context and dockerfile, secret targets, absolute paths) come later, in `complete.py`; casting
other scalars (`"3"` -> 3, `cpus: "0.5"` -> 0.5) is left to the models.

A value of the wrong shape is left as it is for the validator to report. Mistakes only this
phase can see (a bad port, volume, duration, size, command line...) are reported all together,
each at the span of the value, naming the service and the field. The parsers live in
`ports.py`, `volumes.py`, `shellwords.py` and `units.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from composer.errors import ComposerError, Diagnostics, Span, raise_all
from composer.schema.ports import FORMAT_HINT, parse_port
from composer.schema.shellwords import split_command
from composer.schema.tree import YMap, YSeq, located
from composer.schema.units import normalize_bytes, normalize_duration
from composer.schema.volumes import VOLUME_HINT, parse_device, parse_volume

DURATION_HINT = 'a duration is numbers with units, such as "30s", "1m30s" or "500ms"'
BYTES_HINT = 'a size in bytes is a number with an optional unit, such as 1024, "512m" or "2g"'


@dataclass
class _Ctx:
    """What the rules share: the problems found so far and the warnings."""

    diag: Diagnostics
    errors: list[ComposerError] = field(default_factory=list)

    def fail(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.errors.append(ComposerError(message, span=span, hint=hint))


Rule = Callable[[Any, str, Span | None, _Ctx], Any]
"""(value, dotted path for messages, span of the value, context) -> the value in long syntax."""


def _strings(value: Any) -> bool:
    return isinstance(value, YSeq) and all(isinstance(item, str) for item in value)


# --- generic rules --------------------------------------------------------------------------------


def fields(rules: dict[str, Rule]) -> Rule:
    """A mapping whose listed keys are rewritten by their own rules (a copy; spans and tags kept)."""

    def rewrite(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
        if not isinstance(value, YMap):
            return value
        out = value.shallow()
        for key, rule in rules.items():
            if key in value:
                out[key] = rule(value[key], f"{where}.{key}", value.value_span(key), ctx)
        return out

    return rewrite


def each(rule: Rule) -> Rule:
    """A list whose items are each rewritten by `rule`."""

    def rewrite(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
        if not isinstance(value, YSeq):
            return value
        out = YSeq(span=value.span)
        for index, item in enumerate(value):
            out.add(rule(item, f"{where}[{index}]", value.item_span(index), ctx), value.item_span(index))
        return out

    return rewrite


def _listify(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """One string where a list is allowed becomes a one-item list."""
    return YSeq([value], span=span, item_spans=[span]) if isinstance(value, str) else value


def key_values(bare: Any, *, env: bool = False, need_value: bool = False) -> Rule:
    """`["K=V", "K"]` -> `{K: "V", K: bare}`: environment-like lists become mappings.

    `env` adds Compose's check on variable names ending in a space; `need_value` refuses `K`
    alone (build contexts have no default).
    """

    def rewrite(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
        if not _strings(value):
            return value
        out = YMap(span=value.span)
        for index, item in enumerate(value):
            at = value.item_span(index)
            key, sep, text = item.partition("=")
            if env and key[-1:].isspace():
                ctx.fail(f'{where}: variable "{key}" is declared with a trailing space', at)
            elif need_value and not sep:
                ctx.fail(f'{where}: invalid value "{item}", expected key=value', at)
            out.put(key, text if sep else bare, at, at)
        return out

    return rewrite


def names(default: Callable[[], Any]) -> Rule:
    """`[a, b]` -> `{a: default, b: default}` (depends_on, networks, models)."""

    def rewrite(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
        if not isinstance(value, YSeq):
            return value
        out = YMap(span=value.span)
        for index, item in enumerate(value):
            at = value.item_span(index)
            if isinstance(item, str):
                out.put(item, located(default(), at), at, at)
            else:  # reported here: the models cannot take a list of names holding other things
                ctx.fail(f"{where}: entries must be names, got {item!r}", at)
        return out

    return rewrite


def _duration(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A Go duration string, printed as Compose prints it; other types are the validator's."""
    if not isinstance(value, str):
        return value
    try:
        return normalize_duration(value)
    except ValueError as exc:
        ctx.fail(f'{where}: invalid duration "{value}": {exc}; must be a duration', span, DURATION_HINT)
        return value


def _bytes(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A size written as text becomes its number of bytes, as a string (`64m` -> `"67108864"`).

    An int is already a number of bytes and stays one (`memswap_limit: -1` must stay readable:
    `"-1"` is not a size); where the schema wants text only, the validator says so.
    """
    if not isinstance(value, str):
        return value
    try:
        return normalize_bytes(value)
    except ValueError as exc:
        ctx.fail(f'{where}: invalid size "{value}": {exc}; must be a size in bytes', span, BYTES_HINT)
        return value


def _command(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A command line split into argv with Compose's shell-word rules."""
    if not isinstance(value, str):
        return value
    try:
        words = split_command(value)
    except ValueError as exc:
        ctx.fail(f'{where}: cannot split "{value}" into words: {exc}', span,
                 "quote or escape the character, or write the command as a list")
        return value
    return YSeq(words, span=span, item_spans=[span] * len(words))


def _short_items(parse: Callable[[str], list[dict[str, Any]]], what: str, hint: str | None,
                 long: Rule | None = None, ints: bool = False) -> Rule:
    """A list of short strings (and ints, with `ints`) each parsed into long entries; mappings go through `long`."""

    def rewrite(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
        if not isinstance(value, YSeq):
            return value
        out = YSeq(span=value.span)
        for index, item in enumerate(value):
            at = value.item_span(index)
            if isinstance(item, str) or (ints and isinstance(item, int) and not isinstance(item, bool)):
                try:
                    for entry in parse(str(item)):
                        out.add(located(entry, at), at)
                except ValueError as exc:
                    ctx.fail(f'{where}: invalid {what} "{item}": {exc}', at, hint)
                    out.add(item, at)
            else:
                out.add(long(item, f"{where}[{index}]", at, ctx) if long else item, at)
        return out

    return rewrite


# --- one field each ----------------------------------------------------------------------------------


def _long_port(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """Long-form ports as Compose prints them: `published` a string, `target` an int."""
    if not isinstance(value, YMap):
        return value
    out = value.shallow()
    published, target = value.get("published"), value.get("target")
    if isinstance(published, int) and not isinstance(published, bool):
        out["published"] = str(published)
    if isinstance(target, str) and target.isascii() and target.isdigit():
        out["target"] = int(target)
    return out


_LONG_VOLUME = fields({"tmpfs": fields({"size": _bytes}), "volume": fields({"labels": key_values("")})})


def _extra_hosts(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A list of `host=ip`, one per address, as Compose prints it (`[::1]` loses its brackets).

    List items may use `=` or `:` and hold several comma-separated addresses; a mapping gives one
    address or a list of them per host.
    """
    pairs: list[tuple[str, str, Span | None]] = []
    if isinstance(value, YMap):
        for host, ips in value.items():
            at = value.value_span(host)
            for ip in ips if isinstance(ips, YSeq) else [ips]:
                if not isinstance(ip, str):
                    return value
                pairs.append((host, ip, at))
    elif _strings(value):
        for index, item in enumerate(value):
            at = value.item_span(index)
            sep = "=" if "=" in item else ":" if ":" in item else ""
            if not sep:
                ctx.fail(f'{where}: invalid extra host "{item}": missing IP address', at, "use HOST=IP")
                continue
            host, _, ips = item.partition(sep)
            pairs.extend((host, ip, at) for ip in ips.split(","))
    else:
        return value
    out = YSeq(span=value.span)
    for host, ip, at in pairs:
        if not host or ":" in host or "=" in host:
            ctx.fail(f'{where}: invalid extra host: bad host name "{host}"', at, "use HOST=IP")
            continue
        address = ip[1:-1] if len(ip) > 2 and ip[0] == "[" and ip[-1] == "]" else ip
        out.add(f"{host}={address}", at)
    return out


def _env_files(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`a.env` or `[a.env]` -> `[{path: a.env, required: true}]`; long entries are kept."""
    value = _listify(value, where, span, ctx)
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        at = value.item_span(index)
        out.add(located({"path": item, "required": True}, at) if isinstance(item, str) else item, at)
    return out


def _file_refs(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """Secrets and configs: `name` -> `{source: name}` (the target is filled in later)."""
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        at = value.item_span(index)
        out.add(located({"source": item}, at) if isinstance(item, str) else item, at)
    return out


def _healthcheck_test(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A test written as a string runs in a shell."""
    return YSeq(["CMD-SHELL", value], span=span, item_spans=[span, span]) if isinstance(value, str) else value


def _count(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """A device request's `count: all` is printed as -1."""
    return -1 if isinstance(value, str) and value.lower() == "all" else value


_DEVICE_REQUEST = fields({"count": _count, "options": key_values("")})


def _gpus(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`gpus: all` -> `[{count: -1}]`."""
    if value == "all":
        return located([{"count": -1}], span)
    return each(_DEVICE_REQUEST)(value, where, span, ctx)


def _ssh(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`[default, id=path]` -> `{default: null, id: path}`; only `default` may stand alone."""
    if not _strings(value):
        return value
    out = YMap(span=value.span)
    for index, item in enumerate(value):
        at = value.item_span(index)
        key, sep, path = item.partition("=")
        if not sep and key != "default":
            ctx.fail(f'{where}: invalid ssh key "{item}"', at, 'use "default" or ID=PATH')
        out.put(key, path if sep else None, at, at)
    return out


def _extends(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`extends: web` -> `{service: web}`."""
    return located({"service": value}, span) if isinstance(value, str) else value


def _depends_default() -> dict[str, Any]:
    return {"condition": "service_started", "required": True}


_HOOK = fields({"command": _command, "environment": key_values(None, env=True)})
_BLKIO_LIMITS = each(fields({"rate": _bytes}))
_DELAYS = fields({"delay": _duration, "monitor": _duration})

_BUILD = fields({
    "args": key_values(None, env=True),
    "labels": key_values(""),
    "additional_contexts": key_values(None, need_value=True),
    "ssh": _ssh,
    "extra_hosts": _extra_hosts,
    "secrets": _file_refs,
    "shm_size": _bytes,
})


def _build(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`build: ./dir` -> `{context: ./dir}` (the default dockerfile comes later)."""
    if isinstance(value, str):
        return located({"context": value}, span)
    return _BUILD(value, where, span, ctx)


_DEPLOY = fields({
    "labels": key_values(""),
    "resources": fields({
        "limits": fields({"memory": _bytes}),
        "reservations": fields({"memory": _bytes, "devices": each(_DEVICE_REQUEST)}),
    }),
    "restart_policy": fields({"delay": _duration, "window": _duration}),
    "update_config": _DELAYS,
    "rollback_config": _DELAYS,
})

SERVICE_RULES: dict[str, Rule] = {
    "annotations": key_values(""),
    "blkio_config": fields({key: _BLKIO_LIMITS for key in (
        "device_read_bps", "device_read_iops", "device_write_bps", "device_write_iops")}),
    "build": _build,
    "command": _command,
    "configs": _file_refs,
    "depends_on": names(_depends_default),
    "deploy": _DEPLOY,
    "develop": fields({"watch": each(fields({"ignore": _listify, "include": _listify, "exec": _HOOK}))}),
    "devices": _short_items(lambda spec: [parse_device(spec)], "device", None),
    "dns": _listify,
    "dns_search": _listify,
    "entrypoint": _command,
    "env_file": _env_files,
    "environment": key_values(None, env=True),
    "extends": _extends,
    "extra_hosts": _extra_hosts,
    "gpus": _gpus,
    "healthcheck": fields({"test": _healthcheck_test, **{key: _duration for key in (
        "interval", "timeout", "start_period", "start_interval")}}),
    "label_file": _listify,
    "labels": key_values(""),
    "mem_limit": _bytes,
    "mem_reservation": _bytes,
    "memswap_limit": _bytes,
    "models": names(lambda: None),
    "networks": names(lambda: None),
    "ports": _short_items(parse_port, "port", FORMAT_HINT, _long_port, ints=True),
    "post_start": each(_HOOK),
    "pre_stop": each(_HOOK),
    "secrets": _file_refs,
    "shm_size": _bytes,
    "stop_grace_period": _duration,
    "sysctls": key_values(""),
    "tmpfs": _listify,
    "volumes": _short_items(lambda spec: [parse_volume(spec)], "volume", VOLUME_HINT, _LONG_VOLUME),
}
"""Every service key with a short syntax (or a unit) and the rule that makes it long."""

_SERVICE = fields(SERVICE_RULES)


# --- top level -------------------------------------------------------------------------------------


def _resource(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """Networks, volumes, secrets, configs: legacy `external: {name: x}`, label lists."""
    if not isinstance(value, YMap):
        return value
    out = value.shallow()
    external = value.get("external")
    if isinstance(external, YMap):
        at = value.value_span("external")
        out.put("external", True, value.key_span("external"), at)
        if "name" in external:
            ctx.diag.warn(f"{where}: external.name is deprecated. Please set name and external: true", at)
            if "name" in value and value["name"] != external["name"]:
                ctx.fail(f"{where}: name and external.name conflict; only use name", at)
            else:
                out.put("name", external["name"], external.key_span("name"), external.value_span("name"))
    if "labels" in value:
        out["labels"] = key_values("")(value["labels"], f"{where}.labels", value.value_span("labels"), ctx)
    return out


def _include_entry(value: Any, where: str, span: Span | None, ctx: _Ctx) -> Any:
    """`- other.yaml` -> `{path: [other.yaml]}`; `path` and `env_file` strings become lists."""
    if isinstance(value, str):
        return located({"path": [value]}, span)
    return _INCLUDE(value, where, span, ctx)


_INCLUDE = fields({"path": _listify, "env_file": _listify})


def expand_document(doc: YMap, diag: Diagnostics) -> YMap:
    """A new tree in long syntax; every syntax error of the file is raised together."""
    ctx = _Ctx(diag)
    out = doc.shallow()
    services = doc.get("services")
    if isinstance(services, YMap):
        expanded = services.shallow()
        for name, service in services.items():
            expanded[name] = _SERVICE(service, f"services.{name}", services.value_span(name), ctx)
        out["services"] = expanded
    for kind in ("networks", "volumes", "secrets", "configs"):
        section = doc.get(kind)
        if isinstance(section, YMap):
            fixed = section.shallow()
            for key, spec in section.items():
                fixed[key] = _resource(spec, f"{kind}.{key}", section.value_span(key), ctx)
            out[kind] = fixed
    if "include" in doc:
        out["include"] = each(_include_entry)(doc["include"], "include", doc.value_span("include"), ctx)
    raise_all(ctx.errors)
    return out
