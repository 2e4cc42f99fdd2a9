"""Random documents: the loader returns a project or raises composer's own error, nothing else.

And the JSON Schema of the Compose Specification is an independent oracle: every fixture composer
accepts must validate against it after interpolation, and so must composer's canonical output.
"""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from composer.errors import ComposerError, Diagnostics
from composer.schema.dotenv import parse_dotenv
from composer.schema.fs import MemoryFS
from composer.schema.interpolate import interpolate_tree
from composer.schema.loader import load_project
from composer.schema.options import LoadOptions
from composer.schema.tree import to_plain
from composer.schema.yamlio import read_documents
from composer.schema.yamlout import dump
from tests.cli.harness import run_cli

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = ROOT.parent / "shared" / "data" / "compose-spec" / "compose-spec.json"
FIXTURES = sorted(p.parent for p in (ROOT / "fixtures").rglob("compose.yaml"))

KEYS = ["image", "command", "entrypoint", "ports", "volumes", "environment", "depends_on", "networks",
        "healthcheck", "restart", "build", "labels", "profiles", "extends", "deploy", "secrets", "configs",
        "env_file", "network_mode", "scale", "container_name", "links", "ulimits", "x-note", "restat"]
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 70000), st.sampled_from(
    ["80", "8080:80", "a:/b:ro", "${X}", "${X:?boom}", "$$", "${", "web", "db", "1h", "512m", "host",
     "service:db", "./x:/y", "CMD", "no", "always", "[", "tcp", ""]))
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.sampled_from([*KEYS, "a", "b", "target", "source"]), inner,
                                                 max_size=3)), max_leaves=10)
services = st.dictionaries(st.sampled_from(["web", "db", "a-b"]),
                           st.dictionaries(st.sampled_from(KEYS), values, max_size=5), max_size=3)
documents = st.fixed_dictionaries({"services": services}, optional={
    "networks": st.dictionaries(st.sampled_from(["front", "default"]), values, max_size=2),
    "volumes": st.dictionaries(st.sampled_from(["data", "a"]), values, max_size=2),
    "name": scalars, "x-any": values})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_loader_only_raises_composer_errors(doc: dict[str, Any]) -> None:
    fs = MemoryFS({"/p/compose.yaml": dump(doc)})
    with contextlib.suppress(ComposerError):
        load_project(LoadOptions(cwd="/p", environ={"X": "1"}), fs)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_composer_errors(data: bytes) -> None:
    fs = MemoryFS({"/p/compose.yaml": data})
    with contextlib.suppress(ComposerError):
        load_project(LoadOptions(cwd="/p"), fs)


def _validator() -> Any:
    jsonschema = pytest.importorskip("jsonschema")
    if not SCHEMA.exists():
        pytest.skip(f"the Compose Specification schema is not at {SCHEMA}")
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text()))


YAML_FILES = sorted(p for p in (ROOT / "fixtures").rglob("*.yaml") if "images" not in p.parts)


@pytest.mark.parametrize("path", YAML_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_accepted_fixture_files_validate_against_the_spec_schema_after_interpolation(path: Path) -> None:
    validator = _validator()
    directory = path.parent
    result = run_cli(directory, ["-f", path.name, "--profile", "*", "config", "-q"], {"HOME": "/root"})
    if result.code != 0:
        pytest.skip(f"{path.name} is a fragment composer does not load on its own")
    env = {"HOME": "/root", "COMPOSE_PROJECT_NAME": "x"}
    dotenv = directory / ".env"
    if dotenv.exists():
        env = {**parse_dotenv(dotenv.read_text(), filename=str(dotenv)), **env}  # type: ignore[dict-item]
    for doc in read_documents(path.read_bytes(), str(path)):
        plain = to_plain(interpolate_tree(doc, env.get, Diagnostics()))
        errors = sorted(validator.iter_errors(plain), key=str)
        assert not errors, errors[0].message


@pytest.mark.parametrize("directory", FIXTURES, ids=lambda p: str(p.relative_to(ROOT)))
def test_canonical_output_validates_against_the_spec_schema(directory: Path) -> None:
    validator = _validator()
    result = run_cli(directory, ["--profile", "*", "config", "--format", "json"], {"HOME": "/root"})
    assert result.code == 0, result.stderr
    errors = sorted(validator.iter_errors(json.loads(result.stdout)), key=str)
    assert not errors, errors[0].message
