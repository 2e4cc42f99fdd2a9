"""The variables a project uses, with their defaults (`composer config --variables`).

Reuses the interpolation scanner so that what is listed is exactly what interpolation would see.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from composer.errors import ComposerError
from composer.schema.interpolate import _Expander


@dataclass
class Variable:
    name: str
    required: bool = False
    default: str = ""
    alternate: str = ""

    def as_json(self) -> dict[str, Any]:
        return {"Name": self.name, "DefaultValue": self.default, "PresenceValue": self.alternate,
                "Required": self.required}


class _Recorder(_Expander):
    """An expander that sees every variable as unset and notes how each one is used."""

    def __init__(self, found: dict[str, Variable]) -> None:
        super().__init__(lambda _name: None, None, None)
        self.found = found

    def note(self, name: str) -> Variable:
        return self.found.setdefault(name, Variable(name))

    def plain(self, name: str) -> str:
        self.note(name)
        return ""

    def apply(self, name: str, operator: str, text: str, arg: int, close: int, depth: int) -> str:
        variable = self.note(name)
        raw = text[arg:close]
        self.run(text, arg, close, depth + 1)  # variables nested in the argument count too
        if operator in (":-", "-"):
            variable.default = raw
        elif operator in (":+", "+"):
            variable.alternate = raw
        else:
            variable.required = True
        return ""


def collect_variables(node: Any) -> list[Variable]:
    """Every variable in the string values of an uninterpolated tree, sorted by name."""
    found: dict[str, Variable] = {}
    recorder = _Recorder(found)
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, str) and "$" in item:
            try:
                recorder.run(item, 0, len(item), 0)
            except ComposerError:
                continue
    return sorted(found.values(), key=lambda v: v.name)
