"""`${VAR}` interpolation, with Docker Compose v2's syntax and corner cases.

Compose (compose-go `template`) finds each `$` token with a regular expression and, for a braced
form with an operator, first takes everything up to the LAST `}` on the same line and then cuts it
back to the brace that balances the opening one (a `{` also swallows the character after it). This
module reproduces that with a small scanner, so that odd inputs give what `docker compose config`
gives, e.g. `${A:-{}} ${B}` is an error there and here, and a default cannot span lines.

Supported: `$$`, `$VAR`, `${VAR}`, `${VAR:-d}`, `${VAR-d}`, `${VAR:?e}`, `${VAR?e}`, `${VAR:+r}`,
`${VAR+r}`, with any of these nested in `d`, `e` and `r`. A `$` followed by anything else is kept.
The same engine serves the YAML files and the `.env` dialect (`dotenv.py`).

A default or message is expanded only when it is used, as compose-go does since v2.10.1. Older
releases (Docker Compose v2.40.3 ships compose-go v2.9.1) expanded it anyway, so they also warned
about its unset variables and failed on its syntax errors.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from composer.errors import ComposerError, Diagnostics, Span, raise_all
from composer.schema.tree import YMap, YSeq

Lookup = Callable[[str], str | None]
"""A variable's value, or None when it is unset (distinct from set to "")."""

ESCAPE_HINT = "escape a literal $ as $$"
MAX_NESTING = 64
"""Defaults nested deeper than this are refused (compose has no limit; Python's stack has one)."""

# Compose matches `[_a-z][_a-z0-9]*` case-insensitively with Go's case folding, which also folds
# the Kelvin sign into k and the long s into s.
_NAME = re.compile("[_A-Za-z\u017f\u212a][_A-Za-z0-9\u017f\u212a]*")
_BRACE = re.compile(r"[{}]")


def unset_warning(name: str) -> str:
    """The warning compose prints for a variable used without a value or default."""
    return f'The "{name}" variable is not set. Defaulting to a blank string.'


def _quote(text: str, limit: int = 80) -> str:
    """The faulty text for an error message: one line, double quotes, at most `limit` characters."""
    if len(text) > limit:
        text = text[: limit - 3] + "..."
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


class _Expander:
    """One substitution: the lookup, the unset callback and where errors point to."""

    __slots__ = ("lookup", "on_unset", "span")

    def __init__(self, lookup: Lookup, on_unset: Callable[[str], None] | None, span: Span | None) -> None:
        self.lookup = lookup
        self.on_unset = on_unset
        self.span = span

    def invalid(self, template: str) -> ComposerError:
        return ComposerError(f"invalid interpolation format in {_quote(template)}", span=self.span,
                             hint=ESCAPE_HINT)

    def plain(self, name: str) -> str:
        value = self.lookup(name)
        if value is None:
            if self.on_unset is not None:
                self.on_unset(name)
            return ""
        return value

    def run(self, text: str, start: int, end: int, depth: int) -> str:
        """Substitute `text[start:end]` (a whole value, or a default/message inside one)."""
        if depth > MAX_NESTING:
            raise ComposerError(f"interpolation nested more than {MAX_NESTING} levels deep", span=self.span)
        out: list[str] = []
        pos = start
        while True:
            dollar = text.find("$", pos, end)
            if dollar < 0:
                out.append(text[pos:end])
                return "".join(out)
            out.append(text[pos:dollar])
            after = dollar + 1
            following = text[after] if after < end else ""
            if following == "$":
                out.append("$")
                pos = after + 1
                continue
            named = _NAME.match(text, after, end)
            if named:
                out.append(self.plain(named.group()))
                pos = named.end()
                continue
            if following != "{":
                out.append("$")  # not a token: kept as written
                pos = after
                continue
            pos = self.braced(text, dollar, start, end, depth, out)

    def braced(self, text: str, dollar: int, start: int, end: int, depth: int, out: list[str]) -> int:
        """Handle the `${...` at `dollar`; append its value and return where scanning resumes."""
        named = _NAME.match(text, dollar + 2, end)
        if not named:
            raise self.invalid(text[start:end])
        name, after = named.group(), named.end()
        operator = _operator(text, after, end)
        if not operator:
            if after < end and text[after] == "}":
                out.append(self.plain(name))
                return after + 1
            raise self.invalid(text[start:end])
        arg = after + len(operator)
        newline = text.find("\n", arg, end)
        line_end = end if newline < 0 else newline
        close = _balancing_brace(text, dollar, line_end)
        if close < 0:
            # No balancing brace: compose's greedy match runs to the line's last `}`.
            close = text.rfind("}", arg, line_end)
            if close < 0:
                raise self.invalid(text[start:end])
        out.append(self.apply(name, operator, text, arg, close, depth))
        return close + 1

    def apply(self, name: str, operator: str, text: str, arg: int, close: int, depth: int) -> str:
        """The value of `${name<operator>text[arg:close]}`; the argument is expanded only when used."""
        value = self.lookup(name)

        def argument() -> str:
            return self.run(text, arg, close, depth + 1)

        if operator == ":-":
            return value if value else argument()
        if operator == "-":
            return argument() if value is None else value
        if operator == ":+":
            return argument() if value else ""
        if operator == "+":
            return argument() if value is not None else ""
        if operator == ":?" and value:
            return value
        if operator == "?" and value is not None:
            return value
        reason = argument()
        message = f"required variable {name} is missing a value"
        raise ComposerError(f"{message}: {reason}" if reason else message, span=self.span)


def _operator(text: str, pos: int, end: int) -> str:
    """The operator right after a braced name (`:-`, `-`, `:?`, `?`, `:+`, `+`) or ""."""
    if pos < end and text[pos] in "-+?":
        return text[pos]
    if pos + 1 < end and text[pos] == ":" and text[pos + 1] in "-+?":
        return text[pos : pos + 2]
    return ""


def _balancing_brace(text: str, dollar: int, stop: int) -> int:
    """Index of the `}` closing the `{` after `dollar`, counted as compose counts, or -1.

    Every `{` opens (not only `${`) and hides the character right after it, so `{}` inside a
    default neither opens nor closes anything.
    """
    depth = 0
    pos = dollar
    while True:
        found = _BRACE.search(text, pos, stop)
        if found is None:
            return -1
        at = found.start()
        if text[at] == "}":
            depth -= 1
            if depth == 0:
                return at
            pos = at + 1
        else:
            depth += 1
            pos = at + 2


def substitute(text: str, lookup: Lookup, *, span: Span | None = None,
               on_unset: Callable[[str], None] | None = None) -> str:
    """`text` with every variable replaced; errors are ComposerErrors located at `span`.

    `on_unset(name)` is called for each use of an unset variable that has no default (the use
    becomes ""), so callers decide how to warn.
    """
    return _Expander(lookup, on_unset, span).run(text, 0, len(text), 0)


def interpolate_tree(node: Any, lookup: Lookup, diag: Diagnostics) -> Any:
    """A new tree with every string value substituted; keys, spans and tags are kept.

    Each unset variable is warned about once, at its first use. Every faulty value is reported,
    all together, after the whole tree was visited.
    """
    walk = _TreeWalk(lookup, diag)
    result = walk.visit(node, getattr(node, "span", None))
    raise_all(walk.errors)
    return result


class _TreeWalk:
    __slots__ = ("diag", "errors", "lookup", "warned")

    def __init__(self, lookup: Lookup, diag: Diagnostics) -> None:
        self.lookup = lookup
        self.diag = diag
        self.errors: list[ComposerError] = []
        self.warned: set[str] = set()

    def visit(self, node: Any, span: Span | None) -> Any:
        if isinstance(node, str):
            return self.string(node, span)
        if isinstance(node, YMap):
            out = node.shallow()
            for key, value in node.items():
                out[key] = self.visit(value, node.value_span(key))
            return out
        if isinstance(node, YSeq):
            items = [self.visit(value, node.item_span(index)) for index, value in enumerate(node)]
            return YSeq(items, span=node.span, item_spans=node.item_spans)
        if isinstance(node, dict):
            return {key: self.visit(value, span) for key, value in node.items()}
        if isinstance(node, list):
            return [self.visit(value, span) for value in node]
        return node

    def string(self, value: str, span: Span | None) -> str:
        def unset(name: str) -> None:
            if name not in self.warned:
                self.warned.add(name)
                self.diag.warn(unset_warning(name), span)

        if "$" not in value:
            return value
        try:
            return substitute(value, self.lookup, span=span, on_unset=unset)
        except ComposerError as err:
            self.errors.append(err)
            return value
