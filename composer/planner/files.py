"""Secrets and configs as files in containers: where each one goes, with which owner and mode, from what.

Pure. The edge reads the bytes (files, the environment, the engine's secret store) once and hands them in;
their digests go into the config hash, so a changed config recreates exactly the services that mount it
(Docker Compose misses this: docker/compose#11900), and the plan says which one changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from composer.errors import ComposerError

Kind = Literal["secret", "config"]
SECTION: dict[Kind, str] = {"secret": "secrets", "config": "configs"}
DEFAULT_MODE = 0o444


@dataclass(frozen=True, slots=True)
class FileMount:
    kind: Kind
    name: str
    """The top-level key (`secrets.<name>`)."""
    target: str
    uid: int = 0
    gid: int = 0
    mode: int = DEFAULT_MODE

    @property
    def key(self) -> str:
        return f"{self.kind} {self.name}"


@dataclass(frozen=True, slots=True)
class FileSource:
    """Where the bytes of one top-level secret or config come from."""

    kind: Kind
    name: str
    source: Literal["file", "environment", "content", "external"]
    ref: str
    """A path, a variable name, the content itself, or the external name."""


def _mode(value: Any) -> int:
    if value is None or value == "":
        return DEFAULT_MODE
    if isinstance(value, int):
        return value
    text = str(value).strip()
    try:
        return int(text, 8)
    except ValueError:
        raise ComposerError(f"invalid file mode {value!r}: use octal, e.g. 0440") from None


def _id(value: Any) -> int:
    if value is None or value == "":
        return 0
    try:
        return int(str(value))
    except ValueError:
        raise ComposerError(f"invalid uid/gid {value!r}: use a number") from None


def sources(document: Mapping[str, Any]) -> dict[tuple[Kind, str], FileSource]:
    """Every top-level secret and config, by (kind, key)."""
    out: dict[tuple[Kind, str], FileSource] = {}
    for kind, section in SECTION.items():
        for name, spec in (document.get(section) or {}).items():
            spec = spec or {}
            if spec.get("external"):
                out[kind, name] = FileSource(kind, name, "external", str(spec.get("name") or name))
            elif spec.get("file") is not None:
                out[kind, name] = FileSource(kind, name, "file", str(spec["file"]))
            elif spec.get("environment") is not None:
                out[kind, name] = FileSource(kind, name, "environment", str(spec["environment"]))
            elif spec.get("content") is not None:
                out[kind, name] = FileSource(kind, name, "content", str(spec["content"]))
            else:
                raise ComposerError(f"{section}.{name}: one of file, environment, content or external is needed")
    return out


def mounts(service_name: str, service: Mapping[str, Any], document: Mapping[str, Any]) -> list[FileMount]:
    """The service's secrets (at /run/secrets/<target>) and configs (at /<name> or their target)."""
    out: list[FileMount] = []
    for kind, section in SECTION.items():
        known = document.get(section) or {}
        for entry in service.get(section) or ():
            entry = {"source": entry} if isinstance(entry, str) else dict(entry)
            name = str(entry.get("source") or "")
            if name not in known:
                raise ComposerError(f'service "{service_name}" refers to undefined {kind} {name}')
            target = str(entry.get("target") or "")
            if kind == "secret":
                target = target or name
                if not target.startswith("/"):
                    target = f"/run/secrets/{target}"
            else:
                target = target or f"/{name}"
                if not target.startswith("/"):
                    target = f"/{target}"
            out.append(FileMount(kind, name, target, _id(entry.get("uid")), _id(entry.get("gid")),
                                 _mode(entry.get("mode"))))
    return out


def digests(used: Sequence[FileMount], contents: Mapping[tuple[str, str], bytes]) -> dict[str, str]:
    """`"config app_conf" -> sha256` for what the service mounts (missing contents are not hashed)."""
    out: dict[str, str] = {}
    for m in used:
        data = contents.get((m.kind, m.name))
        if data is not None:
            out[m.key] = hashlib.sha256(data).hexdigest()
    return dict(sorted(out.items()))
