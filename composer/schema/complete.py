"""Phase 7: the defaults Docker Compose v2 fills in once all files are merged.

Each rule was checked against `docker compose config`: services without `network_mode` or
`networks` join `default`; resources get `<project>_<key>` names (external ones their key);
`build` gets context `.` and dockerfile `Dockerfile`; secrets get target `/run/secrets/<name>`
(configs get none); `links`, `volumes_from` and `service:` namespaces add `depends_on` entries
(condition service_started, restart and required true); `env_file` and `label_file` are folded
into `environment` and `labels`; key-only environment entries take their value from the
project's variables (unset ones stay null).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from composer.errors import ComposerError, Span, raise_all
from composer.schema.dotenv import parse_dotenv, parse_raw_env
from composer.schema.fs import SourceFS
from composer.schema.references import service_refs
from composer.schema.tree import YMap, YSeq, located

RESOURCE_KINDS = ("networks", "volumes", "secrets", "configs")


def _service_networks(service: YMap) -> YMap | None:
    if "network_mode" in service:
        return None
    networks = service.get("networks")
    if isinstance(networks, YMap) and networks:
        return networks
    out = YMap(span=service.span)
    out.put("default", None, service.span, service.span)
    service.put("networks", out, service.key_span("networks"), service.value_span("networks"))
    return out


def _name_resources(doc: YMap, project: str) -> None:
    for kind in RESOURCE_KINDS:
        section = doc.get(kind)
        if not isinstance(section, YMap):
            continue
        for key, spec in list(section.items()):
            if spec is None:
                spec = YMap(span=section.value_span(key))
                section.put(key, spec, section.key_span(key), section.value_span(key))
            if not isinstance(spec, YMap) or spec.get("name"):
                continue
            external = spec.get("external") is True
            spec.put("name", key if external else f"{project}_{key}", section.key_span(key))


def _complete_build(service: YMap, lookup: Mapping[str, str]) -> None:
    """Context `.`, dockerfile `Dockerfile`; key-only build args come from the variables or go."""
    build = service.get("build")
    if not isinstance(build, YMap):
        return
    args = build.get("args")
    if isinstance(args, YMap):
        for key in [k for k, v in args.items() if v is None]:
            if key in lookup:
                args[key] = lookup[key]
            else:
                del args[key]
    if not build.get("context"):
        build.put("context", ".", service.key_span("build"))
    if "dockerfile" not in build and "dockerfile_inline" not in build:
        build.put("dockerfile", "Dockerfile", service.key_span("build"))


def _scale_into_deploy(service: YMap) -> None:
    """Compose copies `scale` into `deploy.replicas` when there is a `deploy` section."""
    deploy = service.get("deploy")
    if isinstance(deploy, YMap) and "scale" in service and "replicas" not in deploy:
        deploy.put("replicas", service["scale"], service.key_span("scale"), service.value_span("scale"))


def _implicit_depends_on(service: YMap) -> None:
    depends = service.get("depends_on")
    if depends is not None and not isinstance(depends, YMap):
        return
    added = YMap(depends or {}, span=depends.span if depends is not None else service.span)
    if depends is not None:
        for key in depends:
            added.copy_entry(depends, key)
    changed = False
    for kind, target, span in service_refs(service):
        if kind == "depends_on" or target in added:
            continue
        added.put(target, located({"condition": "service_started", "restart": True, "required": True}, span),
                  span, span)
        changed = True
    if changed:
        service.put("depends_on", added, service.key_span("depends_on") or service.span)


def _read_env_file(fs: SourceFS, entry: Any, span: Span | None, lookup: Mapping[str, str]) -> dict[str, str | None]:
    path = entry.get("path") if isinstance(entry, dict) else entry
    if not isinstance(path, str):
        return {}
    required = not (isinstance(entry, dict) and entry.get("required") is False)
    try:
        text = fs.read_bytes(path).decode("utf-8-sig")
    except (FileNotFoundError, IsADirectoryError):
        if required:
            raise ComposerError(f"env file {path} not found", span=span,
                                hint="create it, or mark the entry `required: false`")
        return {}
    except UnicodeDecodeError:
        raise ComposerError(f"env file {path} is not valid UTF-8", span=span)
    if isinstance(entry, dict) and entry.get("format") == "raw":
        return parse_raw_env(text, filename=path)
    return parse_dotenv(text, filename=path, lookup=lookup.get)


def _complete_environment(service: YMap, fs: SourceFS, lookup: Mapping[str, str]) -> None:
    """env_file values, then `environment` over them; key-only entries come from the variables."""
    files = service.get("env_file")
    merged: dict[str, str | None] = {}
    spans: dict[str, Span | None] = {}
    if isinstance(files, YSeq):
        for index, entry in enumerate(files):
            values = _read_env_file(fs, entry, files.item_span(index), lookup)
            for key, value in values.items():
                if value is None:
                    if key not in lookup:
                        continue
                    value = lookup[key]
                merged[key] = value
                spans[key] = files.item_span(index)
        del service["env_file"]
    environment = service.get("environment")
    if not files and not isinstance(environment, YMap):
        return
    out = YMap(span=environment.span if isinstance(environment, YMap) else service.span)
    for key, value in merged.items():
        out.put(key, value, spans[key], spans[key])
    if isinstance(environment, YMap):
        for key, value in environment.items():
            out.copy_entry(environment, key, lookup.get(key) if value is None else value)
    if out:
        service.put("environment", out, service.key_span("environment") or service.key_span("env_file"))
    elif "environment" in service:
        del service["environment"]


def _complete_labels(service: YMap, fs: SourceFS) -> None:
    files = service.get("label_file")
    if files is None:
        return
    paths = files if isinstance(files, YSeq) else YSeq([files], span=service.value_span("label_file"))
    out = YMap(span=service.span)
    for index, path in enumerate(paths):
        if not isinstance(path, str):
            continue
        span = paths.item_span(index)
        try:
            text = fs.read_bytes(path).decode("utf-8-sig")
        except (FileNotFoundError, IsADirectoryError):
            raise ComposerError(f"label file {path} not found", span=span)
        for key, value in parse_raw_env(text, filename=path).items():
            out.put(key, value if value is not None else "", span, span)
    labels = service.get("labels")
    if isinstance(labels, YMap):
        for key in labels:
            out.copy_entry(labels, key)
    del service["label_file"]
    service.put("labels", out, service.key_span("labels") or span)


def _complete_secrets(service: YMap) -> None:
    secrets = service.get("secrets")
    if not isinstance(secrets, YSeq):
        return
    for entry in secrets:
        if isinstance(entry, YMap) and entry.get("source") and not entry.get("target"):
            entry.put("target", f"/run/secrets/{entry['source']}", entry.key_span("source"))


def used_resources(doc: YMap) -> dict[str, set[str]]:
    """Which networks, volumes, secrets and configs the services use (the rest is left out)."""
    used: dict[str, set[str]] = {kind: set() for kind in RESOURCE_KINDS}
    services = doc.get("services")
    for service in services.values() if isinstance(services, YMap) else ():
        if not isinstance(service, YMap):
            continue
        networks = service.get("networks")
        if isinstance(networks, dict):
            used["networks"].update(networks)
        for mount in service.get("volumes") or ():
            if isinstance(mount, dict) and mount.get("type") == "volume" and mount.get("source"):
                used["volumes"].add(str(mount["source"]))
        for kind in ("secrets", "configs"):
            for ref in service.get(kind) or ():
                if isinstance(ref, dict) and ref.get("source"):
                    used[kind].add(str(ref["source"]))
        build = service.get("build")
        for ref in (build.get("secrets") or ()) if isinstance(build, dict) else ():  # RUN --mount=type=secret
            source = ref.get("source") if isinstance(ref, dict) else ref
            if isinstance(source, str) and source:
                used["secrets"].add(source)
    return used


def prune_unused(doc: YMap) -> None:
    used = used_resources(doc)
    for kind in RESOURCE_KINDS:
        section = doc.get(kind)
        if isinstance(section, YMap):
            for key in [k for k in section if k not in used[kind]]:
                del section[key]
            if not section:
                del doc[kind]


def fold_files(doc: YMap, *, fs: SourceFS, variables: Mapping[str, str]) -> YMap:
    """`env_file` and `label_file` read into `environment` and `labels` (Compose does this whenever
    it interpolates, normalized or not)."""
    services = doc.get("services")
    errors: list[ComposerError] = []
    for service in services.values() if isinstance(services, YMap) else ():
        if not isinstance(service, YMap):
            continue
        try:
            _complete_environment(service, fs, variables)
            _complete_labels(service, fs)
        except ComposerError as exc:
            errors.append(exc)
    raise_all(errors)
    return doc


def complete(doc: YMap, *, project: str, variables: Mapping[str, str]) -> YMap:
    """Fill Compose v2's defaults in place (the tree is the loader's own by now)."""
    services = doc.get("services")
    if not isinstance(services, YMap):
        return doc
    needs_default = False
    for service in services.values():
        if not isinstance(service, YMap):
            continue
        networks = _service_networks(service)
        needs_default = needs_default or (networks is not None and "default" in networks)
        _complete_build(service, variables)
        _scale_into_deploy(service)
        _implicit_depends_on(service)
        _complete_secrets(service)
    if needs_default:
        networks = doc.get("networks")
        if not isinstance(networks, YMap):
            networks = YMap(span=doc.span)
            doc.put("networks", networks, doc.span)
        if "default" not in networks:
            networks.put("default", YMap(span=doc.span), doc.span)
    _name_resources(doc, project)
    return doc

