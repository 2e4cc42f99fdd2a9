"""Relative paths made absolute like compose, one test per attribute, and the oracle."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from composer.errors import Diagnostics, Span
from composer.schema.paths import clean, join, resolve_project_paths, resolve_service_paths
from composer.schema.tree import YMap, located, to_plain
from tests.schema.test_merge import doc, oracle

BASE = "/proj"
ENV = {"HOME": "/home/me"}


def service(value: dict[str, Any]) -> YMap:
    node: YMap = located(value, Span("a.yaml", 3, 5))
    return node


def bind(source: str, target: str = "/t") -> dict[str, Any]:
    return {"type": "bind", "source": source, "target": target}


SERVICE_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    # (id, service, expected service)
    (
        "build.context relative",
        {"build": {"context": "./app", "dockerfile": "../D"}},
        {"build": {"context": "/proj/app", "dockerfile": "../D"}},
    ),
    ("build.context dot", {"build": {"context": "."}}, {"build": {"context": "/proj"}}),
    ("build.context parent", {"build": {"context": "../up"}}, {"build": {"context": "/up"}}),
    (
        "build.context absolute kept uncleaned",
        {"build": {"context": "/a/./b"}},
        {"build": {"context": "/a/./b"}},
    ),
    ("build.context home", {"build": {"context": "~/ctx"}}, {"build": {"context": "/home/me/ctx"}}),
    (
        "build.context URL kept",
        {"build": {"context": "https://example.com/r.git#main"}},
        {"build": {"context": "https://example.com/r.git#main"}},
    ),
    (
        "build.context git@ kept",
        {"build": {"context": "git@github.com:a/b.git"}},
        {"build": {"context": "git@github.com:a/b.git"}},
    ),
    (
        "build.context github.com/ kept",
        {"build": {"context": "github.com/a/b"}},
        {"build": {"context": "github.com/a/b"}},
    ),
    (
        "build.context any scheme kept",
        {"build": {"context": "docker-image://alpine"}},
        {"build": {"context": "docker-image://alpine"}},
    ),
    (
        "build.context service: kept",
        {"build": {"context": "service:base"}},
        {"build": {"context": "service:base"}},
    ),
    (
        "build.context Windows path is joined",
        {"build": {"context": "C:\\foo"}},
        {"build": {"context": "/proj/C:\\foo"}},
    ),
    (
        "build.additional_contexts",
        {"build": {"additional_contexts": {"a": "./o", "b": "docker-image://x", "c": "https://h/x.git"}}},
        {"build": {"additional_contexts": {"a": "/proj/o", "b": "docker-image://x", "c": "https://h/x.git"}}},
    ),
    (
        "build.ssh map",
        {"build": {"ssh": {"default": None, "key": "./id", "k2": "~/x"}}},
        {"build": {"ssh": {"default": None, "key": "/proj/id", "k2": "/home/me/x"}}},
    ),
    (
        "build.ssh id=path list",
        {"build": {"ssh": ["default", "key=./id"]}},
        {"build": {"ssh": ["default", "key=/proj/id"]}},
    ),
    (
        "env_file paths",
        {"env_file": [{"path": "a.env", "required": True}, {"path": "/abs.env"}]},
        {"env_file": [{"path": "/proj/a.env", "required": True}, {"path": "/abs.env"}]},
    ),
    ("label_file list", {"label_file": ["l.txt", "../m.txt"]}, {"label_file": ["/proj/l.txt", "/m.txt"]}),
    ("label_file string", {"label_file": "l.txt"}, {"label_file": "/proj/l.txt"}),
    (
        "extends.file",
        {"extends": {"service": "b", "file": "sub/b.yaml"}},
        {"extends": {"service": "b", "file": "/proj/sub/b.yaml"}},
    ),
    (
        "extends.file remote kept",
        {"extends": {"service": "b", "file": "oci://x/y"}},
        {"extends": {"service": "b", "file": "oci://x/y"}},
    ),
    (
        "develop.watch path",
        {"develop": {"watch": [{"path": "./src", "action": "sync", "target": "/app"}]}},
        {"develop": {"watch": [{"path": "/proj/src", "action": "sync", "target": "/app"}]}},
    ),
    ("bind source relative", {"volumes": [bind("./data")]}, {"volumes": [bind("/proj/data")]}),
    ("bind source bare name", {"volumes": [bind("data")]}, {"volumes": [bind("/proj/data")]}),
    (
        "bind source home",
        {"volumes": [bind("~"), bind("~/h", "/u")]},
        {"volumes": [bind("/home/me"), bind("/home/me/h", "/u")]},
    ),
    (
        "bind source ~user is naive like compose",
        {"volumes": [bind("~user/x")]},
        {"volumes": [bind("/home/me/user/x")]},
    ),
    (
        "bind source Windows absolute kept",
        {"volumes": [bind("C:\\x"), bind("\\\\srv\\share", "/u")]},
        {"volumes": [bind("C:\\x"), bind("\\\\srv\\share", "/u")]},
    ),
    (
        "named volume stays a name",
        {"volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
        {"volumes": [{"type": "volume", "source": "data", "target": "/d"}]},
    ),
    (
        "dockerfile, image and others untouched",
        {"image": "./x", "working_dir": "rel", "build": {"dockerfile": "D"}},
        {"image": "./x", "working_dir": "rel", "build": {"dockerfile": "D"}},
    ),
]


@pytest.mark.parametrize(
    ("value", "expected"), [c[1:] for c in SERVICE_CASES], ids=[c[0] for c in SERVICE_CASES]
)
def test_service_paths(value: dict[str, Any], expected: dict[str, Any]) -> None:
    assert to_plain(resolve_service_paths(service(value), BASE, ENV)) == expected


PROJECT_CASES: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
    (
        "secret and config files",
        {
            "secrets": {"s": {"file": "./s"}, "e": {"environment": "X"}},
            "configs": {"c": {"file": "../c"}, "d": {"file": "~/d"}},
        },
        {
            "secrets": {"s": {"file": "/proj/s"}, "e": {"environment": "X"}},
            "configs": {"c": {"file": "/c"}, "d": {"file": "/home/me/d"}},
        },
    ),
    (
        "local bind volume device",
        {
            "volumes": {
                "v": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "./d"}}
            }
        },
        {
            "volumes": {
                "v": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "/proj/d"}}
            }
        },
    ),
    (
        "device kept without driver: local",
        {"volumes": {"v": {"driver_opts": {"o": "bind", "device": "./d"}}}},
        {"volumes": {"v": {"driver_opts": {"o": "bind", "device": "./d"}}}},
    ),
    (
        "device kept without o: bind",
        {"volumes": {"v": {"driver": "local", "driver_opts": {"o": "ro", "device": "./d"}}}},
        {"volumes": {"v": {"driver": "local", "driver_opts": {"o": "ro", "device": "./d"}}}},
    ),
    ("empty volume", {"volumes": {"v": None}}, {"volumes": {"v": None}}),
]


@pytest.mark.parametrize(
    ("top", "expected"), [c[1:] for c in PROJECT_CASES], ids=[c[0] for c in PROJECT_CASES]
)
def test_project_paths(top: dict[str, Any], expected: dict[str, Any]) -> None:
    out = to_plain(resolve_project_paths(doc({}, **top), BASE, ENV))
    assert {k: out[k] for k in expected} == expected


def test_project_resolves_every_service() -> None:
    out = resolve_project_paths(
        doc({"a": {"build": {"context": "a"}}, "b": {"volumes": [bind("./b")]}, "c": None}), BASE, ENV
    )
    assert to_plain(out)["services"] == {
        "a": {"build": {"context": "/proj/a"}},
        "b": {"volumes": [bind("/proj/b")]},
        "c": None,
    }


def test_without_home_tilde_is_a_plain_name_and_warns() -> None:
    """Compose warns and then treats `~` as an ordinary relative name."""
    diag = Diagnostics()
    out = resolve_service_paths(service({"volumes": [bind("~/x")]}), BASE, {}, diag)
    assert to_plain(out)["volumes"][0]["source"] == "/proj/~/x"
    assert diag.warnings == ["a.yaml:3:5: cannot expand '~', because the environment lacks HOME"]


def test_copy_keeps_spans_and_input() -> None:
    node = service({"volumes": [bind("./x")]})
    out = resolve_service_paths(node, BASE, ENV)
    assert node["volumes"][0]["source"] == "./x"
    assert out["volumes"][0].value_span("source") == Span("a.yaml", 3, 5)


@pytest.mark.parametrize(
    ("base", "path", "expected"),
    [
        ("/a", "b", "/a/b"),
        ("/a", "/b", "/a/b"),
        ("/a", "", "/a"),
        ("/a/", "./b/../c", "/a/c"),
        ("", "b", "b"),
        ("//a", "b", "/a/b"),
    ],
)
def test_join_is_go_filepath_join(base: str, path: str, expected: str) -> None:
    assert join(base, path) == expected


def test_clean() -> None:
    assert clean("//x//y/./z/..") == "/x/y"


@pytest.mark.oracle
def test_oracle_paths(tmp_path: Path) -> None:
    """Services and top-level resources resolved against the project directory, like `compose config`."""
    home = str(tmp_path / "home")
    node = doc(
        {
            "s": {
                "image": "x",
                "build": {
                    "context": "./app",
                    "dockerfile": "../D",
                    "additional_contexts": {
                        "a": "./o",
                        "b": "docker-image://alpine",
                        "c": "https://github.com/a/b.git",
                    },
                },
                "volumes": [
                    bind("./data", "/d"),
                    bind("data", "/e"),
                    bind("~/h", "/h"),
                    bind("C:\\x", "/w"),
                    {"type": "volume", "source": "v1", "target": "/v1"},
                    {"type": "volume", "source": "v2", "target": "/v2"},
                ],
                "secrets": [{"source": "s1"}],
                "configs": [{"source": "c1"}],
                "develop": {"watch": [{"path": "./src", "action": "sync", "target": "/app"}]},
            },
            "t": {"image": "x", "build": {"context": "git@github.com:a/b.git"}},
            "u": {"image": "x", "build": {"context": "~/ctx"}},
            "w": {"image": "x", "build": {"context": "github.com/a/b"}},
        },
        secrets={"s1": {"file": "./s1"}},
        configs={"c1": {"file": "../c1"}},
        volumes={
            "v1": {"driver": "local", "driver_opts": {"type": "none", "o": "bind", "device": "./vdir"}},
            "v2": {"driver_opts": {"type": "none", "o": "bind", "device": "./vdir"}},
        },
    )
    ours = to_plain(resolve_project_paths(node, str(tmp_path), {"HOME": home}))
    theirs = oracle(tmp_path, node, env={"HOME": home})
    for name in ("s", "t", "u", "w"):
        assert ours["services"][name]["build"]["context"] == theirs["services"][name]["build"]["context"]
    for key in ("additional_contexts", "dockerfile"):
        assert ours["services"]["s"]["build"][key] == theirs["services"]["s"]["build"][key]
    assert [v["source"] for v in ours["services"]["s"]["volumes"]] == [
        v["source"] for v in theirs["services"]["s"]["volumes"]
    ]
    assert (
        ours["services"]["s"]["develop"]["watch"][0]["path"]
        == theirs["services"]["s"]["develop"]["watch"][0]["path"]
    )
    assert ours["secrets"]["s1"]["file"] == theirs["secrets"]["s1"]["file"]
    assert ours["configs"]["c1"]["file"] == theirs["configs"]["c1"]["file"]
    for name in ("v1", "v2"):
        assert ours["volumes"][name]["driver_opts"] == theirs["volumes"][name]["driver_opts"]
