"""Phase 6: merging expanded documents, one test per rule, and Docker Compose v2 as the oracle."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError, Span
from composer.schema.merge import (
    OVERRIDE,
    RESET,
    RULES,
    enforce_unique,
    merge_all,
    merge_documents,
    rule_for,
    strip_resets,
)
from composer.schema.tree import YMap, YSeq, located, to_plain

A = Span("a.yaml", 1, 1)
B = Span("b.yaml", 1, 1)
COMPOSE = Path(__file__).resolve().parents[2] / ".venv/lib/python3.11/site-packages/compose/docker-compose"


# --- helpers shared with test_extends / test_paths -------------------------------------------------


def doc(services: dict[str, Any], span: Span = A, **top: Any) -> YMap:
    """A located document from plain data."""
    node: YMap = located({"services": services, **top}, span)
    return node


def tag(node: YMap, path: str, value: str) -> YMap:
    """Tag the key at dotted `path` (the last segment) with `!reset` / `!override`."""
    *parents, last = path.split(".")
    target: Any = node
    for step in parents:
        target = target[step]
    target.tags[last] = value
    return node


def to_yaml(node: Any) -> str:
    """Flow-style YAML (JSON plus tags), so the oracle reads exactly what we merge."""
    if isinstance(node, YMap):
        items = []
        for key, value in node.items():
            prefix = f"{node.tags[key]} " if key in node.tags else ""
            items.append(f"{json.dumps(key)}: {prefix}{to_yaml(value)}")
        return "{" + ", ".join(items) + "}"
    if isinstance(node, YSeq | list):
        return "[" + ", ".join(to_yaml(v) for v in node) + "]"
    if isinstance(node, dict):
        return to_yaml(located(node, None))
    return json.dumps(node)


def oracle(
    tmp_path: Path, *docs: YMap, env: dict[str, str] | None = None, files: dict[str, str] | None = None
) -> dict[str, Any]:
    """`docker compose config --format json` over the documents written as f0.yaml, f1.yaml..."""
    if not COMPOSE.exists():
        pytest.skip("the Docker Compose binary is not installed")
    names = []
    for index, node in enumerate(docs):
        name = f"f{index}.yaml"
        (tmp_path / name).write_text(to_yaml(node) + "\n")
        names.append(name)
    for name, text in (files or {}).items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    args = [str(COMPOSE)]
    for name in names:
        args += ["-f", name]
    args += ["--profile", "*", "config", "--format", "json"]
    run_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), **(env or {})}
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, env=run_env, check=False)
    if proc.returncode:
        raise AssertionError(f"compose failed: {proc.stderr}")
    result: dict[str, Any] = json.loads(proc.stdout)
    return result


def oracle_error(tmp_path: Path, *docs: YMap, files: dict[str, str] | None = None) -> str:
    try:
        oracle(tmp_path, *docs, files=files)
    except AssertionError as err:
        return str(err)
    raise AssertionError("compose accepted the project")


# --- one rule each ------------------------------------------------------------------------------

PORT = {"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}

CASES: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any]]] = [
    # (id, base service, override service, expected service)
    (
        "mapping keys merge, later wins",
        {"image": "a", "user": "u"},
        {"image": "b", "init": True},
        {"image": "b", "user": "u", "init": True},
    ),
    ("null keeps the earlier scalar", {"user": "u"}, {"user": None}, {"user": "u"}),
    (
        "null keeps an earlier mapping",
        {"build": {"context": "."}},
        {"build": None},
        {"build": {"context": "."}},
    ),
    (
        "sequences append",
        {"security_opt": ["a"]},
        {"security_opt": ["b", "a"]},
        {"security_opt": ["a", "b", "a"]},
    ),
    ("group_add appends", {"group_add": ["g1"]}, {"group_add": ["g2"]}, {"group_add": ["g1", "g2"]}),
    ("volumes_from appends", {"volumes_from": ["a"]}, {"volumes_from": ["b"]}, {"volumes_from": ["a", "b"]}),
    (
        "label_file appends",
        {"label_file": ["a"]},
        {"label_file": ["a", "b"]},
        {"label_file": ["a", "a", "b"]},
    ),
    (
        "build.platforms appends",
        {"build": {"platforms": ["x"]}},
        {"build": {"platforms": ["x", "y"]}},
        {"build": {"platforms": ["x", "x", "y"]}},
    ),
    ("scalar replaced by a mapping", {"x-a": 1}, {"x-a": {"b": 2}}, {"x-a": {"b": 2}}),
    ("command replaced", {"command": ["a", "b"]}, {"command": ["c"]}, {"command": ["c"]}),
    ("command null replaces", {"command": ["a"]}, {"command": None}, {"command": None}),
    ("entrypoint replaced", {"entrypoint": ["a"]}, {"entrypoint": ["b"]}, {"entrypoint": ["b"]}),
    (
        "healthcheck.test replaced, rest merged",
        {"healthcheck": {"test": ["CMD", "a"], "interval": "10s"}},
        {"healthcheck": {"test": ["CMD", "b"]}},
        {"healthcheck": {"test": ["CMD", "b"], "interval": "10s"}},
    ),
    (
        "environment by name",
        {"environment": {"A": "1", "B": "2"}},
        {"environment": {"A": "x", "C": "3"}},
        {"environment": {"A": "x", "B": "2", "C": "3"}},
    ),
    (
        "environment null wins",
        {"environment": {"A": "1"}},
        {"environment": {"A": None}},
        {"environment": {"A": None}},
    ),
    (
        "environment: null keeps all",
        {"environment": {"A": "1"}},
        {"environment": None},
        {"environment": {"A": "1"}},
    ),
    (
        "labels by name",
        {"labels": {"a": "1"}},
        {"labels": {"b": "2", "a": None}},
        {"labels": {"a": None, "b": "2"}},
    ),
    (
        "annotations by name",
        {"annotations": {"a": "1"}},
        {"annotations": {"a": "2"}},
        {"annotations": {"a": "2"}},
    ),
    (
        "sysctls by name",
        {"sysctls": {"n.a": "1"}},
        {"sysctls": {"n.b": "2"}},
        {"sysctls": {"n.a": "1", "n.b": "2"}},
    ),
    (
        "build merged as a map, args by name",
        {"build": {"context": ".", "args": {"X": "1"}}},
        {"build": {"dockerfile": "D", "args": {"Y": "2", "X": None}}},
        {"build": {"context": ".", "args": {"X": None, "Y": "2"}, "dockerfile": "D"}},
    ),
    (
        "build.labels and additional_contexts by name",
        {"build": {"labels": {"a": "1"}, "additional_contexts": {"c": "/x"}}},
        {"build": {"labels": {"b": "2"}, "additional_contexts": {"c": "/y"}}},
        {"build": {"labels": {"a": "1", "b": "2"}, "additional_contexts": {"c": "/y"}}},
    ),
    (
        "deploy.labels by name, deploy merged",
        {"deploy": {"labels": {"a": "1"}, "replicas": 2}},
        {"deploy": {"labels": {"b": "2"}}},
        {"deploy": {"labels": {"a": "1", "b": "2"}, "replicas": 2}},
    ),
    (
        "volumes unique by target, later replaces in place",
        {
            "volumes": [
                {"type": "bind", "source": "/a", "target": "/data", "read_only": True},
                {"type": "volume", "source": "v", "target": "/v"},
            ]
        },
        {
            "volumes": [
                {"type": "bind", "source": "/b", "target": "/data"},
                {"type": "volume", "source": "w", "target": "/w"},
            ]
        },
        {
            "volumes": [
                {"type": "bind", "source": "/b", "target": "/data"},
                {"type": "volume", "source": "v", "target": "/v"},
                {"type": "volume", "source": "w", "target": "/w"},
            ]
        },
    ),
    (
        "devices unique by target",
        {"devices": [{"source": "/dev/a", "target": "/dev/x", "permissions": "rwm"}]},
        {"devices": [{"source": "/dev/b", "target": "/dev/x", "permissions": "r"}]},
        {"devices": [{"source": "/dev/b", "target": "/dev/x", "permissions": "r"}]},
    ),
    (
        "secrets unique by target or /run/secrets/<source>",
        {"secrets": [{"source": "s1"}, {"source": "s2", "target": "/x"}]},
        {
            "secrets": [
                {"source": "s3", "target": "/run/secrets/s1"},
                {"source": "s2"},
                {"source": "s4", "target": "s1"},
            ]
        },
        {
            "secrets": [
                {"source": "s3", "target": "/run/secrets/s1"},
                {"source": "s2", "target": "/x"},
                {"source": "s2"},
                {"source": "s4", "target": "s1"},
            ]
        },
    ),
    (
        "configs unique by target or /<source>",
        {"configs": [{"source": "c1"}]},
        {"configs": [{"source": "c2", "target": "/c1"}]},
        {"configs": [{"source": "c2", "target": "/c1"}]},
    ),
    (
        "ports unique by host_ip/published/target/protocol; mode ignored",
        {"ports": [PORT, {**PORT, "host_ip": "127.0.0.1", "protocol": "udp"}]},
        {
            "ports": [
                {**PORT, "mode": "host", "host_ip": "0.0.0.0"},
                {**PORT, "host_ip": "127.0.0.1"},
                {**PORT, "target": 81},
            ]
        },
        {
            "ports": [
                {**PORT, "mode": "host", "host_ip": "0.0.0.0"},
                {**PORT, "host_ip": "127.0.0.1", "protocol": "udp"},
                {**PORT, "host_ip": "127.0.0.1"},
                {**PORT, "target": 81},
            ]
        },
    ),
    (
        "ports: published int and string are one port",
        {"ports": [PORT]},
        {"ports": [{**PORT, "published": 8080}]},
        {"ports": [{**PORT, "published": 8080}]},
    ),
    (
        "env_file unique by path",
        {"env_file": [{"path": "a.env", "required": True}, {"path": "b.env", "required": True}]},
        {"env_file": [{"path": "a.env", "required": False}, {"path": "c.env", "required": True}]},
        {
            "env_file": [
                {"path": "a.env", "required": False},
                {"path": "b.env", "required": True},
                {"path": "c.env", "required": True},
            ]
        },
    ),
    ("expose unique", {"expose": ["80", "81"]}, {"expose": ["80", "82"]}, {"expose": ["80", "81", "82"]}),
    (
        "cap_add/cap_drop unique",
        {"cap_add": ["A", "B"], "cap_drop": ["ALL"]},
        {"cap_add": ["A", "C"], "cap_drop": ["ALL", "X"]},
        {"cap_add": ["A", "B", "C"], "cap_drop": ["ALL", "X"]},
    ),
    (
        "dns/dns_search unique",
        {"dns": ["1.1.1.1"], "dns_search": ["a"]},
        {"dns": ["1.1.1.1", "9.9.9.9"], "dns_search": ["a", "b"]},
        {"dns": ["1.1.1.1", "9.9.9.9"], "dns_search": ["a", "b"]},
    ),
    (
        "dns_opt unique by option name",
        {"dns_opt": ["ndots=2", "edns0"]},
        {"dns_opt": ["ndots=3"]},
        {"dns_opt": ["ndots=3", "edns0"]},
    ),
    (
        "tmpfs unique by text before '='",
        {"tmpfs": ["/run:size=1m", "/tmp"]},
        {"tmpfs": ["/run:size=2m"]},
        {"tmpfs": ["/run:size=2m", "/tmp"]},
    ),
    (
        "links and profiles unique",
        {"links": ["db:x"], "profiles": ["p"]},
        {"links": ["db:y", "db:x"], "profiles": ["p", "q"]},
        {"links": ["db:x", "db:y"], "profiles": ["p", "q"]},
    ),
    (
        "build.tags unique",
        {"build": {"tags": ["a:1"]}},
        {"build": {"tags": ["a:1", "b:1"]}},
        {"build": {"tags": ["a:1", "b:1"]}},
    ),
    (
        "extra_hosts appended without exact duplicates",
        {"extra_hosts": ["h1=1.1.1.1", "h2=2.2.2.2"]},
        {"extra_hosts": ["h1=9.9.9.9", "h2=2.2.2.2"]},
        {"extra_hosts": ["h1=1.1.1.1", "h2=2.2.2.2", "h1=9.9.9.9"]},
    ),
    (
        "build.extra_hosts likewise",
        {"build": {"extra_hosts": ["h=1.1.1.1"]}},
        {"build": {"extra_hosts": ["h=1.1.1.1", "h=2.2.2.2"]}},
        {"build": {"extra_hosts": ["h=1.1.1.1", "h=2.2.2.2"]}},
    ),
    (
        "depends_on merged as a map",
        {"depends_on": {"db": {"condition": "service_healthy", "required": True}}},
        {
            "depends_on": {
                "db": {"restart": True},
                "cache": {"condition": "service_started", "required": True},
            }
        },
        {
            "depends_on": {
                "db": {"condition": "service_healthy", "required": True, "restart": True},
                "cache": {"condition": "service_started", "required": True},
            }
        },
    ),
    (
        "depends_on: null entry keeps the earlier",
        {"depends_on": {"db": {"condition": "service_healthy"}}},
        {"depends_on": {"db": None}},
        {"depends_on": {"db": {"condition": "service_healthy"}}},
    ),
    (
        "networks merged as a map, aliases unique",
        {"networks": {"n1": {"aliases": ["a", "b"]}, "n2": None}},
        {"networks": {"n1": {"aliases": ["b", "c"], "ipv4_address": "10.0.0.2"}, "n2": None, "n3": None}},
        {
            "networks": {
                "n1": {"aliases": ["a", "b", "c"], "ipv4_address": "10.0.0.2"},
                "n2": None,
                "n3": None,
            }
        },
    ),
    (
        "networks: null entry keeps the earlier",
        {"networks": {"n1": {"aliases": ["a"]}}},
        {"networks": {"n1": None}},
        {"networks": {"n1": {"aliases": ["a"]}}},
    ),
    (
        "logging options merge for the same driver",
        {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}},
        {"logging": {"driver": "json-file", "options": {"max-file": "3"}}},
        {"logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}}},
    ),
    (
        "logging options merge when one omits the driver",
        {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}},
        {"logging": {"options": {"max-file": "3"}}},
        {"logging": {"driver": "json-file", "options": {"max-size": "1m", "max-file": "3"}}},
    ),
    (
        "logging replaced for another driver",
        {"logging": {"driver": "json-file", "options": {"max-size": "1m"}}},
        {"logging": {"driver": "syslog", "options": {"tag": "t"}}},
        {"logging": {"driver": "syslog", "options": {"tag": "t"}}},
    ),
    (
        "ulimits by name, each replaced whole",
        {"ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 10}},
        {"ulimits": {"nofile": {"soft": 5, "hard": 6}, "core": 0}},
        {"ulimits": {"nofile": {"soft": 5, "hard": 6}, "nproc": 10, "core": 0}},
    ),
    (
        "ulimit soft alone does not keep the earlier hard",
        {"ulimits": {"nofile": {"soft": 1, "hard": 2}}},
        {"ulimits": {"nofile": {"soft": 5}}},
        {"ulimits": {"nofile": {"soft": 5}}},
    ),
]


@pytest.mark.parametrize(("base", "override", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_service_rule(base: dict[str, Any], override: dict[str, Any], expected: dict[str, Any]) -> None:
    merged = merge_documents(doc({"s": base}), doc({"s": override}, B))
    assert to_plain(merged)["services"]["s"] == expected


def _patterns_used(node: Any, path: tuple[str, ...]) -> set[str]:
    """The RULES patterns that match some key path inside `node`."""
    found = {p for p in RULES if rule_for(path) is RULES[p] and len(p.split(".")) == len(path)}
    if isinstance(node, dict):
        for key, value in node.items():
            found |= _patterns_used(value, (*path, key))
    return found


def test_every_special_rule_has_a_case() -> None:
    """Each pattern of the table is exercised by a case above or by a test below."""
    covered = {
        "networks.*.ipam.config",
        "networks.*.labels",
        "volumes.*.labels",
        "services.*.networks.*.link_local_ips",
    }
    for _, base, override, _expected in CASES:
        covered |= _patterns_used(base, ("services", "s")) | _patterns_used(override, ("services", "s"))
    assert set(RULES) - covered == set()


def test_link_local_ips_unique() -> None:
    base = doc({"s": {"networks": {"n": {"link_local_ips": ["fe80::1"]}}}})
    over = doc({"s": {"networks": {"n": {"link_local_ips": ["fe80::1", "fe80::2"]}}}}, B)
    assert to_plain(merge_documents(base, over))["services"]["s"]["networks"]["n"]["link_local_ips"] == [
        "fe80::1",
        "fe80::2",
    ]


def test_top_level_labels_by_name() -> None:
    base = doc({}, networks={"n": {"labels": {"a": "1"}}}, volumes={"v": {"labels": {"a": "1"}}})
    over = doc(
        {}, B, networks={"n": {"labels": {"a": None, "b": "2"}}}, volumes={"v": {"labels": {"b": "2"}}}
    )
    plain = to_plain(merge_documents(base, over))
    assert plain["networks"]["n"]["labels"] == {"a": None, "b": "2"}
    assert plain["volumes"]["v"]["labels"] == {"a": "1", "b": "2"}


def test_ipam_config_one_pool_per_subnet() -> None:
    base = doc(
        {},
        networks={
            "n": {
                "ipam": {
                    "config": [
                        {"subnet": "10.0.0.0/24", "gateway": "10.0.0.1", "aux_addresses": {"h1": "10.0.0.5"}},
                        {"subnet": "10.1.0.0/24"},
                    ]
                }
            }
        },
    )
    over = doc(
        {},
        B,
        networks={
            "n": {
                "ipam": {
                    "config": [
                        {
                            "subnet": "10.0.0.0/24",
                            "ip_range": "10.0.0.0/28",
                            "aux_addresses": {"h2": "10.0.0.6"},
                        },
                        {"subnet": "10.2.0.0/24"},
                    ]
                }
            }
        },
    )
    assert to_plain(merge_documents(base, over))["networks"]["n"]["ipam"]["config"] == [
        {
            "subnet": "10.0.0.0/24",
            "gateway": "10.0.0.1",
            "ip_range": "10.0.0.0/28",
            "aux_addresses": {"h1": "10.0.0.5", "h2": "10.0.0.6"},
        },
        {"subnet": "10.1.0.0/24"},
        {"subnet": "10.2.0.0/24"},
    ]


def test_top_level_sections_merge_by_key() -> None:
    base = doc({"a": {"image": "a"}}, name="p", volumes={"v": {"driver": "local"}})
    over = doc({"b": {"image": "b"}}, B, name="q", volumes={"v": {"driver_opts": {"o": "bind"}}, "w": None})
    assert to_plain(merge_documents(base, over)) == {
        "services": {"a": {"image": "a"}, "b": {"image": "b"}},
        "name": "q",
        "volumes": {"v": {"driver": "local", "driver_opts": {"o": "bind"}}, "w": None},
    }


def test_shape_mismatch_is_an_error() -> None:
    with pytest.raises(
        ComposerError, match=r"cannot merge services\.s\.x-a: a sequence cannot override a mapping"
    ):
        merge_documents(doc({"s": {"x-a": {"k": 1}}}), doc({"s": {"x-a": [1]}}, B))


def test_inputs_are_not_modified() -> None:
    base = doc({"s": {"ports": [PORT], "environment": {"A": "1"}}})
    over = doc({"s": {"ports": [PORT], "environment": {"B": "2"}}}, B)
    before = (to_plain(base), to_plain(over))
    merged = merge_documents(base, over)
    merged["services"]["s"]["environment"]["C"] = "3"
    assert (to_plain(base), to_plain(over)) == before


# --- spans ----------------------------------------------------------------------------------------


def test_spans_follow_the_side_a_value_came_from() -> None:
    base = doc({"s": {"image": "a", "user": "u", "environment": {"A": "1"}, "ports": [PORT]}})
    over = doc({"s": {"image": "b", "environment": {"B": "2"}, "ports": [{**PORT, "target": 81}]}}, B)
    s = merge_documents(base, over)["services"]["s"]
    assert s.value_span("image") == B
    assert s.value_span("user") == A
    assert s.value_span("environment") == A  # merged container: where it was first defined
    assert s["environment"].value_span("A") == A
    assert s["environment"].value_span("B") == B
    assert s["ports"].item_spans == [A, B]


def test_unique_replacement_takes_the_later_span() -> None:
    base = doc({"s": {"volumes": [{"type": "volume", "source": "v", "target": "/d"}]}})
    over = doc({"s": {"volumes": [{"type": "volume", "source": "w", "target": "/d"}]}}, B)
    assert merge_documents(base, over)["services"]["s"]["volumes"].item_spans == [B]


# --- !reset / !override -----------------------------------------------------------------------------


def test_reset_removes_the_key() -> None:
    base = doc({"s": {"image": "a", "ports": [PORT], "environment": {"A": "1", "B": "2"}}})
    over = tag(
        tag(doc({"s": {"ports": [], "environment": {"A": None}}}, B), "services.s.ports", RESET),
        "services.s.environment.A",
        RESET,
    )
    assert to_plain(merge_documents(base, over))["services"]["s"] == {"image": "a", "environment": {"B": "2"}}


def test_reset_of_a_whole_service() -> None:
    base = doc({"s": {"image": "a"}, "t": {"image": "t"}})
    over = tag(doc({"s": None}, B), "services.s", RESET)
    assert to_plain(merge_documents(base, over))["services"] == {"t": {"image": "t"}}


def test_override_replaces_wholesale() -> None:
    base = doc(
        {"s": {"ports": [PORT], "environment": {"A": "1"}, "build": {"context": ".", "args": {"X": "1"}}}}
    )
    over = doc(
        {"s": {"ports": [{**PORT, "target": 443}], "environment": {"B": "2"}, "build": {"context": "x"}}}, B
    )
    for key in ("ports", "environment", "build"):
        tag(over, f"services.s.{key}", OVERRIDE)
    merged = merge_documents(base, over)
    assert to_plain(merged)["services"]["s"] == {
        "ports": [{**PORT, "target": 443}],
        "environment": {"B": "2"},
        "build": {"context": "x"},
    }
    assert merged["services"]["s"].tags == {}


def test_reset_inside_a_new_value_is_applied() -> None:
    base = doc({"s": {"image": "a"}})
    over = tag(doc({"t": {"image": "b", "user": "u"}}, B), "services.t.user", RESET)
    assert to_plain(merge_documents(base, over))["services"]["t"] == {"image": "b"}


def test_reset_then_set_again_in_a_later_file() -> None:
    first = doc({"s": {"user": "u"}})
    second = tag(doc({"s": {"user": "x"}}, B), "services.s.user", RESET)
    third = doc({"s": {"user": "v"}}, Span("c.yaml", 1, 1))
    assert to_plain(merge_all([first, second, third]))["services"]["s"] == {"user": "v"}


def test_tags_in_the_base_are_applied_before_merging() -> None:
    """A `!reset` in the first file clears nothing before it, but must not leak into the next merge."""
    base = tag(doc({"s": {"environment": {"A": "1"}, "image": "a"}}), "services.s.environment", RESET)
    over = doc({"s": {"environment": {"B": "2"}}}, B)
    assert to_plain(merge_documents(base, over))["services"]["s"] == {"image": "a", "environment": {"B": "2"}}


def test_strip_resets() -> None:
    node = doc({"s": {"image": "a", "user": "u", "ports": [PORT], "environment": {"A": "1", "B": "2"}}})
    tag(node, "services.s.user", RESET)
    tag(node, "services.s.environment.B", RESET)
    tag(node, "services.s.ports", OVERRIDE)
    out = strip_resets(node)
    assert to_plain(out)["services"]["s"] == {"image": "a", "ports": [PORT], "environment": {"A": "1"}}
    assert out["services"]["s"].tags == {}
    assert "user" in node["services"]["s"]  # a copy


# --- single-file unicity --------------------------------------------------------------------------


def test_enforce_unique_in_one_document() -> None:
    node = doc(
        {
            "s": {
                "ports": [PORT, PORT],
                "dns": ["1.1.1.1", "1.1.1.1"],
                "cap_add": ["A", "A"],
                "volumes": [
                    {"type": "bind", "source": "/a", "target": "/d"},
                    {"type": "bind", "source": "/b", "target": "/d", "read_only": True},
                ],
                "security_opt": ["x", "x"],
            }
        }
    )
    assert to_plain(enforce_unique(node))["services"]["s"] == {
        "ports": [PORT],
        "dns": ["1.1.1.1"],
        "cap_add": ["A"],
        "volumes": [{"type": "bind", "source": "/b", "target": "/d", "read_only": True}],
        "security_opt": ["x", "x"],  # not unique-keyed: left for validation to reject, as compose does
    }


def test_merge_all_strips_and_dedupes_a_single_file() -> None:
    node = tag(
        doc({"s": {"image": "a", "user": "u", "dns": ["1.1.1.1", "1.1.1.1"]}}), "services.s.user", RESET
    )
    assert to_plain(merge_all([node]))["services"]["s"] == {"image": "a", "dns": ["1.1.1.1"]}


# --- the oracle -----------------------------------------------------------------------------------

ORACLE_KEYS = (
    "command",
    "entrypoint",
    "healthcheck",
    "environment",
    "labels",
    "ports",
    "volumes",
    "secrets",
    "configs",
    "dns",
    "dns_search",
    "dns_opt",
    "expose",
    "tmpfs",
    "cap_add",
    "cap_drop",
    "security_opt",
    "depends_on",
    "networks",
    "logging",
    "ulimits",
    "devices",
    "sysctls",
    "links",
    "profiles",
    "group_add",
    "annotations",
    "volumes_from",
    "image",
    "user",
)

ORACLE_BASE = {
    "image": "x",
    "user": "u",
    "command": ["a", "b"],
    "entrypoint": ["e"],
    "healthcheck": {"test": ["CMD", "a"], "interval": "10s"},
    "environment": {"A": "1", "B": "2", "C": "3"},
    "labels": {"l1": "a"},
    "annotations": {"a1": "x"},
    "sysctls": {"net.a": "1"},
    "ports": [
        PORT,
        {**PORT, "host_ip": "127.0.0.1", "target": 90, "published": "9090", "protocol": "udp"},
        {"mode": "ingress", "target": 3000, "protocol": "tcp"},
    ],
    "volumes": [
        {"type": "bind", "source": "/data", "target": "/data"},
        {"type": "volume", "source": "named", "target": "/named", "volume": {}},
        {"type": "bind", "source": "/tmp", "target": "/t", "read_only": True},
    ],
    "secrets": [{"source": "s1"}, {"source": "s2", "target": "/x"}],
    "configs": [{"source": "c1"}],
    "dns": ["1.1.1.1", "8.8.8.8"],
    "dns_search": ["a.com"],
    "dns_opt": ["ndots=2", "edns0"],
    "expose": ["80", "81"],
    "tmpfs": ["/run:size=1m", "/tmp2"],
    "cap_add": ["NET_ADMIN", "SYS_ADMIN"],
    "cap_drop": ["ALL"],
    "security_opt": ["label=a"],
    "depends_on": {"db": {"condition": "service_healthy", "required": True}},
    "networks": {"n1": {"aliases": ["a", "b"]}, "n2": None},
    "logging": {"driver": "json-file", "options": {"max-size": "1m"}},
    "ulimits": {"nofile": {"soft": 1, "hard": 2}, "nproc": 10},
    "devices": [{"source": "/dev/a", "target": "/dev/a", "permissions": "rwm"}],
    "links": ["db:x"],
    "profiles": ["p1"],
    "group_add": ["g1"],
    "volumes_from": ["db"],
}

ORACLE_OVER = {
    "user": None,
    "command": ["c"],
    "entrypoint": ["f"],
    "healthcheck": {"test": ["CMD", "b"]},
    "environment": {"A": "x", "D": "4", "C": None},
    "labels": {"l2": "b"},
    "annotations": {"a1": "y"},
    "sysctls": {"net.b": "2"},
    "ports": [
        PORT,
        {**PORT, "host_ip": "127.0.0.1", "target": 90, "published": "9090"},
        {"mode": "host", "target": 3000, "protocol": "tcp"},
        {**PORT, "target": 81},
    ],
    "volumes": [
        {"type": "bind", "source": "/other", "target": "/data"},
        {"type": "bind", "source": "/tmp", "target": "/t"},
    ],
    "secrets": [{"source": "s3", "target": "s1"}, {"source": "s2"}],
    "configs": [{"source": "c2", "target": "/c1"}],
    "dns": ["8.8.8.8", "9.9.9.9"],
    "dns_search": ["a.com", "b.com"],
    "dns_opt": ["ndots=3"],
    "expose": ["80", "82"],
    "tmpfs": ["/run:size=2m", "/tmp3"],
    "cap_add": ["NET_ADMIN", "CHOWN"],
    "cap_drop": ["ALL", "NET_RAW"],
    "security_opt": ["label=b"],
    "depends_on": {"db": {"condition": "service_started", "required": True, "restart": True}},
    "networks": {"n1": {"aliases": ["b", "c"]}, "n2": {"aliases": ["z"]}},
    "logging": {"options": {"max-file": "3"}},
    "ulimits": {"nofile": {"soft": 5, "hard": 6}, "nproc": 20},
    "devices": [{"source": "/dev/b", "target": "/dev/a", "permissions": "rwm"}],
    "links": ["db:y", "db:x"],
    "profiles": ["p1", "p2"],
    "group_add": ["g2"],
    "volumes_from": ["container:c2"],
}

ORACLE_TOP: dict[str, Any] = {
    "networks": {"n1": {}, "n2": {}},
    "secrets": {s: {"file": f"/{s}"} for s in ("s1", "s2", "s3")},
    "configs": {c: {"file": f"/{c}"} for c in ("c1", "c2")},
    "volumes": {"named": {}},
}


def _oracle_view(service: dict[str, Any]) -> dict[str, Any]:
    """Only what merging decides; compose prints extra_hosts grouped by host, so they are compared sorted."""
    view = {k: service.get(k) for k in ORACLE_KEYS}
    view["extra_hosts"] = sorted(service.get("extra_hosts") or [])
    return view


def _with_defaults(service: dict[str, Any]) -> dict[str, Any]:
    """What compose adds after merging (not our phase): default secret/config targets."""
    for item in service.get("secrets", []):
        item.setdefault("target", f"/run/secrets/{item['source']}")
    for item in service.get("configs", []):
        item.setdefault("target", f"/{item['source']}")
    return service


@pytest.mark.oracle
def test_oracle_two_files(tmp_path: Path) -> None:
    base = doc(
        {"s": {**ORACLE_BASE, "extra_hosts": ["h1=1.1.1.1", "h2=2.2.2.2"]}, "db": {"image": "db"}},
        **ORACLE_TOP,
    )
    over = doc({"s": {**ORACLE_OVER, "extra_hosts": ["h1=9.9.9.9", "h2=2.2.2.2", "h3=3.3.3.3"]}}, B)
    ours = _with_defaults(to_plain(merge_documents(base, over))["services"]["s"])
    theirs = oracle(tmp_path, base, over)["services"]["s"]
    assert _oracle_view(ours) == _oracle_view(theirs)


@pytest.mark.oracle
def test_oracle_reset_and_override(tmp_path: Path) -> None:
    base = doc(
        {
            "s": {
                "image": "x",
                "user": "u",
                "ports": [PORT],
                "environment": {"A": "1", "B": "2"},
                "labels": {"L": "1"},
                "dns": ["1.1.1.1"],
            },
            "n": {"image": "n", "build": {"context": "/c", "args": {"X": "1", "Y": "2"}}},
        }
    )
    tag(base, "services.s.user", RESET)
    tag(base, "services.s.labels", OVERRIDE)
    over = doc(
        {
            "s": {
                "ports": [{**PORT, "target": 81}],
                "environment": {"C": "3"},
                "labels": {"M": "2"},
                "dns": [],
                "healthcheck": {"test": ["CMD", "x"], "interval": "5s"},
            },
            "n": {"image": "y", "build": {"args": {"X": None}}},
        },
        B,
    )
    tag(over, "services.s.ports", OVERRIDE)
    tag(over, "services.s.environment", OVERRIDE)
    tag(over, "services.s.dns", RESET)
    tag(over, "services.s.healthcheck.interval", RESET)
    tag(over, "services.n.image", RESET)
    tag(over, "services.n.build.args.X", RESET)
    ours = to_plain(merge_all([base, over]))["services"]
    theirs = oracle(tmp_path, base, over)["services"]
    keys = ("image", "user", "ports", "environment", "labels", "dns", "healthcheck")
    assert {k: ours["s"].get(k) for k in keys} == {k: theirs["s"].get(k) for k in keys}
    assert ours["n"].get("image") == theirs["n"].get("image") is None
    assert ours["n"]["build"]["args"] == theirs["n"]["build"]["args"] == {"Y": "2"}


@pytest.mark.oracle
def test_oracle_logging_other_driver(tmp_path: Path) -> None:
    base = doc({"s": {"image": "x", "logging": {"driver": "json-file", "options": {"max-size": "1m"}}}})
    over = doc({"s": {"logging": {"driver": "syslog", "options": {"tag": "t"}}}}, B)
    assert (
        to_plain(merge_documents(base, over))["services"]["s"]["logging"]
        == oracle(tmp_path, base, over)["services"]["s"]["logging"]
    )


@pytest.mark.oracle
def test_oracle_single_file_unicity(tmp_path: Path) -> None:
    node = doc(
        {
            "s": {
                "image": "x",
                "ports": [PORT, PORT],
                "dns": ["1.1.1.1", "1.1.1.1"],
                "cap_add": ["A", "A"],
                "volumes": [
                    {"type": "bind", "source": "/a", "target": "/d"},
                    {"type": "bind", "source": "/b", "target": "/d", "read_only": True},
                ],
            }
        }
    )
    ours = to_plain(merge_all([node]))["services"]["s"]
    theirs = oracle(tmp_path, node)["services"]["s"]
    assert {k: ours[k] for k in ("ports", "dns", "cap_add", "volumes")} == {
        k: theirs[k] for k in ("ports", "dns", "cap_add", "volumes")
    }


@pytest.mark.oracle
def test_oracle_null_semantics(tmp_path: Path) -> None:
    base = doc(
        {
            "s": {
                "image": "x",
                "user": "u",
                "command": ["a"],
                "environment": {"A": "1"},
                "networks": {"n1": {"aliases": ["x"]}},
                "depends_on": {"db": {"condition": "service_healthy", "required": True}},
            },
            "db": {"image": "db"},
        },
        networks={"n1": {}},
    )
    over = doc(
        {
            "s": {
                "user": None,
                "command": None,
                "environment": {"A": None},
                "networks": {"n1": None},
                "depends_on": {"db": None},
            }
        },
        B,
    )
    keys = ("user", "command", "environment", "networks", "depends_on")
    ours = to_plain(merge_documents(base, over))["services"]["s"]
    theirs = oracle(tmp_path, base, over)["services"]["s"]
    assert {k: ours.get(k) for k in keys} == {k: theirs.get(k) for k in keys}
