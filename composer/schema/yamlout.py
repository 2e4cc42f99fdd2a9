"""YAML text in the style `docker compose config` prints (go-yaml v3): 2-space indents, lists
indented under their key, strings quoted only when a reader would take them for something else
(numbers, booleans of YAML 1.1 such as `y`/`on`, null, or text with YAML syntax in it).

Hand-written because a generic emitter's quoting and indentation differ from Compose's, and
users diff this output against Docker's.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from composer.schema.yamlio import resolve_plain

_YAML11_SPECIAL = frozenset((
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off", "OFF",
    "true", "True", "TRUE", "false", "False", "FALSE", "~", "null", "Null", "NULL",
))
_SEXAGESIMAL = re.compile(r"[-+]?[0-9][0-9_]*(:[0-5]?[0-9])+(\.[0-9_]*)?")
_FIRST_SPECIAL = set("-?:,[]{}#&*!|>'\"%@`")
_UNPRINTABLE = re.compile("[\x7f-\x9f\ufeff\ufffe\uffff]")


def _needs_quotes(text: str) -> bool:
    if text in ("", "<<") or text in _YAML11_SPECIAL or text != text.strip():
        return True
    if not isinstance(resolve_plain(text), str) or _SEXAGESIMAL.fullmatch(text):
        return True
    if text[0] in _FIRST_SPECIAL and not (text[0] in "-?:" and len(text) > 1 and text[1] not in " \t"):
        return True
    if ": " in text or " #" in text or text.endswith(":") or "\t" in text:
        return True
    return any(ord(ch) < 0x20 for ch in text) or bool(_UNPRINTABLE.search(text))


def _quote(text: str) -> str:
    """A double-quoted YAML string (JSON's escapes, plus those YAML needs for unprintables)."""
    return _UNPRINTABLE.sub(lambda m: f"\\u{ord(m.group()):04x}", json.dumps(text, ensure_ascii=False))


def scalar(value: Any) -> str:
    """One scalar as go-yaml v3 writes it (block strings are handled by the caller)."""
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return ".nan"
        if math.isinf(value):
            return ".inf" if value > 0 else "-.inf"
        return repr(value).replace("e+", "e+")
    text = str(value)
    return _quote(text) if _needs_quotes(text) else text


def _block(text: str, indent: str) -> list[str] | None:
    """A multi-line string as a literal block, when that round-trips exactly."""
    if ("\n" not in text or text.startswith((" ", "\n")) or any(ord(c) < 0x20 and c != "\n" for c in text)
            or _UNPRINTABLE.search(text)):
        return None
    body = text.rstrip("\n")
    trailing = len(text) - len(body)
    if any(line != line.rstrip(" ") for line in body.split("\n")):
        return None
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    lines = [f"|{chomp}"]
    lines.extend(f"{indent}{line}" if line else "" for line in body.split("\n"))
    if trailing > 1:
        lines.extend([""] * (trailing - 1))
    return lines


def _emit(value: Any, indent: int, out: list[str], prefix: str) -> None:
    """Append `prefix` + value; `prefix` is the text before it on its line ("key:" or "- ")."""
    pad = "  " * indent
    if isinstance(value, dict | list) and not value:
        sep = "" if prefix.endswith(" ") or not prefix else " "
        out.append(f"{prefix}{sep}{'{}' if isinstance(value, dict) else '[]'}")
        return
    if isinstance(value, dict):
        first = True
        for key, item in value.items():
            key_text = scalar(str(key))
            if first and prefix.endswith("- "):
                head = f"{prefix}{key_text}:"
            elif first and prefix:
                out.append(prefix)
                head = f"{pad}{key_text}:"
            else:
                head = f"{pad}{key_text}:"
            first = False
            _emit(item, indent + 1, out, head)
            prefix = ""
        return
    if isinstance(value, list):
        if prefix:
            out.append(prefix)
        for item in value:
            item_pad = "  " * indent
            if isinstance(item, dict) and item:
                _emit(item, indent + 1, out, f"{item_pad}- ")
            else:
                _emit(item, indent + 1, out, f"{item_pad}-")
        return
    if isinstance(value, str):
        block = _block(value, "  " * indent)
        if block is not None:
            out.append(f"{prefix} {block[0]}")
            out.extend(block[1:])
            return
    sep = "" if prefix.endswith(" ") or not prefix else " "
    out.append(f"{prefix}{sep}{scalar(value)}")


def dump(document: dict[str, Any]) -> str:
    """The whole document as YAML text, ending with a newline."""
    out: list[str] = []
    for key, value in document.items():
        _emit(value, 1, out, f"{scalar(str(key))}:")
    return "\n".join(out) + "\n"
