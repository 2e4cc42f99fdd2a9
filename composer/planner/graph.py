"""The service graph: who needs whom, from `depends_on` and the implicit edges Compose adds.

Edges point from a service to what it needs (`web -> db`). Implicit edges come from `links`,
`volumes_from: [service:x]` and `network_mode`/`ipc`/`pid: service:x`; they carry the condition
`service_started`, as in Docker Compose. A cycle is a user mistake, reported with the place of
every edge in it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError

if TYPE_CHECKING:
    import networkx as nx

STARTED = "service_started"
HEALTHY = "service_healthy"
COMPLETED = "service_completed_successfully"


@dataclass(frozen=True, slots=True)
class Dependency:
    """One edge: what `service` waits for before it starts."""

    service: str
    condition: str = STARTED
    required: bool = True
    restart: bool = False
    implicit: str | None = None
    """Set for edges Compose adds on its own: the key they come from (`links`, `volumes_from`, ...)."""
    where: str | None = None
    """`file:line` of the entry, when known (for the cycle message)."""


def _where(container: Any, key: str) -> str | None:
    span = container.key_span(key) if hasattr(container, "key_span") else None
    return str(span) if span is not None else None


def _service_ref(value: Any) -> str | None:
    text = str(value or "")
    return text.split(":", 1)[1] if text.startswith("service:") else None


def dependencies(service: Mapping[str, Any]) -> list[Dependency]:
    """The services `service` needs, explicit ones first, each once (the explicit edge wins)."""
    out: dict[str, Dependency] = {}
    depends = service.get("depends_on") or {}
    if isinstance(depends, list):
        depends = {name: None for name in depends}
    for name, spec in depends.items():
        spec = spec or {}
        out[str(name)] = Dependency(
            str(name),
            condition=str(spec.get("condition") or STARTED),
            required=spec.get("required") is not False,
            restart=bool(spec.get("restart")),
            where=_where(depends, name),
        )
    implicit: list[tuple[str, str, str | None]] = []
    for index, link in enumerate(service.get("links") or ()):
        implicit.append((str(link).split(":", 1)[0], "links", _where(service, "links") if index == 0 else None))
    for entry in service.get("volumes_from") or ():
        text = str(entry)
        if text.startswith("container:"):
            continue
        name = text.split(":", 2)[1] if text.startswith("service:") else text.split(":", 1)[0]
        implicit.append((name, "volumes_from", _where(service, "volumes_from")))
    for key in ("network_mode", "ipc", "pid"):
        ref = _service_ref(service.get(key))
        if ref:
            implicit.append((ref, key, _where(service, key)))
    for name, key, where in implicit:
        out.setdefault(name, Dependency(name, implicit=key, where=where))
    return list(out.values())


def service_graph(services: Mapping[str, Mapping[str, Any]]) -> nx.DiGraph[str]:
    """A DiGraph of the services; edge data `dep` is the `Dependency`. Raises on a cycle."""
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(services)
    for name, service in services.items():
        for dep in dependencies(service):
            if dep.service in services:
                graph.add_edge(name, dep.service, dep=dep)
    _refuse_cycles(graph)
    return graph


def _refuse_cycles(graph: nx.DiGraph[str]) -> None:
    import networkx as nx

    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    steps = []
    for source, target in cycle:
        dep: Dependency = graph.edges[source, target]["dep"]
        how = dep.implicit or "depends_on"
        where = f" ({dep.where})" if dep.where else ""
        steps.append(f"{source} -> {target} [{how}]{where}")
    raise ComposerError("dependency cycle between services: " + ", ".join(steps))


def with_dependencies(graph: nx.DiGraph[str], names: Iterable[str], *, no_deps: bool = False) -> set[str]:
    """The selected services and (unless `no_deps`) everything they need, transitively."""
    import networkx as nx


    chosen = set(names) if names else set(graph.nodes)
    unknown = sorted(chosen - set(graph.nodes))
    if unknown:
        raise ComposerError(f"no such service: {unknown[0]}")
    if no_deps:
        return chosen
    out = set(chosen)
    for name in chosen:
        out |= nx.descendants(graph, name)
    return out


def dependents(graph: nx.DiGraph[str], name: str) -> set[str]:
    """Every service that needs `name`, directly or not."""
    import networkx as nx

    return set(nx.ancestors(graph, name))


def start_order(graph: nx.DiGraph[str], names: Iterable[str] | None = None) -> list[str]:
    """Dependencies before dependents (ties by name, so plans are stable)."""
    import networkx as nx

    sub = graph.subgraph(set(names) if names is not None else set(graph.nodes))
    return list(nx.lexicographical_topological_sort(sub.reverse(copy=False), key=str))
