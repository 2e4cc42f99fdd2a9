"""The YAML emitter: Compose's layout and quoting, and it loads back to the same data."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.schema.tree import to_plain
from composer.schema.yamlio import read_documents
from composer.schema.yamlout import dump, scalar


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain", "plain"), ("1", '"1"'), ("y", '"y"'), ("no", '"no"'), ("", '""'), ("22:22", '"22:22"'),
        ("a: b", '"a: b"'), ("- x", '"- x"'), ("-x", "-x"), ("*x", '"*x"'), (" lead", '" lead"'),
        ("null", '"null"'), ("1.5", '"1.5"'), ("/usr/bin", "/usr/bin"), (None, "null"), (True, "true"), (3, "3"),
    ],
)
def test_scalar_quoting(value: Any, text: str) -> None:
    assert scalar(value) == text


def test_layout_matches_compose() -> None:
    doc = {"services": {"web": {"ports": [{"mode": "ingress", "target": 80}], "command": ["a", "b"],
                                "volume": {}, "empty": []}}}
    assert dump(doc) == (
        "services:\n  web:\n    ports:\n      - mode: ingress\n        target: 80\n"
        "    command:\n      - a\n      - b\n    volume: {}\n    empty: []\n"
    )


keys = st.text(st.characters(codec="utf-8", exclude_categories=["Cs", "Cc"]), min_size=1, max_size=8)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(10**6), 10**6),
                    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=20))
documents = st.recursive(scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                          st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


@given(st.dictionaries(keys, documents, min_size=1, max_size=4))
def test_round_trip(doc: dict[str, Any]) -> None:
    loaded = read_documents(dump(doc).encode(), "t.yaml")
    assert to_plain(loaded[0]) == doc
