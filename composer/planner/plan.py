"""diff(desired, observed) -> Plan: the actions that bring a project to its desired state, and why.

Pure. The observed state is a snapshot the runtime took (containers with their labels and status,
networks, volumes, image ids); the plan is a DAG of actions, each naming its reason and whether it
destroys anything. Plans render as plain text, one line per action (`up --dry-run` prints them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.graph import Dependency

Kind = Literal[
    "create", "recreate", "rename", "start", "restart", "keep", "stop", "remove",
]


@dataclass(frozen=True, slots=True)
class ObservedContainer:
    id: str
    name: str
    service: str
    number: int
    status: str
    """Docker's status word: created, running, paused, restarting, exited, dead, removing."""
    labels: Mapping[str, str] = field(default_factory=dict)
    spec: Mapping[str, Any] = field(default_factory=dict)
    """The engine-shaped service the container was made from (to say which setting changed)."""
    anonymous_volumes: Mapping[str, str] = field(default_factory=dict)
    """Mount target -> anonymous volume name (what a recreated container inherits)."""
    exit_code: int | None = None

    @property
    def oneoff(self) -> bool:
        return self.labels.get(d.ONEOFF) == "True"

    @property
    def running(self) -> bool:
        return self.status in ("running", "paused", "restarting")


@dataclass(frozen=True, slots=True)
class ObservedState:
    containers: Sequence[ObservedContainer] = ()
    networks: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    """Network name -> labels, for the networks that exist."""
    volumes: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    images: Mapping[str, str | None] = field(default_factory=dict)
    """Image reference -> image id (None: not on the engine)."""


@dataclass(frozen=True, slots=True)
class Action:
    id: str
    kind: Kind
    target: str
    """Network, volume or container name."""
    reason: str = ""
    service: str | None = None
    number: int | None = None
    after: tuple[str, ...] = ()
    """Ids of the actions this one waits for."""
    destructive: bool = False
    replaces: str | None = None
    """For recreate: the id of the container that goes once the new one exists."""
    inherit: Mapping[str, str] = field(default_factory=dict)
    """For recreate: anonymous volumes the new container takes over (target -> volume name)."""
    waits: tuple[Dependency, ...] = ()
    """Conditions on other services checked before the container starts."""

    @property
    def label(self) -> str:
        if self.id.startswith(("network:", "volume:")):
            return f"{self.id.split(':', 1)[0]} {self.target}"
        if self.service is not None and self.number is not None:
            return f"{self.service}-{self.number}"
        return self.target

    def text(self) -> str:
        return f"{self.label}: {self.kind}" + (f" ({self.reason})" if self.reason else "")


@dataclass(frozen=True, slots=True)
class Plan:
    actions: tuple[Action, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        """Nothing to do (keeps are not work)."""
        return all(a.kind == "keep" for a in self.actions)

    def render(self) -> str:
        return "".join(a.text() + "\n" for a in self.actions)

    def by_id(self) -> dict[str, Action]:
        return {a.id: a for a in self.actions}


@dataclass(frozen=True, slots=True)
class UpOptions:
    services: frozenset[str] | None = None
    """The services to bring up (with their dependencies already added); None: all."""
    force_recreate: bool = False
    no_recreate: bool = False
    always_recreate_deps: bool = False
    renew_anon_volumes: bool = False
    remove_orphans: bool = False
    no_start: bool = False
    start_stopped: bool = True
    """Start containers that exist but do not run (off in the follow-up passes of one `up`, so one-shot
    containers that have finished stay finished)."""


def _configured(spec: Mapping[str, Any]) -> dict[str, Any]:
    """The spec without the mounts the runtime added itself."""
    out = {k: v for k, v in spec.items() if k != "x-composer-replaces"}
    if out.get("volumes"):
        out["volumes"] = [m for m in out["volumes"] if not (isinstance(m, Mapping) and m.get(d.ADDED))]
        if not out["volumes"]:
            del out["volumes"]
    return out


def _changed_keys(old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    old, new = _configured(old), _configured(new)
    return sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))


def recreate_reason(
    want: d.DesiredService, have: ObservedContainer, image_id: str | None, options: UpOptions,
) -> str | None:
    """Why `have` must be replaced by a new container, or None when it is up to date."""
    if options.force_recreate:
        return "forced"
    if options.no_recreate:
        return None
    if have.labels.get(d.HASH) != want.config_hash:
        keys = _changed_keys(have.spec, want.spec) if have.spec else []
        if keys == ["image"]:
            return "image changed"
        if d.FILES_KEY in keys:
            old, new = have.spec.get(d.FILES_KEY) or {}, want.spec.get(d.FILES_KEY) or {}
            changed = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
            keys = [k for k in keys if k != d.FILES_KEY] + changed
        if keys:
            return ", ".join(keys) + " changed"
        return "configuration changed"
    if image_id is not None and have.labels.get(d.IMAGE) not in (None, "", image_id):
        return "image changed"
    return None


def _split(current: Sequence[ObservedContainer], svc: d.DesiredService,
           project: str) -> tuple[list[ObservedContainer], list[ObservedContainer]]:
    """(kept, extra): the lowest numbers up to the replica count, one container per number.

    Two containers with one number are what a recreate killed half-way leaves (the new one still has its
    temporary name): the one with the proper name stays, the other goes.
    """
    by_number: dict[int, list[ObservedContainer]] = {}
    for c in current:
        by_number.setdefault(c.number, []).append(c)
    keep: list[ObservedContainer] = []
    extra: list[ObservedContainer] = []
    for number in sorted(by_number):
        group = sorted(by_number[number], key=lambda c: c.name != svc.container(project, number))
        if len(keep) < svc.replicas:
            keep.append(group[0])
            extra.extend(group[1:])
        else:
            extra.extend(group)
    return keep, extra


def observed_services(observed: ObservedState, project: str) -> dict[str, list[ObservedContainer]]:
    out: dict[str, list[ObservedContainer]] = {}
    for c in observed.containers:
        if c.labels.get(d.PROJECT) != project or c.oneoff:
            continue
        out.setdefault(c.service, []).append(c)
    for items in out.values():
        items.sort(key=lambda c: c.number)
    return out


def _missing(
    wanted: Iterable[d.DesiredNetwork | d.DesiredVolume],
    used: set[str],
    existing: Mapping[str, Any],
    kind: str,
    actions: list[Action],
    external_error: str,
) -> dict[str, str]:
    """Create actions for the used networks (or volumes) that do not exist; key -> action id."""
    ids: dict[str, str] = {}
    for item in wanted:
        if item.key not in used or item.name in existing:
            continue
        if item.external:
            raise ComposerError(external_error.format(item.name))
        ids[item.key] = f"{kind}:{item.name}"
        actions.append(Action(ids[item.key], "create", item.name))
    return ids


def diff(want: d.DesiredState, observed: ObservedState, options: UpOptions | None = None) -> Plan:
    """The plan for `up`: networks and volumes, then each service's containers in dependency order."""
    options = options or UpOptions()
    actions: list[Action] = []
    warnings: list[str] = []
    selected = options.services if options.services is not None else frozenset(want.services)
    from composer.planner.graph import start_order

    used_nets = {n for s in selected if s in want.services for n in want.services[s].networks}
    used_vols = {v for s in selected if s in want.services for v in want.services[s].volumes}
    net_ids = _missing(want.networks.values(), used_nets, observed.networks, "network", actions,
                       "network {} declared as external, but could not be found")
    vol_ids = _missing(want.volumes.values(), used_vols, observed.volumes, "volume",
                       actions, 'external volume "{}" not found')

    have = observed_services(observed, want.project)
    service_actions: dict[str, list[str]] = {}
    changed: set[str] = set()
    for name in start_order(want.graph, selected):
        svc = want.services[name]
        deps: list[Dependency] = [want.graph.edges[name, t]["dep"] for t in want.graph.successors(name)]
        after = [net_ids[n] for n in svc.networks if n in net_ids]
        after += [vol_ids[v] for v in svc.volumes if v in vol_ids]
        for dep in deps:
            after += service_actions.get(dep.service, [])
        waits = tuple(dep for dep in deps if dep.service in selected or dep.required)
        image_id = observed.images.get(svc.image)
        current = have.get(name, [])
        keep, extra = _split(current, svc, want.project)
        ids: list[str] = []
        dep_changed = [dep for dep in deps if dep.service in changed]
        # a duplicate (what a killed recreate left, under the temporary name a new recreate would take again)
        # goes before anything is done with the container of its number
        duplicates: dict[int, list[str]] = {}
        for c in extra:
            duplicates.setdefault(c.number, []).append(f"remove:{c.id}")
        for c in keep:
            c_after = (*after, *duplicates.get(c.number, ()))
            reason = recreate_reason(svc, c, image_id, options)
            if reason is None and options.always_recreate_deps and dep_changed and not options.no_recreate:
                reason = f"dependency {dep_changed[0].service} recreated"
            aid = f"container:{svc.container(want.project, c.number)}"
            if reason is not None:
                inherit = {} if options.renew_anon_volumes else dict(c.anonymous_volumes)
                actions.append(Action(aid, "recreate", c.name, reason, name, c.number, c_after,
                                      destructive=True, replaces=c.id, inherit=inherit, waits=waits))
                changed.add(name)
            elif c.name != svc.container(want.project, c.number):
                actions.append(Action(aid, "rename", c.name, "finish an interrupted recreate", name, c.number,
                                      c_after, waits=waits))
            elif any(dep.restart for dep in dep_changed) and c.running and not options.no_start:
                culprit = next(dep.service for dep in dep_changed if dep.restart)
                actions.append(Action(aid, "restart", c.name, f"{culprit} recreated", name, c.number, c_after))
            elif not c.running and not options.no_start and options.start_stopped:
                actions.append(Action(aid, "start", c.name, c.status, name, c.number, c_after, waits=waits))
            else:
                actions.append(Action(aid, "keep", c.name, "up to date" if c.running else c.status, name, c.number))
            ids.append(aid)
        used = {c.number for c in current}
        number = max(used, default=0)
        for _ in range(svc.replicas - len(keep)):
            number += 1
            while number in used:
                number += 1
            aid = f"container:{svc.container(want.project, number)}"
            reason = "new" if not current else "scale up"
            actions.append(Action(aid, "create", svc.container(want.project, number), reason, name, number,
                                  tuple(after), waits=waits))
            ids.append(aid)
            changed.add(name)
        for c in extra:
            why = "duplicate" if c.number in {k.number for k in keep} else "scale down"
            actions.append(Action(f"remove:{c.id}", "remove", c.name, why, name, c.number, destructive=True))
        service_actions[name] = ids

    orphans = [c for cs in have.values() for c in cs if c.service not in want.all_services]
    if orphans:
        if options.remove_orphans:
            for c in orphans:
                actions.append(Action(f"remove:{c.id}", "remove", c.name, "orphan", c.service, c.number,
                                      destructive=True))
        else:
            warnings.append(
                f"Found orphan containers ({', '.join(sorted(c.name for c in orphans))}) for this project. If you "
                "removed or renamed this service in your compose file, you can run this command with the "
                "--remove-orphans flag to clean it up."
            )
    return Plan(tuple(actions), tuple(warnings))


def down_plan(
    want: d.DesiredState | None,
    project: str,
    observed: ObservedState,
    *,
    volumes: bool = False,
    remove_orphans: bool = False,
) -> Plan:
    """The plan for `down`: containers in reverse dependency order, then the project's networks (and volumes).

    Without a model (`down -p NAME` from anywhere) every container labelled with the project goes.
    """
    actions: list[Action] = []
    have = observed_services(observed, project)
    containers = [c for cs in have.values() for c in cs]
    containers += [c for c in observed.containers if c.labels.get(d.PROJECT) == project and c.oneoff]
    known = want.all_services if want is not None else frozenset(have)
    graph = want.graph if want is not None else None
    if graph is not None:
        from composer.planner.graph import start_order

        rank = {name: i for i, name in enumerate(reversed(start_order(graph)))}
        containers.sort(key=lambda c: (rank.get(c.service, -1), c.number))
    ids: dict[str, list[str]] = {}
    for c in containers:
        orphan = c.service not in known
        if orphan and not remove_orphans:
            continue
        aid = f"remove:{c.id}"
        after: list[str] = []
        if graph is not None and c.service in graph:
            for dependent in graph.predecessors(c.service):
                after += [f"remove:{o.id}" for o in have.get(dependent, [])]
        actions.append(Action(aid, "remove", c.name, "orphan" if orphan else "", c.service, c.number,
                              tuple(after), destructive=True))
        ids.setdefault(c.service, []).append(aid)
    removals = tuple(a.id for a in actions)
    for name, labels in sorted(observed.networks.items()):
        if labels.get(d.PROJECT) != project:
            continue
        if want is not None and not any(n.name == name and not n.external for n in want.networks.values()):
            continue
        actions.append(Action(f"network:{name}", "remove", name, after=removals, destructive=True))
    if volumes:
        for name, labels in sorted(observed.volumes.items()):
            if labels.get(d.PROJECT) != project:
                continue
            if want is not None and not any(v.name == name and not v.external for v in want.volumes.values()):
                continue
            actions.append(Action(f"volume:{name}", "remove", name, after=removals, destructive=True))
    return Plan(tuple(actions))


def containers_of(observed: ObservedState, project: str, services: Iterable[str] | None = None,
                  *, oneoff: bool = False) -> list[ObservedContainer]:
    """The project's containers (of the named services), ordered by service and number."""
    wanted = set(services) if services else None
    out = [c for c in observed.containers if c.labels.get(d.PROJECT) == project
           and (oneoff or not c.oneoff) and (wanted is None or c.service in wanted)]
    return sorted(out, key=lambda c: (c.service, c.number, c.name))
