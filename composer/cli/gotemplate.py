"""The part of Go's text/template that `--format` / `-f` users write, over JSON-like data (dicts, lists, scalars).

Docker's format flags are Go templates executed on API documents, and people paste them from Docker's docs,
so this follows Go's rules where they show: exact key matching, `<no value>` for a missing key, Go's `%v`
printing (`map[k:v]`, `[a b]`, `true`), `{{-`/`-}}` trimming, and the docker CLI's functions (json, join,
split, title, upper, lower, pad, truncate) next to Go's builtins. Table formats (`table ...`) are aligned like
the docker CLI's tabwriter. Pure: no I/O, no runtime imports.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from composer.errors import ComposerError
from composer.tabwriter import tabwrite

NO_VALUE = "<no value>"


class _Missing:
    """Go's invalid reflect.Value: a key that is not there (prints as `<no value>`)."""

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


# -- Go value printing -------------------------------------------------------------------------------------


def _go_float(f: float) -> str:
    """Go's %v for a float64 (%g, shortest): exponent form when the decimal exponent is < -4 or >= 6."""
    if f != f:
        return "NaN"
    if f in (float("inf"), float("-inf")):
        return "+Inf" if f > 0 else "-Inf"
    if f == 0:
        return "0"
    sign, digits, exp = Decimal(repr(f)).normalize().as_tuple()
    assert isinstance(exp, int)
    ds = "".join(map(str, digits))
    point = len(ds) + exp  # decimal point position relative to the digit string
    e10 = point - 1
    if e10 < -4 or e10 >= 6:
        mant = ds[0] + ("." + ds[1:] if len(ds) > 1 else "")
        out = f"{mant}e{'-' if e10 < 0 else '+'}{abs(e10):02d}"
    elif point <= 0:
        out = "0." + "0" * -point + ds
    elif point >= len(ds):
        out = ds + "0" * (point - len(ds))
    else:
        out = ds[:point] + "." + ds[point:]
    return ("-" if sign else "") + out


def go_str(value: Any, *, top: bool = True) -> str:
    """`value` as Go's fmt prints it with %v; a missing or nil value at the top is `<no value>` as in templates."""
    if value is MISSING or value is None:
        return NO_VALUE if top else "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _go_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping):
        items = sorted(value.items(), key=lambda kv: str(kv[0]))
        return "map[" + " ".join(f"{go_str(k, top=False)}:{go_str(v, top=False)}" for k, v in items) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v, top=False) for v in value) + "]"
    return str(value)


def _go_type(value: Any) -> str:
    if value is MISSING or value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "map[string]interface {}"
    if isinstance(value, (list, tuple)):
        return "[]interface {}"
    return type(value).__name__


def truth(value: Any) -> bool:
    """Go's template truth: false, 0, nil, and empty strings, lists and maps are false."""
    if value is MISSING or value is None:
        return False
    if isinstance(value, (bool, int, float, str, list, tuple, Mapping)):
        return bool(value)
    return True


def _go_quote(s: str) -> str:
    """strconv.Quote, near enough: JSON's escapes with non-ASCII kept."""
    return json.dumps(s, ensure_ascii=False)


_VERB = re.compile(r"%([-+ #0]*)(\d*)(?:\.(\d*))?([a-zA-Z%])")


def go_sprintf(fmt: str, args: Sequence[Any]) -> str:
    """fmt.Sprintf for the common verbs: %s %v %d %q %t %f %x %c %%, with flags, width and precision."""
    out: list[str] = []
    pos = 0
    argi = 0
    for m in _VERB.finditer(fmt):
        out.append(fmt[pos : m.start()])
        pos = m.end()
        flags, width, prec, verb = m.group(1), m.group(2), m.group(3), m.group(4)
        if verb == "%":
            out.append("%")
            continue
        if argi >= len(args):
            out.append(f"%!{verb}(MISSING)")
            continue
        arg = args[argi]
        argi += 1
        arg = None if arg is MISSING else arg
        text: str
        if verb in "sv":
            text = go_str(arg, top=False)
            if verb == "s" and prec:
                text = text[: int(prec)]
        elif verb == "q" and isinstance(arg, str):
            text = _go_quote(arg)
        elif verb == "d" and isinstance(arg, int) and not isinstance(arg, bool):
            text = f"{arg:{'+' if '+' in flags else ''}d}"
        elif verb == "t" and isinstance(arg, bool):
            text = go_str(arg)
        elif verb in "feg" and isinstance(arg, (int, float)) and not isinstance(arg, bool):
            text = f"{float(arg):.{prec or 6}{verb}}"
        elif verb in "xX" and isinstance(arg, int) and not isinstance(arg, bool):
            text = format(arg, verb)
        elif verb in "xX" and isinstance(arg, str):
            text = arg.encode().hex()
            text = text.upper() if verb == "X" else text
        elif verb == "c" and isinstance(arg, int):
            text = chr(arg)
        else:
            text = f"%!{verb}({_go_type(arg)}={go_str(arg, top=False)})"
        if width and len(text) < int(width):
            pad = int(width) - len(text)
            if "-" in flags:
                text += " " * pad
            elif "0" in flags and verb in "dfegxX":
                sign = text[0] if text[:1] in "+-" else ""
                text = sign + "0" * pad + text[len(sign) :]
            else:
                text = " " * pad + text
        out.append(text)
    out.append(fmt[pos:])
    if argi < len(args):
        extra = ", ".join(f"{_go_type(a)}={go_str(a, top=False)}" for a in args[argi:])
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


# -- functions -----------------------------------------------------------------------------------------------


class _CallError(Exception):
    """A function rejected its arguments; the executor adds the position."""


def _arity(name: str, args: Sequence[Any], n: int) -> None:
    if len(args) != n:
        raise _CallError(f"wrong number of args for {name}: want {n} got {len(args)}")


def _plain(value: Any) -> Any:
    return None if value is MISSING else value


def _fn_json(*args: Any) -> str:
    _arity("json", args, 1)
    return json.dumps(_plain(args[0]), ensure_ascii=False, separators=(",", ":"), default=str)


def _str_arg(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _CallError(f"wrong type for value; expected string; got {_go_type(value)}")
    return value


def _fn_join(*args: Any) -> str:
    _arity("join", args, 2)
    items, sep = args
    if not isinstance(items, (list, tuple)):
        raise _CallError(f"wrong type for value; expected []string; got {_go_type(items)}")
    return _str_arg("join", sep).join(go_str(i, top=False) for i in items)


def _fn_split(*args: Any) -> list[str]:
    _arity("split", args, 2)
    s, sep = _str_arg("split", args[0]), _str_arg("split", args[1])
    return list(s) if sep == "" else s.split(sep)


def _fn_title(*args: Any) -> str:
    _arity("title", args, 1)
    s = _str_arg("title", args[0])
    out, prev = [], " "
    for ch in s:
        out.append(ch.upper() if not (prev.isalnum() or prev == "_") else ch)
        prev = ch
    return "".join(out)


def _fn_upper(*args: Any) -> str:
    _arity("upper", args, 1)
    return _str_arg("upper", args[0]).upper()


def _fn_lower(*args: Any) -> str:
    _arity("lower", args, 1)
    return _str_arg("lower", args[0]).lower()


def _int_arg(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _CallError(f"wrong type for value; expected int; got {_go_type(value)}")
    return value


def _fn_pad(*args: Any) -> str:
    _arity("pad", args, 3)
    return " " * _int_arg(args[1]) + _str_arg("pad", args[0]) + " " * _int_arg(args[2])


def _fn_truncate(*args: Any) -> str:
    _arity("truncate", args, 2)
    s, n = _str_arg("truncate", args[0]), _int_arg(args[1])
    return s if len(s) <= n else s[:n]


def _fn_print(*args: Any) -> str:
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += go_str(_plain(a), top=False)
    return out


def _fn_println(*args: Any) -> str:
    return " ".join(go_str(_plain(a), top=False) for a in args) + "\n"


def _fn_printf(*args: Any) -> str:
    if not args:
        raise _CallError("wrong number of args for printf: want at least 1 got 0")
    return go_sprintf(_str_arg("printf", args[0]), args[1:])


def _fn_index(*args: Any) -> Any:
    if not args:
        raise _CallError("wrong number of args for index: want at least 1 got 0")
    item = args[0]
    for key in args[1:]:
        if item is MISSING or item is None:
            raise _CallError("index of untyped nil")
        if isinstance(item, Mapping):
            item = item.get(key, MISSING)
        elif isinstance(item, (list, tuple, str)):
            if isinstance(key, bool) or not isinstance(key, int):
                raise _CallError(f"cannot index slice/array with type {_go_type(key)}")
            if not 0 <= key < len(item):
                raise _CallError(f"index out of range: {key}")
            item = item[key] if not isinstance(item, str) else ord(item[key])
        else:
            raise _CallError(f"can't index item of type {_go_type(item)}")
    return item


def _fn_len(*args: Any) -> int:
    _arity("len", args, 1)
    if isinstance(args[0], (str, list, tuple, Mapping)):
        return len(args[0])
    raise _CallError(f"len of type {_go_type(args[0])}")


def _fn_not(*args: Any) -> bool:
    _arity("not", args, 1)
    return not truth(args[0])


def _fn_and(*args: Any) -> Any:
    for a in args:
        if not truth(a):
            return a
    return args[-1] if args else MISSING


def _fn_or(*args: Any) -> Any:
    for a in args:
        if truth(a):
            return a
    return args[-1] if args else MISSING


def _comparable(a: Any, b: Any) -> None:
    def kind(v: Any) -> str:
        if isinstance(v, bool):
            return "bool"
        if isinstance(v, (int, float)):
            return "number"
        return "string" if isinstance(v, str) else "other"

    ka, kb = kind(a), kind(b)
    if ka != kb or ka == "other":
        raise _CallError("incompatible types for comparison")


def _fn_eq(*args: Any) -> bool:
    if len(args) < 2:
        raise _CallError("missing argument for comparison")
    first = _plain(args[0])
    for other in args[1:]:
        other = _plain(other)
        if first is None or other is None:
            if first is other:
                return True
            continue
        _comparable(first, other)
        if first == other:
            return True
    return False


def _fn_ne(*args: Any) -> bool:
    _arity("ne", args, 2)
    return not _fn_eq(*args)


def _order(name: str, op: Callable[[Any, Any], bool]) -> Callable[..., bool]:
    def fn(*args: Any) -> bool:
        _arity(name, args, 2)
        a, b = _plain(args[0]), _plain(args[1])
        _comparable(a, b)
        if isinstance(a, bool):
            raise _CallError("invalid type for comparison")
        return op(a, b)

    return fn


FUNCS: dict[str, Callable[..., Any]] = {
    "json": _fn_json,
    "join": _fn_join,
    "split": _fn_split,
    "title": _fn_title,
    "upper": _fn_upper,
    "lower": _fn_lower,
    "pad": _fn_pad,
    "truncate": _fn_truncate,
    "print": _fn_print,
    "println": _fn_println,
    "printf": _fn_printf,
    "index": _fn_index,
    "len": _fn_len,
    "not": _fn_not,
    "and": _fn_and,
    "or": _fn_or,
    "eq": _fn_eq,
    "ne": _fn_ne,
    "lt": _order("lt", lambda a, b: a < b),
    "le": _order("le", lambda a, b: a <= b),
    "gt": _order("gt", lambda a, b: a > b),
    "ge": _order("ge", lambda a, b: a >= b),
}
"""Go's builtins plus the docker CLI's template functions."""

_HEADER_IDENTITY = ("json", "join", "split", "title", "upper", "lower", "pad", "truncate")
"""In table headers the docker CLI replaces these with functions returning their first argument unchanged,
so `{{upper .Name}}` still heads its column with the plain title."""


def _first_arg(*args: Any) -> Any:
    return args[0] if args else MISSING


HEADER_FUNCS: dict[str, Callable[..., Any]] = {**FUNCS, **dict.fromkeys(_HEADER_IDENTITY, _first_arg)}


# -- lexing --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # field var dot ident string number bool nil pipe lparen rparen comma declare assign
    value: Any
    pos: int
    text: str


_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+|(\d[\d_]*)?\.?\d*([eE][+-]?\d+)?)")
_FIELDS = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "a": "\a", "b": "\b", "f": "\f", "v": "\v"}


class _Source:
    """The template text with Go-style error positions: "template: :LINE:COL: msg" (COL counts from 0)."""

    def __init__(self, text: str, name: str = "") -> None:
        self.text = text
        self.name = name

    def where(self, pos: int) -> str:
        line = self.text.count("\n", 0, pos) + 1
        col = pos - (self.text.rfind("\n", 0, pos) + 1)
        return f"{self.name}:{line}:{col}"

    def error(self, pos: int, msg: str) -> ComposerError:
        return ComposerError(f"template: {self.where(pos)}: {msg}")


def _unquote(src: _Source, body: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch != "\\":
            out.append(ch)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            n = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + n]
            if len(digits) != n or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise src.error(pos, f"invalid syntax: {body!r}")
            out.append(chr(int(digits, 16)))
            i += 2 + n
        else:
            raise src.error(pos, f"invalid syntax: unknown escape \\{nxt}")
    return "".join(out)


def _lex_action(src: _Source, opened: int, start: int) -> tuple[list[_Tok], int, bool]:
    """Tokens of the action opened at `opened` whose content starts at `start`; returns (tokens, end after "}}",
    right-trim)."""
    text = src.text
    toks: list[_Tok] = []
    i = start
    n = len(text)
    while True:
        if i >= n:
            raise src.error(opened, "unclosed action")
        ch = text[i]
        if ch in " \t\r\n":
            j = i
            while j < n and text[j] in " \t\r\n":
                j += 1
            if text.startswith("-}}", j):
                return toks, j + 3, True
            i = j
            continue
        if text.startswith("}}", i):
            return toks, i + 2, False
        if ch == '"':
            j = i + 1
            while j < n and text[j] != '"':
                if text[j] == "\n":
                    raise src.error(i, "unterminated quoted string")
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                raise src.error(i, "unterminated quoted string")
            toks.append(_Tok("string", _unquote(src, text[i + 1 : j], i), i, text[i : j + 1]))
            i = j + 1
        elif ch == "`":
            j = text.find("`", i + 1)
            if j < 0:
                raise src.error(i, "unterminated raw quoted string")
            toks.append(_Tok("string", text[i + 1 : j], i, text[i : j + 1]))
            i = j + 1
        elif ch == "'":
            m = re.compile(r"'(\\.[^']*|[^\\'])'").match(text, i)
            if m is None:
                raise src.error(i, "unterminated character constant")
            toks.append(_Tok("number", ord(_unquote(src, m.group(1), i)), i, m.group(0)))
            i = m.end()
        elif ch == "." and (i + 1 >= n or not (text[i + 1].isalpha() or text[i + 1] == "_")):
            if i + 1 < n and text[i + 1].isdigit():
                i = _lex_number(src, toks, i)
            else:
                toks.append(_Tok("dot", None, i, "."))
                i += 1
        elif ch == ".":
            m = _FIELDS.match(text, i)
            assert m is not None
            toks.append(_Tok("field", m.group(0)[1:].split("."), i, m.group(0)))
            i = m.end()
        elif ch == "$":
            m = _IDENT.match(text, i + 1)
            j = m.end() if m else i + 1
            fm = _FIELDS.match(text, j)
            chain = fm.group(0)[1:].split(".") if fm else []
            end = fm.end() if fm else j
            toks.append(_Tok("var", (text[i:j], chain), i, text[i:end]))
            i = end
        elif ch.isdigit() or (ch in "+-" and i + 1 < n and (text[i + 1].isdigit() or text[i + 1] == ".")):
            i = _lex_number(src, toks, i)
        elif ch.isalpha() or ch == "_":
            m = _IDENT.match(text, i)
            assert m is not None
            word = m.group(0)
            if word in ("true", "false"):
                toks.append(_Tok("bool", word == "true", i, word))
            elif word == "nil":
                toks.append(_Tok("nil", None, i, word))
            else:
                toks.append(_Tok("ident", word, i, word))
            i = m.end()
        elif ch == "|":
            toks.append(_Tok("pipe", None, i, "|"))
            i += 1
        elif ch == "(":
            toks.append(_Tok("lparen", None, i, "("))
            i += 1
        elif ch == ")":
            fm = _FIELDS.match(text, i + 1)
            chain = fm.group(0)[1:].split(".") if fm else []
            end = fm.end() if fm else i + 1
            toks.append(_Tok("rparen", chain, i, text[i:end]))
            i = end
        elif ch == ",":
            toks.append(_Tok("comma", None, i, ","))
            i += 1
        elif text.startswith(":=", i):
            toks.append(_Tok("declare", None, i, ":="))
            i += 2
        elif ch == "=":
            toks.append(_Tok("assign", None, i, "="))
            i += 1
        else:
            raise src.error(i, f"unexpected {ch!r} in command")


def _lex_number(src: _Source, toks: list[_Tok], i: int) -> int:
    m = _NUMBER.match(src.text, i)
    word = m.group(0) if m else ""
    try:
        value: int | float = int(word.replace("_", ""), 0)
    except ValueError:
        try:
            value = float(word.replace("_", ""))
        except ValueError:
            raise src.error(i, f"bad number syntax: {word or src.text[i]!r}")
    toks.append(_Tok("number", value, i, word))
    return i + len(word)


# -- parsing -------------------------------------------------------------------------------------------------


@dataclass(slots=True)
class _Cmd:
    args: list[Any]  # _Tok or _Pipe (parenthesised)
    pos: int


@dataclass(slots=True)
class _Pipe:
    decl: list[str]
    assign: bool
    cmds: list[_Cmd]
    pos: int
    text: str
    chain: list[str] = field(default_factory=list)  # fields after a parenthesised pipeline


@dataclass(slots=True)
class _Text:
    text: str


@dataclass(slots=True)
class _Action:
    pipe: _Pipe


@dataclass(slots=True)
class _Block:
    kind: str  # if, range, with
    pipe: _Pipe
    body: list[Any]
    orelse: list[Any]


class _Parser:
    def __init__(self, src: _Source, funcs: Mapping[str, Callable[..., Any]]) -> None:
        self.src = src
        self.funcs = funcs

    def items(self) -> Iterator[tuple[str, Any, int]]:
        """("text", str, pos) and ("action", tokens, pos) in order, with `{{-`/`-}}` trimming applied."""
        text = self.src.text
        i = 0
        trim_next = False
        while True:
            j = text.find("{{", i)
            chunk = text[i:] if j < 0 else text[i:j]
            if trim_next:
                chunk = chunk.lstrip(" \t\r\n")
            if j < 0:
                if chunk:
                    yield "text", chunk, i
                return
            start = j + 2
            trim_left = text.startswith("-", start) and text[start + 1 : start + 2] in (" ", "\t", "\r", "\n")
            if trim_left:
                chunk = chunk.rstrip(" \t\r\n")
                start += 1
            if chunk:
                yield "text", chunk, i
            body = start
            while body < len(text) and text[body] in " \t\r\n":
                body += 1
            if text.startswith("/*", body):
                close = text.find("*/", body + 2)
                if close < 0:
                    raise self.src.error(j, "unclosed comment")
                after = close + 2
                k = after
                while k < len(text) and text[k] in " \t\r\n":
                    k += 1
                if text.startswith("-}}", k) and k > after:
                    i, trim_next = k + 3, True
                elif text.startswith("}}", after):
                    i, trim_next = after + 2, False
                else:
                    raise self.src.error(j, "comment ends before closing delimiter")
                continue
            toks, i, trim_next = _lex_action(self.src, j, start)
            yield "action", toks, j

    def parse(self) -> list[Any]:
        stack: list[tuple[list[Any], _Block | None, int]] = [([], None, 0)]
        for kind, value, pos in self.items():
            body = stack[-1][0]
            if kind == "text":
                body.append(_Text(value))
                continue
            toks: list[_Tok] = value
            if not toks:
                raise self.src.error(pos, "missing value for command")
            head = toks[0]
            word = head.value if head.kind == "ident" else None
            if word in ("if", "range", "with"):
                block = _Block(word, self.pipeline(toks[1:], pos, word), [], [])
                body.append(block)
                stack.append((block.body, block, pos))
            elif word == "else":
                open_block = stack[-1][1]
                if open_block is None or stack[-1][0] is not open_block.body:
                    raise self.src.error(pos, "unexpected {{else}}")
                stack.pop()
                if len(toks) > 1 and toks[1].kind == "ident" and toks[1].value in ("if", "with"):
                    # `else if` is an if inside the else branch that the same {{end}} closes
                    inner = _Block(toks[1].value, self.pipeline(toks[2:], pos, toks[1].value), [], [])
                    open_block.orelse.append(inner)
                    stack.append((open_block.orelse, open_block, -1))
                    stack.append((inner.body, inner, pos))
                    continue
                if len(toks) > 1:
                    raise self.src.error(toks[1].pos, f"unexpected {toks[1].text!r} in else")
                stack.append((open_block.orelse, open_block, pos))
            elif word == "end":
                if len(toks) > 1:
                    raise self.src.error(toks[1].pos, f"unexpected {toks[1].text!r} in end")
                if len(stack) < 2:
                    raise self.src.error(pos, "unexpected {{end}}")
                stack.pop()
                while stack[-1][2] == -1:  # the same {{end}} closes the whole `else if` chain
                    stack.pop()
            elif word in ("define", "template", "block", "break", "continue"):
                raise self.src.error(pos, f"{{{{{word}}}}} is not supported")
            else:
                body.append(_Action(self.pipeline(toks, pos, None)))
        if len(stack) > 1:
            raise self.src.error(len(self.src.text), "unexpected EOF")
        return stack[0][0]

    def pipeline(self, toks: list[_Tok], pos: int, context: str | None) -> _Pipe:
        decl: list[str] = []
        assign = False
        # variable declarations: `$x :=`, `$x =`, or (range) `$k, $v :=`
        if toks and toks[0].kind == "var" and not toks[0].value[1]:
            names = [toks[0]]
            k = 1
            if context == "range" and len(toks) > 2 and toks[1].kind == "comma" and toks[2].kind == "var":
                names.append(toks[2])
                k = 3
            if len(toks) > k and toks[k].kind in ("declare", "assign"):
                decl = [t.value[0] for t in names]
                assign = toks[k].kind == "assign"
                toks = toks[k + 1 :]
        if not toks:
            raise self.src.error(pos, f"missing value for {context or 'command'}")
        pipe, rest = self._pipe(toks, pos)
        if rest:
            raise self.src.error(rest[0].pos, f"unexpected {rest[0].text!r} in operand")
        pipe.decl, pipe.assign = decl, assign
        return pipe

    def _pipe(self, toks: list[_Tok], pos: int) -> tuple[_Pipe, list[_Tok]]:
        """Commands separated by `|` up to an unmatched `)`; returns the pipeline and what follows it."""
        cmds: list[_Cmd] = []
        args: list[Any] = []
        i = 0
        start = toks[0].pos if toks else pos
        while i < len(toks):
            t = toks[i]
            if t.kind == "rparen":
                break
            if t.kind == "pipe":
                if not args:
                    raise self.src.error(t.pos, "missing value for command")
                cmds.append(_Cmd(args, args[0].pos))
                args = []
                i += 1
                continue
            if t.kind == "lparen":
                inner, rest = self._pipe(toks[i + 1 :], t.pos)
                if not rest or rest[0].kind != "rparen":
                    raise self.src.error(t.pos, "unclosed left paren")
                inner.chain = rest[0].value
                inner.pos = t.pos
                args.append(inner)
                i = len(toks) - len(rest) + 1
                continue
            if t.kind in ("declare", "assign", "comma"):
                raise self.src.error(t.pos, f"unexpected {t.text!r} in operand")
            if t.kind == "ident" and t.value not in self.funcs:
                raise self.src.error(t.pos, f'function "{t.value}" not defined')
            args.append(t)
            i += 1
        if not args:
            raise self.src.error(toks[i].pos if i < len(toks) else pos, "missing value for command")
        cmds.append(_Cmd(args, args[0].pos))
        for c in cmds[1:]:
            first = c.args[0]
            if isinstance(first, _Tok) and first.kind in ("string", "number", "bool", "nil"):
                raise self.src.error(first.pos, f"non executable command in pipeline stage {cmds.index(c) + 1}")
        end = toks[i - 1] if i else None
        text = self.src.text[start : end.pos + len(end.text)] if end else ""
        return _Pipe([], False, cmds, start, text), toks[i:]


# -- execution -----------------------------------------------------------------------------------------------


_NO_FINAL: Any = object()


class _Exec:
    def __init__(self, src: _Source, funcs: Mapping[str, Callable[..., Any]], root: Any) -> None:
        self.src = src
        self.funcs = funcs
        self.vars: list[tuple[str, Any]] = [("$", root)]
        self.out: list[str] = []

    def error(self, pos: int, at: str, msg: str) -> ComposerError:
        return self.src.error(pos, f'executing "{self.src.name}" at <{at}>: {msg}')

    def run(self, nodes: list[Any], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, _Text):
                self.out.append(node.text)
            elif isinstance(node, _Action):
                value = self.pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.out.append(go_str(value))
            else:
                self.block(node, dot)

    def block(self, node: _Block, dot: Any) -> None:
        mark = len(self.vars)
        value = self.pipe(node.pipe, dot, declare=node.kind != "range")
        try:
            if node.kind == "if":
                self.run(node.body if truth(value) else node.orelse, dot)
            elif node.kind == "with":
                if truth(value):
                    self.run(node.body, value)
                else:
                    self.run(node.orelse, dot)
            else:
                self.range(node, value, dot)
        finally:
            del self.vars[mark:]

    def range(self, node: _Block, value: Any, dot: Any) -> None:
        pairs: list[tuple[Any, Any]]
        if value is MISSING or value is None:
            pairs = []
        elif isinstance(value, Mapping):
            pairs = [(k, value[k]) for k in sorted(value, key=str)]
        elif isinstance(value, (list, tuple)):
            pairs = list(enumerate(value))
        elif isinstance(value, int) and not isinstance(value, bool):
            pairs = [(i, i) for i in range(value)]
        else:
            raise self.error(node.pipe.pos, node.pipe.text, f"range can't iterate over {go_str(value, top=False)}")
        if not pairs:
            self.run(node.orelse, dot)
            return
        decl = node.pipe.decl
        base = len(self.vars)
        for key, item in pairs:
            del self.vars[base:]
            if len(decl) == 2:
                self.vars += [(decl[0], key), (decl[1], item)]
            elif len(decl) == 1:
                self.vars.append((decl[0], item))
            self.run(node.body, item)

    def lookup(self, name: str, pos: int) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise self.src.error(pos, f"undefined variable: {name}")

    def pipe(self, pipe: _Pipe, dot: Any, *, declare: bool = True) -> Any:
        value: Any = _NO_FINAL
        for cmd in pipe.cmds:
            value = self.command(cmd, dot, value)
        if pipe.decl and declare:
            if pipe.assign:
                name = pipe.decl[0]
                for k in range(len(self.vars) - 1, -1, -1):
                    if self.vars[k][0] == name:
                        self.vars[k] = (name, value)
                        break
                else:
                    raise self.src.error(pipe.pos, f"undefined variable: {name}")
            else:
                self.vars.append((pipe.decl[-1], value))
        return value

    def command(self, cmd: _Cmd, dot: Any, final: Any) -> Any:
        """One command; `final` is the previous command's result, passed as the last argument."""
        first = cmd.args[0]
        if isinstance(first, _Tok) and first.kind == "ident":
            args = [self.arg(a, dot) for a in cmd.args[1:]]
            if final is not _NO_FINAL:
                args.append(final)
            try:
                return self.funcs[first.value](*args)
            except _CallError as e:
                raise self.error(first.pos, first.text, f"error calling {first.value}: {e}")
        if len(cmd.args) > 1 or final is not _NO_FINAL:
            text = first.text
            raise self.error(cmd.pos, text, f"can't give argument to non-function {text}")
        return self.arg(first, dot)

    def arg(self, a: Any, dot: Any) -> Any:
        if isinstance(a, _Pipe):
            return self.chain(self.pipe(a, dot), a.chain, a.pos, a.text)
        tok: _Tok = a
        if tok.kind == "dot":
            return dot
        if tok.kind == "field":
            return self.chain(dot, tok.value, tok.pos, tok.text)
        if tok.kind == "var":
            name, chain = tok.value
            return self.chain(self.lookup(name, tok.pos), chain, tok.pos, tok.text)
        if tok.kind == "ident":
            try:
                return self.funcs[tok.value]()
            except _CallError as e:
                raise self.error(tok.pos, tok.text, f"error calling {tok.value}: {e}")
            except TypeError as e:
                raise self.error(tok.pos, tok.text, str(e))
        return tok.value

    def chain(self, value: Any, names: Sequence[str], pos: int, text: str) -> Any:
        for name in names:
            if value is MISSING or value is None:
                return MISSING
            if isinstance(value, Mapping):
                value = value.get(name, MISSING)
            elif hasattr(value, name) and not name.startswith("_"):
                value = getattr(value, name)
            else:
                raise self.error(pos, text, f"can't evaluate field {name} in type {_go_type(value)}")
        return value


@dataclass(frozen=True, slots=True)
class Template:
    """A parsed template; `execute` runs it over one value."""

    source: str
    nodes: list[Any]
    funcs: Mapping[str, Callable[..., Any]]

    def execute(self, data: Any) -> str:
        ex = _Exec(_Source(self.source), self.funcs, data)
        ex.run(self.nodes, data)
        return "".join(ex.out)


def parse(text: str, *, funcs: Mapping[str, Callable[..., Any]] = FUNCS) -> Template:
    """Parse a template; syntax errors raise ComposerError("template: :LINE:COL: ...")."""
    src = _Source(text)
    return Template(text, _Parser(src, funcs).parse(), funcs)


def render(text: str, data: Any) -> str:
    """Parse and execute `text` over `data` in one go (`inspect -f`)."""
    return parse(text).execute(data)


# -- tables --------------------------------------------------------------------------------------------------


def parse_table_format(fmt: str) -> tuple[bool, str]:
    """The docker CLI's reading of `--format`: a `table` prefix asks for an aligned table with a header, and the
    two-character escapes `\\t` and `\\n` become a tab and a newline; the rest is trimmed of spaces."""
    is_table = fmt.startswith("table")
    body = fmt[len("table") :] if is_table else fmt
    body = body.strip(" ").replace("\\t", "\t").replace("\\n", "\n")
    return is_table, body


_CAMEL = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z0-9]+")


def default_header(key: str) -> str:
    """A column title made from a field name when the command gives none: "CreatedAt" -> "CREATED AT"."""
    return " ".join(_CAMEL.findall(key)).upper() or key.upper()


class _Headers(Mapping[str, str]):
    """Column titles: the command's own, else `default_header` of whatever field the template names."""

    def __init__(self, given: Mapping[str, str]) -> None:
        self.given = given

    def __getitem__(self, key: str) -> str:
        return self.given[key] if key in self.given else default_header(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self.given)

    def __len__(self) -> int:
        return len(self.given)


def render_table(
    fmt: str,
    rows: Sequence[Any],
    headers: Mapping[str, str] | None = None,
) -> str:
    """Render `--format` over `rows`, one execution per row, as the docker CLI does.

    For a `table` format the header is the same template executed over `headers` (field -> column title, with
    the string functions made no-ops; fields not in `headers` get `default_header`), and everything goes
    through `tabwrite`. Other formats print one execution per line with no header."""
    is_table, body = parse_table_format(fmt)
    tmpl = parse(body)
    lines = [tmpl.execute(row) for row in rows]
    if not is_table:
        return "".join(line + "\n" for line in lines)
    header = parse(body, funcs=HEADER_FUNCS).execute(_Headers(headers or {}))
    text = "".join(line + "\n" for line in [header, *lines])
    return tabwrite(text)


render_rows = render_table
"""The name the container commands use for `render_table`."""
