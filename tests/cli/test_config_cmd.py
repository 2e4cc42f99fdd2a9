"""`composer config` flags, end to end from the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.harness import run_cli, write_tree
from tests.cli.test_oracle_config import FIXTURES, oracle

WEB = "services:\n  web:\n    image: busybox\n"


def test_quiet_prints_nothing(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB})
    result = run_cli(tmp_path, ["config", "-q"])
    assert (result.code, result.stdout, result.stderr) == (0, "", "")


def test_output_file(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB})
    result = run_cli(tmp_path, ["config", "--format", "json", "-o", "out.json"])
    assert result.code == 0
    assert result.stdout == ""
    assert json.loads((tmp_path / "out.json").read_text())["services"]["web"]["image"] == "busybox"


def test_stdin(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["-f", "-", "config", "--services"], stdin=WEB.encode())
    assert (result.code, result.stdout) == (0, "web\n")


def test_stdin_errors_name_stdin(tmp_path: Path) -> None:
    result = run_cli(tmp_path, ["-f", "-", "config"], stdin=b"services:\n  web: {image: x, restat: no}\n")
    assert result.code == 1
    assert result.stderr.startswith("composer: error: <stdin>:2:19: ")


def test_hash_is_stable_and_follows_changes(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB + "  db:\n    image: postgres\n"})
    first = run_cli(tmp_path, ["config", "--hash", "*"]).stdout
    assert first == run_cli(tmp_path, ["config", "--hash", "*"]).stdout
    assert [line.split()[0] for line in first.splitlines()] == ["db", "web"]
    write_tree(tmp_path, {"compose.yaml": WEB + "    command: [sh]\n  db:\n    image: postgres\n"
                          "    depends_on: [web]\n    scale: 1\n"})
    second = dict(line.split() for line in run_cli(tmp_path, ["config", "--hash", "*"]).stdout.splitlines())
    before = dict(line.split() for line in first.splitlines())
    assert second["web"] != before["web"]
    assert second["db"] == before["db"]  # depends_on and scale never force a new container


def test_hash_of_unknown_service(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB})
    result = run_cli(tmp_path, ["config", "--hash", "nope"])
    assert result.code == 1
    assert 'no such service: "nope"' in result.stderr


def test_environment_lists_interpolation_variables(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB, ".env": "FROM_FILE=1\n"})
    lines = run_cli(tmp_path, ["config", "--environment"], {"FROM_SHELL": "2"}).stdout.splitlines()
    assert "FROM_FILE=1" in lines
    assert "FROM_SHELL=2" in lines
    assert f"COMPOSE_PROJECT_NAME={tmp_path.name.lower()}" in lines


def test_variables_table_and_json(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": 'services:\n  web:\n    image: "${IMG:-busybox}:${TAG:?}"\n'
                                          '    command: ["${X:+yes}"]\n'})
    table = run_cli(tmp_path, ["config", "--variables"]).stdout.splitlines()
    assert table[0].split() == ["NAME", "REQUIRED", "DEFAULT", "VALUE", "ALTERNATE", "VALUE"]
    assert table[1].split() == ["IMG", "false", "busybox"]
    assert table[2].split() == ["TAG", "true"]
    assert table[3].split() == ["X", "false", "yes"]
    data = json.loads(run_cli(tmp_path, ["config", "--variables", "--format", "json"]).stdout)
    assert data["TAG"] == {"Name": "TAG", "DefaultValue": "", "PresenceValue": "", "Required": True}


def test_selected_services_bring_their_dependencies(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB + "    depends_on: [db]\n  db:\n    image: pg\n  other:\n    image: o\n"})
    assert run_cli(tmp_path, ["config", "--services", "web"]).stdout == "db\nweb\n"
    document = json.loads(run_cli(tmp_path, ["config", "--format", "json", "web"]).stdout)
    assert sorted(document["services"]) == ["db", "web"]


def test_warnings_go_to_stderr_once(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": 'version: "3"\nservices:\n  web:\n    image: "a${U}${U}"\n'})
    result = run_cli(tmp_path, ["config", "-q"])
    assert result.code == 0
    assert result.stderr.count('The "U" variable is not set') == 1
    assert "`version` is obsolete" in result.stderr


def test_leading_compose_word_is_accepted(tmp_path: Path) -> None:
    write_tree(tmp_path, {"compose.yaml": WEB})
    assert run_cli(tmp_path, ["compose", "config", "--services"]).stdout == "web\n"


@pytest.mark.oracle
@pytest.mark.parametrize("mode", [["--no-normalize"], ["--no-normalize", "--format", "json"], ["--no-interpolate"]])
def test_raw_modes_equal_docker_compose(mode: list[str]) -> None:
    directory = FIXTURES / "envfiles"
    theirs = oracle(directory, ["config", *mode])
    ours = run_cli(directory, ["config", *mode], {"SHELL_PASS": "from-shell", "HOME": "/root"})
    assert ours.code == 0, ours.stderr
    if "json" in mode:
        assert json.loads(ours.stdout) == json.loads(theirs.stdout)
    else:
        assert ours.stdout == theirs.stdout
