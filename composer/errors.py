"""The errors composer shows to people.

    Exception
    └── ComposerError          a mistake the user can fix: one line "FILE:LINE:COL: message", exit 1
        └── ConfigErrors       several ComposerErrors found in one pass, reported together

Code below `composer/cli/` raises these and never prints; the CLI renders them with
`render()` and exits 1, so a user never sees a traceback for their own mistake.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """Where something came from: a file and a 1-based line and column."""

    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


class ComposerError(Exception):
    """A user mistake, located when the location is known, with an optional hint."""

    def __init__(self, message: str, *, span: Span | None = None, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.span = span
        self.hint = hint

    def lines(self) -> list[str]:
        """The error as the lines printed after `composer: error: `."""
        head = f"{self.span}: {self.message}" if self.span else self.message
        out = [head]
        if self.hint:
            out.append(f"hint: {self.hint}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


class ConfigErrors(ComposerError):
    """All the problems found in one document, sorted by location."""

    errors: list[ComposerError]

    def __init__(self, errors: Sequence[ComposerError]) -> None:
        flat: list[ComposerError] = []
        for err in errors:
            flat.extend(err.errors if isinstance(err, ConfigErrors) else [err])
        flat.sort(key=lambda e: (e.span is None, e.span or Span("", 0, 0), e.message))
        self.errors = flat
        first = flat[0] if flat else ComposerError("invalid configuration")
        super().__init__(first.message, span=first.span, hint=first.hint)

    def lines(self) -> list[str]:
        out: list[str] = []
        for err in self.errors:
            out.extend(err.lines())
        return out


def raise_all(errors: Iterable[ComposerError]) -> None:
    """Raise one error, or all of them together, or nothing."""
    found = list(errors)
    if len(found) == 1:
        raise found[0]
    if found:
        raise ConfigErrors(found)


@dataclass(slots=True)
class Diagnostics:
    """Warnings collected by pure code; the CLI prints them once each, in order."""

    warnings: list[str] = field(default_factory=list)

    def warn(self, message: str, span: Span | None = None) -> None:
        text = f"{span}: {message}" if span else message
        if text not in self.warnings:
            self.warnings.append(text)
