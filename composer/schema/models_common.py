"""Building blocks shared by the Compose models: base classes and value types.

Values arrive after interpolation, so a number or a boolean may be spelled as a string
(`"8080"`, `"true"`); the types here accept those spellings the way Compose does and reject
everything else with a message a person can act on. Every error is a `PydanticCustomError`
whose message is already plain English; `validate.py` only prefixes the location.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

EXTENSIONS_ALIAS = "x-*"
"""The alias under which `Extensible` models keep their `x-*` keys (not a valid Compose key)."""


def describe(value: Any) -> str:
    """A short rendering of a value for error messages ("abc" quoted, containers by kind)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"' if len(value) <= 60 else f'"{value[:57]}..."'
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    return repr(value)


def fail(
    kind: str, message: str, value: Any = ..., *, at: str | tuple[str | int, ...] = ()
) -> PydanticCustomError:
    """An error with a finished message; `, got <value>` is appended when a value is given.

    `at` names the key (or path of keys) below the validated object that the error is about,
    for checks that look at several fields at once; `validate.py` adds it to the location. A
    final `"[key]"` makes the error point at the key itself rather than at its value.
    """
    text = message if value is ... else f"{message}, got {describe(value)}"
    where = (at,) if isinstance(at, str) else at
    return PydanticCustomError(kind, text, {"compose_at": where} if where else None)


class Strict(BaseModel):
    """A Compose object whose unknown keys are errors and which never changes once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Extensible(Strict):
    """A Compose object that also accepts `x-*` keys, kept (in order) for `config` to print."""

    extensions: dict[str, Any] = Field(default_factory=dict, alias=EXTENSIONS_ALIAS)

    @model_validator(mode="before")
    @classmethod
    def _collect_extensions(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        ext: dict[str, Any] = {}
        rest: dict[str, Any] = {}
        for key, value in data.items():
            if key == EXTENSIONS_ALIAS and isinstance(value, Mapping):
                ext.update(value)
            elif isinstance(key, str) and key.startswith("x-"):
                ext[key] = value
            else:
                rest[key] = value
        if ext:
            rest[EXTENSIONS_ALIAS] = ext
        return rest


def compose_keys(model: type[BaseModel]) -> frozenset[str]:
    """The Compose keys a model accepts (its field names or aliases, without `x-*`)."""
    keys = {info.alias or name for name, info in model.model_fields.items()}
    keys.discard(EXTENSIONS_ALIAS)
    return frozenset(keys)


class PrintAs:
    """Annotation metadata telling `canonical.py` how Compose prints an integer field."""

    __slots__ = ("how",)

    def __init__(self, how: str) -> None:
        self.how = how

    def __repr__(self) -> str:
        return f"PrintAs({self.how!r})"


AS_STRING = PrintAs("string")
"""Compose prints the number as a string (byte sizes: `"1073741824"`)."""
OCTAL = PrintAs("octal")
"""Compose prints the number as an octal string (file modes: `"0440"`)."""


# --- scalars --------------------------------------------------------------------------------

_TRUE = frozenset({"true", "yes", "y", "on"})
_FALSE = frozenset({"false", "no", "n", "off"})
_INT_RE = re.compile(r"[+-]?\d+")
_FLOAT_RE = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        low = value.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
    raise fail("compose_bool", "must be true or false", value)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and _INT_RE.fullmatch(value):
        return int(value)
    raise fail("compose_int", "must be an integer", value)


def _to_float(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str) and _FLOAT_RE.fullmatch(value):
        return float(value)
    raise fail("compose_number", "must be a number", value)


def go_sprint(value: Any) -> str:
    """A scalar as Go's `fmt.Sprint` writes it (how Compose turns numbers into strings)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return _go_float_g(value)
    return str(value)


def _go_float_g(value: float) -> str:
    """`%v` of a float64: shortest digits, exponent form below 1e-4 and from 1e6 (Go's rule)."""
    if math.isnan(value) or math.isinf(value):
        return "NaN" if math.isnan(value) else ("+Inf" if value > 0 else "-Inf")
    if value == 0:
        return "0"
    sign = "-" if value < 0 else ""
    exact = Decimal(repr(abs(value))).normalize().as_tuple()
    digits = "".join(map(str, exact.digits))
    exp = len(digits) + int(exact.exponent) - 1
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    if exp < 0:
        return f"{sign}0.{'0' * (-exp - 1)}{digits}"
    whole, frac = digits[: exp + 1].ljust(exp + 1, "0"), digits[exp + 1 :]
    return f"{sign}{whole}.{frac}" if frac else f"{sign}{whole}"


def _to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return go_sprint(value)
    raise fail("compose_string", "must be a string", value)


def _to_str_or_empty(value: Any) -> str:
    return "" if value is None else _to_str(value)


def _to_str_or_none(value: Any) -> str | None:
    return None if value is None else _to_str(value)


def _to_str_tuple(value: Any) -> Any:
    """`"a"` -> `("a",)`: the spec's string-or-list fields; items must be strings."""
    if isinstance(value, str):
        return (value,)
    return value


def _scalar_tuple(value: Any) -> Any:
    """One scalar stands for a list of one (Compose accepts `expose: 80`, `options: {size: 1}`)."""
    return value if isinstance(value, list | tuple) else (value,)


def _unique(value: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for index, item in enumerate(value):
        if item in seen:
            raise fail("compose_unique", f'"{item}" is listed more than once', at=(index,))
        seen.add(item)
    return value


Bool = Annotated[bool, BeforeValidator(_to_bool)]
Int = Annotated[int, BeforeValidator(_to_int)]
NonNegInt = Annotated[int, BeforeValidator(_to_int), Field(ge=0)]
Float = Annotated[float, BeforeValidator(_to_float)]
GoStr = Annotated[str, BeforeValidator(_to_str)]
"""A string; numbers and booleans are written the way Compose writes them ("1", "true")."""
StrList = Annotated[tuple[str, ...], BeforeValidator(_to_str_tuple)]
"""A list of strings; one string stands for a list of one."""
UniqueStrList = Annotated[tuple[str, ...], BeforeValidator(_to_str_tuple), AfterValidator(_unique)]
Labels = dict[str, Annotated[str, BeforeValidator(_to_str_or_empty)]]
"""Labels, options: every value a string, `null` becomes ""."""
EnvMapping = dict[str, Annotated[str | None, BeforeValidator(_to_str_or_none)]]
"""Environment-like maps: `null` means "no value here" and is kept."""
GoStrList = Annotated[tuple[GoStr, ...], BeforeValidator(_scalar_tuple)]
"""A list of strings that may be written as numbers (`expose: [80]`, `group_add: [42]`)."""


# --- byte sizes, durations, file modes ----------------------------------------------------------

_BYTES_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+) ?(b|[kmgtp](?:i?b)?)?", re.IGNORECASE)
_BYTE_UNITS = {"b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(text: str) -> int:
    """A size as Docker's `RAMInBytes` reads it: `2g`, `512MiB`, `1.5k` (1024-based)."""
    match = _BYTES_RE.fullmatch(text)
    if not match:
        raise ValueError(text)
    unit = (match.group(2) or "b")[0].lower()
    return int(Decimal(match.group(1)) * _BYTE_UNITS[unit])


def _to_bytes(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return parse_bytes(value)
        except (ValueError, InvalidOperation):
            pass
    raise fail("compose_bytes", 'must be a size in bytes such as 1024, "512m" or "2g"', value)


Bytes = Annotated[int, BeforeValidator(_to_bytes), AS_STRING]

_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
    "d": 86_400_000_000_000,
    "w": 604_800_000_000_000,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h|d|w)")


def parse_duration(text: str) -> timedelta:
    """A Go duration (`1m30s`, `1.5h`, `500ms`), plus the `d` and `w` units Compose accepts."""
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return timedelta(0)
    total = Decimal(0)
    pos = 0
    while pos < len(body):
        match = _DURATION_PART.match(body, pos)
        if not match:
            raise ValueError(text)
        total += Decimal(match.group(1)) * _NS[match.group(2)]
        pos = match.end()
    if not body:
        raise ValueError(text)
    micros = int(total / 1000)
    return timedelta(microseconds=-micros if text.startswith("-") else micros)


def format_duration(value: timedelta) -> str:
    """A duration the way Go's `time.Duration.String` writes it (`1m30s`, `500ms`, `0s`)."""
    ns = (value // timedelta(microseconds=1)) * 1000
    if ns == 0:
        return "0s"
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    if ns < 1_000:
        return f"{sign}{ns}ns"
    if ns < 1_000_000:
        return f"{sign}{_fraction(ns, 3)}µs"
    if ns < 1_000_000_000:
        return f"{sign}{_fraction(ns, 6)}ms"
    text = f"{_fraction(ns % 60_000_000_000, 9)}s"
    minutes = ns // 60_000_000_000
    if minutes:
        text = f"{minutes % 60}m{text}"
        if minutes >= 60:
            text = f"{minutes // 60}h{text}"
    return sign + text


def _fraction(value: int, places: int) -> str:
    whole, frac = divmod(value, 10**places)
    if not frac:
        return str(whole)
    return f"{whole}.{str(frac).rjust(places, '0').rstrip('0')}"


def _to_duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str):
        try:
            return parse_duration(value)
        except (ValueError, InvalidOperation):
            pass
    raise fail("compose_duration", 'must be a duration such as "30s", "1m30s" or "500ms"', value)


Duration = Annotated[timedelta, BeforeValidator(_to_duration)]


def _to_file_mode(value: Any) -> int:
    """A number is the mode itself; a string is octal (`"0440"`), as Compose reads it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and re.fullmatch(r"[0-7]+", value):
        return int(value, 8)
    raise fail("compose_mode", 'must be a file mode such as 0440 or "0440"', value)


FileMode = Annotated[int, BeforeValidator(_to_file_mode), OCTAL]


# --- names ----------------------------------------------------------------------------------------

_RESOURCE_NAME = re.compile(r"[a-zA-Z0-9._-]+")


def _check_resource_name(value: str) -> str:
    if not _RESOURCE_NAME.fullmatch(value):
        raise fail(
            "compose_name",
            f'invalid name "{value}" (use only letters, digits, ".", "_" and "-")',
        )
    return value


ResourceName = Annotated[str, AfterValidator(_check_resource_name)]
"""A key of `services`, `networks`, `volumes`, `secrets`, `configs` or `models`."""


def choice(kind: str, allowed: tuple[str, ...], shown: str | None = None) -> AfterValidator:
    """A validator accepting exactly one of `allowed`, naming them all when it refuses."""

    def check(value: str) -> str:
        if value not in allowed:
            raise fail(kind, f'invalid value "{value}" (expected one of: {shown or ", ".join(allowed)})')
        return value

    return AfterValidator(check)
