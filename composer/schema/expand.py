"""Phase 3: short syntax becomes long syntax, per file, before merging.

Context-free rewrites only, so that merge sees one shape for each field: the shapes that
`docker compose config --format json` prints (checked against its binary). Defaults that need
the whole project (default network, names, build context) come later, in `complete.py`; fields
whose long form needs no parsing (durations, byte sizes, ulimits) are left to the models.
Errors only this phase can see (bad port or volume syntax) are reported all together, located.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from typing import Any

from composer.errors import ComposerError, Diagnostics, Span, raise_all
from composer.schema.tree import YMap, YSeq, located

_PORT_RANGE = re.compile(r"(\d+)(?:-(\d+))?")
_ACCESS = {"ro": ("read_only", True), "rw": ("read_only", False)}
_PROPAGATION = {"shared", "slave", "private", "rshared", "rslave", "rprivate"}
_CONSISTENCY = {"cached", "delegated", "consistent"}
_WINDOWS_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


class _Errors:
    def __init__(self) -> None:
        self.found: list[ComposerError] = []

    def add(self, message: str, span: Span | None, hint: str | None = None) -> None:
        self.found.append(ComposerError(message, span=span, hint=hint))


def _pairs(items: YSeq, keep_bare: Any) -> YMap:
    """`["K=V", "K"]` -> `{K: V, K: keep_bare}`, each entry keeping its item's span."""
    out = YMap(span=items.span)
    for index, item in enumerate(items):
        span = items.item_span(index)
        text = str(item) if not isinstance(item, bool) else str(item).lower()
        key, sep, value = text.partition("=")
        out.put(key, value if sep else keep_bare, span, span)
    return out


def _shell_words(text: str, span: Span | None, where: str, errors: _Errors) -> Any:
    try:
        return YSeq(shlex.split(text), span=span, item_spans=[span] * len(shlex.split(text)))
    except ValueError as exc:
        errors.add(f"{where}: cannot split {text!r} into words: {exc}", span)
        return text


def _each_item(value: Any, convert: Callable[[Any, Span | None], list[Any]], where: str, errors: _Errors,
               what: str, hint: str | None = None) -> Any:
    """Rewrite each item of a list (one item may become several); a ValueError is a located error."""
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        item_span = value.item_span(index)
        try:
            for new in convert(item, item_span):
                out.add(new, item_span)
        except ValueError as exc:
            errors.add(f'{where}: invalid {what} "{item}": {exc}', item_span, hint)
    return out


# ports -------------------------------------------------------------------------------------------

def _port_numbers(text: str) -> tuple[int, int] | None:
    match = _PORT_RANGE.fullmatch(text)
    if not match:
        return None
    low = int(match.group(1))
    high = int(match.group(2) or low)
    if high < low or high > 65535:
        return None
    return low, high


def parse_port(spec: str) -> list[dict[str, Any]]:
    """`[ip:][host[-range]:]container[-range][/protocol]` -> long-form entries (ValueError if bad)."""
    text, _, protocol = spec.partition("/")
    protocol = protocol or "tcp"
    if protocol not in ("tcp", "udp", "sctp"):
        raise ValueError(f"invalid protocol {protocol!r}")
    host_ip = None
    if text.startswith("["):
        close = text.find("]")
        if close < 0:
            raise ValueError("unclosed [ in IPv6 address")
        host_ip, text = text[1:close], text[close + 1:].lstrip(":")
        parts = text.split(":")
    else:
        parts = text.split(":")
        if len(parts) > 3:
            raise ValueError("too many colons")
        if len(parts) == 3:
            host_ip, parts = parts[0], parts[1:]
    if len(parts) == 2:
        published, target = parts
    elif len(parts) == 1:
        published, target = "", parts[0]
    else:
        raise ValueError("too many colons")
    targets = _port_numbers(target)
    if targets is None:
        raise ValueError(f"invalid container port {target!r}")
    hosts = _port_numbers(published) if published else None
    if published and hosts is None:
        raise ValueError(f"invalid host port {published!r}")
    count = targets[1] - targets[0] + 1
    entries = []
    for offset in range(count):
        entry: dict[str, Any] = {"mode": "ingress"}
        if host_ip:
            entry["host_ip"] = host_ip
        entry["target"] = targets[0] + offset
        if hosts is not None:
            host_count = hosts[1] - hosts[0] + 1
            if count == 1:
                entry["published"] = published
            elif host_count == count:
                entry["published"] = str(hosts[0] + offset)
            else:
                raise ValueError("host and container port ranges differ in size")
        entry["protocol"] = protocol
        entries.append(entry)
    return entries


def _port_items(item: Any, span: Span | None) -> list[Any]:
    if isinstance(item, int | str) and not isinstance(item, bool):
        return [located(entry, span) for entry in parse_port(str(item))]
    return [item]


def _expand_ports(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _each_item(value, _port_items, where, errors, "port", "use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]")


# volumes -----------------------------------------------------------------------------------------

def _is_path(source: str) -> bool:
    return source.startswith(("/", ".", "~")) or bool(_WINDOWS_DRIVE.match(source))


def parse_volume(spec: str) -> dict[str, Any]:
    """`[source:]target[:mode,...]` -> a long-form mount (ValueError if bad)."""
    if not spec:
        raise ValueError("empty volume")
    parts = spec.split(":")
    if _WINDOWS_DRIVE.match(spec):  # C:\x:/y: the drive letter's colon is not a separator
        parts = [parts[0] + ":" + parts[1], *parts[2:]]
    if len(parts) > 3:
        raise ValueError("too many colons")
    if len(parts) == 1:
        if not parts[0].startswith("/"):
            raise ValueError("an anonymous volume needs an absolute container path")
        return {"type": "volume", "target": parts[0], "volume": {}}
    source, target = parts[0], parts[1]
    modes = parts[2].split(",") if len(parts) == 3 else []
    if not target:
        raise ValueError("empty container path")
    if not source:
        raise ValueError("empty source")
    bind = _is_path(source)
    mount: dict[str, Any] = {"type": "bind" if bind else "volume", "source": source, "target": target}
    options: dict[str, Any] = {"create_host_path": True} if bind else {}
    for mode in modes:
        if mode in _ACCESS:
            key, flag = _ACCESS[mode]
            if flag:
                mount[key] = True
        elif mode in ("z", "Z") and bind:
            options["selinux"] = mode
        elif mode in _PROPAGATION and bind:
            options["propagation"] = mode
        elif mode == "nocopy" and not bind:
            options["nocopy"] = True
        elif mode in _CONSISTENCY:
            mount["consistency"] = mode
        else:
            raise ValueError(f"invalid mode {mode!r}")
    mount["bind" if bind else "volume"] = options
    return mount


def _volume_items(item: Any, span: Span | None) -> list[Any]:
    return [located(parse_volume(item), span) if isinstance(item, str) else item]


def _expand_volumes(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _each_item(value, _volume_items, where, errors, "volume", "use [SOURCE:]TARGET[:ro|rw|z|Z|nocopy]")


def parse_device(spec: str) -> dict[str, str]:
    """`HOST[:CONTAINER[:PERMISSIONS]]` (or `HOST:PERMISSIONS`) -> a long-form device mapping."""
    parts = spec.split(":")
    if len(parts) > 3 or not parts[0]:
        raise ValueError("use HOST_PATH[:CONTAINER_PATH[:rwm]]")
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    permissions = parts[2] if len(parts) > 2 else "rwm"
    if len(parts) == 2 and set(parts[1]) <= set("rwm") and not parts[1].startswith("/"):
        target, permissions = source, parts[1]
    return {"source": source, "target": target, "permissions": permissions}


def _device_items(item: Any, span: Span | None) -> list[Any]:
    return [located(parse_device(item), span) if isinstance(item, str) else item]


def _expand_devices(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _each_item(value, _device_items, where, errors, "device")


# the other fields --------------------------------------------------------------------------------

def _listish(value: Any, span: Span | None) -> Any:
    """One string where a list is allowed becomes a one-item list."""
    if isinstance(value, str):
        return YSeq([value], span=span, item_spans=[span])
    return value


def _to_map(keep_bare: Any) -> Callable[[Any, Span | None, str, _Errors], Any]:
    def convert(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
        return _pairs(value, keep_bare) if isinstance(value, YSeq) else value
    return convert


def _names_to_map(default: Callable[[Span | None], Any]) -> Callable[[Any, Span | None, str, _Errors], Any]:
    def convert(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
        if not isinstance(value, YSeq):
            return value
        out = YMap(span=value.span)
        for index, item in enumerate(value):
            item_span = value.item_span(index)
            if isinstance(item, str):
                out.put(item, default(item_span), item_span, item_span)
            else:
                errors.add(f"{where}: entries must be names, got {item!r}", item_span)
        return out
    return convert


def _words(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _shell_words(value, span, where, errors) if isinstance(value, str) else value


def _file_refs(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _each_item(value, lambda item, at: [located({"source": item}, at) if isinstance(item, str) else item],
                      where, errors, "reference")


def _env_files(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _each_item(_listish(value, span), lambda item, at: [
        located({"path": item, "required": True}, at) if isinstance(item, str) else item], where, errors, "env_file")


def _extra_hosts(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    if isinstance(value, YMap):
        out = YSeq(span=value.span)
        for host, ips in value.items():
            for ip in ips if isinstance(ips, list) else [ips]:
                out.add(f"{host}={ip}", value.value_span(host))
        return out
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        item_span = value.item_span(index)
        text = str(item)
        if "=" not in text:
            host, sep, ip = text.partition(":")
            if not sep:
                errors.add(f'{where}: invalid extra host "{text}"', item_span, "use HOST=IP (or HOST:IP)")
                continue
            text = f"{host}={ip}"
        out.add(text, item_span)
    return out


def _healthcheck(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    if isinstance(value, YMap) and isinstance(value.get("test"), str):
        out = value.shallow()
        test_span = value.value_span("test")
        out["test"] = YSeq(["CMD-SHELL", value["test"]], span=test_span, item_spans=[test_span, test_span])
        return out
    return value


def _build(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    if isinstance(value, str):
        return located({"context": value}, span)
    if isinstance(value, YMap):
        return _apply(value, BUILD_RULES, where, errors)
    return value


def _depends_default(span: Span | None) -> Any:
    return located({"condition": "service_started", "required": True}, span)


def _hook(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        out.add(_apply(item, HOOK_RULES, f"{where}[{index}]", errors) if isinstance(item, YMap) else item,
                value.item_span(index))
    return out


def _deploy(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _apply(value, DEPLOY_RULES, where, errors) if isinstance(value, YMap) else value


def _listish_rule(value: Any, span: Span | None, where: str, errors: _Errors) -> Any:
    return _listish(value, span)


Rule = Callable[[Any, Span | None, str, _Errors], Any]

BUILD_RULES: dict[str, Rule] = {
    "args": _to_map(None), "labels": _to_map(""), "secrets": _file_refs, "extra_hosts": _extra_hosts,
    "cache_from": _listish_rule, "cache_to": _listish_rule, "tags": _listish_rule,
}
HOOK_RULES: dict[str, Rule] = {"command": _words, "environment": _to_map(None)}
DEPLOY_RULES: dict[str, Rule] = {"labels": _to_map("")}
SERVICE_RULES: dict[str, Rule] = {
    "ports": _expand_ports, "volumes": _expand_volumes, "devices": _expand_devices,
    "environment": _to_map(None), "labels": _to_map(""), "annotations": _to_map(""), "sysctls": _to_map(""),
    "depends_on": _names_to_map(_depends_default), "networks": _names_to_map(lambda _span: None),
    "command": _words, "entrypoint": _words, "healthcheck": _healthcheck, "build": _build,
    "secrets": _file_refs, "configs": _file_refs, "env_file": _env_files, "extra_hosts": _extra_hosts,
    "dns": _listish_rule, "dns_search": _listish_rule, "tmpfs": _listish_rule, "label_file": _listish_rule,
    "post_start": _hook, "pre_stop": _hook, "deploy": _deploy,
}


def _apply(node: YMap, rules: dict[str, Rule], where: str, errors: _Errors) -> YMap:
    out = node.shallow()
    for key, rule in rules.items():
        if key in node:
            out[key] = rule(node[key], node.value_span(key), f"{where}.{key}", errors)
    return out


def _expand_resource(kind: str, key: str, spec: Any, diag: Diagnostics) -> Any:
    """The legacy `external: {name: x}` becomes `name: x` plus `external: true`."""
    if not isinstance(spec, YMap):
        return spec
    external = spec.get("external")
    if isinstance(external, YMap):
        out = spec.shallow()
        span = spec.value_span("external")
        out.put("external", True, spec.key_span("external"), span)
        if external.get("name") is not None:
            out.put("name", external["name"], span, external.value_span("name"))
        diag.warn(f"{kind}.{key}: external.name is deprecated; use name: and external: true", span)
        return out
    if (kind == "networks" and isinstance(spec.get("labels"), YSeq)) or (kind == "volumes" and isinstance(
            spec.get("labels"), YSeq)):
        out = spec.shallow()
        out["labels"] = _pairs(spec["labels"], "")
        return out
    return spec


def _expand_include(value: Any, span: Span | None) -> Any:
    if not isinstance(value, YSeq):
        return value
    out = YSeq(span=value.span)
    for index, item in enumerate(value):
        item_span = value.item_span(index)
        if isinstance(item, str):
            item = located({"path": [item]}, item_span)
        elif isinstance(item, YMap) and isinstance(item.get("path"), str):
            item = item.shallow()
            item["path"] = YSeq([item["path"]], span=item.value_span("path"), item_spans=[item.value_span("path")])
        out.add(item, item_span)
    return out


def expand_document(doc: YMap, diag: Diagnostics) -> YMap:
    """A new tree in long syntax; every syntax error of the file is raised together."""
    errors = _Errors()
    out = doc.shallow()
    services = doc.get("services")
    if isinstance(services, YMap):
        expanded = services.shallow()
        for name, service in services.items():
            if isinstance(service, YMap):
                expanded[name] = _apply(service, SERVICE_RULES, f"services.{name}", errors)
        out["services"] = expanded
    for kind in ("networks", "volumes", "secrets", "configs"):
        section = doc.get(kind)
        if isinstance(section, YMap):
            fixed = section.shallow()
            for key, spec in section.items():
                fixed[key] = _expand_resource(kind, key, spec, diag)
            out[kind] = fixed
    if "include" in doc:
        out["include"] = _expand_include(doc["include"], doc.value_span("include"))
    raise_all(errors.found)
    return out
