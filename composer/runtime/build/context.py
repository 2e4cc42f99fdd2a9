"""The build context: a directory, minus what `.dockerignore` excludes; sources for COPY and ADD found in it.

Sources never leave the context: a path with `..` that climbs out, or a symlink on the way that points
outside, is an error (`COPY failed: ... outside the build context`). Symlinks inside are copied as links.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from composer.errors import ComposerError


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """Go's filepath.Match plus `**` (any number of directories), as Docker's patternmatcher reads them."""
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**", i):
            i += 2
            if pattern.startswith("/", i):
                i += 1
                out.append("(?:.*/)?")
            else:
                out.append(".*")
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i)
            if end == -1:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end].replace("\\", "\\\\")
                if body.startswith("^"):
                    body = "!" + body[1:]
                out.append(fnmatch.translate(f"[{body}]")[4:-3])
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    return re.compile("".join(out) + "(?:/.*)?")  # a matched directory excludes everything below it


@dataclass(frozen=True, slots=True)
class IgnoreRule:
    regex: re.Pattern[str]
    negated: bool


def parse_dockerignore(text: str) -> list[IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        line = line[1:].strip() if negated else line
        line = os.path.normpath(line).lstrip("/")
        if line in ("", "."):
            continue
        rules.append(IgnoreRule(_pattern_regex(line), negated))
    return rules


def excluded(rules: list[IgnoreRule], rel: str) -> bool:
    """Whether the context path `rel` (slash-separated, no leading `/`) is ignored; the last match wins."""
    result = False
    for rule in rules:
        if rule.regex.fullmatch(rel):
            result = not rule.negated
    return result


@dataclass(frozen=True, slots=True)
class Source:
    """One file or directory to copy: its host path and its name relative to the context (or source root)."""

    path: Path
    rel: str
    is_dir: bool


class Context:
    """A source root (the build context, or a stage's root filesystem) and its ignore rules."""

    def __init__(self, root: Path, rules: list[IgnoreRule] | None = None, *, what: str = "the build context") -> None:
        self.root = Path(os.path.realpath(root))
        self.rules = rules or []
        self.what = what

    @classmethod
    def open(cls, root: Path, dockerfile_name: str = "Dockerfile") -> Context:
        if not root.is_dir():
            raise ComposerError(f"build context {root} is not a directory")
        rules: list[IgnoreRule] = []
        for name in (f"{dockerfile_name}.dockerignore", ".dockerignore"):
            path = root / name
            if path.is_file():
                rules = parse_dockerignore(path.read_text(errors="replace"))
                break
        return cls(root, rules)

    def _inside(self, path: str) -> str:
        """The real path of `path` (relative to the root), which must stay under the root."""
        joined = os.path.join(str(self.root), path.lstrip("/"))
        real = os.path.realpath(joined)
        if real != str(self.root) and not real.startswith(str(self.root) + os.sep):
            raise ComposerError(f"{path}: path is outside of {self.what}")
        return real

    def sources(self, pattern: str) -> list[Source]:
        """What a COPY source names: one path, or every match of a glob; none is an error."""
        norm = os.path.normpath("/" + pattern).lstrip("/")
        if os.path.normpath(pattern.lstrip("/") or ".").startswith(".."):
            raise ComposerError(f"{pattern}: path is outside of {self.what}")
        if any(c in norm for c in "*?["):
            matches = []
            for rel in self.walk(""):
                if fnmatch.fnmatchcase(rel, norm) and not excluded(self.rules, rel):
                    full = Path(self._inside(os.path.dirname(rel))) / os.path.basename(rel)
                    matches.append(Source(full, rel, full.is_dir() and not full.is_symlink()))
            if not matches:
                raise ComposerError(f"{pattern}: no source files were specified (nothing matches)")
            return matches
        if norm in ("", "."):
            return [Source(self.root, "", True)]
        parent = self._inside(os.path.dirname(norm))
        full = Path(parent) / os.path.basename(norm)
        if full.is_symlink():
            full = Path(self._inside(norm))
        if not os.path.lexists(full) or excluded(self.rules, norm):
            raise ComposerError(f"{pattern}: not found in {self.what}")
        return [Source(full, norm, full.is_dir())]

    def walk(self, rel: str) -> list[str]:
        """Every path below `rel` (relative, sorted, not following links), ignored ones included."""
        out: list[str] = []
        base = self.root / rel if rel else self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames.sort()
            here = os.path.relpath(dirpath, self.root)
            here = "" if here == "." else here
            for name in sorted([*dirnames, *filenames]):
                out.append(f"{here}/{name}" if here else name)
        return sorted(out)

    def members(self, source: Source) -> list[tuple[str, Path]]:
        """(path below the source, host path) of a directory source's content, ignored paths left out."""
        out: list[tuple[str, Path]] = []
        for rel in self.walk(source.rel):
            if excluded(self.rules, rel):
                continue
            below = rel[len(source.rel):].lstrip("/") if source.rel else rel
            out.append((below, self.root / rel))
        return out


def checksum(entries: list[tuple[str, Path]]) -> str:
    """A digest of names, types, modes and contents: what a COPY's cache key needs to see a change."""
    hasher = hashlib.sha256()
    for name, path in entries:
        st = os.lstat(path)
        hasher.update(f"{name}\0{st.st_mode:o}\0".encode())
        if stat.S_ISLNK(st.st_mode):
            hasher.update(os.readlink(path).encode(errors="surrogateescape"))
        elif stat.S_ISREG(st.st_mode):
            with open(path, "rb") as src:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    hasher.update(chunk)
        hasher.update(b"\0")
    return "sha256:" + hasher.hexdigest()


__all__ = ["Context", "IgnoreRule", "Source", "checksum", "excluded", "parse_dockerignore"]
