"""Dockerfile parsing, pure: text in, stages of instructions out, each with its line for error messages.

Follows the Dockerfile reference: parser directives (`# syntax`, `# escape`) only at the very top, comment
lines dropped (inside continuations too), the escape character joining lines, JSON (exec) or shell form,
heredocs (`RUN <<EOF`, `COPY <<EOF /dest`), `ARG` before the first `FROM`. Variable substitution is a
separate function (`expand_word`, `expand_words`) because its environment is the builder's state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from composer.errors import ComposerError

INSTRUCTIONS = frozenset({
    "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK", "LABEL", "MAINTAINER",
    "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME", "WORKDIR",
})
_FLAGGED = frozenset({"ADD", "COPY", "FROM", "RUN", "HEALTHCHECK"})
_HEREDOC_OK = frozenset({"ADD", "COPY", "RUN"})
_DIRECTIVE = re.compile(r"#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\2")


class DockerfileError(ComposerError):
    """A mistake in a Dockerfile, named by its line."""


def error(line: int, message: str, name: str = "Dockerfile") -> DockerfileError:
    return DockerfileError(f"{name}:{line}: {message}")


@dataclass(frozen=True, slots=True)
class Heredoc:
    name: str
    content: str
    expand: bool  # an unquoted delimiter: variables in the body are expanded (by the shell, for RUN)


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction: `cmd` upper case, `flags` (`--name=value`, in order), `args` the text after the flags."""

    cmd: str
    line: int
    original: str
    flags: tuple[tuple[str, str | None], ...] = ()
    args: str = ""
    json_args: tuple[str, ...] | None = None
    heredocs: tuple[Heredoc, ...] = ()

    def flag(self, name: str) -> str | None:
        found = None
        for key, value in self.flags:
            if key == name:
                found = value if value is not None else "true"
        return found

    @property
    def text(self) -> str:
        """The instruction as written on one line (continuations joined), for history and progress."""
        return self.original


@dataclass(slots=True)
class Stage:
    index: int
    base: str
    name: str | None
    platform: str | None
    line: int
    instructions: list[Instruction] = field(default_factory=list)


@dataclass(slots=True)
class Dockerfile:
    directives: dict[str, str]
    escape: str
    meta_args: list[Instruction]
    stages: list[Stage]


def _directives(lines: list[str]) -> tuple[dict[str, str], int]:
    """The parser directives at the top, and how many lines they take."""
    found: dict[str, str] = {}
    for count, raw in enumerate(lines):
        match = _DIRECTIVE.match(raw.strip()) if raw.strip().startswith("#") else None
        if match is None:
            return found, count
        key = match.group(1).lower()
        if key in found:
            break  # a repeated directive makes the line an ordinary comment
        found[key] = match.group(2)
    return found, len(found)


def _split_flags(cmd: str, rest: str, line: int, name: str) -> tuple[tuple[tuple[str, str | None], ...], str]:
    flags: list[tuple[str, str | None]] = []
    while cmd in _FLAGGED:
        match = re.match(r"--([A-Za-z][A-Za-z0-9-]*)(?:=(\"[^\"]*\"|'[^']*'|\S*))?\s*", rest)
        if match is None:
            break
        value = match.group(2)
        if value is not None and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        flags.append((match.group(1), value))
        rest = rest[match.end():]
    return tuple(flags), rest.strip()


def _json_form(rest: str) -> tuple[str, ...] | None:
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    return None


def parse(text: str, name: str = "Dockerfile") -> Dockerfile:
    """Parse a Dockerfile; the first mistake is a DockerfileError naming `name:LINE`."""
    lines = text.splitlines()
    directives, start = _directives(lines)
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise error(1, f"invalid escape token {escape!r}: only \\ and ` are allowed", name)
    instructions: list[Instruction] = []
    i = start
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        first = i + 1
        parts: list[str] = []
        current = raw.lstrip()
        while True:
            body = current.rstrip()
            if body.endswith(escape):
                parts.append(body[:-1])
                i += 1
                while i < len(lines) and (not lines[i].strip() or lines[i].strip().startswith("#")):
                    i += 1  # comment and empty lines inside a continuation are dropped
                if i >= len(lines):
                    break
                current = lines[i]
                continue
            parts.append(current.rstrip())
            i += 1
            break
        logical = "".join(parts).strip()
        word, _, rest = logical.partition(" ")
        if "\t" in word:
            word, _, more = word.partition("\t")
            rest = more + " " + rest
        cmd = word.upper()
        if cmd not in INSTRUCTIONS:
            raise error(first, f"unknown instruction: {word}", name)
        rest = rest.strip()
        heredocs: list[Heredoc] = []
        if cmd in _HEREDOC_OK or (cmd == "ONBUILD" and rest.split(" ", 1)[0].upper() in _HEREDOC_OK):
            for match in _HEREDOC.finditer(rest):
                strip_tabs, quote, delim = match.group(1) == "-", match.group(2), match.group(3)
                doc: list[str] = []
                while i < len(lines) and (lines[i].lstrip("\t") if strip_tabs else lines[i]) != delim:
                    doc.append(lines[i].lstrip("\t") if strip_tabs else lines[i])
                    i += 1
                if i >= len(lines):
                    raise error(first, f"heredoc <<{delim} is not terminated", name)
                i += 1
                heredocs.append(Heredoc(delim, "".join(b + "\n" for b in doc), expand=not quote))
        flags, rest = _split_flags(cmd, rest, first, name)
        json_args = _json_form(rest) if cmd not in ("ENV", "LABEL", "ARG", "ONBUILD") else None
        instructions.append(Instruction(cmd, first, logical, flags, rest, json_args, tuple(heredocs)))
    return _stages(directives, escape, instructions, name)


def _stages(directives: dict[str, str], escape: str, instructions: list[Instruction], name: str) -> Dockerfile:
    meta: list[Instruction] = []
    stages: list[Stage] = []
    for ins in instructions:
        if ins.cmd == "FROM":
            words = ins.args.split()
            if not words:
                raise error(ins.line, "FROM requires an image (or scratch)", name)
            stage_name = None
            if len(words) == 3 and words[1].upper() == "AS":
                stage_name = words[2].lower()
                if not re.fullmatch(r"[a-z][a-z0-9_.-]*", stage_name):
                    raise error(ins.line, f"invalid stage name {words[2]!r}", name)
            elif len(words) != 1:
                raise error(ins.line, "FROM takes an image and an optional `AS name`", name)
            stages.append(Stage(len(stages), words[0], stage_name, ins.flag("platform"), ins.line))
        elif not stages:
            if ins.cmd != "ARG":
                raise error(ins.line, f"{ins.cmd} before the first FROM: only ARG may come before FROM", name)
            meta.append(ins)
        else:
            stages[-1].instructions.append(ins)
    if not stages:
        raise error(max(1, len(instructions) and instructions[-1].line), "no FROM instruction", name)
    return Dockerfile(directives, escape, meta, stages)


def parse_onbuild(ins: Instruction, name: str = "Dockerfile") -> Instruction:
    """The instruction an ONBUILD carries (it may not be FROM, MAINTAINER or ONBUILD)."""
    word = ins.args.split(None, 1)[0].upper() if ins.args.strip() else ""
    if word in ("ONBUILD", "FROM", "MAINTAINER", ""):
        raise error(ins.line, f"ONBUILD cannot trigger {word or 'nothing'}", name)
    return parse_trigger(ins.args, ins.line, name)


def parse_trigger(text: str, line: int, name: str = "Dockerfile") -> Instruction:
    """One instruction from a recorded ONBUILD trigger (a single logical line)."""
    parsed = parse("FROM scratch\n" + text, name)
    found = parsed.stages[0].instructions
    if len(found) != 1:
        raise error(line, f"invalid ONBUILD trigger {text!r}", name)
    ins = found[0]
    return Instruction(ins.cmd, line, ins.original, ins.flags, ins.args, ins.json_args, ins.heredocs)


# -- variable substitution ------------------------------------------------------------------------

Lookup = Mapping[str, str]


class _Words:
    """Docker's shell-like word processor: quotes, the escape character, `$VAR` and `${VAR...}`."""

    def __init__(self, text: str, env: Lookup, escape: str, fail: Callable[[str], Exception]) -> None:
        self.text, self.env, self.escape, self.fail = text, env, escape, fail
        self.pos = 0

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def take(self) -> str:
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, split: bool) -> list[str]:
        """The words; a word made only of unquoted expansions that came out empty is no word (as in a shell)."""
        out: list[str] = []
        word: list[str] = []
        solid = False  # the word has a literal character or quotes, so it exists even when empty

        def flush() -> None:
            nonlocal word, solid
            if solid or "".join(word):
                out.append("".join(word))
            word, solid = [], False

        while self.pos < len(self.text):
            ch = self.take()
            if split and ch in " \t\n":
                flush()
                continue
            if ch == "$":
                value = self.variable()
                pieces = re.split(r"[ \t\n]+", value) if split else [value]
                word.append(pieces[0])
                for piece in pieces[1:]:  # an unquoted value is split into words, as a shell splits it
                    flush()
                    word.append(piece)
                continue
            solid = True
            if ch == self.escape:
                nxt = self.take()
                word.append(nxt if nxt else ch)
            elif ch == "'":
                while self.peek() not in ("'", ""):
                    word.append(self.take())
                if self.take() != "'":
                    raise self.fail("unterminated single quote")
            elif ch == '"':
                while self.peek() not in ('"', ""):
                    c = self.take()
                    if c == self.escape and self.peek() in ('"', "$", self.escape):
                        word.append(self.take())
                    elif c == "$":
                        word.append(self.variable())
                    else:
                        word.append(c)
                if self.take() != '"':
                    raise self.fail("unterminated double quote")
            else:
                word.append(ch)
        flush()
        return out

    def variable(self) -> str:
        ch = self.peek()
        if ch == "{":
            self.take()
            name = self.name()
            if not name:
                raise self.fail("bad substitution: missing variable name after ${")
            op = ""
            if self.peek() == ":":
                op = self.take()
            if self.peek() in ("-", "+", "?"):
                op += self.take()
            elif op:
                raise self.fail(f"bad substitution: unsupported modifier in ${{{name}:...}}")
            word = self.until_brace() if op else ""
            if self.take() != "}":
                raise self.fail(f"bad substitution: missing }} after ${{{name}")
            value = self.env.get(name)
            if op in (":-", "-"):
                unset = value is None or (op == ":-" and value == "")
                return word if unset else str(value)
            if op in (":+", "+"):
                is_set = value is not None and (op == "+" or value != "")
                return word if is_set else ""
            if op in (":?", "?"):
                if value is None or (op == ":?" and value == ""):
                    raise self.fail(f"{name}: {word or 'is not allowed to be empty'}")
                return str(value)
            return value or ""
        name = self.name()
        if not name:
            return "$"
        return self.env.get(name) or ""

    def name(self) -> str:
        start = self.pos
        while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
            self.pos += 1
        return self.text[start:self.pos]

    def until_brace(self) -> str:
        out: list[str] = []
        depth = 0
        while self.peek() and not (self.peek() == "}" and depth == 0):
            ch = self.take()
            if ch == self.escape:
                out.append(self.take())
            elif ch == "$":
                out.append(self.variable())
            else:
                depth += ch == "{"
                depth -= ch == "}"
                out.append(ch)
        return "".join(out)


def expand_words(text: str, env: Lookup, *, escape: str = "\\", line: int = 0, name: str = "Dockerfile") -> list[str]:
    """Split into words (quotes removed) with variables substituted, as ENV, LABEL, COPY and ARG read them."""
    return _Words(text, env, escape, lambda m: error(line, m, name)).words(split=True)


def expand_word(text: str, env: Lookup, *, escape: str = "\\", line: int = 0, name: str = "Dockerfile") -> str:
    """One word with variables substituted and quotes removed (WORKDIR, USER, FROM ...)."""
    return "".join(_Words(text, env, escape, lambda m: error(line, m, name)).words(split=False))


def key_values(ins: Instruction, env: Lookup, *, escape: str = "\\", name: str = "Dockerfile") -> list[tuple[str, str]]:
    """ENV/LABEL pairs: `K=V K2="v 2"`, or the legacy `K value with spaces`."""
    words = expand_words(ins.args, env, escape=escape, line=ins.line, name=name)
    if not words:
        raise error(ins.line, f"{ins.cmd} requires at least one argument", name)
    if "=" not in words[0]:
        if len(words) < 2:
            raise error(ins.line, f"{ins.cmd} {words[0]}: a value is required (use KEY=VALUE)", name)
        legacy = ins.args.split(None, 1)[1] if len(ins.args.split(None, 1)) > 1 else ""
        return [(words[0], expand_word(legacy.strip(), env, escape=escape, line=ins.line, name=name))]
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise error(ins.line, f"{ins.cmd}: {word!r} is not KEY=VALUE", name)
        out.append((key, value))
    return out


__all__ = [
    "INSTRUCTIONS",
    "Dockerfile",
    "DockerfileError",
    "Heredoc",
    "Instruction",
    "Stage",
    "error",
    "expand_word",
    "expand_words",
    "key_values",
    "parse",
    "parse_trigger",
]
