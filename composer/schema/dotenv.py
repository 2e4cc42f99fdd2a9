"""The `.env` / `env_file` dialect of Docker Compose v2, and `format: raw` env files.

Compose's dialect (compose-go `dotenv`), which python-dotenv does not follow:

- blank lines and lines starting with `#` are skipped; `export ` before a key is ignored;
- `KEY=VALUE` and `KEY: VALUE`; spaces around the key and before the value are dropped;
- unquoted values run to the end of the line, lose trailing whitespace, and ` #` (a space, then
  `#`) starts a comment;
- `'single quoted'` values are literal (only `\\'` is special) and may span lines;
- `"double quoted"` values may span lines and know `\\n \\r \\t \\a \\b \\f \\v \\\\ \\" \\$` and
  octal `\\0NNN`;
- unquoted and double-quoted values are interpolated with the full `${...}` syntax, from the
  outer variables first (the shell), then the keys defined earlier in the same file;
- a key alone on its line takes the outer variable of that name, else stays unset (None here);
- after a closing quote the line goes on as if a new one started (so `A="x" # c` is fine).

Deliberate differences from compose, which accepts these silently: an empty key (`=x`), a key with
whitespace inside, and a key alone on the last line without a newline (compose stores it under the
empty name) -- the first two are errors here, the last is the same as with a newline.
"""

from __future__ import annotations

import bisect
import re
import unicodedata

from composer.errors import ComposerError, Diagnostics, Span
from composer.schema.interpolate import Lookup, substitute, unset_warning

_INLINE_SPACE = frozenset("\t\v\f\r \x85\xa0")
"""Whitespace that does not end a line (compose's `isSpace`)."""
_KEY_PUNCTUATION = frozenset("_.-[]")
_EXPORT = re.compile(r"export[\t\n\f\r ]+")
_ESCAPE = re.compile(r'\\(?:([abcfnrtv"\\$])|0([0-9]{0,3}))')
_LETTER_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
                   '"': '"', "\\": "\\"}


def _is_space(char: str) -> bool:
    """Go's unicode.IsSpace (Python's isspace also counts the ASCII separators 0x1c-0x1f)."""
    return char in _INLINE_SPACE or char == "\n" or (char > "\xff" and char.isspace())


def _rstrip_space(text: str) -> str:
    end = len(text)
    while end and _is_space(text[end - 1]):
        end -= 1
    return text[:end]


def _is_key_char(char: str) -> bool:
    return char in _KEY_PUNCTUATION or unicodedata.category(char)[0] in "LN"


def _expand_escapes(raw: str, *, keep_dollar_escaped: bool) -> str:
    """Backslash escapes of double-quoted values, as compose decodes them.

    `\\$` becomes `$$` when the value is interpolated next (so it stays a literal `$`). An octal
    escape needs exactly three digits up to `\\0377`; otherwise compose drops the `0` and keeps the rest.
    """

    def one(match: re.Match[str]) -> str:
        letter, octal = match.group(1), match.group(2)
        if letter == "$":
            return "$$" if keep_dollar_escaped else "$"
        if letter is not None:
            return _LETTER_ESCAPES.get(letter, match.group())
        if len(octal) == 3 and "8" not in octal and "9" not in octal and int(octal, 8) <= 0xFF:
            return chr(int(octal, 8))
        return "\\" + octal

    return _ESCAPE.sub(one, raw)


class _Parser:
    """One file: the text, where each line starts (for spans) and the values read so far."""

    def __init__(self, text: str, filename: str, lookup: Lookup | None, interpolate: bool,
                 diag: Diagnostics | None) -> None:
        self.text = text[1:] if text.startswith("\ufeff") else text
        self.filename = filename
        self.outer = lookup
        self.interpolate = interpolate
        self.diag = diag
        self.values: dict[str, str | None] = {}
        self.warned: set[str] = set()
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def span(self, offset: int) -> Span:
        line = bisect.bisect_right(self.line_starts, offset)
        return Span(self.filename, line, offset - self.line_starts[line - 1] + 1)

    def error(self, message: str, offset: int, hint: str | None = None) -> ComposerError:
        return ComposerError(message, span=self.span(offset), hint=hint)

    def lookup(self, name: str) -> str | None:
        """Outer variables win over the file's own earlier keys, as in compose."""
        if self.outer is not None:
            value = self.outer(name)
            if value is not None:
                return value
        return self.values.get(name)

    def parse(self) -> dict[str, str | None]:
        pos = self.next_statement(0)
        while pos < len(self.text):
            pos = self.statement(pos)
            pos = self.next_statement(pos)
        return self.values

    def next_statement(self, pos: int) -> int:
        """Skip whitespace (newlines too) and comment lines."""
        text, size = self.text, len(self.text)
        while pos < size:
            if _is_space(text[pos]):
                pos += 1
            elif text[pos] == "#":
                newline = text.find("\n", pos)
                pos = size if newline < 0 else newline + 1
            else:
                break
        return pos

    def statement(self, pos: int) -> int:
        """Read one `KEY=VALUE` (or `KEY: VALUE`, or `KEY`) starting at `pos`; return where it ends."""
        text, size = self.text, len(self.text)
        export = _EXPORT.match(text, pos)
        if export:
            pos += len("export")
            while pos < size and text[pos] in _INLINE_SPACE:
                pos += 1
        start = end = pos
        while end < size and text[end] not in "=:\n":
            char = text[end]
            if not (char in _INLINE_SPACE or _is_key_char(char)):
                newline = text.find("\n", start)
                line = text[start:] if newline < 0 else text[start:newline]
                raise self.error(f'unexpected character "{char}" in variable name "{line}"', end,
                                 hint="variable names are letters, digits and _ . - [ ]")
            end += 1
        key = _rstrip_space(text[start:end])
        if any(_is_space(char) for char in key):
            raise self.error(f'variable name "{key}" cannot contain whitespace', start)
        if end >= size or text[end] == "\n":
            if key:
                inherited = self.outer(key) if self.outer is not None else None
                if inherited is not None:
                    self.values[key] = inherited
                else:
                    self.values.setdefault(key, None)
            return end + 1
        if not key:
            raise self.error("missing variable name before " + repr(text[end]), start)
        pos = end + 1
        while pos < size and text[pos] in _INLINE_SPACE:
            pos += 1
        if pos < size and text[pos] in "'\"":
            return self.quoted(key, pos)
        return self.unquoted(key, pos)

    def unquoted(self, key: str, pos: int) -> int:
        newline = self.text.find("\n", pos)
        stop = len(self.text) if newline < 0 else newline
        raw = self.text[pos:stop]
        comment = raw.find(" #")
        if comment >= 0:
            raw = raw[:comment]
        self.values[key] = self.expand(_rstrip_space(raw), pos)
        return stop + 1

    def quoted(self, key: str, pos: int) -> int:
        """A quoted value, possibly over several lines; a backslash before the quote escapes it."""
        text, quote = self.text, self.text[pos]
        chars: list[str] = []
        escaped = False
        index = pos + 1
        for index in range(pos + 1, len(text)):
            char = text[index]
            if char == quote and not escaped:
                break
            if escaped and char != quote:
                chars.append("\\")
            escaped = char == "\\" and not escaped
            if not escaped:
                chars.append(char)
        else:
            line_end = text.find("\n", pos)
            shown = text[pos:] if line_end < 0 else text[pos:line_end]
            raise self.error(f"unterminated quoted value {shown}", pos,
                             hint=f"close it with {quote}, or escape a {quote} inside it with \\")
        raw = "".join(chars)
        if quote == "'":
            self.values[key] = raw
        else:
            self.values[key] = self.expand(_expand_escapes(raw, keep_dollar_escaped=self.interpolate), pos)
        return index + 1

    def expand(self, value: str, pos: int) -> str:
        if not self.interpolate or "$" not in value:
            return value
        span = self.span(pos)

        def unset(name: str) -> None:
            if self.diag is not None and name not in self.warned:
                self.warned.add(name)
                self.diag.warn(unset_warning(name), span)

        return substitute(value, self.lookup, span=span, on_unset=unset)


def parse_dotenv(text: str, *, filename: str, lookup: Lookup | None = None, interpolate: bool = True,
                 diag: Diagnostics | None = None) -> dict[str, str | None]:
    """The variables of a `.env` file or `env_file`, in file order (see the module doc).

    `lookup` gives the outer variables (the shell's for `.env`); None means "unset". A key alone
    on its line maps to None when `lookup` does not know it and the file did not set it before.
    With `interpolate=False` values are taken as written (escapes still decoded). Unset variables
    are reported to `diag` once per file, when given. Errors name `filename`, line and column.
    """
    return _Parser(text, filename, lookup, interpolate, diag).parse()


def parse_raw_env(text: str, *, filename: str) -> dict[str, str | None]:
    """An `env_file` with `format: raw`: `docker run --env-file` lines, nothing interpreted.

    Leading whitespace and `#` comment lines are skipped; the value is everything after the first
    `=`, quotes, `#` and trailing spaces included; `$` is never expanded. A key alone on its line
    maps to None (the caller looks it up). Keys may not contain spaces or tabs.
    """
    values: dict[str, str | None] = {}
    if text.startswith("\ufeff"):
        text = text[1:]
    for number, line in enumerate(text.split("\n"), start=1):
        line = line.removesuffix("\r")
        indent = 0
        while indent < len(line) and _is_space(line[indent]):
            indent += 1
        body = line[indent:]
        if not body or body.startswith("#"):
            continue
        key, equals, value = body.partition("=")
        span = Span(filename, number, indent + 1)
        if not key:
            raise ComposerError(f"no variable name on line {body!r}", span=span)
        if " " in key or "\t" in key:
            raise ComposerError(f"variable {key!r} contains whitespaces", span=span,
                                hint="write KEY=VALUE with no space before the =")
        values[key] = value if equals else None
    return values
