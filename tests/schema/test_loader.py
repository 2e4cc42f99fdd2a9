"""The whole loader on in-memory files: the loading facts of compose-semantics.md section 4.

Each test names the fact it checks (numbers from shared/reference/compose-semantics.md).
"""

from __future__ import annotations

from typing import Any

import pytest

from composer.errors import ComposerError
from composer.schema.fs import MemoryFS
from composer.schema.loader import LoadedProject, load_project
from composer.schema.options import LoadOptions
from composer.schema.tree import to_plain

WEB = "services:\n  web:\n    image: busybox\n"


def load(tree: dict[str, str], cwd: str = "/p", **options: Any) -> LoadedProject:
    return load_project(LoadOptions(cwd=cwd, **options), MemoryFS(dict(tree)))


def service(project: LoadedProject, name: str = "web") -> dict[str, Any]:
    value = to_plain(project.services[name])
    assert isinstance(value, dict)
    return value


# Project name & files (41-50)

def test_41_project_name_precedence() -> None:
    files = {"/p/dir/compose.yaml": "name: fromfile\n" + WEB}
    assert load(files, cwd="/p/dir").name == "fromfile"
    assert load(files, cwd="/p/dir", environ={"COMPOSE_PROJECT_NAME": "fromenv"}).name == "fromenv"
    assert load(files, cwd="/p/dir", environ={"COMPOSE_PROJECT_NAME": "fromenv"}, project_name="flag").name == "flag"
    assert load({"/p/My_Dir/compose.yaml": WEB}, cwd="/p/My_Dir").name == "my_dir"


def test_41_last_name_wins() -> None:
    files = {"/p/a.yaml": "name: first\n" + WEB, "/p/b.yaml": "name: second\n"}
    assert load(files, files=("a.yaml", "b.yaml")).name == "second"


def test_43_invalid_flag_is_an_error_but_name_field_is_normalized() -> None:
    with pytest.raises(ComposerError, match='invalid project name "Bad"'):
        load({"/p/compose.yaml": WEB}, project_name="Bad")
    assert load({"/p/compose.yaml": "name: My.App\n" + WEB}).name == "myapp"


def test_44_project_name_is_a_variable() -> None:
    project = load({"/p/compose.yaml": 'name: Demo\nservices:\n  web:\n    image: "img-${COMPOSE_PROJECT_NAME}"\n'})
    assert service(project)["image"] == "img-demo"


def test_45_version_is_obsolete() -> None:
    project = load({"/p/compose.yaml": "version: '3.8'\n" + WEB})
    assert any("`version` is obsolete" in w for w in project.diagnostics.warnings)
    assert "version" not in project.doc


def test_46_lookup_order_and_parents() -> None:
    files = {"/p/docker-compose.yml": WEB.replace("busybox", "dc"), "/p/compose.yaml": WEB, "/p/sub/deep/x": ""}
    assert service(load(files, cwd="/p/sub/deep"))["image"] == "busybox"


def test_47_override_only_when_discovered() -> None:
    files = {"/p/compose.yaml": WEB, "/p/compose.override.yaml": "services:\n  web:\n    image: over\n"}
    assert service(load(files))["image"] == "over"
    assert service(load(files, files=("compose.yaml",)))["image"] == "busybox"


def test_48_relative_paths_resolve_against_first_files_directory() -> None:
    files = {"/p/app/compose.yaml": WEB + "    volumes: ['./data:/data']\n", "/p/extra.yaml": WEB}
    project = load(files, files=("app/compose.yaml", "extra.yaml"))
    assert service(project)["volumes"][0]["source"] == "/p/app/data"
    moved = load(files, files=("app/compose.yaml",), project_directory="/elsewhere")
    assert service(moved)["volumes"][0]["source"] == "/elsewhere/data"


def test_48_stdin_resolves_against_working_directory() -> None:
    project = load({}, files=("-",), stdin=(WEB + "    build: ./ctx\n").encode())
    assert service(project)["build"]["context"] == "/p/ctx"


def test_49_50_compose_file_and_flags() -> None:
    files = {"/p/a.yaml": WEB, "/p/b.yaml": "services:\n  web:\n    image: b\n"}
    assert service(load(files, environ={"COMPOSE_FILE": "a.yaml:b.yaml"}))["image"] == "b"
    assert service(load(files, environ={"COMPOSE_FILE": "a.yaml:b.yaml"}, files=("a.yaml",)))["image"] == "busybox"


# Merge and interpolation per file (51-57)

def test_52_53_command_replaced_ports_unique() -> None:
    files = {"/p/a.yaml": WEB + "    command: [a, b]\n    ports: ['80:80']\n",
             "/p/b.yaml": "services:\n  web:\n    command: [c]\n    ports: ['80:80', '81:81']\n"}
    web = service(load(files, files=("a.yaml", "b.yaml")))
    assert web["command"] == ["c"]
    assert [p["published"] for p in web["ports"]] == ["80", "81"]


def test_55_reset_and_override() -> None:
    files = {"/p/a.yaml": WEB + "    ports: ['80:80']\n    environment: {A: '1', B: '2'}\n",
             "/p/b.yaml": "services:\n  web:\n    ports: !reset []\n    environment: !override {C: '3'}\n"}
    web = service(load(files, files=("a.yaml", "b.yaml")))
    assert "ports" not in web
    assert web["environment"] == {"C": "3"}


def test_57_interpolation_per_file_before_merge() -> None:
    files = {"/p/a.yaml": WEB + "    environment: {X: '$$LITERAL'}\n",
             "/p/b.yaml": "services:\n  web:\n    environment: {Y: '${V}'}\n"}
    web = service(load(files, files=("a.yaml", "b.yaml"), environ={"V": "v", "LITERAL": "no"}))
    assert web["environment"] == {"X": "$LITERAL", "Y": "v"}


# Interpolation and environment (60-72)

def test_64_unset_variable_warns_once() -> None:
    project = load({"/p/compose.yaml": 'services:\n  web:\n    image: "a${U}"\n    command: ["${U}"]\n'})
    assert service(project)["image"] == "a"
    assert [w for w in project.diagnostics.warnings if '"U"' in w] == [
        'compose.yaml:3:12: The "U" variable is not set. Defaulting to a blank string.']


def test_65_keys_are_not_interpolated() -> None:
    web = service(load({"/p/compose.yaml": WEB + "    labels: {'${K}': v}\n"}, environ={"K": "k"}))
    assert web["labels"] == {"${K}": "v"}


def test_66_shell_beats_dotenv() -> None:
    files = {"/p/compose.yaml": 'services:\n  web:\n    image: "${T}"\n', "/p/.env": "T=file\n"}
    assert service(load(files))["image"] == "file"
    assert service(load(files, environ={"T": "shell"}))["image"] == "shell"


def test_70_71_environment_beats_env_file_and_env_file_order() -> None:
    files = {"/p/compose.yaml": WEB + "    env_file: [one.env, two.env]\n    environment: {A: compose}\n",
             "/p/one.env": "A=one\nB=one\nC=one\n", "/p/two.env": "B=two\n"}
    assert service(load(files))["environment"] == {"A": "compose", "B": "two", "C": "one"}


def test_70_optional_env_file() -> None:
    files = {"/p/compose.yaml": WEB + "    env_file: [{path: nope.env, required: false}]\n"}
    assert "environment" not in service(load(files))


def test_72_key_only_environment() -> None:
    files = {"/p/compose.yaml": WEB + "    environment: [FROM_SHELL, MISSING]\n"}
    assert service(load(files, environ={"FROM_SHELL": "x"}))["environment"] == {"FROM_SHELL": "x", "MISSING": None}


# Profiles (36-40)

PROFILED = "services:\n  web:\n    image: w\n  dbg:\n    image: d\n    profiles: [debug]\n"


def test_36_37_39_40_profiles() -> None:
    files = {"/p/compose.yaml": PROFILED}
    assert list(load(files).services) == ["web"]
    assert list(load(files, profiles=("debug",)).services) == ["web", "dbg"]
    assert list(load(files, environ={"COMPOSE_PROFILES": "debug"}).services) == ["web", "dbg"]
    assert list(load(files, profiles=("*",)).services) == ["web", "dbg"]
    assert list(load(files, services=("dbg",)).services) == ["web", "dbg"]


def test_38_profiles_do_not_touch_declared_networks() -> None:
    files = {"/p/compose.yaml": PROFILED + "    networks: [tools]\nnetworks:\n  tools: {}\n"}
    assert "tools" in load(files, profiles=("debug",)).doc["networks"]


# Naming and normalization (78, 93-96)

def test_78_resource_names() -> None:
    text = WEB + ("    networks: [front, ext]\n    volumes: ['data:/d', 'outside:/o']\n"
                  "networks:\n  front: {}\n  ext: {external: true}\n"
                  "volumes:\n  data: {}\n  outside: {external: true}\n")
    doc = to_plain(load({"/p/compose.yaml": text}, project_name="demo").doc)
    assert doc["networks"]["front"]["name"] == "demo_front"
    assert doc["networks"]["ext"]["name"] == "ext"
    assert doc["volumes"]["data"]["name"] == "demo_data"
    assert doc["volumes"]["outside"]["name"] == "outside"


def test_73_default_network() -> None:
    doc = to_plain(load({"/p/compose.yaml": WEB}, project_name="demo").doc)
    assert doc["services"]["web"]["networks"] == {"default": None}
    assert doc["networks"]["default"]["name"] == "demo_default"


def test_33_implicit_dependencies() -> None:
    text = WEB + "    links: [db]\n    volumes_from: [data]\n  db: {image: d}\n  data: {image: d}\n"
    depends = service(load({"/p/compose.yaml": text}))["depends_on"]
    assert set(depends) == {"db", "data"}
    assert depends["db"] == {"condition": "service_started", "restart": True, "required": True}


def test_96_build_defaults() -> None:
    web = service(load({"/p/compose.yaml": WEB + "    build: .\n"}))
    assert web["build"] == {"context": "/p", "dockerfile": "Dockerfile"}


def test_94_durations_and_sizes_are_checked() -> None:
    with pytest.raises(ComposerError, match="duration"):
        load({"/p/compose.yaml": WEB + "    stop_grace_period: 1x\n"})
    project = load({"/p/compose.yaml": WEB + "    stop_grace_period: 1h5m30s20ms\n    shm_size: 1gb\n"})
    assert project.model.services["web"].shm_size == 1024**3


def test_95_extensions_are_allowed_everywhere_they_may_be() -> None:
    project = load({"/p/compose.yaml": "x-top: 1\n" + WEB + "    x-note: hi\n"})
    assert "x-top" in project.doc


def test_include_has_its_own_directory_and_dotenv() -> None:
    files = {"/p/compose.yaml": "include: [sub/compose.yaml]\n" + WEB,
             "/p/sub/compose.yaml": 'services:\n  db:\n    image: "pg:${PG}"\n    volumes: [./init:/init]\n',
             "/p/sub/.env": "PG=16\n"}
    db = service(load(files), "db")
    assert db["image"] == "pg:16"
    assert db["volumes"][0]["source"] == "/p/sub/init"


def test_all_problems_are_reported_together() -> None:
    text = WEB + "    restat: always\n    networks: [nope]\n  db:\n    image: x\n    depends_on: [ghost]\n"
    with pytest.raises(ComposerError) as info:
        load({"/p/compose.yaml": text})
    lines = info.value.lines()
    assert any('unknown key "restat"' in line for line in lines)
    assert any('undefined network "nope"' in line for line in lines)
    assert any('undefined service "ghost"' in line for line in lines)
