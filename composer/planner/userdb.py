"""Resolve `user` and `group_add` against an image's /etc/passwd and /etc/group, given as text.

The rules are runc's `GetExecUser` as Docker uses it: `user[:group]`, each part a name or a number;
a number matches passwd by uid only; a number with no passwd entry is still accepted (gid 0 unless
given), a name must exist. Supplementary groups come from /etc/group membership only when no group
is given explicitly. Docker then puts the primary gid first, then those groups, then `group_add`.
The caller reads the files (untrusted image content: parsing here is tolerant and never raises on
odd lines).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from composer.errors import ComposerError

MAX_ID = (1 << 31) - 1


@dataclass(frozen=True, slots=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


@dataclass(frozen=True, slots=True)
class GroupEntry:
    name: str
    gid: int
    members: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ExecUser:
    """The process identity for `process.user`."""

    uid: int
    gid: int
    additional_gids: tuple[int, ...]
    home: str


def _id(text: str) -> int | None:
    text = text.strip()
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _lines(text: str | None) -> Iterator[list[str]]:
    for line in (text or "").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            yield line.split(":")


def parse_passwd(text: str | None) -> list[PasswdEntry]:
    """Entries of a passwd file; lines without a numeric uid and gid are skipped."""
    out = []
    for f in _lines(text):
        if len(f) < 4:
            continue
        uid, gid = _id(f[2]), _id(f[3])
        if uid is None or gid is None:
            continue
        out.append(PasswdEntry(f[0], uid, gid, f[5] if len(f) > 5 else ""))
    return out


def parse_group(text: str | None) -> list[GroupEntry]:
    """Entries of a group file; lines without a numeric gid are skipped."""
    out = []
    for f in _lines(text):
        if len(f) < 3:
            continue
        gid = _id(f[2])
        if gid is None:
            continue
        members = tuple(m.strip() for m in f[3].split(",") if m.strip()) if len(f) > 3 else ()
        out.append(GroupEntry(f[0], gid, members))
    return out


def _numeric(part: str, what: str) -> int | None:
    """A number if `part` looks like one; a number out of range is an error, not a name."""
    if part.isascii() and part.isdigit():
        value = _id(part)
        if value is None:
            raise ComposerError(f"{what} {part} is out of range (0-{MAX_ID})")
        return value
    return None


def resolve_user(
    spec: str | None,
    passwd: str | None,
    group: str | None,
    group_add: Sequence[str] = (),
) -> ExecUser:
    """`user` (`name|uid[:name|gid]`, empty = root) and `group_add` -> uid, gid and group list.

    Raises ComposerError for a name that the image's files do not have.
    """
    spec = (spec or "").strip()
    user_part, _, group_part = spec.partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)

    uid, gid, home, name = 0, 0, "/", ""
    uid_arg = _numeric(user_part, "uid") if user_part else 0
    if uid_arg is not None:
        match = next((u for u in users if u.uid == uid_arg), None)
        uid = uid_arg
    else:
        match = next((u for u in users if u.name == user_part), None)
        if match is None:
            where = "the image's /etc/passwd" if passwd is not None else "the image (it has no /etc/passwd)"
            raise ComposerError(f"unable to find user {user_part}: no matching entry in {where}")
    if match is not None:
        uid, gid, home, name = match.uid, match.gid, match.home or "/", match.name

    supplementary: list[int] = []
    if group_part:
        gid_arg = _numeric(group_part, "gid")
        if gid_arg is not None:
            gid = gid_arg
        else:
            found = next((g for g in groups if g.name == group_part), None)
            if found is None:
                raise ComposerError(f"unable to find group {group_part}: no matching entry in the image's /etc/group")
            gid = found.gid
    elif name:
        supplementary = [g.gid for g in groups if name in g.members]

    for entry in group_add:
        entry = str(entry).strip()
        found = next((g for g in groups if g.name == entry), None)
        if found is not None:
            supplementary.append(found.gid)
            continue
        number = _numeric(entry, "group_add gid")
        if number is None:
            raise ComposerError(f"unable to find group {entry} (group_add): no matching entry in /etc/group")
        supplementary.append(number)

    ordered: list[int] = []
    for g in [gid, *supplementary]:
        if g not in ordered:
            ordered.append(g)
    return ExecUser(uid, gid, tuple(ordered), home)
