"""The views `composer config` can print: the canonical document and the one-per-line listings."""

from __future__ import annotations

import json
from typing import Any

from composer.schema.loader import LoadedProject
from composer.schema.tree import to_plain

SECTIONS = ("services", "networks", "volumes", "secrets", "configs", "models")


def _dependencies(loaded: LoadedProject, names: tuple[str, ...]) -> set[str]:
    """The named services and everything they depend on."""
    services = loaded.services
    todo, seen = list(names), set()
    while todo:
        name = todo.pop()
        if name in seen or name not in services:
            continue
        seen.add(name)
        todo.extend((services[name].get("depends_on") or {}).keys())
    return seen


def canonical(loaded: LoadedProject, names: tuple[str, ...] = (), *, escape_dollars: bool = True,
              yaml: bool = False) -> dict[str, Any]:
    """The project as `docker compose config` prints it (only the named services, if any).

    Without interpolation Compose prints the raw model with every mapping's keys sorted; so do we.
    """
    from composer.schema.canonical import to_canonical

    document: dict[str, Any]
    if loaded.model is not None and escape_dollars:
        document = to_canonical(loaded.model, yaml=yaml, escape_dollars=True)
        for section in SECTIONS:
            if section in document and isinstance(document[section], dict):
                keep = loaded.doc.get(section) or {}
                document[section] = {k: v for k, v in document[section].items() if k in keep}
    else:
        document = _sorted(to_plain(loaded.doc), yaml)
    if names:
        wanted = _dependencies(loaded, names)
        document["services"] = {k: v for k, v in document.get("services", {}).items() if k in wanted}
    return document


def model_document(loaded: LoadedProject) -> dict[str, Any]:
    """The canonical project with values as they are (no `$$` escaping): what the engine is given."""
    from composer.schema.canonical import to_canonical

    if loaded.model is None:
        plain: dict[str, Any] = _sorted(to_plain(loaded.doc), False)
        return plain
    document: dict[str, Any] = to_canonical(loaded.model, yaml=False, escape_dollars=False)
    for section in SECTIONS:
        if section in document and isinstance(document[section], dict):
            keep = loaded.doc.get(section) or {}
            document[section] = {k: v for k, v in document[section].items() if k in keep}
    return document


def _sorted(value: Any, yaml: bool) -> Any:
    from composer.schema.canonical import yaml_key_order

    if isinstance(value, dict):
        keys = yaml_key_order(value) if yaml else sorted(value)
        return {key: _sorted(value[key], yaml) for key in keys}
    if isinstance(value, list):
        return [_sorted(item, yaml) for item in value]
    return value


def service_names(loaded: LoadedProject, names: tuple[str, ...]) -> list[str]:
    wanted = _dependencies(loaded, names) if names else set(loaded.services)
    return [name for name in sorted(loaded.services) if name in wanted]


def images(loaded: LoadedProject) -> list[str]:
    """Each service's image, or the name Compose gives a built one (`<project>-<service>`)."""
    out = []
    for name in sorted(loaded.services):
        image = loaded.services[name].get("image")
        out.append(str(image) if image else f"{loaded.name}-{name}")
    return out


def profiles(loaded: LoadedProject) -> list[str]:
    return list(loaded.all_profiles)


def hashes(loaded: LoadedProject, which: str) -> list[str]:
    """`SERVICE HASH` lines for one service, a comma list, or `*` for all."""
    from composer.errors import ComposerError
    from composer.planner.hashing import config_hash

    document = canonical(loaded)
    services = document["services"]
    names = sorted(services) if which == "*" else [n.strip() for n in which.split(",") if n.strip()]
    for name in names:
        if name not in services:
            raise ComposerError(f'no such service: "{name}"')
    return [f"{name} {config_hash(services[name])}" for name in names]


def variables_table(loaded: LoadedProject, fmt: str) -> str:
    from composer.schema.variables import collect_variables

    found = collect_variables(loaded.doc)
    if fmt == "json":
        return json.dumps({v.name: v.as_json() for v in found}, indent=4) + "\n"
    rows = [("NAME", "REQUIRED", "DEFAULT VALUE", "ALTERNATE VALUE")]
    rows += [(v.name, "true" if v.required else "false", v.default or "", v.alternate or "") for v in found]
    widths = [max(20, max(len(row[i]) for row in rows) + 3) for i in range(3)]
    return "".join("".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + row[3] + "\n" for row in rows)
