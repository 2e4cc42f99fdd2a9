"""Cross-reference checks on the completed document: every problem at once, each located.

Runs on the located tree (not the models) so each error names file:line; written defensively,
because it also runs when validation found shape errors, to report everything in one pass.
"""

from __future__ import annotations

import difflib
import itertools
from collections.abc import Iterator
from typing import Any

from composer.errors import ComposerError
from composer.schema.tree import YMap, YSeq

SERVICE_PREFIX = "service:"


def _maps(value: Any) -> YMap:
    return value if isinstance(value, YMap) else YMap()


def _hint(name: str, known: list[str]) -> str | None:
    close = difflib.get_close_matches(name, known, n=1)
    return f'did you mean "{close[0]}"?' if close else None


def _replicas(service: YMap) -> tuple[int | None, int | None]:
    scale = service.get("scale")
    deploy = service.get("deploy")
    replicas = deploy.get("replicas") if isinstance(deploy, dict) else None
    as_int = [v if isinstance(v, int) and not isinstance(v, bool) else None for v in (scale, replicas)]
    return as_int[0], as_int[1]


def service_refs(service: YMap) -> Iterator[tuple[str, str, Any]]:
    """(kind, service name, span) for every other service this one names."""
    depends = _maps(service.get("depends_on"))
    for dep in depends:
        yield "depends_on", dep, depends.key_span(dep)
    for field in ("network_mode", "ipc", "pid", "uts", "cgroup"):
        value = service.get(field)
        if isinstance(value, str) and value.startswith(SERVICE_PREFIX):
            yield field, value[len(SERVICE_PREFIX):], service.value_span(field)
    for key in ("links", "volumes_from"):
        items = service.get(key)
        if isinstance(items, YSeq):
            for index, item in enumerate(items):
                if not isinstance(item, str) or item.startswith("container:"):
                    continue
                yield key, item.split(":", 1)[0], items.item_span(index)


def dependency_cycles(services: YMap) -> list[ComposerError]:
    """Each `depends_on` cycle once, with the place of every edge in it."""
    edges: dict[str, list[tuple[str, Any]]] = {}
    for name, service in services.items():
        depends = service.get("depends_on") if isinstance(service, YMap) else None
        if isinstance(depends, YMap):
            edges[name] = [(dep, depends.key_span(dep)) for dep in depends if dep in services]
    errors: list[ComposerError] = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    seen_cycles: set[frozenset[str]] = set()

    def visit(start: str) -> None:
        stack: list[tuple[str, int]] = [(start, 0)]
        path: list[str] = []
        while stack:
            node, index = stack.pop()
            if index == 0:
                if state.get(node) == 2:
                    continue
                state[node] = 1
                path.append(node)
            targets = edges.get(node, [])
            if index < len(targets):
                stack.append((node, index + 1))
                target, _span = targets[index]
                if state.get(target) == 1:
                    cycle = [*path[path.index(target):], target]
                    if frozenset(cycle) not in seen_cycles:
                        seen_cycles.add(frozenset(cycle))
                        places = [f"{a} -> {b} at {dict(edges[a])[b]}" for a, b in itertools.pairwise(cycle)]
                        errors.append(ComposerError(f"dependency cycle: {' -> '.join(cycle)}",
                                                    span=dict(edges[cycle[0]])[cycle[1]], hint="; ".join(places)))
                elif state.get(target) != 2:
                    stack.append((target, 0))
            else:
                state[node] = 2
                path.pop()

    for name in sorted(edges):
        visit(name)
    return errors


def check_references(doc: YMap, enabled: set[str] | None = None) -> list[ComposerError]:
    """Undefined networks/volumes/secrets/configs/services and the combinations Compose forbids."""
    errors: list[ComposerError] = []
    services = _maps(doc.get("services"))
    top = {kind: _maps(doc.get(kind)) for kind in ("networks", "volumes", "secrets", "configs")}
    names = list(services)
    errors.extend(dependency_cycles(services))
    for name, service in services.items():
        if not isinstance(service, YMap) or (enabled is not None and name not in enabled):
            continue
        where = f'service "{name}"'
        for kind, target, span in service_refs(service):
            if target not in services:
                errors.append(ComposerError(f"{where} refers to undefined service \"{target}\" in {kind}",
                                            span=span, hint=_hint(target, names)))
        networks = _maps(service.get("networks"))
        for net in networks:
            if net not in top["networks"] and net != "default":  # `default` always exists
                errors.append(ComposerError(f'{where} refers to undefined network "{net}"',
                                            span=networks.key_span(net), hint=_hint(net, list(top["networks"]))))
        volumes = service.get("volumes")
        if isinstance(volumes, YSeq):
            for index, mount in enumerate(volumes):
                if isinstance(mount, dict) and mount.get("type") == "volume" and mount.get("source"):
                    source = str(mount["source"])
                    if source not in top["volumes"]:
                        errors.append(ComposerError(
                            f'{where} refers to undefined volume "{source}"', span=volumes.item_span(index),
                            hint=_hint(source, list(top["volumes"])) or "declare it under the top-level volumes:"))
        for kind in ("secrets", "configs"):
            refs = service.get(kind)
            if not isinstance(refs, YSeq):
                continue
            for index, ref in enumerate(refs):
                ref_source = ref.get("source") if isinstance(ref, dict) else ref
                if isinstance(ref_source, str) and ref_source not in top[kind]:
                    errors.append(ComposerError(f'{where} refers to undefined {kind[:-1]} "{ref_source}"',
                                                span=refs.item_span(index), hint=_hint(ref_source, list(top[kind]))))
        build = service.get("build")
        build_secrets = build.get("secrets") if isinstance(build, YMap) else None
        if not isinstance(build_secrets, YSeq):
            build_secrets = YSeq()
        for index, ref in enumerate(build_secrets):
            ref_source = ref.get("source") if isinstance(ref, dict) else ref
            if isinstance(ref_source, str) and ref_source not in top["secrets"]:
                errors.append(ComposerError(f'{where} refers to undefined build secret "{ref_source}"',
                                            span=build_secrets.item_span(index),
                                            hint=_hint(ref_source, list(top["secrets"]))))
        if "network_mode" in service and "networks" in service and networks:
            errors.append(ComposerError(f"{where} declares mutually exclusive `network_mode` and `networks`",
                                        span=service.key_span("network_mode")))
        scale, replicas = _replicas(service)
        if scale is not None and replicas is not None and scale != replicas:
            errors.append(ComposerError(f"{where}: scale ({scale}) and deploy.replicas ({replicas}) disagree",
                                        span=service.key_span("scale")))
        count = scale if scale is not None else replicas
        if service.get("container_name") and count is not None and count > 1:
            errors.append(ComposerError(
                f'{where} sets container_name "{service["container_name"]}" but asks for {count} replicas',
                span=service.key_span("container_name"), hint="a container name must be unique; drop one of them"))
        if service.get("network_mode") == "host":
            ports = service.get("ports")
            if isinstance(ports, YSeq):
                for index, port in enumerate(ports):
                    if isinstance(port, dict) and port.get("published") not in (None, ""):
                        errors.append(ComposerError(
                            f"{where} publishes port {port.get('published')} but uses network_mode: host",
                            span=ports.item_span(index), hint="with host networking the port is already on the host"))
    return errors
