"""Phase 8: every problem reported at once, at the line and column it came from, in plain words."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from composer.errors import ComposerError, ConfigErrors, Span
from composer.schema.tree import YMap, YSeq, located
from composer.schema.validate import validate_project

FILE = "compose.yaml"


def _locate(node: Any, span: Span) -> Any:
    """A ruamel round-trip tree as a located tree, with the spans ruamel recorded."""
    if isinstance(node, CommentedMap):
        out = YMap(span=span)
        for key, value in node.items():
            kl, kc = node.lc.key(key)
            vl, vc = node.lc.value(key)
            value_span = Span(FILE, vl + 1, vc + 1)
            out.put(str(key), _locate(value, value_span), Span(FILE, kl + 1, kc + 1), value_span)
        return out
    if isinstance(node, CommentedSeq):
        spans = [Span(FILE, node.lc.item(i)[0] + 1, node.lc.item(i)[1] + 1) for i in range(len(node))]
        return YSeq((_locate(v, s) for v, s in zip(node, spans, strict=True)), span=span, item_spans=spans)
    if isinstance(node, str):
        return str(node)
    return node


def load(text: str) -> YMap:
    data = YAML(typ="rt").load(io.StringIO(text))
    doc = _locate(data, Span(FILE, 1, 1))
    assert isinstance(doc, YMap)
    return doc


def problems(text: str) -> list[ComposerError]:
    with pytest.raises(ConfigErrors) as info:
        validate_project(load(text))
    return info.value.errors


def one_problem(text: str) -> ComposerError:
    found = problems(text)
    assert len(found) == 1, [str(e) for e in found]
    return found[0]


def test_valid_document_gives_the_project() -> None:
    project = validate_project(load("services:\n  web:\n    image: nginx\n    x-note: hi\n"))
    assert project.services["web"].image == "nginx"
    assert project.services["web"].extensions == {"x-note": "hi"}


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    err = one_problem("services:\n  web:\n    image: nginx\n    restat: always\n")
    assert err.message == 'services.web: unknown key "restat"'
    assert err.hint == 'did you mean "restart"?'
    assert err.span == Span(FILE, 4, 5)


def test_unknown_key_deep_inside_suggests_from_the_right_object() -> None:
    text = "services:\n  web:\n    image: x\n    deploy:\n      resources:\n        limits: {memroy: 1g}\n"
    err = one_problem(text)
    assert err.message == 'services.web.deploy.resources.limits: unknown key "memroy"'
    assert err.hint == 'did you mean "memory"?'
    assert err.span == Span(FILE, 6, 18)


def test_unknown_key_without_a_near_miss_mentions_extensions() -> None:
    err = one_problem("services: {}\nwhatever: 1\n")
    assert err.message == 'top level: unknown key "whatever"'
    assert err.hint == 'keys of your own must start with "x-"'


def test_wrong_type_points_at_the_value() -> None:
    err = one_problem('services:\n  web:\n    image: x\n    ports:\n      - target: "abc"\n')
    assert err.message == 'services.web.ports[0].target: must be an integer, got "abc"'
    assert err.span == Span(FILE, 5, 17)


def test_invalid_value_lists_the_choices() -> None:
    err = one_problem("services:\n  web:\n    image: x\n    restart: sometimes\n")
    assert err.message == (
        'services.web.restart: invalid value "sometimes" '
        "(expected one of: no, always, on-failure[:N], unless-stopped)"
    )
    assert err.span == Span(FILE, 4, 14)


def test_missing_key_points_at_the_object() -> None:
    err = one_problem(
        "services:\n  web:\n    image: x\n    volumes:\n      - type: volume\n        source: v\n"
    )
    assert err.message == 'services.web.volumes[0]: missing required key "target"'
    assert err.span == Span(FILE, 5, 9)


def test_bad_name_points_at_the_key() -> None:
    err = one_problem("services:\n  web:\n    image: x\n  we b:\n    image: y\n")
    assert err.message == 'services: invalid name "we b" (use only letters, digits, ".", "_" and "-")'
    assert err.span == Span(FILE, 4, 3)


def test_rule_over_several_keys_names_the_key_concerned() -> None:
    text = "services:\n  web:\n    build:\n      dockerfile: A\n      dockerfile_inline: FROM x\n"
    err = one_problem(text)
    assert err.message == (
        'services.web.build.dockerfile_inline: "dockerfile" and "dockerfile_inline" cannot both be set'
    )
    assert err.span == Span(FILE, 5, 26)


def test_all_problems_are_reported_sorted_by_place() -> None:
    text = (
        "services:\n"
        "  web:\n"
        "    image: x\n"
        "    privileged: maybe\n"
        "    healthcheck: {interval: 10}\n"
        "  db:\n"
        "    image: y\n"
        "    depends_on: {web: {condition: started}}\n"
        "volumes:\n"
        "  data: {drivr: local}\n"
    )
    found = problems(text)
    assert [(e.span.line if e.span else 0) for e in found] == [4, 5, 8, 10]
    assert [e.message for e in found] == [
        'services.web.privileged: must be true or false, got "maybe"',
        'services.web.healthcheck.interval: must be a duration such as "30s", "1m30s" or "500ms", got 10',
        'services.db.depends_on.web.condition: invalid value "started" '
        "(expected one of: service_started, service_healthy, service_completed_successfully)",
        'volumes.data: unknown key "drivr"',
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("services: []\n", "services: must be a mapping, got a list"),
        ("services:\n  web:\n    image: [x]\n", "services.web.image: must be a string, got a list"),
        (
            "services:\n  web:\n    image: x\n    command: echo hi\n",
            'services.web.command: must be a list, got "echo hi"',
        ),
        (
            "services:\n  web:\n    image: x\n    scale: -1\n",
            "services.web.scale: must be at least 0, got -1",
        ),
        (
            "services:\n  web:\n    image: x\n    networks: {n: 1}\n",
            "services.web.networks.n: must be a mapping, got 1",
        ),
        ("services:\n  web: {}\n", 'services.web: needs "image" or "build" (or "provider")'),
        (
            "services: {}\nname: Bad\n",
            'name: invalid project name "Bad" (use lowercase letters, digits, "-" and "_", '
            "starting with a letter or digit)",
        ),
    ],
)
def test_messages_are_plain_english(text: str, message: str) -> None:
    assert one_problem(text).message == message


def test_no_pydantic_wording_reaches_the_user() -> None:
    text = (
        "services:\n"
        "  web:\n"
        "    image: 1\n"
        "    cpus: lots\n"
        "    ulimits: {nofile: x}\n"
        "    gpus: some\n"
        "    env_file: [{required: true}]\n"
        "    deploy: {resources: {reservations: {devices: [{count: 1}]}}}\n"
        "networks: {n: {ipam: {config: [{subnet: 1}]}}}\n"
    )
    for err in problems(text):
        text_out = str(err)
        for word in ("pydantic", "http", "Input should", "Value error", "model_type", "dict_type", "[key]"):
            assert word not in text_out


def test_works_on_a_tree_with_one_span() -> None:
    doc = located({"services": {"web": {"image": "x", "tty": "sure"}}}, Span("gen.yaml", 3, 1))
    with pytest.raises(ConfigErrors) as info:
        validate_project(doc)
    assert [str(e) for e in info.value.errors] == [
        'gen.yaml:3:1: services.web.tty: must be true or false, got "sure"'
    ]


def test_a_single_problem_is_still_config_errors() -> None:
    with pytest.raises(ConfigErrors) as info:
        validate_project(load("services:\n  web: {image: x, tty: sure}\n"))
    assert len(info.value.errors) == 1


SPEC_PATH = Path("/work/shared/data/compose-spec/compose-spec.json")
REFUSED_BY_THE_SPEC = [
    {"services": {"web": {"image": "x", "restat": "always"}}},
    {"services": {"web": {"image": ["x"]}}},
    {"services": {"web": {"image": "x", "ports": [{"target": 80, "bogus": 1}]}}},
    {"services": {"web": {"image": "x", "volumes": [{"target": "/x"}]}}},
    {"services": {"web": {"image": "x", "volumes": [{"type": "blind", "target": "/x"}]}}},
    {"services": {"web": {"image": "x", "depends_on": {"db": {"condition": "service_ready"}}}}},
    {"services": {"web": {"image": "x", "pull_policy": "hourly"}}},
    {"services": {"web": {"image": "x", "cgroup": "shared"}}},
    {"services": {"web": {"image": "x", "develop": {"watch": [{"path": ".", "action": "copy"}]}}}},
    {"services": {"web": {"image": "x", "deploy": {"update_config": {"order": "random"}}}}},
    {"services": {"web": {"image": "x", "blkio_config": {"x-a": 1}}}},
    {"services": {"web": {"image": "x", "cap_add": ["A", "A"]}}},
    {"services": {"we b": {"image": "x"}}},
    {"services": {}, "networks": {"n": {"ipam": {"config": [{"subnett": "x"}]}}}},
    {"services": {}, "volumes": {"v": {"driver": 1}}},
    {"services": {}, "models": {"m": {"context_size": 1}}},
    {"services": {}, "include": [{"path": "a.yaml", "bogus": 1}]},
    {"services": {}, "secrets": {"s": {"file": "a", "driver_opt": {}}}},
    {"services": {}, "frobnicate": True},
]


@pytest.mark.parametrize("doc", REFUSED_BY_THE_SPEC, ids=range(len(REFUSED_BY_THE_SPEC)))
def test_what_the_spec_refuses_is_refused(doc: dict[str, Any]) -> None:
    """The JSON Schema of the Compose Specification is an independent oracle for refusals."""
    if not SPEC_PATH.exists():
        pytest.skip("compose-spec.json test data not available")
    schema = json.loads(SPEC_PATH.read_text())
    assert list(jsonschema.Draft7Validator(schema).iter_errors(doc)), "the fixture should be invalid"
    with pytest.raises(ConfigErrors):
        validate_project(located(doc, Span(FILE, 1, 1)))


def test_duplicate_item_points_at_the_second_one() -> None:
    err = one_problem("services:\n  web:\n    image: x\n    cap_add:\n      - NET_ADMIN\n      - NET_ADMIN\n")
    assert err.message == 'services.web.cap_add[1]: "NET_ADMIN" is listed more than once'
    assert err.span == Span(FILE, 6, 9)


def test_bad_ulimit_name_points_at_the_key() -> None:
    err = one_problem("services:\n  web:\n    image: x\n    ulimits:\n      NoFile: 10\n")
    assert err.message == 'services.web.ulimits: invalid ulimit name "NoFile" (lowercase letters only)'
    assert err.span == Span(FILE, 5, 7)
