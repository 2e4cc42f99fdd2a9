"""Relative paths made absolute, the way Docker Compose v2 resolves them.

Pure string work on the expanded tree (posixpath only, no file system): a relative path is
joined to a base directory and cleaned, `~` is the `HOME` of the given environment. Which
attributes are paths, and which values are left alone (URLs, git remotes, named volumes,
Windows drive paths), follows compose-go's `paths` package, checked against the real binary:

| where                                     | how                                            |
|-------------------------------------------|------------------------------------------------|
| services.*.build.context                  | context: URLs, git remotes, `service:` kept     |
| services.*.build.additional_contexts.*    | context                                        |
| services.*.build.ssh (paths of keys)      | host path                                      |
| services.*.env_file[].path                | path                                           |
| services.*.label_file[]                   | path                                           |
| services.*.extends.file                   | path, remote (`scheme://`) kept                |
| services.*.develop.watch[].path           | path                                           |
| services.*.volumes[] with type bind       | host path (`source`)                           |
| secrets.*.file, configs.*.file            | host path                                      |
| volumes.* driver local, o=bind            | host path (`driver_opts.device`)               |

"path" leaves "" alone; "host path" also leaves Windows absolute paths (`C:\\x`) alone and
makes "" the base directory. `build.dockerfile` stays relative (to the context), as in compose.
`include` entries are the loader's (they are consumed before this runs).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Callable, Mapping
from typing import Any

from composer.errors import Diagnostics, Span
from composer.schema.tree import YMap, YSeq, deep_copy

_REMOTE_CONTEXT = ("https://", "http://", "git://", "ssh://", "github.com/", "git@")
_WINDOWS_ABS = re.compile(r"^(?:[A-Za-z]:[\\/]|\\\\)")

Resolver = Callable[[str, Span | None], str]


def clean(path: str) -> str:
    """Go's filepath.Clean for POSIX: normalised, and a leading `//` is just `/`."""
    out = posixpath.normpath(path)
    return "/" + out.lstrip("/") if out.startswith("//") else out


def join(base: str, path: str) -> str:
    """Go's filepath.Join: `path` is appended even when it starts with `/`; empty parts vanish."""
    if not path:
        return clean(base) if base else ""
    return clean(f"{base}/{path}" if base else path)


class _Paths:
    """Resolution against one base directory and one environment."""

    def __init__(self, base_dir: str, env: Mapping[str, str], diag: Diagnostics | None) -> None:
        self.base_dir = base_dir
        self.env = env
        self.diag = diag

    def expand_user(self, path: str, span: Span | None) -> str:
        """`~...` is `$HOME` followed by the rest (compose does `~user` the same naive way)."""
        if not path.startswith("~"):
            return path
        home = self.env.get("HOME")
        if not home:
            if self.diag is not None:
                self.diag.warn("cannot expand '~', because the environment lacks HOME", span)
            return path
        return join(home, path[1:])

    def path(self, value: str, span: Span | None) -> str:
        value = self.expand_user(value, span)
        if not value or posixpath.isabs(value):
            return value
        return join(self.base_dir, value)

    def host_path(self, value: str, span: Span | None) -> str:
        value = self.expand_user(value, span)
        if posixpath.isabs(value) or _WINDOWS_ABS.match(value):
            return value
        return join(self.base_dir, value)

    def context(self, value: str, span: Span | None) -> str:
        if "://" in value or value.startswith("service:") or value.startswith(_REMOTE_CONTEXT):
            return value
        return self.path(value, span)

    def remote_or_path(self, value: str, span: Span | None) -> str:
        return value if "://" in value else self.path(value, span)

    def ssh(self, value: str, span: Span | None) -> str:
        """`id=path` entries: the path part (a bare `default` has none)."""
        ident, sep, path = value.partition("=")
        return f"{ident}={self.host_path(path, span)}" if sep else value


def _set(node: YMap, key: str, resolve: Resolver) -> None:
    value = node.get(key)
    if isinstance(value, str):
        node[key] = resolve(value, node.value_span(key))


def _each_value(node: Any, resolve: Resolver) -> None:
    """Every string value of a mapping, or every string item of a sequence."""
    if isinstance(node, YMap):
        for key in node:
            _set(node, key, resolve)
    elif isinstance(node, YSeq):
        for index, item in enumerate(node):
            if isinstance(item, str):
                node[index] = resolve(item, node.item_span(index))


def _each_map(node: Any) -> list[YMap]:
    return [item for item in node if isinstance(item, YMap)] if isinstance(node, YSeq) else []


def _service(service: YMap, p: _Paths) -> None:
    build = service.get("build")
    if isinstance(build, YMap):
        _set(build, "context", p.context)
        _each_value(build.get("additional_contexts"), p.context)
        ssh = build.get("ssh")
        if isinstance(ssh, YMap):
            _each_value(ssh, p.host_path)
        elif isinstance(ssh, YSeq):
            _each_value(ssh, p.ssh)
            for entry in _each_map(ssh):
                _set(entry, "path", p.host_path)
    env_file = service.get("env_file")
    _each_value(env_file, p.path)
    for entry in _each_map(env_file):
        _set(entry, "path", p.path)
    if isinstance(service.get("label_file"), str):
        _set(service, "label_file", p.path)
    _each_value(service.get("label_file"), p.path)
    extends = service.get("extends")
    if isinstance(extends, YMap):
        _set(extends, "file", p.remote_or_path)
    develop = service.get("develop")
    if isinstance(develop, YMap):
        for watch in _each_map(develop.get("watch")):
            _set(watch, "path", p.path)
    for volume in _each_map(service.get("volumes")):
        if volume.get("type") == "bind":
            _set(volume, "source", p.host_path)


def resolve_service_paths(
    service: YMap, base_dir: str, env: Mapping[str, str], diag: Diagnostics | None = None
) -> YMap:
    """A copy of one service with its relative paths made absolute against `base_dir`."""
    out: YMap = deep_copy(service)
    _service(out, _Paths(base_dir, env, diag))
    return out


def resolve_project_paths(
    doc: YMap, base_dir: str, env: Mapping[str, str], diag: Diagnostics | None = None
) -> YMap:
    """A copy of a whole document with every relative path made absolute against `base_dir`."""
    out: YMap = deep_copy(doc)
    p = _Paths(base_dir, env, diag)
    services = out.get("services")
    if isinstance(services, YMap):
        for service in services.values():
            if isinstance(service, YMap):
                _service(service, p)
    for section in ("secrets", "configs"):
        resources = out.get(section)
        if isinstance(resources, YMap):
            for resource in resources.values():
                if isinstance(resource, YMap):
                    _set(resource, "file", p.host_path)
    volumes = out.get("volumes")
    if isinstance(volumes, YMap):
        for volume in volumes.values():
            opts = volume.get("driver_opts") if isinstance(volume, YMap) else None
            # Only an explicit `driver: local` with `o: bind` is a host path (compose-go volumeDriverOpts).
            if isinstance(opts, YMap) and volume.get("driver") == "local" and opts.get("o") == "bind":
                _set(opts, "device", p.host_path)
    return out
