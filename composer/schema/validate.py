"""Phase 8 of loading: check the canonical document against the models, all problems at once.

pydantic reports where a value failed as a `loc` path through the *validated* data; this module
walks that path through the located document instead, to name the file, line and column, and
to show the path a person wrote (`services.web.ports[0].target`). Steps of `loc` that are not
in the document (union tags, shapes a validator rebuilt) are skipped. Messages are plain
English; pydantic's own wording, type names and URLs never reach the user.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from composer.errors import ComposerError, ConfigErrors
from composer.schema.models import Project
from composer.schema.models_common import EXTENSIONS_ALIAS, compose_keys, describe
from composer.schema.tree import YMap, key_span_at, span_at, to_plain

Step = str | int

_KIND_PHRASES = {
    "string_type": "must be a string",
    "string_sub_type": "must be a string",
    "int_type": "must be an integer",
    "int_parsing": "must be an integer",
    "int_from_float": "must be an integer",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "dict_type": "must be a mapping",
    "mapping_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "iterable_type": "must be a list",
    "none_required": "must be null",
    "union_tag_invalid": "has an unexpected form",
    "union_tag_not_found": "has an unexpected form",
}
_BOUNDS = {
    "greater_than_equal": ("ge", "must be at least {}"),
    "greater_than": ("gt", "must be greater than {}"),
    "less_than_equal": ("le", "must be at most {}"),
    "less_than": ("lt", "must be less than {}"),
}


def validate_project(doc: YMap) -> Project:
    """The project's models, or `ConfigErrors` naming every problem with its file:line:col."""
    try:
        return Project.model_validate(to_plain(doc))
    except ValidationError as exc:
        raise ConfigErrors([_error(doc, detail) for detail in exc.errors(include_url=False)]) from None


def _error(doc: YMap, detail: ErrorDetails) -> ComposerError:
    ctx = detail.get("ctx") or {}
    loc: tuple[Step, ...] = tuple(detail["loc"]) + tuple(ctx.get("compose_at") or ())
    path, about_key = _doc_path(doc, loc)
    kind = detail["type"]
    where = _display(path)
    if kind == "extra_forbidden":
        parent, key = _display(path[:-1]), str(path[-1]) if path else "?"
        hint = _did_you_mean(key, _model_at(loc[:-1]))
        return ComposerError(f'{parent}: unknown key "{key}"', span=key_span_at(doc, path), hint=hint)
    if kind == "missing":
        parent, key = _display(path[:-1]), str(path[-1]) if path else "?"
        return ComposerError(f'{parent}: missing required key "{key}"', span=span_at(doc, path))
    span = key_span_at(doc, path) if about_key else span_at(doc, path)
    if about_key:
        where = _display(path[:-1])
    return ComposerError(f"{where}: {_phrase(detail)}", span=span)


def _phrase(detail: ErrorDetails) -> str:
    """What is wrong with the value, in words."""
    kind = detail["type"]
    ctx = detail.get("ctx") or {}
    if kind.startswith("compose_"):
        return detail["msg"]
    if kind in _KIND_PHRASES:
        return f"{_KIND_PHRASES[kind]}, got {describe(detail['input'])}"
    if kind in _BOUNDS:
        key, template = _BOUNDS[kind]
        return f"{template.format(ctx.get(key))}, got {describe(detail['input'])}"
    if kind == "literal_error":
        allowed = ", ".join(re.findall(r"'([^']*)'", str(ctx.get("expected", ""))))
        return f"invalid value {describe(detail['input'])} (expected one of: {allowed})"
    if kind in ("too_short", "too_long"):
        return (
            f"has {ctx.get('actual_length')} items, which is too {'few' if kind == 'too_short' else 'many'}"
        )
    if kind in ("value_error", "assertion_error"):
        return str(detail["msg"]).removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"invalid value {describe(detail['input'])}"


def _doc_path(doc: Any, loc: Sequence[Step]) -> tuple[tuple[Step, ...], bool]:
    """The part of `loc` that names places in the document, and whether it is about a key."""
    out: list[Step] = []
    about_key = False
    node = doc
    for index, step in enumerate(loc):
        last = index == len(loc) - 1
        if step == "[key]":
            about_key = True
        elif _has(node, step):
            out.append(step)
            node = node[step]
        elif last and isinstance(node, Mapping) and isinstance(step, str) and step != EXTENSIONS_ALIAS:
            out.append(step)  # a key the document lacks (missing) or that is not allowed
    return tuple(out), about_key


def _has(node: Any, step: Step) -> bool:
    if isinstance(node, Mapping):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _display(path: Sequence[Step]) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else step)
    return text or "top level"


def _did_you_mean(key: str, model: type[BaseModel] | None) -> str | None:
    if key.startswith("x-"):
        return None
    if model is not None:
        close = difflib.get_close_matches(key, sorted(compose_keys(model)), n=1, cutoff=0.6)
        if close:
            return f'did you mean "{close[0]}"?'
    return 'keys of your own must start with "x-"'


def _model_at(loc: Sequence[Step]) -> type[BaseModel] | None:
    """The model class that validated the object at `loc` (for "did you mean" hints)."""
    current: Any = Project
    for step in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next(
                (f for n, f in current.model_fields.items() if step in (n, f.alias)),
                None,
            )
            if field is None:
                continue  # a union tag or a step a validator added
            current = field.annotation
        elif get_origin(current) is dict:
            current = get_args(current)[1]
        elif get_origin(current) is tuple:
            current = get_args(current)[0]
        else:
            return None
    current = _unwrap(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _unwrap(annotation: Any) -> Any:
    """`Annotated[X, ...]` -> X; `X | None` -> X."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [a for a in get_args(annotation) if a is not type(None)]
            annotation = members[0] if members else annotation
            if len(members) != 1:
                return annotation
        else:
            return annotation


__all__ = ["validate_project"]
