"""Files, project directory and variables, as Docker Compose v2 resolves them (checked against its binary)."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError
from composer.schema.fs import MemoryFS
from composer.schema.naming import check_project_name, normalize_project_name
from composer.schema.options import LoadOptions, discover, resolve_sources


def test_discovery_prefers_compose_yaml_and_walks_up() -> None:
    fs = MemoryFS({"/p/compose.yml": "", "/p/docker-compose.yml": "", "/p/compose.yaml": "", "/p/a/b/x": ""})
    assert discover(fs, "/p/a/b") == ["/p/compose.yaml"]


@pytest.mark.parametrize("name", ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"])
def test_each_default_name_is_found(name: str) -> None:
    assert discover(MemoryFS({f"/p/{name}": ""}), "/p") == [f"/p/{name}"]


def test_override_file_only_with_discovery() -> None:
    fs = MemoryFS({"/p/compose.yaml": "", "/p/compose.override.yaml": "", "/p/other.yaml": ""})
    found = resolve_sources(LoadOptions(cwd="/p"), fs)
    assert found.files == ("/p/compose.yaml", "/p/compose.override.yaml")
    explicit = resolve_sources(LoadOptions(cwd="/p", files=("other.yaml",)), fs)
    assert explicit.files == ("/p/other.yaml",)


def test_docker_compose_override_pairs_with_docker_compose() -> None:
    fs = MemoryFS({"/p/docker-compose.yml": "", "/p/docker-compose.override.yml": ""})
    assert discover(fs, "/p") == ["/p/docker-compose.yml", "/p/docker-compose.override.yml"]


def test_no_file_is_an_error() -> None:
    with pytest.raises(ComposerError, match="no configuration file provided"):
        resolve_sources(LoadOptions(cwd="/empty"), MemoryFS({}))


def test_compose_file_variable_and_separator() -> None:
    fs = MemoryFS({"/p/a.yaml": "", "/p/b.yaml": ""})
    found = resolve_sources(LoadOptions(cwd="/p", environ={"COMPOSE_FILE": "a.yaml:b.yaml"}), fs)
    assert found.files == ("/p/a.yaml", "/p/b.yaml")
    found = resolve_sources(LoadOptions(cwd="/p", environ={"COMPOSE_FILE": "a.yaml;b.yaml",
                                                           "COMPOSE_PATH_SEPARATOR": ";"}), fs)
    assert found.files == ("/p/a.yaml", "/p/b.yaml")
    assert not found.discovered


def test_flags_beat_compose_file() -> None:
    fs = MemoryFS({"/p/a.yaml": "", "/p/b.yaml": ""})
    found = resolve_sources(LoadOptions(cwd="/p", files=("b.yaml",), environ={"COMPOSE_FILE": "a.yaml"}), fs)
    assert found.files == ("/p/b.yaml",)


def test_project_directory_is_first_files_directory_or_flag() -> None:
    fs = MemoryFS({"/p/sub/a.yaml": "", "/p/b.yaml": ""})
    assert resolve_sources(LoadOptions(cwd="/p", files=("sub/a.yaml", "b.yaml")), fs).project_directory == "/p/sub"
    opts = LoadOptions(cwd="/p", files=("sub/a.yaml",), project_directory="/elsewhere")
    assert resolve_sources(opts, fs).project_directory == "/elsewhere"
    assert resolve_sources(LoadOptions(cwd="/p", files=("-",)), fs).project_directory == "/p"


def test_project_dotenv_and_shell_precedence() -> None:
    fs = MemoryFS({"/proj/compose.yaml": "", "/proj/.env": "A=proj\nB=proj\n"})
    found = resolve_sources(LoadOptions(cwd="/cwd", files=("/proj/compose.yaml",), environ={"A": "shell"}), fs)
    assert found.environment["A"] == "shell"
    assert found.environment["B"] == "proj"


def test_working_directory_dotenv_is_ignored_with_explicit_files() -> None:
    # As docker compose v2.40: `-f ../proj/compose.yaml` reads only the project's .env.
    fs = MemoryFS({"/proj/compose.yaml": "", "/proj/.env": "A=proj\n", "/cwd/.env": "A=cwd\nC=cwd\n"})
    found = resolve_sources(LoadOptions(cwd="/cwd", files=("../proj/compose.yaml",)), fs)
    assert found.environment == {"A": "proj"}


def test_working_directory_dotenv_can_name_the_files_and_wins_over_the_projects() -> None:
    fs = MemoryFS({"/proj/compose.yaml": "", "/proj/.env": "A=proj\nB=proj\n",
                   "/cwd/.env": "COMPOSE_FILE=../proj/compose.yaml\nA=cwd\n"})
    found = resolve_sources(LoadOptions(cwd="/cwd"), fs)
    assert found.files == ("/proj/compose.yaml",)
    assert (found.environment["A"], found.environment["B"]) == ("cwd", "proj")


def test_env_files_later_wins_and_replace_default() -> None:
    fs = MemoryFS({"/p/compose.yaml": "", "/p/.env": "A=default\n", "/p/one.env": "A=1\nB=1\n", "/p/two.env": "A=2\n"})
    found = resolve_sources(LoadOptions(cwd="/p", env_files=("one.env", "two.env")), fs)
    assert (found.environment["A"], found.environment["B"]) == ("2", "1")
    assert found.env_files == ("/p/one.env", "/p/two.env")


def test_compose_env_files_variable() -> None:
    fs = MemoryFS({"/p/compose.yaml": "", "/p/.env": "A=default\n", "/p/x.env": "A=x\n"})
    found = resolve_sources(LoadOptions(cwd="/p", environ={"COMPOSE_ENV_FILES": "x.env"}), fs)
    assert found.environment["A"] == "x"


def test_disable_env_file() -> None:
    fs = MemoryFS({"/p/compose.yaml": "", "/p/.env": "A=default\n"})
    found = resolve_sources(LoadOptions(cwd="/p", environ={"COMPOSE_DISABLE_ENV_FILE": "1"}), fs)
    assert "A" not in found.environment


def test_missing_env_file_is_an_error() -> None:
    fs = MemoryFS({"/p/compose.yaml": ""})
    with pytest.raises(ComposerError, match=r"couldn't find env file: /p/nope\.env"):
        resolve_sources(LoadOptions(cwd="/p", env_files=("nope.env",)), fs)


def test_dotenv_values_are_interpolated_with_the_shell() -> None:
    fs = MemoryFS({"/p/compose.yaml": "", "/p/.env": "A=${HOMEDIR}/x\nB=$A/y\n"})
    found = resolve_sources(LoadOptions(cwd="/p", environ={"HOMEDIR": "/h"}), fs)
    assert (found.environment["A"], found.environment["B"]) == ("/h/x", "/h/x/y")


@pytest.mark.parametrize(("raw", "normal"), [("My Proj.X", "myprojx"), ("Foo_Bar", "foo_bar"), ("__x-y", "x-y"),
                                             ("ÄBC", "bc"), ("-", "")])
def test_normalize_project_name(raw: str, normal: str) -> None:
    assert normalize_project_name(raw) == normal


@pytest.mark.parametrize("bad", ["Bad", "-x", "_x", "a.b", "a b", ""])
def test_explicit_project_name_must_be_valid(bad: str) -> None:
    with pytest.raises(ComposerError, match="invalid project name"):
        check_project_name(bad, source="-p")


def test_valid_project_name() -> None:
    assert check_project_name("a_b-9", source="-p") == "a_b-9"
