"""One snapshot of what exists for a project: containers (labels, status, specs), networks, volumes, images."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError
from composer.planner import labels as d
from composer.planner.plan import ObservedContainer, ObservedState

if TYPE_CHECKING:
    from composer.runtime.engine.engine import Container, Engine


def observed_container(c: Container, volume_root: Path) -> ObservedContainer:
    from composer.runtime.engine.volumes import is_anonymous_name

    record = c.record
    anonymous: dict[str, str] = {}
    for mount in record.mounts:
        try:
            rel = Path(str(mount.get("source", ""))).relative_to(volume_root)
        except ValueError:
            continue
        name = rel.parts[0] if rel.parts else ""
        if name in record.volumes and is_anonymous_name(name):
            anonymous[str(mount.get("destination"))] = name
    try:
        number = int(record.labels.get(d.NUMBER, "0"))
    except ValueError:
        number = 0
    return ObservedContainer(
        id=record.id,
        name=record.name,
        service=record.labels.get(d.SERVICE, ""),
        number=number,
        status=c.status,
        labels=dict(record.labels),
        spec=dict(record.service),
        anonymous_volumes=anonymous,
        exit_code=c.state.exit_code,
    )


def project_containers(engine: Engine, project: str, *, all: bool = True) -> list[Container]:
    """The engine's containers labelled with `project`."""
    return [c for c in engine.list(all=all) if c.record.labels.get(d.PROJECT) == project]


def image_ids(engine: Engine, refs: Iterable[str]) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for ref in set(refs):
        try:
            out[ref] = str(engine._image(ref).id)
        except ComposerError:
            out[ref] = None
    return out


def observe(engine: Engine, project: str, images: Iterable[str] = (), *, unfinished: bool = False) -> ObservedState:
    """What exists now (the engine's containers of `project`, every network and volume, the images named).

    Networks a killed command left half-made count as missing (so `up` finishes them), unless `unfinished`
    (so `down` removes them too).
    """
    from composer.runtime.engine.volumes import VolumeStore

    volume_store = VolumeStore(engine.roots.state_root)
    containers = [observed_container(c, volume_store.root) for c in project_containers(engine, project)]
    networks = {r.name: dict(r.labels) for r in engine.networks.records() if unfinished or r.phase == "ready"}
    volumes = {v.name: dict(v.labels) for v in volume_store.all()}
    return ObservedState(containers=containers, networks=networks, volumes=volumes, images=image_ids(engine, images))


def has_healthcheck(engine: Engine, container: Any) -> bool:
    """Whether the container has a healthcheck (its service's, or its image's)."""
    from composer.planner.health import health_spec

    image = engine._image(container.record.image_id)
    image_config = dict(image.config_json.get("config") or {})
    return health_spec(container.record.service.get("healthcheck"), image_config.get("Healthcheck")) is not None
