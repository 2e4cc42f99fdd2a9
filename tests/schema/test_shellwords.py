"""`command` strings split into words as Docker Compose splits them (expected values from its binary)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.schema.shellwords import split_command


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("echo hi", ["echo", "hi"]),
        ("sh -c 'echo hi' \"a b\" c\\ d", ["sh", "-c", "echo hi", "a b", "c d"]),
        ("", []),
        ("   ", []),
        ("x\ty\rz\nw", ["x", "y", "z", "w"]),
        ("a\u00a0b", ["a\u00a0b"]),
        ('a "" b', ["a", "", "b"]),
        ("a '' b", ["a", "", "b"]),
        ('a"b"c', ["abc"]),
        ("a\"b c\"d 'e f'g", ["ab cd", "e fg"]),
        # A backslash escapes any character, inside double quotes too; not inside single quotes.
        ('"a\\nb"', ["anb"]),
        ('"a\\\\nb"', ["a\\nb"]),
        ("'a\\b'", ["a\\b"]),
        ("a\\tb", ["atb"]),
        ("a\\\\", ["a\\"]),
        ("a\\;b", ["a;b"]),
        ('a";"b', ["a;b"]),
        # Shell operators end the command.
        ("echo a; echo b", ["echo", "a"]),
        ("a && b", ["a"]),
        ("a | b", ["a"]),
        ("a > f", ["a"]),
        ("a>f", ["a"]),
        ("echo 2>f", ["echo"]),
        ("echo 2a>f", ["echo"]),
        ("echo a2>f", ["echo", "a2"]),
        ("echo 2 > f", ["echo", "2"]),
        # Backticks and $(...) are kept whole.
        ("echo `date +%s` y", ["echo", "`date +%s`", "y"]),
        ("echo a`b c`d", ["echo", "a`b c`d"]),
        ('`a"b c"` d', ["`ab c`", "d"]),
        ("$(date) x", ["$(date)", "x"]),
        ("a$(b c)d e", ["a$(b c)d", "e"]),
        ("$(a;b)", ["$(a;b)"]),
        ('"a$(b" c', ["a$(b", "c"]),
        ('"a`b" c', ["a`b", "c"]),
        ("a#b # c", ["a#b", "#", "c"]),
        ("$HOME ${X}", ["$HOME", "${X}"]),
    ],
)
def test_words(line: str, words: list[str]) -> None:
    assert split_command(line) == words


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ('"a', "unterminated a quote"),
        ("it's", "unterminated a quote"),
        ('a "b\\"c', "unterminated a quote"),
        ("a\\", "unterminated an escape"),
        ("a`b", "unterminated `...`"),
        ("x)", "unterminated \\$\\(...\\)"),
        ("(a)", "unexpected '\\('"),
        ("$((1))", "unexpected '\\('"),
    ],
)
def test_invalid_command_lines(line: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        split_command(line)


@given(st.text(alphabet="ab1 \t\"'\\`()$;&|<>#=é", max_size=20))
def test_only_value_error(line: str) -> None:
    try:
        words = split_command(line)
    except ValueError:
        return
    assert all(isinstance(word, str) for word in words)


@given(st.lists(st.text(alphabet="abc -_./=:@", min_size=1, max_size=8), max_size=5))
def test_single_quoted_words_come_back(words: list[str]) -> None:
    assert split_command(" ".join(f"'{word}'" for word in words)) == words
