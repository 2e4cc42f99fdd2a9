"""Phase 4 of loading: `extends`, a service built on another service of this or another file.

The result is the extended service (itself resolved first, recursively) merged with the
extending service's own keys, by the same rules as files (`merge.merge_service`): own keys win,
ports/volumes/... stay unique. Like Compose v2, and unlike v1, nothing of the base is dropped:
`depends_on`, `links`, `volumes_from` and `network_mode: service:...` are inherited.

A service taken from another file has its relative paths made absolute against that file's
directory first, since the file it lands in may sit elsewhere. Services of the file being
resolved keep relative paths (the project directory resolves them later).

Cycles (across files too) and references to unknown services or unreadable files are errors
located at the `extends` that caused them.
"""

from __future__ import annotations

import difflib
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from composer.errors import ComposerError, Diagnostics, Span
from composer.schema.merge import merge_service
from composer.schema.paths import join, resolve_service_paths
from composer.schema.tree import YMap, deep_copy

ServiceRef = tuple[str, str]
"""(absolute file, service name)."""


@dataclass(frozen=True, slots=True)
class _Link:
    """One `extends`: which service it names, in which file, and where it was written."""

    service: str
    file: str | None
    span: Span | None
    file_span: Span | None


@dataclass
class _Resolver:
    main_file: str
    main: YMap
    load_file: Callable[[str], YMap]
    env: Mapping[str, str]
    diag: Diagnostics
    main_dir: str
    files: dict[str, YMap] = field(default_factory=dict)
    done: dict[ServiceRef, Any] = field(default_factory=dict)

    def services_of(self, file: str, link: _Link | None) -> YMap:
        """The `services` of `file`, read once per call of `resolve_extends`."""
        if file == self.main_file:
            doc = self.main
        elif file in self.files:
            doc = self.files[file]
        else:
            try:
                doc = self.load_file(file)
            except (FileNotFoundError, IsADirectoryError, PermissionError) as err:
                span = link.file_span if link else None
                raise ComposerError(f"cannot read extended file {file}: {err.strerror or err}", span=span)
            except ComposerError as err:
                if err.span is not None or link is None:
                    raise
                # The loader's own read errors have no location: point at the `extends` instead.
                raise ComposerError(err.message, span=link.file_span, hint=err.hint)
            self.files[file] = doc
        services = doc.get("services")
        if not isinstance(services, YMap):
            span = link.file_span if link else None
            raise ComposerError(f"cannot extend from {file}: it has no services section", span=span)
        return services

    def label(self, ref: ServiceRef) -> str:
        file, name = ref
        return name if file == self.main_file else f"{name} ({file})"

    def resolve(self, ref: ServiceRef, chain: tuple[ServiceRef, ...]) -> Any:
        """The service `ref` with its `extends` applied (tags of its own keys kept for later merges)."""
        if ref in self.done:
            return self.done[ref]
        file, name = ref
        service = self.services_of(file, None)[name]
        if not isinstance(service, YMap):
            return service
        if file != self.main_file:
            service = resolve_service_paths(service, posixpath.dirname(file), self.env, self.diag)
        if "extends" not in service:
            self.done[ref] = service
            return service
        link = _parse(service, name)
        if link.file is not None and "://" in link.file:
            raise ComposerError(
                f"extends.file {link.file}: remote files are not supported", span=link.file_span
            )
        target_file = file if link.file is None else self.locate(link.file, file)
        target = (target_file, link.service)
        if target == ref or target in chain:
            loop = [*chain[chain.index(target):], ref, target] if target in chain else [ref, target]
            raise ComposerError(
                f'service "{name}" is part of an extends cycle: circular extends '
                + " -> ".join(self.label(r) for r in loop),
                span=link.span,
            )
        services = self.services_of(target_file, link)
        if link.service not in services:
            where = "" if target_file == self.main_file else f" in {target_file}"
            close = difflib.get_close_matches(link.service, list(services), n=1)
            raise ComposerError(
                f'cannot extend service "{name}": service "{link.service}" not found{where}',
                span=link.span,
                hint=f'did you mean "{close[0]}"?' if close else None,
            )
        base = self.resolve(target, (*chain, ref))
        own = service.shallow()
        del own["extends"]
        merged = merge_service(base, own, name) if isinstance(base, YMap) else own
        self.done[ref] = merged
        return merged

    def locate(self, path: str, from_file: str) -> str:
        """`extends.file`: `~` is HOME; relative to the main file's base dir, or to the file naming it."""
        if path.startswith("~") and self.env.get("HOME"):
            path = join(self.env["HOME"], path[1:])
        if posixpath.isabs(path):
            return posixpath.normpath(path)
        base = self.main_dir if from_file == self.main_file else posixpath.dirname(from_file)
        return join(base, path)


def _parse(service: YMap, name: str) -> _Link:
    """`extends: NAME` or `extends: {service: NAME, file: PATH}`."""
    value = service["extends"]
    span = service.key_span("extends")
    if isinstance(value, str):
        return _Link(value, None, span, span)
    if not isinstance(value, YMap):
        raise ComposerError(
            f"services.{name}.extends must be a service name or a mapping with `service`",
            span=service.value_span("extends"),
        )
    target = value.get("service")
    if not isinstance(target, str) or not target:
        raise ComposerError(f"services.{name}.extends needs a `service` to extend", span=value.span or span)
    file = value.get("file")
    if file is not None and not isinstance(file, str):
        raise ComposerError(f"services.{name}.extends.file must be a path", span=value.value_span("file"))
    return _Link(target, file, span, value.value_span("file") if file is not None else span)


def resolve_extends(
    doc: YMap,
    *,
    file: str,
    load_file: Callable[[str], YMap],
    diag: Diagnostics,
    project_dir: str | None = None,
    env: Mapping[str, str] | None = None,
) -> YMap:
    """A copy of `doc` (read from the absolute path `file`) with every `extends` applied.

    `load_file(path)` returns another file already read, interpolated and expanded. A relative
    `extends.file` in `doc` is relative to `project_dir` when given (what compose does for the
    files named with `-f`), else to `file`'s directory; in other files, to their own directory.
    `env` supplies `HOME` for `~`.
    """
    out: YMap = deep_copy(doc)
    services = out.get("services")
    if not isinstance(services, YMap) or not any(
        isinstance(s, YMap) and "extends" in s for s in services.values()
    ):
        return out
    resolver = _Resolver(
        main_file=file,
        main=out,
        load_file=load_file,
        env=env or {},
        diag=diag,
        main_dir=project_dir or posixpath.dirname(file),
    )
    resolved = {name: resolver.resolve((file, name), ()) for name in services}
    for name, service in resolved.items():
        services[name] = service
    return out
