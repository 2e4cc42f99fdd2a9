"""The located document tree every loading phase works on.

A Compose file is read into `YMap`/`YSeq` containers holding plain scalars (str, int, float,
bool, None). Each container remembers its own span and the span of every key and value, so a
phase that runs long after parsing (merge, validation, reference checks) can still name the
file, line and column a problem came from. Phases build new trees; when they create a node out
of another (short syntax made long, a value copied by `extends`), the new node takes the span
of the node it came from.

YAML tags that change merging (`!reset`, `!override`) are kept per key in `YMap.tags`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from composer.errors import Span

Path = tuple[str | int, ...]


class YMap(dict[str, Any]):
    """A mapping with the span of itself, of each key and of each value."""

    __slots__ = ("key_spans", "span", "tags", "value_spans")

    def __init__(self, items: Iterable[tuple[str, Any]] | Mapping[str, Any] = (), span: Span | None = None):
        super().__init__(items)
        self.span: Span | None = span
        self.key_spans: dict[str, Span] = {}
        self.value_spans: dict[str, Span] = {}
        self.tags: dict[str, str] = {}

    def put(self, key: str, value: Any, key_span: Span | None = None, value_span: Span | None = None) -> None:
        """Set a value and its spans together (spans default to the map's own)."""
        self[key] = value
        ks = key_span or self.span
        vs = value_span or key_span or self.span
        if ks is not None:
            self.key_spans[key] = ks
        if vs is not None:
            self.value_spans[key] = vs

    def copy_entry(self, other: YMap, key: str, value: Any = ...) -> None:
        """Copy `other[key]` (or `value`) here, keeping its spans and tag."""
        self[key] = other[key] if value is ... else value
        if key in other.key_spans:
            self.key_spans[key] = other.key_spans[key]
        if key in other.value_spans:
            self.value_spans[key] = other.value_spans[key]
        if key in other.tags:
            self.tags[key] = other.tags[key]

    def key_span(self, key: str) -> Span | None:
        return self.key_spans.get(key, self.span)

    def value_span(self, key: str) -> Span | None:
        return self.value_spans.get(key) or self.key_spans.get(key) or self.span

    def shallow(self) -> YMap:
        """A new map with the same entries, spans and tags."""
        out = YMap(self, span=self.span)
        out.key_spans.update(self.key_spans)
        out.value_spans.update(self.value_spans)
        out.tags.update(self.tags)
        return out


class YSeq(list[Any]):
    """A sequence with the span of itself and of each item."""

    __slots__ = ("item_spans", "span")

    def __init__(self, items: Iterable[Any] = (), span: Span | None = None, item_spans: Iterable[Span | None] = ()):
        super().__init__(items)
        self.span: Span | None = span
        spans = list(item_spans)
        self.item_spans: list[Span | None] = spans + [None] * (len(self) - len(spans))

    def add(self, value: Any, span: Span | None = None) -> None:
        self.append(value)
        self.item_spans.append(span or self.span)

    def item_span(self, index: int) -> Span | None:
        if 0 <= index < len(self.item_spans):
            return self.item_spans[index] or self.span
        return self.span


def span_at(root: Any, path: Path) -> Span | None:
    """The most precise span known for `path` under `root` (the deepest node that exists)."""
    best: Span | None = getattr(root, "span", None)
    node = root
    for step in path:
        if isinstance(node, YMap) and isinstance(step, str) and step in node:
            best = node.value_span(step) or best
            node = node[step]
        elif isinstance(node, YSeq) and isinstance(step, int) and 0 <= step < len(node):
            best = node.item_span(step) or best
            node = node[step]
        elif isinstance(node, YMap) and isinstance(step, str):
            # A key the document does not have (e.g. a missing required field): the map itself.
            return best
        else:
            return best
    return best


def key_span_at(root: Any, path: Path) -> Span | None:
    """The span of the key at the end of `path` (for "unknown key" errors)."""
    if not path:
        return getattr(root, "span", None)
    parent_path, last = path[:-1], path[-1]
    node = root
    for step in parent_path:
        in_map = isinstance(node, YMap) and isinstance(step, str) and step in node
        in_seq = isinstance(node, YSeq) and isinstance(step, int) and 0 <= step < len(node)
        if in_map or in_seq:
            node = node[step]
        else:
            return span_at(root, path)
    if isinstance(node, YMap) and isinstance(last, str):
        return node.key_span(last)
    return span_at(root, path)


def to_plain(node: Any) -> Any:
    """The tree as plain dicts and lists (what pydantic and JSON see)."""
    if isinstance(node, dict):
        return {k: to_plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [to_plain(v) for v in node]
    return node


def deep_copy(node: Any) -> Any:
    """A copy of a located tree that shares no containers with the original."""
    if isinstance(node, YMap):
        out = node.shallow()
        for key, value in node.items():
            out[key] = deep_copy(value)
        return out
    if isinstance(node, YSeq):
        return YSeq((deep_copy(v) for v in node), span=node.span, item_spans=node.item_spans)
    if isinstance(node, dict):
        return {k: deep_copy(v) for k, v in node.items()}
    if isinstance(node, list):
        return [deep_copy(v) for v in node]
    return node


def located(value: Any, span: Span | None) -> Any:
    """Wrap plain dicts/lists (e.g. built by a phase) into located containers with one span."""
    if isinstance(value, YMap | YSeq):
        return value
    if isinstance(value, dict):
        out = YMap(span=span)
        for key, item in value.items():
            out.put(str(key), located(item, span), span, span)
        return out
    if isinstance(value, list):
        return YSeq((located(v, span) for v in value), span=span, item_spans=[span] * len(value))
    return value
