"""Load a Compose project: the phases of docs/loading.md, in order, in one place.

Pure: files come through `SourceFS`, variables through `LoadOptions.environ`.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from composer.errors import ComposerError, Diagnostics, Span, raise_all
from composer.schema.fs import SourceFS
from composer.schema.interpolate import interpolate_tree, substitute
from composer.schema.naming import check_project_name, normalize_project_name
from composer.schema.options import STDIN, LoadOptions, read_env_file, resolve_sources, shown
from composer.schema.tree import YMap, YSeq, deep_copy
from composer.schema.yamlio import read_documents

if TYPE_CHECKING:
    from composer.schema.profiles import ProfileSelection

# The phases after the name (expand, extends, merge, paths, profiles, references, complete) are imported
# where they run: `ps`, `logs` and the like only need the project's name, and load no more than that takes.

STDIN_NAME = "<stdin>"


@dataclass
class LoadedProject:
    """A loaded project: the located canonical tree, the models, and where it all came from."""

    name: str
    doc: YMap
    working_dir: str
    config_files: tuple[str, ...]
    environment: Mapping[str, str]
    env_files: tuple[str, ...]
    selection: ProfileSelection
    diagnostics: Diagnostics
    model: Any = None
    all_services: list[str] = field(default_factory=list)
    all_profiles: list[str] = field(default_factory=list)
    unsupported: list[tuple[str, Span | None]] = field(default_factory=list)
    """Keys the file uses that composer ignores or only partly honours (also warned in `diagnostics`)."""

    @property
    def services(self) -> YMap:
        services = self.doc.get("services")
        return services if isinstance(services, YMap) else YMap()


@dataclass
class _Context:
    """State shared by one load: variables, file access, and the file-reading cache."""

    fs: SourceFS
    options: LoadOptions
    diag: Diagnostics
    stdin: bytes | None
    cache: dict[tuple[str, int], YMap] = field(default_factory=dict)
    raw: dict[str, list[YMap]] = field(default_factory=dict)


def _display(path: str, cwd: str | None = None) -> str:
    return STDIN_NAME if path == STDIN else shown(path, cwd)


def _read(ctx: _Context, path: str) -> list[YMap]:
    """A file's documents, parsed once per load (the name lookup and the load share them)."""
    if path not in ctx.raw:
        ctx.raw[path] = _parse(ctx, path)
    return ctx.raw[path]


def _parse(ctx: _Context, path: str) -> list[YMap]:
    if path == STDIN:
        data = ctx.stdin if ctx.stdin is not None else b""
    else:
        try:
            data = ctx.fs.read_bytes(path)
        except FileNotFoundError:
            raise ComposerError(f"open {path}: no such file or directory")
        except IsADirectoryError:
            raise ComposerError(f"{path} is a directory, not a Compose file")
        except PermissionError:
            raise ComposerError(f"open {path}: permission denied")
    shown = _display(path, ctx.options.cwd)
    docs = read_documents(data, shown)
    if not docs:
        raise ComposerError("empty compose file", span=Span(shown, 1, 1))
    return docs


def _prepare(ctx: _Context, path: str, variables: Mapping[str, str]) -> YMap:
    """Read, interpolate and expand one file (phases 1-3), its documents merged in order."""
    from composer.schema.expand import expand_document
    from composer.schema.merge import merge_documents

    key = (path, id(variables))
    if key in ctx.cache:
        cached: YMap = deep_copy(ctx.cache[key])
        return cached
    prepared: YMap | None = None
    for doc in _read(ctx, path):
        if ctx.options.interpolate:
            doc = interpolate_tree(doc, variables.get, ctx.diag)
        if "version" in doc:
            shown_path = _display(path, ctx.options.cwd)
            ctx.diag.warn(f"{shown_path}: the attribute `version` is obsolete, it will be ignored, "
                          "please remove it to avoid potential confusion")
        doc = expand_document(doc, ctx.diag)
        prepared = doc if prepared is None else merge_documents(prepared, doc)
    assert prepared is not None
    ctx.cache[key] = prepared
    copy: YMap = deep_copy(prepared)
    return copy


def _project_name(ctx: _Context, files: tuple[str, ...], project_dir: str, variables: Mapping[str, str]) -> str:
    """`-p` > COMPOSE_PROJECT_NAME > the last file's `name:` > the project directory's name."""
    if ctx.options.project_name:
        return check_project_name(ctx.options.project_name, source="-p")
    from_env = variables.get("COMPOSE_PROJECT_NAME")
    if from_env:
        return check_project_name(from_env, source="COMPOSE_PROJECT_NAME")
    name: str | None = None
    for path in files:
        for doc in _read(ctx, path):
            raw = doc.get("name")
            if raw is None:
                continue
            if not isinstance(raw, str):
                raise ComposerError("name must be a string", span=doc.value_span("name"))
            value = substitute(raw, variables.get, span=doc.value_span("name")) if ctx.options.interpolate else raw
            name = normalize_project_name(value)
            if not name:
                raise ComposerError(f'project name "{value}" has no valid character', span=doc.value_span("name"),
                                    hint="use lowercase letters, digits, - and _")
    if name:
        return name
    name = normalize_project_name(posixpath.basename(project_dir.rstrip("/")))
    if not name:
        raise ComposerError(f"cannot derive a project name from the directory {project_dir}",
                            hint="set one with -p NAME or a top-level name:")
    return name


def _load_files(ctx: _Context, files: tuple[str, ...], project_dir: str, variables: Mapping[str, str],
                stack: tuple[str, ...]) -> YMap:
    """Phases 1-6 over several files: each prepared, extended and included, then merged in order."""
    from composer.schema.extends import resolve_extends
    from composer.schema.merge import enforce_unique, merge_documents, strip_resets

    merged: YMap | None = None
    for path in files:
        doc = _prepare(ctx, path, variables)
        doc = resolve_extends(doc, file=path if path != STDIN else posixpath.join(project_dir, STDIN_NAME),
                              load_file=lambda other: _prepare(ctx, other, variables), diag=ctx.diag,
                              project_dir=project_dir, env=variables)
        doc = _apply_includes(ctx, doc, path, project_dir, variables, stack)
        merged = doc if merged is None else merge_documents(merged, doc)
    assert merged is not None
    return enforce_unique(strip_resets(merged))


def _apply_includes(ctx: _Context, doc: YMap, path: str, project_dir: str, variables: Mapping[str, str],
                    stack: tuple[str, ...]) -> YMap:
    """Each `include` entry is a project of its own; its resources join this one, clashes are errors."""
    from composer.schema.paths import resolve_project_paths

    entries = doc.get("include")
    if entries is None:
        return doc
    if not isinstance(entries, YSeq):
        raise ComposerError("include must be a list", span=doc.value_span("include"))
    base_dir = project_dir if path == STDIN else posixpath.dirname(path)
    errors: list[ComposerError] = []
    for index, entry in enumerate(entries):
        span = entries.item_span(index)
        paths = entry.get("path") if isinstance(entry, dict) else None
        if isinstance(paths, str):
            paths = [paths]
        if not paths or not all(isinstance(p, str) for p in paths):
            errors.append(ComposerError("include entry needs a path", span=span))
            continue
        files = tuple(posixpath.normpath(posixpath.join(base_dir, p)) for p in paths)
        if files[0] in stack:
            chain = " -> ".join((*stack, files[0]))
            raise ComposerError(f"include cycle: {chain}", span=span)
        sub_dir = entry.get("project_directory")
        sub_dir = posixpath.normpath(posixpath.join(base_dir, sub_dir)) if isinstance(sub_dir, str) \
            else posixpath.dirname(files[0])
        sub_vars = _include_variables(ctx, entry, base_dir, sub_dir, variables)
        try:
            included = _load_files(ctx, files, sub_dir, sub_vars, (*stack, files[0]))
        except ComposerError as exc:
            if exc.span is None:
                exc.span = span
            raise
        if ctx.options.resolve_paths:
            included = resolve_project_paths(included, sub_dir, sub_vars)
        errors.extend(_add_included(doc, included, files[0], span))
    raise_all(errors)
    del doc["include"]
    return doc


def _include_variables(ctx: _Context, entry: Any, base_dir: str, sub_dir: str,
                       variables: Mapping[str, str]) -> Mapping[str, str]:
    """An included project reads its own `.env` (or `env_file`); the including variables win."""
    env_files = entry.get("env_file") if isinstance(entry, dict) else None
    if isinstance(env_files, str):
        env_files = [env_files]
    if env_files:
        paths = [posixpath.normpath(posixpath.join(base_dir, p)) for p in env_files if isinstance(p, str)]
    else:
        default = posixpath.join(sub_dir, ".env")
        paths = [default] if ctx.fs.is_file(default) else []
    own: dict[str, str] = {}
    for env_path in paths:
        own.update(read_env_file(ctx.fs, env_path, {**own, **variables}, ctx.options.cwd))
    return {**own, **variables}


def _add_included(doc: YMap, included: YMap, source: str, span: Span | None) -> list[ComposerError]:
    errors = []
    for section in ("services", "networks", "volumes", "secrets", "configs", "models"):
        theirs = included.get(section)
        if not isinstance(theirs, YMap):
            continue
        ours = doc.get(section)
        if not isinstance(ours, YMap):
            ours = YMap(span=span)
            doc.put(section, ours, span)
        for key in theirs:
            if key in ours and ours[key] != theirs[key]:
                errors.append(ComposerError(f'{section}.{key} from included file {source} conflicts with '
                                            f"the one defined here", span=ours.key_span(key)))
                continue
            ours.copy_entry(theirs, key)
    return errors


def load_project_name(options: LoadOptions, fs: SourceFS) -> str:
    """Only the project's name, by the same rules as `load_project` (for commands that need nothing else:
    the models are not imported and nothing is validated)."""
    sources = resolve_sources(options, fs)
    ctx = _Context(fs=fs, options=options, diag=Diagnostics(), stdin=options.stdin)
    return _project_name(ctx, sources.files, sources.project_directory, sources.environment)


def load_project(options: LoadOptions, fs: SourceFS) -> LoadedProject:
    """The whole pipeline: sources, name, phases 1-10; every user mistake is a ComposerError."""
    from composer.schema.complete import complete, fold_files, prune_unused
    from composer.schema.paths import resolve_project_paths
    from composer.schema.profiles import active_profiles, all_profiles, check_dependencies, select
    from composer.schema.references import check_references
    from composer.schema.support import unsupported_keys
    from composer.schema.validate import validate_project

    sources = resolve_sources(options, fs)
    diag = Diagnostics()
    ctx = _Context(fs=fs, options=options, diag=diag, stdin=options.stdin)
    name = _project_name(ctx, sources.files, sources.project_directory, sources.environment)
    variables = {**sources.environment, "COMPOSE_PROJECT_NAME": name}

    doc = _load_files(ctx, sources.files, sources.project_directory, variables, tuple(sources.files))
    doc.pop("version", None)
    doc.pop("name", None)
    if options.resolve_paths:
        doc = resolve_project_paths(doc, sources.project_directory, variables)
    services = doc.get("services")
    if services is None:
        services = YMap(span=doc.span)
        doc.put("services", services, doc.span)
    if options.normalize:
        doc = complete(doc, project=name, variables=variables)
    if options.interpolate:
        doc = fold_files(doc, fs=fs, variables=variables)

    doc = _with_name(doc, name)
    errors: list[ComposerError] = []
    model = None
    try:
        model = validate_project(doc)
    except ComposerError as exc:
        errors.append(exc)
    if not isinstance(services, YMap):
        raise_all(errors)
        raise ComposerError("services must be a mapping", span=doc.value_span("services"))
    selection = select(services, active_profiles(options.profiles, variables), options.services)
    errors.extend(check_references(doc, set(services)))
    raise_all(errors)
    check_dependencies(services, selection)

    all_services = list(services)
    profiles = all_profiles(services)
    for disabled in selection.disabled:
        del services[disabled]
    if options.interpolate and options.normalize:
        prune_unused(doc)
    loaded = LoadedProject(name=name, doc=doc, working_dir=sources.project_directory, config_files=tuple(
        _display(f) for f in sources.files), environment=variables, env_files=sources.env_files,
        selection=selection, diagnostics=diag, model=model, all_services=all_services,
        all_profiles=profiles)
    loaded.unsupported = unsupported_keys(loaded)
    for message, span in loaded.unsupported:
        diag.warn(message, span)
    return loaded


def _with_name(doc: YMap, name: str) -> YMap:
    out = YMap(span=doc.span)
    out.put("name", name, doc.span)
    for key in doc:
        out.copy_entry(doc, key)
    return out
