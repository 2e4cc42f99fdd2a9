"""The project a Compose command works on: its model and desired state, or only its name.

Commands that only look at what exists (`ps`, `logs`, `down`, ...) also work with `-p NAME` and no
Compose file, from the containers' labels, as Docker Compose does.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError

if TYPE_CHECKING:
    from composer.cli.context import GlobalOptions
    from composer.planner.desired import DesiredState
    from composer.runtime.engine.engine import Container, Engine
    from composer.schema.loader import LoadedProject


class ProjectContext:
    """The project's name, its loaded model and its desired state.

    The desired state is computed on first use: `ps`, `logs` and the like only need the name (and maybe the
    service names), and building it imports networkx and the planner (about 140 ms of a 50-service `ps`).
    """

    def __init__(self, name: str, loaded: LoadedProject | None = None, want: DesiredState | None = None, *,
                 scale: Mapping[str, int] | None = None) -> None:
        self.name = name
        self.loaded = loaded
        self._want = want
        self._scale = scale

    @property
    def want(self) -> DesiredState | None:
        if self._want is None and self.loaded is not None:
            self._want = desired_from(self.loaded, scale=self._scale)
        return self._want

    def require_model(self) -> DesiredState:
        if self.want is None:
            raise ComposerError("no configuration file provided: not found")
        return self.want


def desired_from(loaded: LoadedProject, *, scale: Mapping[str, int] | None = None) -> DesiredState:
    from composer.cli.config_views import canonical, model_document
    from composer.planner.desired import ProjectInfo, desired_state
    from composer.planner.graph import service_graph

    document = model_document(loaded)
    contents = {}
    if document.get("secrets") or document.get("configs"):
        from composer.runtime.compose.files import read_contents
        from composer.runtime.engine.engine import DEFAULT_STATE_ROOT

        contents = read_contents(document, loaded.environment, Path(os.environ.get("COMPOSER_ROOT")
                                                                     or DEFAULT_STATE_ROOT))
    graph = service_graph(loaded.services)  # from the located model: a cycle names file and line
    files = tuple(str(Path(loaded.working_dir, f)) if not os.path.isabs(f) and f != "-" else f
                  for f in loaded.config_files)
    info = ProjectInfo(name=loaded.name, working_dir=loaded.working_dir, config_files=files,
                       env_files=tuple(loaded.env_files))
    return desired_state(document, info, scale=scale, all_services=loaded.all_services, graph=graph,
                         hash_document=canonical(loaded), contents=contents)


def project(opts: GlobalOptions, *, services: Sequence[str] = (), scale: Mapping[str, int] | None = None,
            need_model: bool = True) -> ProjectContext:
    """Load the project (or, without a file, only its `-p` name when `need_model` is off)."""
    from composer.cli.render import warn

    try:
        loaded = opts.load(services=tuple(services))
    except ComposerError as exc:
        if need_model or not opts.project_name or not str(exc).startswith("no configuration file"):
            raise
        return ProjectContext(name=_normalize(opts.project_name))
    warn(loaded.diagnostics.warnings)
    ctx = ProjectContext(name=loaded.name, loaded=loaded, scale=scale)
    if need_model:
        ctx.want  # noqa: B018 (built now: its errors come before anything is touched, as before)
    return ctx


def project_name(opts: GlobalOptions) -> ProjectContext:
    """Only the name, by the loader's rules but without loading the model (`ps`, `logs`: they look at labels)."""
    try:
        return ProjectContext(name=opts.load_name())
    except ComposerError as exc:
        if not opts.project_name or not str(exc).startswith("no configuration file"):
            raise
        return ProjectContext(name=_normalize(opts.project_name))


def _normalize(name: str) -> str:
    from composer.schema.naming import normalize_project_name

    return normalize_project_name(name)


def project_containers(engine: Engine, name: str, services: Sequence[str] = (), *, all: bool = True,
                       oneoff: bool = False, index: int | None = None) -> list[Container]:
    """The project's containers (of `services`), by service then number."""
    out = []
    for c in engine.list(all=all):
        labels = c.record.labels
        if labels.get(_PROJECT) != name:
            continue
        if not oneoff and labels.get(_ONEOFF) == "True":
            continue
        if services and labels.get(_SERVICE) not in services:
            continue
        if index is not None and labels.get(_NUMBER) != str(index):
            continue
        out.append(c)
    out.sort(key=lambda c: (c.record.labels.get(_SERVICE, ""), _number(c), c.name))
    return out


# `composer.planner.desired`'s labels, spelled out here: importing it imports networkx (70 ms), which
# commands that only list containers do not need. tests/cli/test_project_labels.py keeps them equal.
_PROJECT = "com.docker.compose.project"
_SERVICE = "com.docker.compose.service"
_NUMBER = "com.docker.compose.container-number"
_ONEOFF = "com.docker.compose.oneoff"


def _number(c: Container) -> int:
    try:
        return int(c.record.labels.get(_NUMBER, "0"))
    except ValueError:
        return 0


def check_services(ctx: ProjectContext, services: Sequence[str]) -> None:
    """Unknown service names are an error when the model is known."""
    if not services or ctx.want is None:
        return
    for name in services:
        if name not in ctx.want.services:
            raise ComposerError(f"no such service: {name}")


def engine_for(opts: Any = None) -> Engine:
    from composer.cli.container_cmd import engine

    return engine()
