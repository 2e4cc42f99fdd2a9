"""Phase 3: each short syntax of a document in the long form `docker compose config` prints.

The parsers have their own tests (test_ports, test_volumes, test_shellwords, test_units); the
comparison with Docker Compose's binary is in test_expand_oracle.
"""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from composer.errors import ComposerError, ConfigErrors, Diagnostics, Span
from composer.schema.expand import SERVICE_RULES, expand_document
from composer.schema.tree import YMap, YSeq, located, to_plain
from composer.schema.yamlio import read_documents

SPAN = Span("c.yaml", 1, 1)
STARTED = {"condition": "service_started", "required": True}
CREATE = {"create_host_path": True}


def expand_doc(doc: dict[str, Any], diag: Diagnostics | None = None) -> dict[str, Any]:
    node = located(doc, SPAN)
    assert isinstance(node, YMap)
    result = to_plain(expand_document(node, diag or Diagnostics()))
    assert isinstance(result, dict)
    return result


def expand(service: dict[str, Any]) -> dict[str, Any]:
    result = expand_doc({"services": {"web": service}})["services"]["web"]
    assert isinstance(result, dict)
    return result


def errors_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ComposerError) as info:
        expand_doc(doc)
    return [line for line in info.value.lines() if not line.startswith("hint:")]


# --- one field each ----------------------------------------------------------------------------------


CASES: list[tuple[str, Any, Any]] = [
    # key, short value, long value
    ("command", "sh -c 'echo hi'", ["sh", "-c", "echo hi"]),
    ("command", "", []),
    ("command", ["a", "b c"], ["a", "b c"]),
    ("command", None, None),
    ("entrypoint", "/bin/sh -c", ["/bin/sh", "-c"]),
    ("entrypoint", "", []),
    ("environment", ["A=1", "B", "C=", "D=x=y", "=v"], {"A": "1", "B": None, "C": "", "D": "x=y", "": "v"}),
    ("environment", {"A": 1, "B": None}, {"A": 1, "B": None}),
    ("labels", ["x=y", "bare", "e="], {"x": "y", "bare": "", "e": ""}),
    ("labels", ["a =1", " b=2"], {"a ": "1", " b": "2"}),
    ("annotations", ["a=1", "b"], {"a": "1", "b": ""}),
    ("sysctls", ["net.core.somaxconn=1024", "k"], {"net.core.somaxconn": "1024", "k": ""}),
    ("depends_on", ["db", "cache"], {"db": STARTED, "cache": STARTED}),
    ("depends_on", {"db": {"condition": "service_healthy"}}, {"db": {"condition": "service_healthy"}}),
    ("networks", ["front", "back"], {"front": None, "back": None}),
    ("networks", {"front": {"aliases": ["x"]}}, {"front": {"aliases": ["x"]}}),
    ("models", ["m"], {"m": None}),
    ("healthcheck", {"test": "curl -f x"}, {"test": ["CMD-SHELL", "curl -f x"]}),
    ("healthcheck", {"test": "NONE"}, {"test": ["CMD-SHELL", "NONE"]}),
    ("healthcheck", {"test": ["CMD", "true"], "interval": "90s", "timeout": "1h", "start_period": "1500ms",
                     "start_interval": ".5s", "retries": "3"},
     {"test": ["CMD", "true"], "interval": "1m30s", "timeout": "1h0m0s", "start_period": "1.5s",
      "start_interval": "500ms", "retries": "3"}),
    ("healthcheck", {"disable": True}, {"disable": True}),
    ("stop_grace_period", "90s", "1m30s"),
    ("stop_grace_period", "1d", "24h0m0s"),
    ("shm_size", "64m", "67108864"),
    ("shm_size", 100, 100),
    ("shm_size", 1.5, 1.5),
    ("mem_limit", "1g", "1073741824"),
    ("mem_reservation", "512k", "524288"),
    ("memswap_limit", -1, -1),
    ("build", "./app", {"context": "./app"}),
    ("build", {"context": ".", "args": ["A=1", "B"], "labels": ["l=1", "m"], "additional_contexts": ["a=./x"],
               "ssh": ["default", "k=/p", "j=a=b"], "secrets": ["s"], "extra_hosts": ["h:1.1.1.1"],
               "shm_size": "1g", "tags": ["a"], "cache_from": ["c"], "ulimits": {"nofile": 5}},
     {"context": ".", "args": {"A": "1", "B": None}, "labels": {"l": "1", "m": ""}, "additional_contexts": {"a": "./x"},
      "ssh": {"default": None, "k": "/p", "j": "a=b"}, "secrets": [{"source": "s"}], "extra_hosts": ["h=1.1.1.1"],
      "shm_size": "1073741824", "tags": ["a"], "cache_from": ["c"], "ulimits": {"nofile": 5}}),
    ("extends", "base", {"service": "base"}),
    ("extends", {"service": "base", "file": "b.yaml"}, {"service": "base", "file": "b.yaml"}),
    ("secrets", ["s", {"source": "t", "target": "/x", "mode": 0o400}], [{"source": "s"},
                                                                     {"source": "t", "target": "/x", "mode": 256}]),
    ("configs", ["c"], [{"source": "c"}]),
    ("env_file", "a.env", [{"path": "a.env", "required": True}]),
    ("env_file", ["a.env", {"path": "b.env", "required": False, "format": "raw"}],
     [{"path": "a.env", "required": True}, {"path": "b.env", "required": False, "format": "raw"}]),
    ("label_file", "l.env", ["l.env"]),
    ("label_file", ["l.env"], ["l.env"]),
    ("dns", "1.1.1.1", ["1.1.1.1"]),
    ("dns_search", "example.com", ["example.com"]),
    ("tmpfs", "/run", ["/run"]),
    ("tmpfs", ["/a:size=1m", "/b"], ["/a:size=1m", "/b"]),
    ("extra_hosts", ["h:1.2.3.4", "g=::1", "v6:::1", "h2 = 5.6.7.8", "m=1.1.1.1,2.2.2.2", "b=[::1]", "e="],
     ["h=1.2.3.4", "g=::1", "v6=::1", "h2 = 5.6.7.8", "m=1.1.1.1", "m=2.2.2.2", "b=::1", "e="]),
    ("extra_hosts", {"a": "1.1.1.1", "b": ["::1", "[::2]"], "g": "1.1.1.1,2.2.2.2"},
     ["a=1.1.1.1", "b=::1", "b=::2", "g=1.1.1.1,2.2.2.2"]),
    ("extra_hosts", ["h=host-gateway"], ["h=host-gateway"]),
    ("devices", ["/dev/fuse", "/dev/a:/dev/b:r", {"source": "/dev/q", "target": "/t"}],
     [{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"},
      {"source": "/dev/a", "target": "/dev/b", "permissions": "r"}, {"source": "/dev/q", "target": "/t"}]),
    ("gpus", "all", [{"count": -1}]),
    ("gpus", [{"driver": "nvidia", "count": "all", "options": ["a=1", "b"]}, {"count": 2}],
     [{"driver": "nvidia", "count": -1, "options": {"a": "1", "b": ""}}, {"count": 2}]),
    ("ports", ["8080:80", 81, {"target": "90", "published": 9090}, {"target": 91, "published": "9000-9001"}],
     [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"},
      {"mode": "ingress", "target": 81, "protocol": "tcp"},
      {"target": 90, "published": "9090"}, {"target": 91, "published": "9000-9001"}]),
    ("volumes", ["data:/d:ro", "./s:/s", "/anon", {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "64m"}},
                 {"type": "volume", "source": "v", "target": "/v", "volume": {"labels": ["a=1", "b"]}},
                 {"type": "bind", "source": "./a", "target": "/a"}],
     [{"type": "volume", "source": "data", "target": "/d", "read_only": True, "volume": {}},
      {"type": "bind", "source": "./s", "target": "/s", "bind": CREATE},
      {"type": "volume", "target": "/anon", "volume": {}},
      {"type": "tmpfs", "target": "/t", "tmpfs": {"size": "67108864"}},
      {"type": "volume", "source": "v", "target": "/v", "volume": {"labels": {"a": "1", "b": ""}}},
      {"type": "bind", "source": "./a", "target": "/a"}]),
    ("blkio_config", {"weight": 300, "device_read_bps": [{"path": "/dev/sda", "rate": "12mb"}],
                      "device_write_iops": [{"path": "/dev/sda", "rate": 30}]},
     {"weight": 300, "device_read_bps": [{"path": "/dev/sda", "rate": "12582912"}],
      "device_write_iops": [{"path": "/dev/sda", "rate": 30}]}),
    ("deploy", {"labels": ["a=b"], "resources": {"limits": {"cpus": "0.5", "memory": "50M", "pids": 5},
                                                 "reservations": {"memory": "20m", "devices": [
                                                     {"capabilities": ["gpu"], "count": "all", "options": ["x=1"]}]}},
                "restart_policy": {"condition": "on-failure", "delay": "5s", "window": "120s"},
                "update_config": {"delay": "10s", "monitor": "60s"}, "rollback_config": {"monitor": "1h"}},
     {"labels": {"a": "b"}, "resources": {"limits": {"cpus": "0.5", "memory": "52428800", "pids": 5},
                                          "reservations": {"memory": "20971520", "devices": [
                                              {"capabilities": ["gpu"], "count": -1, "options": {"x": "1"}}]}},
      "restart_policy": {"condition": "on-failure", "delay": "5s", "window": "2m0s"},
      "update_config": {"delay": "10s", "monitor": "1m0s"}, "rollback_config": {"monitor": "1h0m0s"}}),
    ("deploy", {"resources": {"limits": {"memory": 1024}}}, {"resources": {"limits": {"memory": 1024}}}),
    ("mem_limit", 1.5, 1.5),
    ("post_start", [{"command": "echo 'a b'", "environment": ["X=1", "Y"], "user": "root"}],
     [{"command": ["echo", "a b"], "environment": {"X": "1", "Y": None}, "user": "root"}]),
    ("pre_stop", [{"command": ["x"]}], [{"command": ["x"]}]),
    ("develop", {"watch": [{"path": "./src", "action": "sync", "target": "/app", "ignore": "node_modules",
                            "include": "*.go"},
                           {"path": "./x", "action": "sync+exec", "target": "/x", "exec": {"command": "echo hi"}}]},
     {"watch": [{"path": "./src", "action": "sync", "target": "/app", "ignore": ["node_modules"], "include": ["*.go"]},
                {"path": "./x", "action": "sync+exec", "target": "/x", "exec": {"command": ["echo", "hi"]}}]}),
    # Fields without a short syntax pass through untouched (scalars are cast by the models).
    ("ulimits", {"nofile": 1024, "nproc": {"soft": 1, "hard": 2}}, {"nofile": 1024, "nproc": {"soft": 1, "hard": 2}}),
    ("cpus", "1.5", "1.5"),
    ("logging", {"driver": "json-file", "options": {"max-size": "10m"}}, {"driver": "json-file",
                                                                          "options": {"max-size": "10m"}}),
    ("links", ["db:alias"], ["db:alias"]),
    ("external_links", ["ext:al"], ["ext:al"]),
    ("volumes_from", ["db:ro", "container:c:rw"], ["db:ro", "container:c:rw"]),
    ("provider", {"type": "p", "options": {"a": 1}}, {"type": "p", "options": {"a": 1}}),
    ("pre_start", [{"command": "not known to Compose v2.40"}], [{"command": "not known to Compose v2.40"}]),
    ("x-custom", "a b", "a b"),
]


@pytest.mark.parametrize(("key", "short", "long"), CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_service_field(key: str, short: Any, long: Any) -> None:
    assert expand({key: short}) == {key: long}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("environment", "A=1"), ("environment", [1, "A=1"]), ("labels", 7), ("depends_on", "db"),
        ("networks", {"a": None}), ("ports", "80"), ("ports", [True, None, ["x"]]), ("volumes", [3]),
        ("command", 5), ("healthcheck", "curl"), ("healthcheck", {"test": 5, "interval": 10}),
        ("stop_grace_period", 10), ("shm_size", True), ("extra_hosts", "a=b"), ("extra_hosts", {"k": None}),
        ("extra_hosts", ["a=b", 1]), ("env_file", 5), ("env_file", [5]), ("build", 5), ("build", {"args": "A=1"}),
        ("gpus", "some"), ("deploy", []), ("blkio_config", {"device_read_bps": "x"}), ("develop", None),
        ("post_start", "echo"), ("secrets", "s"), ("dns", 5), ("tmpfs", None), ("extends", 5),
    ],
)
def test_wrong_shapes_are_left_for_the_validator(key: str, value: Any) -> None:
    assert expand({key: value}) == {key: value}


def test_a_service_that_is_not_a_mapping_is_left_alone() -> None:
    assert expand_doc({"services": {"web": None, "db": "x"}})["services"] == {"web": None, "db": "x"}
    assert expand_doc({"services": ["web"]}) == {"services": ["web"]}


# --- top level ---------------------------------------------------------------------------------------


def test_legacy_external_name_warns_as_compose_does() -> None:
    diag = Diagnostics()
    out = expand_doc({
        "networks": {"n": {"external": {"name": "real"}}, "m": {"external": True, "name": "x"}, "o": {"external": {}}},
        "volumes": {"v": {"external": {"name": "realv"}}},
        "secrets": {"s": {"external": {"name": "s", "x-a": 1}}, "t": {"file": "./t", "labels": ["a"]}},
        "configs": {"c": {"external": {"name": "c"}, "name": "c"}},
    }, diag)
    assert out["networks"] == {"n": {"external": True, "name": "real"}, "m": {"external": True, "name": "x"},
                               "o": {"external": True}}
    assert out["volumes"] == {"v": {"external": True, "name": "realv"}}
    assert out["secrets"] == {"s": {"external": True, "name": "s"}, "t": {"file": "./t", "labels": {"a": ""}}}
    assert out["configs"] == {"c": {"external": True, "name": "c"}}
    assert [w.split(": ", 1)[1] for w in diag.warnings] == [
        f"{kind}: external.name is deprecated. Please set name and external: true"
        for kind in ("networks.n", "volumes.v", "secrets.s", "configs.c")]


def test_external_name_conflict() -> None:
    assert errors_of({"networks": {"n": {"external": {"name": "a"}, "name": "b"}}}) == [
        "c.yaml:1:1: networks.n: name and external.name conflict; only use name"]


def test_resource_labels_and_odd_resources() -> None:
    out = expand_doc({"networks": {"n": {"labels": ["x=1", "y"], "driver_opts": {"a": 1}}, "d": None},
                      "volumes": {"v": {"labels": {"a": "b"}}, "w": None}, "secrets": ["s"]})
    assert out == {"networks": {"n": {"labels": {"x": "1", "y": ""}, "driver_opts": {"a": 1}}, "d": None},
                   "volumes": {"v": {"labels": {"a": "b"}}, "w": None}, "secrets": ["s"]}


def test_include_long_form() -> None:
    out = expand_doc({"include": ["a.yaml", {"path": "b.yaml", "env_file": "b.env", "project_directory": "b"},
                                  {"path": ["c.yaml", "d.yaml"], "env_file": ["c.env"]}, 5]})
    assert out["include"] == [
        {"path": ["a.yaml"]}, {"path": ["b.yaml"], "env_file": ["b.env"], "project_directory": "b"},
        {"path": ["c.yaml", "d.yaml"], "env_file": ["c.env"]}, 5]
    assert expand_doc({"include": "a.yaml"}) == {"include": "a.yaml"}


def test_models_and_unknown_top_level_keys_pass_through() -> None:
    doc = {"models": {"m": {"model": "ai/x", "runtime_flags": ["a"]}}, "x-any": ["8080:80"], "version": "3",
           "name": "p"}
    assert expand_doc(doc) == doc


# --- errors ------------------------------------------------------------------------------------------


def test_all_errors_of_a_file_are_raised_together_each_at_its_value() -> None:
    text = b"""services:
  web:
    ports: ['80:abc', 8080]
    volumes: ['a:b:c:d']
    healthcheck: {interval: 5 minutes}
    stop_grace_period: soon
    shm_size: 12zb
    command: 'echo "x'
    extra_hosts: ['nohost']
    environment: ['A =1']
    devices: ['a:b:c:d']
  db:
    build: {context: ., additional_contexts: [bare], ssh: [key]}
    depends_on: [a, [b]]
    deploy: {resources: {limits: {memory: 1x}}, restart_policy: {delay: 1y}}
    post_start: [{command: "a'", environment: ["B\\t=1"]}]
"""
    (doc,) = read_documents(text, "c.yaml")
    with pytest.raises(ConfigErrors) as info:
        expand_document(doc, Diagnostics())
    lines = [line for line in info.value.lines() if not line.startswith("hint:")]
    assert lines == [
        'c.yaml:3:13: services.web.ports: invalid port "80:abc": invalid container port "abc" (a number up to'
        " 65535, or a range such as 8000-8010)",
        "c.yaml:4:15: services.web.volumes: invalid volume \"a:b:c:d\": too many colons",
        'c.yaml:5:29: services.web.healthcheck.interval: invalid duration "5 minutes": unknown unit \' minutes\''
        " (use ns, us, ms, s, m, h, d or w); must be a duration",
        'c.yaml:6:24: services.web.stop_grace_period: invalid duration "soon": expected a number at \'soon\';'
        " must be a duration",
        "c.yaml:7:15: services.web.shm_size: invalid size \"12zb\": invalid unit 'zb' (use b, k, m, g, t or p,"
        " optionally followed by b or ib); must be a size in bytes",
        'c.yaml:8:14: services.web.command: cannot split "echo "x" into words: unterminated a quote',
        'c.yaml:9:19: services.web.extra_hosts: invalid extra host "nohost": missing IP address',
        'c.yaml:10:19: services.web.environment: variable "A " is declared with a trailing space',
        'c.yaml:11:15: services.web.devices: invalid device "a:b:c:d": confusing device mapping, use the long'
        " syntax (source, target, permissions)",
        'c.yaml:13:47: services.db.build.additional_contexts: invalid value "bare", expected key=value',
        'c.yaml:13:60: services.db.build.ssh: invalid ssh key "key"',
        "c.yaml:14:21: services.db.depends_on: entries must be names, got ['b']",
        'c.yaml:15:43: services.db.deploy.resources.limits.memory: invalid size "1x": invalid unit \'x\' (use b,'
        " k, m, g, t or p, optionally followed by b or ib); must be a size in bytes",
        'c.yaml:15:73: services.db.deploy.restart_policy.delay: invalid duration "1y": unknown unit \'y\' (use ns,'
        " us, ms, s, m, h, d or w); must be a duration",
        "c.yaml:16:28: services.db.post_start[0].command: cannot split \"a'\" into words: unterminated a quote",
        'c.yaml:16:48: services.db.post_start[0].environment: variable "B\t" is declared with a trailing space',
    ]


def test_bad_extra_host_names() -> None:
    assert errors_of({"services": {"web": {"extra_hosts": ["=1.1.1.1", ":1.1.1.1", "a:b=c"]}}}) == [
        f'c.yaml:1:1: services.web.extra_hosts: invalid extra host: bad host name "{name}"' for name in ("", "", "a:b")]


def test_one_error_is_raised_alone_with_a_hint() -> None:
    with pytest.raises(ComposerError) as info:
        expand_doc({"services": {"web": {"ports": ["x"]}}})
    assert not isinstance(info.value, ConfigErrors)
    assert info.value.hint == "use [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL]"


# --- spans and tags ----------------------------------------------------------------------------------


def test_new_nodes_take_the_span_of_the_value_they_come_from() -> None:
    text = b"""services:
  web:
    build: ./app
    ports:
      - "8080:80"
      - 3000-3001
    environment: [A=1]
    depends_on: [db]
    command: echo hi
"""
    (doc,) = read_documents(text, "c.yaml")
    web = expand_document(doc, Diagnostics())["services"]["web"]
    assert isinstance(web["build"], YMap)
    assert web["build"].span == web["build"].value_span("context") == Span("c.yaml", 3, 12)
    ports = web["ports"]
    assert isinstance(ports, YSeq)
    assert [ports.item_span(i) for i in range(3)] == [Span("c.yaml", 5, 9), Span("c.yaml", 6, 9), Span("c.yaml", 6, 9)]
    assert ports[0].value_span("published") == Span("c.yaml", 5, 9)
    assert web["environment"].key_span("A") == Span("c.yaml", 7, 19)
    assert web["depends_on"]["db"].span == Span("c.yaml", 8, 18)
    assert web["command"].item_span(1) == Span("c.yaml", 9, 14)


def test_the_input_is_not_changed_and_tags_are_kept() -> None:
    text = b"""services:
  web:
    ports: !override ["80"]
    environment: !reset []
"""
    (doc,) = read_documents(text, "c.yaml")
    before = to_plain(doc)
    out = expand_document(doc, Diagnostics())
    assert to_plain(doc) == before
    web = out["services"]["web"]
    assert web.tags == {"ports": "!override", "environment": "!reset"}
    assert to_plain(web) == {"ports": [{"mode": "ingress", "target": 80, "protocol": "tcp"}], "environment": {}}


# --- robustness --------------------------------------------------------------------------------------

scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.floats(allow_nan=False), st.sampled_from(
    ["80", "8080:80", "a:/b:ro", "/x", "./a:/b", "1h", "90s", "512m", "all", "default", "k=v", "a b", "'", "",
     "host=1.1.1.1", "NONE", "CMD"]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3),
    st.dictionaries(st.sampled_from(["test", "interval", "count", "options", "memory", "limits", "resources",
                                     "command", "environment", "rate", "device_read_bps", "watch", "exec", "size",
                                     "tmpfs", "volume", "labels", "published", "target", "external", "name",
                                     "path", "a"]), inner, max_size=3)), max_leaves=12)
services = st.dictionaries(st.sampled_from(["web", "db"]),
                           st.dictionaries(st.sampled_from(sorted(SERVICE_RULES)), values, max_size=6), max_size=2)
documents = st.fixed_dictionaries({"services": services}, optional={
    "networks": st.dictionaries(st.sampled_from(["n", "m"]), values, max_size=2),
    "secrets": st.dictionaries(st.sampled_from(["s"]), values, max_size=1),
    "include": values})


@settings(max_examples=400, deadline=None)
@given(documents)
def test_expand_only_raises_composer_errors(doc: dict[str, Any]) -> None:
    with contextlib.suppress(ComposerError):
        expand_doc(doc)


@settings(max_examples=100, deadline=None)
@given(documents)
def test_expanding_twice_changes_nothing(doc: dict[str, Any]) -> None:
    try:
        once = expand_doc(doc)
    except ComposerError:
        return
    assert expand_doc(once) == once
