"""Phase 4: `extends` within a file and across files, its errors, and the oracle."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError, Diagnostics, Span
from composer.schema.extends import resolve_extends
from composer.schema.merge import OVERRIDE, RESET, merge_all
from composer.schema.paths import resolve_project_paths
from composer.schema.tree import YMap, located, to_plain
from tests.schema.test_merge import PORT, doc, oracle, oracle_error, tag, to_yaml

MAIN = "/proj/compose.yaml"


def at(file: str, line: int = 1) -> Span:
    return Span(file, line, 1)


class Files:
    """`load_file` over in-memory documents, counting reads."""

    def __init__(self, docs: dict[str, YMap]) -> None:
        self.docs = docs
        self.reads: list[str] = []

    def __call__(self, path: str) -> YMap:
        self.reads.append(path)
        if path not in self.docs:
            raise FileNotFoundError(2, "No such file or directory", path)
        return self.docs[path]


def resolve(main: YMap, files: dict[str, YMap] | None = None, **kw: Any) -> YMap:
    return resolve_extends(main, file=MAIN, load_file=Files(files or {}), diag=Diagnostics(), **kw)


def services(node: YMap) -> dict[str, Any]:
    result: dict[str, Any] = to_plain(node)["services"]
    return result


def test_string_form_same_file() -> None:
    main = doc(
        {
            "base": {"image": "b", "ports": [PORT], "labels": {"a": "1"}, "command": ["x"]},
            "web": {
                "extends": "base",
                "ports": [PORT, {**PORT, "target": 81}],
                "labels": {"b": "2"},
                "command": ["y"],
            },
        },
        at(MAIN),
    )
    assert services(resolve(main))["web"] == {
        "image": "b",
        "ports": [PORT, {**PORT, "target": 81}],
        "labels": {"a": "1", "b": "2"},
        "command": ["y"],
    }


def test_mapping_form_same_file_and_own_keys_win() -> None:
    main = doc(
        {
            "base": {"image": "b", "user": "u", "environment": {"A": "1", "B": "1"}},
            "web": {"extends": {"service": "base"}, "image": "w", "environment": {"A": "2"}},
        },
        at(MAIN),
    )
    assert services(resolve(main))["web"] == {"image": "w", "user": "u", "environment": {"A": "2", "B": "1"}}


def test_chain_is_resolved_recursively() -> None:
    main = doc(
        {
            "a": {"image": "a", "cap_add": ["A"]},
            "b": {"extends": "a", "cap_add": ["B"]},
            "c": {"extends": "b", "cap_add": ["A", "C"]},
        },
        at(MAIN),
    )
    out = services(resolve(main))
    assert out["b"] == {"image": "a", "cap_add": ["A", "B"]}
    assert out["c"] == {"image": "a", "cap_add": ["A", "B", "C"]}


def test_v2_keeps_dependencies_of_the_base() -> None:
    """Compose v1 dropped these when extending; v2 (checked with the oracle below) keeps them."""
    base = {
        "image": "b",
        "depends_on": {"db": {"condition": "service_started", "required": True}},
        "links": ["db"],
        "volumes_from": ["db"],
        "network_mode": "service:db",
    }
    main = doc({"db": {"image": "db"}, "base": base, "web": {"extends": "base"}}, at(MAIN))
    assert services(resolve(main))["web"] == base


def test_other_file_paths_resolved_against_its_directory() -> None:
    other = doc(
        {
            "base": {
                "image": "b",
                "build": {"context": "./ctx"},
                "env_file": [{"path": "e.env"}],
                "volumes": [{"type": "bind", "source": "./data", "target": "/d"}],
            }
        },
        at("/proj/sub/base.yaml"),
    )
    main = doc(
        {
            "web": {
                "extends": {"service": "base", "file": "sub/base.yaml"},
                "volumes": [{"type": "bind", "source": "./mine", "target": "/m"}],
            }
        },
        at(MAIN),
    )
    assert services(resolve(main, {"/proj/sub/base.yaml": other}))["web"] == {
        "image": "b",
        "build": {"context": "/proj/sub/ctx"},
        "env_file": [{"path": "/proj/sub/e.env"}],
        "volumes": [
            {"type": "bind", "source": "/proj/sub/data", "target": "/d"},
            {"type": "bind", "source": "./mine", "target": "/m"},
        ],
    }


def test_nested_file_is_relative_to_the_file_naming_it() -> None:
    mid = doc(
        {"mid": {"extends": {"service": "root", "file": "../lib/root.yaml"}, "labels": {"m": "1"}}},
        at("/proj/sub/mid.yaml"),
    )
    root = doc({"root": {"image": "r", "build": {"context": "."}}}, at("/proj/lib/root.yaml"))
    main = doc({"web": {"extends": {"service": "mid", "file": "sub/mid.yaml"}}}, at(MAIN))
    out = services(resolve(main, {"/proj/sub/mid.yaml": mid, "/proj/lib/root.yaml": root}))
    assert out["web"] == {"image": "r", "build": {"context": "/proj/lib"}, "labels": {"m": "1"}}


def test_other_file_service_extending_its_own_file() -> None:
    other = doc(
        {"a": {"image": "a", "build": {"context": "x"}}, "b": {"extends": "a", "user": "u"}},
        at("/lib/o.yaml"),
    )
    main = doc({"web": {"extends": {"service": "b", "file": "/lib/o.yaml"}}}, at(MAIN))
    assert services(resolve(main, {"/lib/o.yaml": other}))["web"] == {
        "image": "a",
        "build": {"context": "/lib/x"},
        "user": "u",
    }


def test_relative_file_against_project_dir_when_given() -> None:
    """Compose resolves `extends.file` of `-f` files against the project directory."""
    other = doc({"base": {"image": "root"}}, at("/proj/base.yaml"))
    main = doc({"web": {"extends": {"service": "base", "file": "base.yaml"}}}, at("/proj/sub/over.yaml"))
    out = resolve_extends(
        main,
        file="/proj/sub/over.yaml",
        load_file=Files({"/proj/base.yaml": other}),
        diag=Diagnostics(),
        project_dir="/proj",
    )
    assert services(out)["web"] == {"image": "root"}


def test_tilde_in_file_is_home() -> None:
    other = doc({"base": {"image": "h"}}, at("/home/me/b.yaml"))
    main = doc({"web": {"extends": {"service": "base", "file": "~/b.yaml"}}}, at(MAIN))
    assert services(resolve(main, {"/home/me/b.yaml": other}, env={"HOME": "/home/me"}))["web"] == {
        "image": "h"
    }


def test_each_file_is_read_once() -> None:
    other = doc({"a": {"image": "a"}, "b": {"image": "b"}}, at("/proj/o.yaml"))
    main = doc(
        {
            "x": {"extends": {"service": "a", "file": "o.yaml"}},
            "y": {"extends": {"service": "b", "file": "o.yaml"}},
            "z": {"extends": {"service": "a", "file": "./o.yaml"}},
        },
        at(MAIN),
    )
    files = Files({"/proj/o.yaml": other})
    resolve_extends(main, file=MAIN, load_file=files, diag=Diagnostics())
    assert files.reads == ["/proj/o.yaml"]


def test_reset_and_override_apply_to_the_base_and_stay_for_later_files() -> None:
    """`!reset`/`!override` of the extending service also act on earlier files (oracle-checked below)."""
    main = doc(
        {
            "base": {"image": "b", "ports": [PORT], "environment": {"A": "1"}},
            "web": {"extends": "base", "ports": [], "environment": {"B": "2"}},
        },
        at(MAIN),
    )
    tag(main, "services.web.ports", RESET)
    tag(main, "services.web.environment", OVERRIDE)
    out = resolve(main)
    web = out["services"]["web"]
    assert web.tags == {"ports": RESET, "environment": OVERRIDE}
    earlier = doc(
        {"web": {"image": "x", "ports": [{**PORT, "target": 99}], "environment": {"Z": "0"}}}, at("/a")
    )
    assert services(merge_all([earlier, out]))["web"] == {"image": "b", "environment": {"B": "2"}}


def test_extending_service_spans() -> None:
    other = doc({"base": {"image": "b"}}, at("/lib/o.yaml", 7))
    main = doc({"web": {"extends": {"service": "base", "file": "/lib/o.yaml"}, "user": "u"}}, at(MAIN, 3))
    web = resolve(main, {"/lib/o.yaml": other})["services"]["web"]
    assert web.value_span("image") == at("/lib/o.yaml", 7)
    assert web.value_span("user") == at(MAIN, 3)
    assert web.span == at(MAIN, 3)


def test_input_is_not_modified_and_plain_services_are_kept() -> None:
    main = doc(
        {"base": {"image": "b"}, "web": {"extends": "base"}, "other": {"image": "o"}, "empty": None}, at(MAIN)
    )
    before = to_plain(main)
    out = services(resolve(main))
    assert to_plain(main) == before
    assert out == {"base": {"image": "b"}, "web": {"image": "b"}, "other": {"image": "o"}, "empty": None}


def test_null_base_gives_own_keys() -> None:
    main = doc({"base": None, "web": {"extends": "base", "image": "w"}}, at(MAIN))
    assert services(resolve(main))["web"] == {"image": "w"}


# --- errors ---------------------------------------------------------------------------------------


def _extends_at(main: YMap, name: str, line: int) -> YMap:
    main["services"][name].key_spans["extends"] = at(MAIN, line)
    return main


@pytest.mark.parametrize(
    ("services_", "message", "line"),
    [
        ({"a": {"extends": "a"}}, r'service "a" is part of an extends cycle: circular extends a -> a', 2),
        ({"a": {"extends": "b"}, "b": {"extends": "a"}}, r"circular extends a -> b -> a", 3),
        (
            {"a": {"extends": "b"}, "b": {"extends": "c"}, "c": {"extends": "b"}},
            r"circular extends b -> c -> b",
            4,
        ),
    ],
    ids=["self", "pair", "loop after a prefix"],
)
def test_cycle_names_the_chain_and_the_extends_key(
    services_: dict[str, Any], message: str, line: int
) -> None:
    main = doc(services_, at(MAIN))
    for index, name in enumerate(services_, start=2):
        _extends_at(main, name, index)
    with pytest.raises(ComposerError, match=message) as err:
        resolve(main)
    assert err.value.span == at(MAIN, line)


def test_cycle_across_files() -> None:
    other = doc({"c": {"extends": {"service": "b", "file": MAIN}}}, at("/proj/c.yaml", 5))
    main = doc({"a": {"extends": "b"}, "b": {"extends": {"service": "c", "file": "c.yaml"}}}, at(MAIN))
    with pytest.raises(ComposerError, match=r"circular extends b -> c \(/proj/c.yaml\) -> b") as err:
        resolve(main, {"/proj/c.yaml": other})
    assert err.value.span == at("/proj/c.yaml", 5)


def test_unknown_service_same_file() -> None:
    main = _extends_at(doc({"base": {"image": "b"}, "web": {"extends": "bsae"}}, at(MAIN)), "web", 4)
    with pytest.raises(ComposerError) as err:
        resolve(main)
    assert err.value.message == 'cannot extend service "web": service "bsae" not found'
    assert err.value.span == at(MAIN, 4)
    assert err.value.hint == 'did you mean "base"?'


def test_unknown_service_other_file() -> None:
    other = doc({"base": {"image": "b"}}, at("/proj/o.yaml"))
    main = _extends_at(doc({"web": {"extends": {"service": "zz", "file": "o.yaml"}}}, at(MAIN)), "web", 6)
    with pytest.raises(ComposerError, match=r'service "zz" not found in /proj/o.yaml') as err:
        resolve(main, {"/proj/o.yaml": other})
    assert err.value.span == at(MAIN, 6)


def test_missing_file() -> None:
    main = doc({"web": {"extends": {"service": "b", "file": "missing.yaml"}}}, at(MAIN, 9))
    with pytest.raises(ComposerError, match=r"cannot read extended file /proj/missing.yaml") as err:
        resolve(main)
    assert err.value.span == at(MAIN, 9)


def test_loader_error_without_location_gets_the_extends_span() -> None:
    def load(path: str) -> YMap:
        raise ComposerError(f"open {path}: no such file or directory")

    main = doc({"web": {"extends": {"service": "b", "file": "x.yaml"}}}, at(MAIN, 2))
    with pytest.raises(ComposerError, match=r"open /proj/x\.yaml") as err:
        resolve_extends(main, file=MAIN, load_file=load, diag=Diagnostics())
    assert err.value.span == at(MAIN, 2)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (3, "must be a service name or a mapping"),
        ({"file": "x.yaml"}, "needs a `service`"),
        ({"service": "b", "file": 3}, "extends.file must be a path"),
    ],
)
def test_malformed_extends(value: Any, message: str) -> None:
    main = doc({"b": {"image": "b"}, "web": {"extends": value}}, at(MAIN))
    with pytest.raises(ComposerError, match=message):
        resolve(main)


def test_remote_file_is_refused() -> None:
    main = doc({"web": {"extends": {"service": "b", "file": "oci://registry/app:1"}}}, at(MAIN, 4))
    with pytest.raises(ComposerError, match="remote files are not supported") as err:
        resolve(main)
    assert err.value.span == at(MAIN, 4)


def test_other_file_without_services() -> None:
    main = doc({"web": {"extends": {"service": "b", "file": "o.yaml"}}}, at(MAIN))
    with pytest.raises(ComposerError, match="has no services section"):
        resolve(main, {"/proj/o.yaml": located({"name": "x"}, at("/proj/o.yaml"))})


# --- the oracle -----------------------------------------------------------------------------------

OracleLoad = Callable[[str], YMap]


def _oracle_files(tmp_path: Path, docs: dict[str, YMap]) -> tuple[dict[str, str], OracleLoad]:
    """The documents as files for compose, and a `load_file` over the same documents for us."""
    texts = {name: to_yaml(node) + "\n" for name, node in docs.items()}
    by_path = {str(tmp_path / name): node for name, node in docs.items()}
    return texts, Files(by_path)


@pytest.mark.oracle
def test_oracle_extends_across_files(tmp_path: Path) -> None:
    mid = doc(
        {
            "base": {
                "image": "b",
                "build": {"context": "./ctx", "additional_contexts": {"x": "./other"}},
                "volumes": [
                    {"type": "bind", "source": "./data", "target": "/data"},
                    {"type": "volume", "source": "named", "target": "/n", "volume": {}},
                ],
                "depends_on": {"db": {"condition": "service_started", "required": True}},
                "links": ["db"],
                "volumes_from": ["db"],
                "network_mode": "service:db",
                "ports": [PORT],
                "cap_add": ["A"],
                "labels": {"a": "1"},
                "command": ["x"],
            },
            "db": {"image": "db"},
            "mid": {"extends": "base", "labels": {"m": "1"}, "healthcheck": {"test": ["CMD", "true"]}},
        }
    )
    main = doc(
        {
            "web": {
                "extends": {"file": "sub/base.yaml", "service": "mid"},
                "ports": [PORT, {**PORT, "target": 81}],
                "cap_add": ["A", "B"],
                "labels": {"a": "2"},
            },
            "db": {"image": "db"},
            "local": {"extends": "web", "command": ["y"]},
        },
        volumes={"named": {}},
    )
    texts, load = _oracle_files(tmp_path, {"sub/base.yaml": mid})
    ours = resolve_extends(main, file=str(tmp_path / "f0.yaml"), load_file=load, diag=Diagnostics())
    ours_plain = to_plain(resolve_project_paths(merge_all([ours]), str(tmp_path), {"HOME": str(tmp_path)}))
    theirs = oracle(tmp_path, main, files=texts)
    keys = (
        "image",
        "build",
        "volumes",
        "depends_on",
        "links",
        "volumes_from",
        "network_mode",
        "ports",
        "cap_add",
        "labels",
        "command",
        "healthcheck",
    )
    for name in ("web", "local"):
        mine = ours_plain["services"][name]
        mine["build"].setdefault("dockerfile", "Dockerfile")  # a default of phase 7
        assert {k: mine.get(k) for k in keys} == {k: theirs["services"][name].get(k) for k in keys}, name


@pytest.mark.oracle
def test_oracle_reset_in_extending_service_reaches_earlier_files(tmp_path: Path) -> None:
    first = doc({"web": {"image": "x", "ports": [PORT], "environment": {"A": "1", "B": "1"}}})
    second = doc(
        {
            "base": {"image": "b", "ports": [{**PORT, "target": 81}], "environment": {"A": "2", "C": "2"}},
            "web": {"extends": "base", "ports": [], "environment": {"D": "3"}},
        },
        at("f1.yaml"),
    )
    tag(second, "services.web.ports", RESET)
    tag(second, "services.web.environment", OVERRIDE)
    theirs = oracle(tmp_path, first, second)["services"]["web"]
    extended = resolve_extends(
        second, file=str(tmp_path / "f1.yaml"), load_file=Files({}), diag=Diagnostics()
    )
    ours = to_plain(merge_all([first, extended]))["services"]["web"]
    assert {k: ours.get(k) for k in ("image", "ports", "environment")} == {
        k: theirs.get(k) for k in ("image", "ports", "environment")
    }


@pytest.mark.oracle
@pytest.mark.parametrize("shape", ["self", "pair", "across files"])
def test_oracle_cycles_are_errors_for_both(tmp_path: Path, shape: str) -> None:
    files: dict[str, YMap] = {}
    if shape == "self":
        main = doc({"a": {"image": "x", "extends": "a"}})
    elif shape == "pair":
        main = doc({"a": {"image": "x", "extends": "b"}, "b": {"extends": "a"}})
    else:
        main = doc(
            {"a": {"image": "x", "extends": "b"}, "b": {"extends": {"service": "c", "file": "c.yaml"}}}
        )
        files["c.yaml"] = doc({"c": {"extends": {"service": "b", "file": "f0.yaml"}}})
    texts, load = _oracle_files(tmp_path, files)
    assert "Circular reference" in oracle_error(tmp_path, main, files=texts)
    with pytest.raises(ComposerError, match="circular extends"):
        resolve_extends(main, file=str(tmp_path / "f0.yaml"), load_file=load, diag=Diagnostics())
