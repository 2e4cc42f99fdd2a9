"""Phase 1: bytes -> located tree, with go-yaml v3 scalars and the guards."""

from __future__ import annotations

import math
import time
from pathlib import Path

import pytest

from composer.errors import ComposerError, Span
from composer.schema import yamlio
from composer.schema.tree import YMap, to_plain
from composer.schema.yamlio import read_documents, resolve_plain


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"), ("yes", "yes"), ("on", "on"), ("off", "off"), ("y", "y"),
        ("true", True), ("False", False), ("TRUE", True),
        ("~", None), ("null", None), ("", None), ("NULL", None),
        ("22:22", "22:22"), ("1:20", "1:20"),
        ("42", 42), ("-7", -7), ("+3", 3), ("0755", 0o755), ("0o17", 15), ("0x1F", 31), ("0b101", 5),
        ("1_000", 1000), ("09", "09"),
        ("1.5", 1.5), ("1e3", 1000.0), (".5", 0.5),
        ("8080/tcp", "8080/tcp"), ("1.2.3", "1.2.3"), ("-", "-"),
    ],
)
def test_plain_scalars_resolve_as_go_yaml_v3(text: str, value: object) -> None:
    got = resolve_plain(text)
    assert got == value
    assert type(got) is type(value)


def test_special_floats() -> None:
    assert resolve_plain(".inf") == math.inf
    assert resolve_plain("-.Inf") == -math.inf
    assert math.isnan(resolve_plain(".nan"))


def test_quoted_scalars_stay_strings() -> None:
    doc = read_documents(b'a: "1"\nb: \'true\'\nc: !!str 5\nd: !!int "7"\n', "f.yaml")[0]
    assert to_plain(doc) == {"a": "1", "b": "true", "c": "5", "d": 7}


def test_positions_of_keys_values_and_items() -> None:
    doc = read_documents(b"services:\n  web:\n    image: x\n    ports:\n      - '80'\n      - 81\n", "c.yaml")[0]
    web = doc["services"]["web"]
    assert web.key_span("image") == Span("c.yaml", 3, 5)
    assert web.value_span("image") == Span("c.yaml", 3, 12)
    assert web["ports"].item_span(1) == Span("c.yaml", 6, 9)


def test_merge_keys_explicit_wins_and_first_source_wins() -> None:
    text = b"a: &a {x: 1, y: 1}\nb: &b {y: 2, z: 2}\nc:\n  <<: [*a, *b]\n  x: 3\n"
    doc = read_documents(text, "f.yaml")[0]
    assert to_plain(doc["c"]) == {"x": 3, "y": 1, "z": 2}


def test_aliases_are_copies() -> None:
    doc = read_documents(b"a: &a [1]\nb: *a\n", "f.yaml")[0]
    assert doc["a"] == doc["b"]
    assert doc["a"] is not doc["b"]


def test_merge_tags_are_kept_per_key() -> None:
    doc = read_documents(b"a: !reset null\nb: !override [1]\nc: !reset {}\n", "f.yaml")[0]
    assert doc.tags == {"a": "!reset", "b": "!override", "c": "!reset"}
    assert to_plain(doc) == {"a": None, "b": [1], "c": {}}


def test_several_documents() -> None:
    docs = read_documents(b"a: 1\n---\nb: 2\n", "f.yaml")
    assert [to_plain(d) for d in docs] == [{"a": 1}, {"b": 2}]


def test_empty_file_has_no_document() -> None:
    assert read_documents(b"", "f.yaml") == []
    assert read_documents(b"# only a comment\n", "f.yaml") == []


@pytest.mark.parametrize(
    ("text", "span", "fragment"),
    [
        (b"a: 1\nb: 2\na: 3\n", Span("f.yaml", 3, 1), 'duplicate key "a": already defined at line 1'),
        (b"a:\n\tb: 1\n", Span("f.yaml", 2, 1), "found character '\\t'"),
        (b"a: [1\n", Span("f.yaml", 2, 1), "expected ',' or ']'"),
        (b"- a\n", Span("f.yaml", 1, 1), "top level of a Compose file must be a mapping"),
        (b"a: !custom 1\n", Span("f.yaml", 1, 4), "unknown YAML tag !custom"),
        (b"a: *nope\n", Span("f.yaml", 1, 4), "unknown alias *nope"),
        (b"? [1]\n: 2\n", Span("f.yaml", 1, 3), "mapping key must be a string"),
        (b"a: !!int x\n", Span("f.yaml", 1, 4), "cannot decode"),
        (b"\xff\xfe: 1\n", Span("f.yaml", 1, 1), "not valid UTF-8"),
    ],
)
def test_bad_yaml_is_located(text: bytes, span: Span, fragment: str) -> None:
    with pytest.raises(ComposerError) as info:
        read_documents(text, "f.yaml")
    assert info.value.span == span
    assert fragment in info.value.message


def test_alias_bomb_stops_at_the_budget_quickly() -> None:
    lines = [b"a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev, cur = chr(96 + i), chr(97 + i)
        lines.append(f"{cur}: &{cur} [{', '.join(['*' + prev] * 10)}]".encode())
    started = time.monotonic()
    with pytest.raises(ComposerError, match=f"more than {yamlio.MAX_NODES} nodes"):
        read_documents(b"\n".join(lines) + b"\n", "bomb.yaml")
    assert time.monotonic() - started < 1.0


def test_deep_nesting_is_refused_with_its_limit() -> None:
    deep = b"a: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    with pytest.raises(ComposerError, match=f"nesting deeper than {yamlio.MAX_DEPTH} levels"):
        read_documents(deep, "deep.yaml")


def test_file_size_limit() -> None:
    with pytest.raises(ComposerError, match="larger than the 8 MiB limit"):
        read_documents(b"#" * (yamlio.MAX_FILE_BYTES + 1), "big.yaml")


def test_huge_scalar_limit() -> None:
    with pytest.raises(ComposerError, match=f"scalar longer than {yamlio.MAX_SCALAR_BYTES} bytes"):
        read_documents(b"a: " + b"x" * (yamlio.MAX_SCALAR_BYTES + 1) + b"\n", "f.yaml")


def test_result_is_a_located_map() -> None:
    doc = read_documents(b"a: {b: 1}\n", "f.yaml")[0]
    assert isinstance(doc, YMap)
    assert isinstance(doc["a"], YMap)


FIXTURE_FILES = sorted((Path(__file__).resolve().parents[2] / "fixtures").rglob("*.yaml"))


@pytest.mark.parametrize("path", FIXTURE_FILES, ids=lambda p: p.name)
def test_fast_and_pure_parsers_build_the_same_tree(path: Path) -> None:
    if not yamlio._HAVE_CLIB:
        pytest.skip("ruamel.yaml.clib is not installed")
    text = path.read_text()
    fast = yamlio._build_documents(text, "f.yaml", pure=False)
    pure = yamlio._build_documents(text, "f.yaml", pure=True)
    assert [to_plain(d) for d in fast] == [to_plain(d) for d in pure]
    assert [d.key_spans for d in fast] == [d.key_spans for d in pure]


def test_what_libyaml_refuses_falls_back_to_the_pure_parser() -> None:
    doc = read_documents(b"extra_hosts: [other=::1, a=1.1.1.1]\n", "f.yaml")[0]
    assert to_plain(doc) == {"extra_hosts": ["other=::1", "a=1.1.1.1"]}
