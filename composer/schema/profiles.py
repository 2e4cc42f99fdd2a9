"""Which services are enabled: `--profile`, `COMPOSE_PROFILES`, `*`, and services named on the command line.

Disabled services are kept apart (not dropped) so an error can say which profile would enable
the service an enabled one depends on.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from composer.errors import ComposerError, raise_all
from composer.schema.tree import YMap

ALL = "*"


@dataclass(frozen=True)
class ProfileSelection:
    active: frozenset[str]
    enabled: tuple[str, ...]
    disabled: tuple[str, ...]


def active_profiles(flags: Iterable[str], environ: Mapping[str, str]) -> frozenset[str]:
    """`--profile` flags win over `COMPOSE_PROFILES` (comma-separated)."""
    chosen = [p for flag in flags for p in flag.split(",") if p.strip()]
    if not chosen:
        chosen = [p for p in environ.get("COMPOSE_PROFILES", "").split(",") if p.strip()]
    return frozenset(p.strip() for p in chosen)


def service_profiles(service: Any) -> list[str]:
    value = service.get("profiles") if isinstance(service, dict) else None
    return [str(p) for p in value] if isinstance(value, list) else []


def all_profiles(services: Mapping[str, Any]) -> list[str]:
    return sorted({p for service in services.values() for p in service_profiles(service)})


def select(services: YMap, active: frozenset[str], named: Iterable[str] = ()) -> ProfileSelection:
    """Split services into enabled and disabled; naming a service activates its profiles."""
    named = list(named)
    unknown = [name for name in named if name not in services]
    raise_all(ComposerError(f'no such service: "{name}"') for name in unknown)
    chosen = set(active)
    for name in named:
        chosen.update(service_profiles(services[name]))
    everything = ALL in chosen
    enabled, disabled = [], []
    for name, service in services.items():
        profiles = service_profiles(service)
        if not profiles or everything or chosen.intersection(profiles):
            enabled.append(name)
        else:
            disabled.append(name)
    return ProfileSelection(frozenset(chosen), tuple(enabled), tuple(disabled))


def check_dependencies(services: YMap, selection: ProfileSelection) -> None:
    """An enabled service may not need a disabled one (unless the dependency is `required: false`)."""
    disabled = set(selection.disabled)
    errors = []
    for name in selection.enabled:
        service = services[name]
        depends = service.get("depends_on") if isinstance(service, YMap) else None
        if not isinstance(depends, YMap):
            continue
        for dep, spec in depends.items():
            if dep not in disabled:
                continue
            if isinstance(spec, dict) and spec.get("required") is False:
                continue
            profiles = service_profiles(services[dep])
            flags = " ".join(f"--profile {p}" for p in profiles)
            errors.append(ComposerError(
                f'service "{name}" depends on service "{dep}", which is disabled by its profiles '
                f"({', '.join(profiles)})",
                span=depends.key_span(dep),
                hint=f"enable it with {flags} (or COMPOSE_PROFILES={','.join(profiles)})",
            ))
    raise_all(errors)
