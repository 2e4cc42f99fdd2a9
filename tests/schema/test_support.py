"""The support table: every key of the model classified, its tests real, its docs current, its warnings loud."""

from __future__ import annotations

import re
import types
import typing
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel

from composer.schema import support
from composer.schema.fs import MemoryFS
from composer.schema.loader import LoadedProject, load_project
from composer.schema.models import EXTENSIONS_ALIAS, Project
from composer.schema.options import LoadOptions
from tests.cli.harness import run_cli, write_tree

ROOT = Path(__file__).resolve().parents[2]


# --- the table against the models ---------------------------------------------------------------


def _held(annotation: Any) -> list[tuple[str, type[BaseModel]]]:
    """An independent walk (not support's own): the models a field holds, and how."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [("", annotation)]
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is typing.Annotated:
        return _held(args[0])
    if origin in (typing.Union, types.UnionType):
        return [h for a in args for h in _held(a)]
    if origin in (tuple, list):
        return [("[]" + s, m) for a in args if a is not Ellipsis for s, m in _held(a)]
    if origin is dict:
        return [(".*" + s, m) for s, m in _held(args[1])]
    return []


def _paths(model: type[BaseModel], prefix: str = "") -> set[str]:
    out: set[str] = set()
    for name, info in model.model_fields.items():
        key = info.alias or name
        if key == EXTENSIONS_ALIAS:
            continue
        path = f"{prefix}.{key}" if prefix else key
        out.add(path)
        for suffix, inner in _held(info.annotation):
            out |= _paths(inner, path + suffix)
    return out


def test_every_field_of_the_model_is_in_the_table_and_nothing_else() -> None:
    fields = _paths(Project)
    table = set(support.table())
    assert sorted(fields - table) == [], "fields of the model missing from composer/schema/support.py"
    assert sorted(table - fields) == [], "the support table names keys the model does not have"
    assert set(support.model_paths()) == fields


def test_the_walk_goes_through_nested_models_lists_and_maps() -> None:
    table = support.table()
    for path in ("services.*.cap_add", "services.*.deploy.resources.limits.cpus", "networks.*.driver_opts",
                 "volumes.*.external", "secrets.*.file", "services.*.volumes[].bind.propagation",
                 "services.*.networks.*.ipv4_address", "services.*.ulimits.*.soft", "include[].path",
                 "networks.*.ipam.config[].subnet", "services.*.develop.watch[].exec.command"):
        assert path in table, path


def test_entries_are_well_formed() -> None:
    for path, entry in support.table().items():
        assert entry.status in support.STATUSES, path
        if entry.status == "honoured":
            assert entry.test, f"{path} is honoured but names no test"
        else:
            assert entry.note, f"{path} is {entry.status} without a note saying why"
        if entry.instead:
            assert entry.status in ("ignored", "partial"), path


def _test_functions() -> set[str]:
    """`tests/...::name` of every test function, read from the files' text (nothing imported)."""
    out = set()
    for path in (ROOT / "tests").rglob("test_*.py"):
        rel = path.relative_to(ROOT).as_posix()
        out |= {f"{rel}::{m}" for m in re.findall(r"^(?:async )?def (test_\w+)\(", path.read_text(), re.M)}
    return out


def test_every_named_test_exists() -> None:
    known = _test_functions()
    missing = sorted({e.test for e in support.table().values() if e.test and e.test not in known})
    assert missing == []


def test_counts_add_up() -> None:
    counts = support.counts()
    assert sum(counts.values()) == len(support.table())
    assert all(counts[s] > 0 for s in ("honoured", "partial", "ignored", "refused"))


def test_the_committed_docs_are_the_generated_ones() -> None:
    committed = (ROOT / "docs" / "support.md").read_text()
    assert committed == support.markdown(), "run: python -m composer.schema.support --markdown > docs/support.md"


def test_readme_links_the_table() -> None:
    assert "docs/support.md" in (ROOT / "README.md").read_text()


def test_markdown_has_one_row_per_key() -> None:
    rows = [line for line in support.markdown().splitlines() if line.startswith("| `")]
    assert len(rows) == len(support.table())
    assert "| `services.*.userns_mode` | ignored | no user namespaces |  |" in rows


# --- warnings from the loader -------------------------------------------------------------------


def load(text: str, **options: Any) -> LoadedProject:
    return load_project(LoadOptions(cwd="/p", **options), MemoryFS({"/p/compose.yaml": text}))


def test_an_ignored_key_warns_once_per_use_with_its_place() -> None:
    project = load("services:\n  web:\n    image: busybox\n    userns_mode: host\n"
                   "  db:\n    image: busybox\n    userns_mode: host\n")
    assert project.diagnostics.warnings == [
        "compose.yaml:4:5: services.web.userns_mode is not supported by composer's native engine: ignored",
        "compose.yaml:7:5: services.db.userns_mode is not supported by composer's native engine: ignored",
    ]
    assert [span.line if span else 0 for _, span in project.unsupported] == [4, 7]


def test_the_warning_says_what_composer_does_instead() -> None:
    project = load("services:\n  web:\n    image: busybox\n    logging:\n      driver: syslog\n"
                   "      options: {tag: x}\n")
    assert project.diagnostics.warnings == [
        "compose.yaml:4:5: services.web.logging is not supported by composer's native engine: "
        "ignored (logs go to composer's own log file)"
    ]  # one warning for the object, none for its keys


def test_keys_inside_lists_and_maps_are_named_by_index_and_name() -> None:
    project = load("services:\n  web:\n    image: busybox\n    networks:\n      front:\n        interface_name: x\n"
                   "    ports:\n      - 80:80\n      - {target: 81, app_protocol: http}\n"
                   "networks:\n  front:\n    attachable: true\n")
    assert [m.split(" is ")[0] for m in project.diagnostics.warnings] == [
        "compose.yaml:6:9: services.web.networks.front.interface_name",
        "compose.yaml:9:22: services.web.ports[1].app_protocol",
        "compose.yaml:12:5: networks.front.attachable",
    ]


def test_honoured_keys_defaults_and_extensions_are_quiet() -> None:
    project = load("version: '3'\nx-common: {a: 1}\nservices:\n  web:\n    image: busybox\n    cap_add: [NET_ADMIN]\n"
                   "    ports: ['8080:80', {target: 81, mode: ingress}]\n    volumes: ['./d:/d']\n"
                   "    deploy: {resources: {limits: {cpus: '0.5'}}}\n    x-note: hi\n"
                   "configs:\n  app:\n    content: hello\n")
    assert not [w for w in project.diagnostics.warnings if "not supported" in w or "partly" in w]
    assert project.unsupported == []


def test_a_partly_honoured_key_warns_only_when_it_says_what_is_missing() -> None:
    project = load("services:\n  web:\n    image: busybox\n    stdin_open: true\n    networks: [front]\n"
                   "networks:\n  front:\n    driver_opts: {com.docker.network.bridge.name: br9}\n")
    assert project.diagnostics.warnings == [
        "compose.yaml:8:5: networks.front.driver_opts is only partly supported by composer's native engine: "
        "only macvlan/ipvlan options (parent, mode) take effect"
    ]


def test_services_of_disabled_profiles_are_not_warned_about() -> None:
    project = load("services:\n  web:\n    image: busybox\n  dbg:\n    image: busybox\n    profiles: [debug]\n"
                   "    userns_mode: host\n")
    assert project.unsupported == []


def test_raw_loads_still_find_the_keys() -> None:
    project = load("services:\n  web:\n    image: busybox\n    userns_mode: host\n", normalize=False,
                   interpolate=False)
    assert len(project.unsupported) == 1


# --- the CLI: config, --strict ------------------------------------------------------------------

UNSUPPORTED = "services:\n  web:\n    image: busybox\n    userns_mode: host\n    runtime: kata\n"


def test_config_warns_on_stderr_and_still_prints(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": UNSUPPORTED})
    result = run_cli(tmp_path, ["config", "--services"])
    assert (result.code, result.stdout) == (0, "web\n")
    assert result.stderr.splitlines() == [
        "composer: warning: compose.yaml:4:5: services.web.userns_mode is not supported by composer's native "
        "engine: ignored",
        "composer: warning: compose.yaml:5:5: services.web.runtime is not supported by composer's native "
        "engine: ignored (composer's configured runtime is used)",
    ]


def test_strict_makes_every_unsupported_key_an_error(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": UNSUPPORTED})
    result = run_cli(tmp_path, ["--strict", "config"])
    assert (result.code, result.stdout) == (1, "")
    lines = result.stderr.splitlines()
    assert lines[0].startswith("composer: error: compose.yaml:4:5: services.web.userns_mode is not supported")
    assert lines[1].startswith("composer: error: compose.yaml:5:5: services.web.runtime is not supported")
    assert lines[-1].startswith("hint: --strict")
    assert "warning" not in result.stderr


@pytest.mark.parametrize("args", [["--strict", "config", "-q"], ["config", "-q"]])
def test_a_supported_file_is_quiet_with_or_without_strict(tmp_path: Path, args: list[str]) -> None:
    write_tree(tmp_path, {"compose.yaml": "services:\n  web:\n    image: busybox\n    read_only: true\n"})
    result = run_cli(tmp_path, args)
    assert (result.code, result.stdout, result.stderr) == (0, "", "")
