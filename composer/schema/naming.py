"""Project names as Docker Compose v2 accepts and derives them."""

from __future__ import annotations

import re

from composer.errors import ComposerError, Span

_VALID = re.compile(r"[a-z0-9][a-z0-9_-]*")
_DROP = re.compile(r"[^a-z0-9_-]")


def normalize_project_name(raw: str) -> str:
    """Lowercase, keep `[a-z0-9_-]`, trim leading `_`/`-` (for `name:` and directory names)."""
    return _DROP.sub("", raw.lower()).lstrip("_-")


def check_project_name(name: str, *, source: str, span: Span | None = None) -> str:
    """`-p` and `COMPOSE_PROJECT_NAME` are used as given, so a bad one is an error, not a fix-up."""
    if not _VALID.fullmatch(name):
        raise ComposerError(
            f'invalid project name "{name}" (from {source}): must consist only of lowercase alphanumeric '
            "characters, hyphens, and underscores as well as start with a letter or number",
            span=span,
            hint=f'try "{normalize_project_name(name)}"' if normalize_project_name(name) else None,
        )
    return name
