"""Phase 6 of loading: merge Compose documents the way Docker Compose v2 does.

Documents arrive expanded (phase 3), so every attribute already has one shape and the rules
only have to say *how* two values of that shape combine. The default (`_DEFAULT`) is the
Compose Specification's (13-merge.md): mappings merge key by key, later wins; sequences
append; a scalar is replaced. A later `null` keeps the earlier value, as compose does.
Every exception lives in `RULES`, one table keyed by path pattern (`*` matches any key).

Sequences with a unique key (volumes by target, ports by address...) are de-duplicated after
appending: a later entry takes the place of the earlier one with the same key. Compose does
this for a single file too, hence `enforce_unique`.

YAML tags in the later document: `!reset` removes the key, `!override` replaces the earlier
value wholesale. `strip_resets` applies them to a document that has nothing before it.

Spans travel with values: a value taken from one side keeps that side's spans; a container
merged from both keeps the earlier one's span (where it was first defined).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from composer.errors import ComposerError
from composer.schema.tree import YMap, YSeq, deep_copy

RESET = "!reset"
OVERRIDE = "!override"
_MERGE_TAGS = (RESET, OVERRIDE)

KeyPath = tuple[str, ...]
KeyFn = Callable[[Any], str | None]


@dataclass(frozen=True, slots=True)
class _Ctx:
    """How a merge treats tags: consume them, or keep them for a later merge (`extends`)."""

    keep_tags: bool


MergeFn = Callable[[Any, Any, KeyPath, _Ctx], tuple[Any, bool]]
"""(earlier, later, path, ctx) -> (merged value, whether it is the later side's value)."""


@dataclass(frozen=True, slots=True)
class Rule:
    """How the values at one path combine, and (for sequences) what makes an entry unique."""

    merge: MergeFn
    key: KeyFn | None = None
    why: str = ""


# --- unique keys ----------------------------------------------------------------------------------


def _name_key(item: Any) -> str | None:
    """`NAME=value` strings are the same entry when their NAME is (compose's keyValueIndexer)."""
    if isinstance(item, str):
        return item.partition("=")[0]
    return None


def _text_key(item: Any) -> str | None:
    return None if item is None or isinstance(item, dict | list) else str(item)


def _target_key(item: Any) -> str | None:
    """Mounts and devices: one per container path."""
    if isinstance(item, dict):
        target = item.get("target")
        return None if target is None else str(target)
    return None


def _mount_key(default_dir: str) -> KeyFn:
    """Secrets/configs: by target, or by where the source lands when no target is given."""

    def key(item: Any) -> str | None:
        if isinstance(item, dict):
            if item.get("target") is not None:
                return str(item["target"])
            return f"{default_dir}/{item.get('source')}"
        if isinstance(item, str):
            return f"{default_dir}/{item}"
        return None

    return key


def _port_key(item: Any) -> str | None:
    """Ports: {host_ip, published, target, protocol}; `mode`, `name`, `app_protocol` do not count."""
    if not isinstance(item, dict):
        return _text_key(item)
    published = item.get("published")
    return "{}:{}:{}/{}".format(
        item.get("host_ip") or "0.0.0.0",
        "" if published is None else published,
        item.get("target"),
        item.get("protocol") or "tcp",
    )


def _env_file_key(item: Any) -> str | None:
    if isinstance(item, dict):
        path = item.get("path")
        return None if path is None else str(path)
    return _text_key(item)


# --- merge functions ------------------------------------------------------------------------------


def _kind(value: Any) -> str:
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a sequence"
    return f"the scalar {value!r}"


def _mismatch(path: KeyPath, base: Any, over: Any) -> ComposerError:
    span = getattr(over, "span", None) or getattr(base, "span", None)
    return ComposerError(
        f"cannot merge {'.'.join(path)}: {_kind(over)} cannot override {_kind(base)}", span=span
    )


def _own(value: Any, ctx: _Ctx) -> Any:
    """A later-side value entering the result: copied, its tags applied unless kept."""
    return deep_copy(value) if ctx.keep_tags else strip_resets(value)


def _default(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """Mappings by key, sequences appended (then made unique if the path says so), scalars replaced."""
    if over is None:
        return base, False
    if isinstance(base, YMap):
        if not isinstance(over, YMap):
            raise _mismatch(path, base, over)
        return _merge_map(base, over, path, ctx), False
    if isinstance(base, YSeq):
        if not isinstance(over, YSeq):
            raise _mismatch(path, base, over)
        return _append(base, over, path, ctx), False
    return _own(over, ctx), True


def _replace(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """The later value wins as a whole, `null` included."""
    return _own(over, ctx), True


def _by_key(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """Like mappings, but a later `KEY: null` wins too (compose merges these as `KEY=value` lists)."""
    if over is None:
        return base, False
    if isinstance(base, YMap) and isinstance(over, YMap):
        return _merge_map(base, over, path, ctx, null_wins=True), False
    return _default(base, over, path, ctx)


def _logging(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """Options merge only when both name the same driver (or one names none); else replaced."""
    before = base.get("driver") if isinstance(base, YMap) else None
    after = over.get("driver") if isinstance(over, YMap) else None
    if before is not None and after is not None and before != after:
        return _own(over, ctx), True
    return _default(base, over, path, ctx)


def _extra_hosts(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """Appended, minus later entries already present word for word (a host may map to two IPs)."""
    if isinstance(base, YSeq) and isinstance(over, YSeq):
        out = _copy_seq(base)
        for index, item in enumerate(over):
            if item not in base:
                out.add(_own(item, ctx), over.item_span(index))
        return out, False
    return _default(base, over, path, ctx)


def _ipam_config(base: Any, over: Any, path: KeyPath, ctx: _Ctx) -> tuple[Any, bool]:
    """IPAM pools are one per subnet: same subnet merges as a mapping, a new subnet is appended."""
    if not (isinstance(base, YSeq) and isinstance(over, YSeq)):
        return _default(base, over, path, ctx)
    out = _copy_seq(base)
    for index, item in enumerate(over):
        subnet = item.get("subnet") if isinstance(item, YMap) else None
        for pos, existing in enumerate(out):
            if subnet is not None and isinstance(existing, YMap) and existing.get("subnet") == subnet:
                out[pos] = _merge_map(existing, item, (*path, "*"), ctx)
                break
        else:
            out.add(_own(item, ctx), over.item_span(index))
    return out, False


def _append_unique(key: KeyFn, why: str) -> Rule:
    return Rule(_default, key, why)


_BY_KEY = Rule(_by_key, why="a map of names: later name wins, even with null")
_REPLACE = Rule(_replace, why="replaced, never merged")
_DEFAULT = Rule(_default, why="mappings by key, sequences appended, scalars replaced")

RULES: dict[str, Rule] = {
    # Shell commands are replaced (13-merge.md "Shell commands").
    "services.*.command": _REPLACE,
    "services.*.entrypoint": _REPLACE,
    "services.*.healthcheck.test": _REPLACE,
    # Each ulimit is replaced whole: {soft, hard} never mixes two files.
    "services.*.ulimits.*": _REPLACE,
    "services.*.logging": Rule(_logging, why="options merge only for the same driver"),
    "services.*.extra_hosts": Rule(_extra_hosts, why="appended without exact duplicates"),
    "services.*.build.extra_hosts": Rule(_extra_hosts, why="appended without exact duplicates"),
    "networks.*.ipam.config": Rule(_ipam_config, why="one pool per subnet"),
    # Maps of names (compose's list-or-dict attributes).
    "services.*.environment": _BY_KEY,
    "services.*.labels": _BY_KEY,
    "services.*.annotations": _BY_KEY,
    "services.*.sysctls": _BY_KEY,
    "services.*.build.args": _BY_KEY,
    "services.*.build.labels": _BY_KEY,
    "services.*.build.additional_contexts": _BY_KEY,
    "services.*.deploy.labels": _BY_KEY,
    "networks.*.labels": _BY_KEY,
    "volumes.*.labels": _BY_KEY,
    # Unique resources (13-merge.md), and the sequences compose de-duplicates (override/uncity.go).
    "services.*.volumes": _append_unique(_target_key, "one mount per container path"),
    "services.*.devices": _append_unique(_target_key, "one device per container path"),
    "services.*.secrets": _append_unique(_mount_key("/run/secrets"), "one secret per target"),
    "services.*.configs": _append_unique(_mount_key(""), "one config per target"),
    "services.*.ports": _append_unique(_port_key, "one port per {host_ip, published, target, protocol}"),
    "services.*.env_file": _append_unique(_env_file_key, "one entry per path"),
    "services.*.expose": _append_unique(_text_key, "no repeated port"),
    "services.*.cap_add": _append_unique(_name_key, "no repeated capability"),
    "services.*.cap_drop": _append_unique(_name_key, "no repeated capability"),
    "services.*.dns": _append_unique(_name_key, "no repeated server"),
    "services.*.dns_opt": _append_unique(_name_key, "one value per option name"),
    "services.*.dns_search": _append_unique(_name_key, "no repeated domain"),
    "services.*.links": _append_unique(_name_key, "no repeated link"),
    "services.*.profiles": _append_unique(_name_key, "no repeated profile"),
    "services.*.tmpfs": _append_unique(_name_key, "no repeated mount"),
    "services.*.build.tags": _append_unique(_name_key, "no repeated tag"),
    "services.*.networks.*.aliases": _append_unique(_name_key, "no repeated alias"),
    "services.*.networks.*.link_local_ips": _append_unique(_name_key, "no repeated address"),
}

_PATTERNS: list[tuple[tuple[str, ...], Rule]] = [(tuple(p.split(".")), r) for p, r in RULES.items()]


def rule_for(path: KeyPath) -> Rule:
    """The rule of the first pattern matching `path` (segments compared whole; `*` is any key)."""
    for parts, rule in _PATTERNS:
        if len(parts) == len(path) and all(p in ("*", k) for p, k in zip(parts, path, strict=True)):
            return rule
    return _DEFAULT


# --- tree building --------------------------------------------------------------------------------


def _copy_seq(seq: YSeq) -> YSeq:
    return YSeq((deep_copy(v) for v in seq), span=seq.span, item_spans=seq.item_spans)


def _append(base: YSeq, over: YSeq, path: KeyPath, ctx: _Ctx) -> YSeq:
    out = _copy_seq(base)
    for index, item in enumerate(over):
        out.add(_own(item, ctx), over.item_span(index))
    key = rule_for(path).key
    return _unique(out, key) if key else out


def _unique(seq: YSeq, key: KeyFn) -> YSeq:
    """A later entry with the key of an earlier one takes its place; entries without a key stay."""
    out = YSeq(span=seq.span)
    seen: dict[str, int] = {}
    for index, item in enumerate(seq):
        k = key(item)
        span = seq.item_span(index)
        if k is not None and k in seen:
            out[seen[k]] = item
            out.item_spans[seen[k]] = span
            continue
        if k is not None:
            seen[k] = len(out)
        out.add(item, span)
    return out


def _drop(out: YMap, key: str) -> None:
    out.pop(key, None)
    out.key_spans.pop(key, None)
    out.value_spans.pop(key, None)
    out.tags.pop(key, None)


def _take(out: YMap, src: YMap, key: str, value: Any, ctx: _Ctx) -> None:
    """Put `value` under `key` with `src`'s spans; its merge tag goes along only when kept."""
    out.copy_entry(src, key, value)
    if not ctx.keep_tags and out.tags.get(key) in _MERGE_TAGS:
        del out.tags[key]


def _merge_map(base: YMap, over: YMap, path: KeyPath, ctx: _Ctx, *, null_wins: bool = False) -> YMap:
    out = YMap(span=base.span)
    for key in base:
        out.copy_entry(base, key, deep_copy(base[key]))
        if out.tags.get(key) in _MERGE_TAGS:
            del out.tags[key]
    for key, value in over.items():
        tag = over.tags.get(key)
        if tag == RESET:
            if ctx.keep_tags:
                _take(out, over, key, deep_copy(value), ctx)
            else:
                _drop(out, key)
        elif tag == OVERRIDE or key not in out or (null_wins and value is None):
            _take(out, over, key, _own(value, ctx), ctx)
        else:
            merged, from_over = rule_for((*path, key)).merge(out[key], value, (*path, key), ctx)
            if from_over:
                _take(out, over, key, merged, ctx)
            else:
                out[key] = merged
    return out


# --- public API -----------------------------------------------------------------------------------


def merge_documents(base: YMap, override: YMap) -> YMap:
    """`override` (a later file, or a later document of the same file) merged onto `base`.

    Tags in `base` were meant for what came before it, so they are applied first.
    """
    merged = _merge_map(strip_resets(base), override, (), _Ctx(keep_tags=False))
    _enforce(merged, ())
    return merged


def merge_service(base: YMap, own: YMap, name: str) -> YMap:
    """`own` (a service with `extends`) merged onto the service it extends; `own` wins.

    The same rules as files, at path `services.<name>`. `!reset`/`!override` tags of `own` apply
    here and are also kept in the result, because compose applies them to earlier files too.
    """
    path = ("services", name)
    merged = _merge_map(strip_resets(base), own, path, _Ctx(keep_tags=True))
    merged.span = own.span
    _enforce(merged, path)
    return merged


def strip_resets(node: Any) -> Any:
    """A copy with every `!reset` key removed and `!override` tags dropped (nothing came before)."""
    if isinstance(node, YMap):
        out = YMap(span=node.span)
        for key, value in node.items():
            tag = node.tags.get(key)
            if tag == RESET:
                continue
            out.copy_entry(node, key, strip_resets(value))
            if tag == OVERRIDE:
                del out.tags[key]
        return out
    if isinstance(node, YSeq):
        return YSeq((strip_resets(v) for v in node), span=node.span, item_spans=node.item_spans)
    return deep_copy(node)


def enforce_unique(doc: YMap) -> YMap:
    """A copy where every unique-keyed sequence holds each key once (compose does it per file too)."""
    out: YMap = deep_copy(doc)
    _enforce(out, ())
    return out


def _enforce(node: Any, path: KeyPath) -> None:
    """In place: de-duplicate the unique sequences under `node` (which sits at `path`)."""
    if isinstance(node, YMap):
        for key, value in node.items():
            sub = (*path, key)
            if isinstance(value, YSeq):
                rule = rule_for(sub)
                node[key] = _unique(value, rule.key) if rule.key else value
            _enforce(node[key], sub)
    elif isinstance(node, YSeq):
        for item in node:
            _enforce(item, (*path, "*"))


def merge_all(docs: Iterable[YMap]) -> YMap:
    """Several documents in order, tags applied, unique sequences enforced: the whole of phase 6."""
    result: YMap | None = None
    for doc in docs:
        result = doc if result is None else merge_documents(result, doc)
    if result is None:
        return YMap()
    return enforce_unique(strip_resets(result))


__all__ = [
    "OVERRIDE",
    "RESET",
    "RULES",
    "Rule",
    "enforce_unique",
    "merge_all",
    "merge_documents",
    "merge_service",
    "rule_for",
    "strip_resets",
]
