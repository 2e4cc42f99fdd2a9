"""Read a Compose file's bytes into located trees (phase 1 of loading).

Built straight from ruamel.yaml's event stream rather than its constructor, for three reasons:
the guards (size, nesting depth, alias expansion) must act before anything is expanded; every
key and value needs its position; and plain scalars must resolve as Docker Compose v2 (go-yaml
v3) resolves them: only `true`/`false` are booleans (`no`, `on` stay strings), `22:22` is a
string, integers follow Go's base prefixes (`0755` is octal, as in a file mode).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml import events as ev
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.reader import ReaderError

from composer.errors import ComposerError, Span
from composer.schema.tree import YMap, YSeq, deep_copy

MAX_FILE_BYTES = 8 * 1024 * 1024
MAX_DEPTH = 100
MAX_NODES = 250_000
MAX_SCALAR_BYTES = 1024 * 1024

MERGE_TAGS = frozenset({"!reset", "!override"})

try:  # libyaml's event parser, through ruamel.yaml: ten times faster than the pure-Python one
    import ruamel.yaml.clib._ruamel_yaml  # noqa: F401

    _HAVE_CLIB = True
except ImportError:  # pragma: no cover - other Python implementations
    _HAVE_CLIB = False

_NULL = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE = frozenset({"true", "True", "TRUE"})
_FALSE = frozenset({"false", "False", "FALSE"})
_INT = re.compile(r"[-+]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|[0-9][0-9_]*)")
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?")
_INF = frozenset({".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"})
_NEG_INF = frozenset({"-.inf", "-.Inf", "-.INF"})
_NAN = frozenset({".nan", ".NaN", ".NAN"})


def resolve_plain(text: str) -> Any:
    """The value of a plain (unquoted) scalar, as go-yaml v3 decodes it into an interface."""
    if text in _NULL:
        return None
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    if _INT.fullmatch(text) and not text.endswith("_"):
        digits = text.replace("_", "")
        sign = -1 if digits.startswith("-") else 1
        body = digits.lstrip("+-")
        try:
            if body[:2] in ("0x", "0X"):
                return sign * int(body[2:], 16)
            if body[:2] in ("0o", "0O"):
                return sign * int(body[2:], 8)
            if body[:2] in ("0b", "0B"):
                return sign * int(body[2:], 2)
            if len(body) > 1 and body.startswith("0"):
                return sign * int(body, 8)  # Go's base-0 rule: a leading 0 means octal
            return sign * int(body, 10)
        except ValueError:
            return text  # e.g. "09": not octal, and go-yaml keeps it a string
    if _FLOAT.fullmatch(text):
        try:
            return float(text.replace("_", ""))
        except ValueError:
            return text
    if text in _INF:
        return math.inf
    if text in _NEG_INF:
        return -math.inf
    if text in _NAN:
        return math.nan
    return text


def _tag_name(tag: Any) -> str | None:
    if tag is None:
        return None
    value = getattr(tag, "value", tag)
    return str(value) if value is not None else None


def _scalar_value(event: ev.ScalarEvent, span: Span) -> Any:
    tag = _tag_name(event.tag)
    text = event.value
    if tag in (None, "!", *MERGE_TAGS):
        if not event.style and tag != "!":
            return resolve_plain(text)
        return text
    if tag in ("tag:yaml.org,2002:str", "!!str"):
        return text
    if tag in ("tag:yaml.org,2002:null", "!!null"):
        return None
    if tag in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:int", "tag:yaml.org,2002:float",
               "!!bool", "!!int", "!!float"):
        value = resolve_plain(text)
        kind = tag.rsplit(":", 1)[-1].lstrip("!")
        if kind == "bool" and isinstance(value, bool):
            return value
        if kind in ("int", "float") and isinstance(value, int | float) and not isinstance(value, bool):
            if kind == "float":
                return float(value)
            if isinstance(value, int):
                return value
        raise ComposerError(f"cannot decode {text!r} as {tag}", span=span)
    if tag in ("tag:yaml.org,2002:binary", "tag:yaml.org,2002:timestamp"):
        return text
    raise ComposerError(f"unknown YAML tag {tag}", span=span, hint="composer knows !reset and !override")


@dataclass
class _Frame:
    """A mapping or sequence being built, with what the next event means for it."""

    node: YMap | YSeq
    anchor: str | None
    size: int = 1
    pending_key: str | None = None
    pending_key_span: Span | None = None
    pending_key_plain: bool = False
    merges: list[tuple[Any, Span]] = field(default_factory=list)
    key_lines: dict[str, int] = field(default_factory=dict)
    tag: str | None = None


class _Builder:
    """Turns one document's events into a YMap, enforcing the guards as it goes."""

    def __init__(self, filename: str) -> None:
        self.filename = filename
        self.stack: list[_Frame] = []
        self.anchors: dict[str, tuple[Any, int]] = {}
        self.nodes = 0
        self.result: Any = None
        self.done = False

    def span(self, event: ev.Event) -> Span:
        mark = event.start_mark
        return Span(self.filename, mark.line + 1, mark.column + 1)

    def count(self, amount: int, span: Span) -> None:
        self.nodes += amount
        if self.nodes > MAX_NODES:
            raise ComposerError(
                f"document expands to more than {MAX_NODES} nodes (alias expansion limit)",
                span=span,
                hint="a YAML alias bomb? reduce the use of anchors and aliases",
            )

    def feed(self, event: ev.Event) -> None:
        if isinstance(event, ev.ScalarEvent):
            span = self.span(event)
            if len(event.value) > MAX_SCALAR_BYTES:
                raise ComposerError(f"scalar longer than {MAX_SCALAR_BYTES} bytes", span=span)
            self.count(1, span)
            value = _scalar_value(event, span)
            self.place(value, span, event, 1, tag=_tag_name(event.tag))
            if event.anchor:
                self.anchors[event.anchor] = (value, 1)
        elif isinstance(event, ev.AliasEvent):
            span = self.span(event)
            if event.anchor not in self.anchors:
                raise ComposerError(f"unknown alias *{event.anchor}", span=span)
            value, size = self.anchors[event.anchor]
            self.count(size, span)
            self.place(deep_copy(value), span, event, size, alias=True)
        elif isinstance(event, ev.MappingStartEvent | ev.SequenceStartEvent):
            span = self.span(event)
            if len(self.stack) >= MAX_DEPTH:
                raise ComposerError(f"nesting deeper than {MAX_DEPTH} levels", span=span)
            self.count(1, span)
            node: YMap | YSeq = YMap(span=span) if isinstance(event, ev.MappingStartEvent) else YSeq(span=span)
            tag = _tag_name(event.tag)
            if tag is not None and tag not in MERGE_TAGS and tag not in ("tag:yaml.org,2002:map",
                                                                         "tag:yaml.org,2002:seq", "!"):
                raise ComposerError(f"unknown YAML tag {tag}", span=span, hint="composer knows !reset and !override")
            if self.stack and self.stack[-1].pending_key is None and isinstance(self.stack[-1].node, YMap):
                raise ComposerError("a mapping key must be a string, not a mapping or list", span=span)
            self.stack.append(_Frame(node, event.anchor, tag=tag))
        elif isinstance(event, ev.MappingEndEvent | ev.SequenceEndEvent):
            frame = self.stack.pop()
            if isinstance(frame.node, YMap) and frame.merges:
                self.apply_merges(frame)
            if frame.anchor:
                self.anchors[frame.anchor] = (frame.node, frame.size)
            self.place(frame.node, frame.node.span or Span(self.filename, 1, 1), event, frame.size,
                       tag=frame.tag)

    def place(self, value: Any, span: Span, event: ev.Event, size: int, *, tag: str | None = None,
              alias: bool = False) -> None:
        """Attach a finished value to its parent (as a key, a value or an item)."""
        if not self.stack:
            self.result = value
            self.done = True
            return
        parent = self.stack[-1]
        parent.size += size
        node = parent.node
        if isinstance(node, YSeq):
            node.add(value, span)
            return
        if parent.pending_key is None:
            if alias or isinstance(value, dict | list):
                raise ComposerError("a mapping key must be a string, not a mapping or list", span=span)
            key = event.value if isinstance(event, ev.ScalarEvent) else str(value)
            if key in parent.key_lines:
                first = parent.key_lines[key]
                raise ComposerError(
                    f'duplicate key "{key}": already defined at line {first}', span=span,
                    hint=f"remove one of the two definitions (lines {first} and {span.line})",
                )
            if key != "<<" or getattr(event, "style", None):
                parent.key_lines[key] = span.line
            parent.pending_key = key
            parent.pending_key_span = span
            parent.pending_key_plain = isinstance(event, ev.ScalarEvent) and not event.style
            return
        key, key_span, plain_key = parent.pending_key, parent.pending_key_span, parent.pending_key_plain
        parent.pending_key = parent.pending_key_span = None
        if key == "<<" and plain_key and tag is None:
            parent.merges.append((value, span))
            return
        node.put(key, value, key_span, span)
        if tag in MERGE_TAGS:
            node.tags[key] = tag

    def apply_merges(self, frame: _Frame) -> None:
        """YAML merge keys: explicit keys win, then earlier merge sources win over later ones."""
        node = frame.node
        assert isinstance(node, YMap)
        sources: list[YMap] = []
        for value, span in frame.merges:
            items = value if isinstance(value, list) else [value]
            for item in items:
                if not isinstance(item, YMap):
                    raise ComposerError("the merge key << needs a mapping or a list of mappings", span=span)
                sources.append(item)
        merged = YMap(span=node.span)
        for source in sources:
            for key in source:
                if key not in merged and key not in node:
                    merged.copy_entry(source, key)
        for key in node:
            merged.copy_entry(node, key)
        node.clear()
        node.update(merged)
        node.key_spans = merged.key_spans
        node.value_spans = merged.value_spans
        node.tags = merged.tags


def read_documents(data: bytes, filename: str) -> list[YMap]:
    """All documents of one Compose file, each a located mapping (an empty file gives none)."""
    if len(data) > MAX_FILE_BYTES:
        raise ComposerError(f"file is larger than the {MAX_FILE_BYTES // (1024 * 1024)} MiB limit",
                            span=Span(filename, 1, 1))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ComposerError(f"file is not valid UTF-8 (byte {exc.start})", span=Span(filename, line, 1))
    if _HAVE_CLIB:
        try:
            return _build_documents(text, filename, pure=False)
        except (YAMLError, RecursionError):
            pass  # libyaml is stricter in places (`[a=::1]`): the pure parser decides and words the error
    return _build_documents(text, filename, pure=True)


def _build_documents(text: str, filename: str, *, pure: bool) -> list[YMap]:
    """One pass over the event stream of the given parser."""
    yaml = YAML(typ="safe", pure=pure)
    docs: list[YMap] = []
    builder: _Builder | None = None
    try:
        for event in yaml.parse(text):
            if isinstance(event, ev.DocumentStartEvent):
                builder = _Builder(filename)
            elif isinstance(event, ev.DocumentEndEvent):
                if builder is not None and builder.result is not None:
                    if not isinstance(builder.result, YMap):
                        raise ComposerError("the top level of a Compose file must be a mapping",
                                            span=getattr(builder.result, "span", None) or Span(filename, 1, 1))
                    docs.append(builder.result)
                builder = None
            elif builder is not None and not isinstance(event, ev.StreamStartEvent | ev.StreamEndEvent):
                builder.feed(event)
    except MarkedYAMLError as exc:
        if not pure:
            raise
        mark = exc.problem_mark or exc.context_mark
        span = Span(filename, mark.line + 1, mark.column + 1) if mark else Span(filename, 1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        hint = "indent with spaces; YAML does not allow tabs" if "\\t" in problem or "\t" in problem else None
        raise ComposerError(f"invalid YAML: {problem}", span=span, hint=hint)
    except ReaderError as exc:
        if not pure:
            raise
        before = text[: exc.position]
        span = Span(filename, before.count("\n") + 1, len(before) - (before.rfind("\n") + 1) + 1)
        raise ComposerError(f"invalid YAML: unacceptable character #x{exc.character:04x}", span=span)
    except YAMLError as exc:
        if not pure:
            raise
        raise ComposerError(f"invalid YAML: {exc}", span=Span(filename, 1, 1))
    except RecursionError:
        if not pure:
            raise
        raise ComposerError(f"nesting deeper than {MAX_DEPTH} levels", span=Span(filename, 1, 1))
    return docs
