"""User resolution against an image's /etc/passwd and /etc/group text (runc's GetExecUser rules)."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError
from composer.planner.userdb import ExecUser, parse_group, parse_passwd, resolve_user

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
# a comment, then junk lines an image may well carry
broken line
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
app:x:1000:1000:App:/home/app:/bin/sh
42:x:4242:4242::/home/numeric:/bin/sh
bad:x:notanumber:1::/:
"""
GROUP = """\
root:x:0:
wheel:x:10:root,app
audio:x:29:app
app:x:1000:
staff:x:50:
nogroup:x:65534:
"""


@pytest.mark.parametrize(
    ("spec", "group_add", "expected"),
    [
        # empty user: root, with root's groups from /etc/group
        ("", (), ExecUser(0, 0, (0, 10), "/root")),
        ("root", (), ExecUser(0, 0, (0, 10), "/root")),
        # a name: uid, gid, home, supplementary groups by membership
        ("app", (), ExecUser(1000, 1000, (1000, 10, 29), "/home/app")),
        # an explicit group disables supplementary groups (runc: only in the implicit form)
        ("app:staff", (), ExecUser(1000, 50, (50,), "/home/app")),
        ("app:77", (), ExecUser(1000, 77, (77,), "/home/app")),
        # a number matches by uid only, never by name ("42" is a user *name* above)
        ("1000", (), ExecUser(1000, 1000, (1000, 10, 29), "/home/app")),
        ("42", (), ExecUser(42, 0, (0,), "/")),
        # a number without an entry is fine: gid 0 unless given
        ("5000", (), ExecUser(5000, 0, (0,), "/")),
        ("5000:5000", (), ExecUser(5000, 5000, (5000,), "/")),
        # group_add: names through /etc/group, numbers as they are, after the user's groups
        ("app", ("staff", "1234"), ExecUser(1000, 1000, (1000, 10, 29, 50, 1234), "/home/app")),
        ("nobody", ("audio",), ExecUser(65534, 65534, (65534, 29), "/nonexistent")),
    ],
)
def test_resolve_user(spec: str, group_add: tuple[str, ...], expected: ExecUser) -> None:
    assert resolve_user(spec, PASSWD, GROUP, group_add) == expected


def test_numeric_user_without_passwd_file() -> None:
    assert resolve_user("1000:1000", None, None) == ExecUser(1000, 1000, (1000,), "/")
    assert resolve_user(None, None, None) == ExecUser(0, 0, (0,), "/")


@pytest.mark.parametrize(
    ("spec", "group_add", "words"),
    [
        ("ghost", (), "unable to find user ghost"),
        ("app:ghosts", (), "unable to find group ghosts"),
        ("app", ("ghosts",), r"unable to find group ghosts \(group_add\)"),
        ("99999999999", (), "uid 99999999999 is out of range"),
    ],
)
def test_unknown_names_are_errors(spec: str, group_add: tuple[str, ...], words: str) -> None:
    with pytest.raises(ComposerError, match=words):
        resolve_user(spec, PASSWD, GROUP, group_add)


def test_name_without_passwd_file_says_so() -> None:
    with pytest.raises(ComposerError, match="has no /etc/passwd"):
        resolve_user("app", None, None)


def test_parsers_skip_junk() -> None:
    assert [u.name for u in parse_passwd(PASSWD)] == ["root", "nobody", "app", "42"]
    assert [(g.name, g.members) for g in parse_group("x:y:z\nwheel:x:10:a, b ,\n")] == [("wheel", ("a", "b"))]
