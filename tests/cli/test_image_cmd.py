"""`composer image ...` end to end, on images built by fixtures/images/build.py into a private state root."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.harness import run_cli

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("images")
    subprocess.run([sys.executable, str(ROOT / "fixtures" / "images" / "build.py"), str(out)], check=True,
                   capture_output=True)
    return out


def test_load_list_tag_inspect_save_rm(archives: Path, tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "state")}
    loaded = run_cli(tmp_path, ["image", "load", "-i", str(archives / "busybox-docker.tar")], env)
    assert loaded.code == 0, loaded.stderr
    assert "Loaded image: composer-fixture/app:latest" in loaded.stdout.splitlines()

    listed = run_cli(tmp_path, ["image", "ls", "--format", "json"], env)
    rows = [json.loads(line) for line in listed.stdout.splitlines()]
    assert {(r["Repository"], r["Tag"]) for r in rows} >= {("composer-fixture/app", "latest")}

    assert run_cli(tmp_path, ["image", "tag", "composer-fixture/app", "localhost/busybox:1"], env).code == 0
    inspected = json.loads(run_cli(tmp_path, ["image", "inspect", "localhost/busybox:1"], env).stdout)[0]
    assert "localhost/busybox:1" in inspected["RepoTags"]
    assert inspected["Config"]["WorkingDir"]

    saved = run_cli(tmp_path, ["image", "save", "-o", "out.tar", "localhost/busybox:1"], env)
    assert saved.code == 0, saved.stderr
    other = {"COMPOSER_ROOT": str(tmp_path / "other")}
    again = run_cli(tmp_path, ["image", "load", "-i", "out.tar"], other)
    assert "Loaded image: localhost/busybox:1" in again.stdout

    removed = run_cli(tmp_path, ["image", "rm", "localhost/busybox:1"], env)
    assert removed.stdout.splitlines() == ["Untagged: localhost/busybox:1"]


def test_oci_archive_from_stdin(archives: Path, tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "state")}
    result = run_cli(tmp_path, ["image", "load"], env, stdin=(archives / "busybox-oci.tar").read_bytes())
    assert result.code == 0, result.stderr
    assert "composer-fixture/app:latest" in result.stdout


def test_user_errors_are_one_line(archives: Path, tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "state")}
    missing = run_cli(tmp_path, ["image", "inspect", "nope"], env)
    assert (missing.code, missing.stderr) == (1, "composer: error: No such image: nope\n")
    (tmp_path / "junk.tar").write_bytes(b"not a tar")
    junk = run_cli(tmp_path, ["image", "load", "-i", "junk.tar"], env)
    assert junk.code == 1
    assert junk.stderr.startswith("composer: error: ")
    assert "Traceback" not in junk.stderr
