"""The short syntax of service `volumes` and `devices`, read into the long form Compose prints.

Volumes: `[SOURCE:]TARGET[:OPTIONS]`, read as Compose reads it:

* a source starting with `.`, `/` or `~` (or `X:\\` / `X:/` on Windows) is a bind mount, which
  the short syntax creates on the host when missing (`bind: {create_host_path: true}`); any
  other source names a volume (`volume: {}`); no source at all is an anonymous volume;
* options, comma-separated: `ro`/`rw`, `nocopy` (`volume.nocopy`), `z`/`Z` (`bind.selinux`),
  a propagation mode (`bind.propagation`), and `cached`/`delegated`/`consistent`, which mean
  nothing on Linux and are dropped as Compose drops them (so are empty options).

Stricter than Compose, which takes all of these without a word: an option it does not know
(it ignores it, so a typo such as `ro,nocpy` loses the option), an option of the other mount
type (it files `data:/d:z` as a volume with bind options, which the engine and our models
refuse), and an anonymous volume at a relative container path (`data` alone, refused by the
engine only when the container is created).
"""

from __future__ import annotations

import re
from typing import Any

PROPAGATION = ("shared", "slave", "private", "rshared", "rslave", "rprivate")
SELINUX = ("z", "Z")
CONSISTENCY = ("cached", "delegated", "consistent")
VOLUME_HINT = "use [SOURCE:]TARGET[:ro|rw|z|Z|nocopy|<propagation>]"

_DRIVE = re.compile(r"[A-Za-z]:[\\/]")


def _sections(spec: str) -> list[str]:
    """The `:`-separated sections, a leading Windows drive (`C:\\`) kept inside its section."""
    if _DRIVE.match(spec):
        rest = spec[2:].split(":")
        return [spec[:2] + rest[0], *rest[1:]]
    return spec.split(":")


def is_host_path(source: str) -> bool:
    """Whether a short-syntax source is a host path (a bind mount) rather than a volume name."""
    return source.startswith((".", "/", "~", "\\\\")) or bool(_DRIVE.match(source))


def _anonymous(target: str, with_options: bool) -> dict[str, Any]:
    if not target.startswith("/"):
        raise ValueError("an anonymous volume needs an absolute container path")
    mount: dict[str, Any] = {"type": "volume", "target": target}
    if with_options:
        mount["volume"] = {}
    return mount


def parse_volume(spec: str) -> dict[str, Any]:
    """The long form of one short `volumes` item; ValueError saying what is wrong."""
    if not spec:
        raise ValueError("empty volume")
    if len(spec) <= 2:  # Compose takes these whole, as an anonymous volume without `volume: {}`
        return _anonymous(spec, with_options=False)
    sections = _sections(spec)
    if any(not part for part in sections):
        raise ValueError("empty section between colons")
    if len(sections) > 3:
        raise ValueError("too many colons")
    if len(sections) == 1:
        return _anonymous(spec, with_options=True)
    source, target = sections[0], sections[1]
    bind_mount = is_host_path(source)
    mount: dict[str, Any] = {"type": "bind" if bind_mount else "volume", "source": source, "target": target}
    bind: dict[str, str] = {}
    volume: dict[str, bool] = {}
    for option in sections[2].split(",") if len(sections) == 3 else []:
        if option == "ro":
            mount["read_only"] = True
        elif option == "rw":
            mount.pop("read_only", None)
        elif option == "nocopy":
            volume["nocopy"] = True
        elif option in SELINUX:
            bind["selinux"] = option
        elif option in PROPAGATION:
            bind["propagation"] = option
        elif option and option not in CONSISTENCY:
            raise ValueError(f"invalid mode {option!r}")
        if bind_mount and volume:
            raise ValueError(f"option {option!r} applies to volumes, and {source!r} is a host path")
        if bind and not bind_mount:
            raise ValueError(f"option {option!r} applies to bind mounts, and {source!r} names a volume")
    if bind_mount:
        mount["bind"] = {**bind, "create_host_path": True}
    else:
        mount["volume"] = volume
    return mount


def parse_device(spec: str) -> dict[str, str]:
    """`HOST[:CONTAINER[:PERMISSIONS]]` in long form, as Compose reads it.

    The second section is always the container path (`/dev/x:rw` maps to a file named `rw`,
    as in Compose); an empty container path means the host one.
    """
    parts = spec.split(":")
    if len(parts) > 3:
        raise ValueError("confusing device mapping, use the long syntax (source, target, permissions)")
    source = parts[0]
    target = parts[1] if len(parts) > 1 and parts[1] else source
    permissions = parts[2] if len(parts) == 3 else "rwm"
    return {"source": source, "target": target, "permissions": permissions}
