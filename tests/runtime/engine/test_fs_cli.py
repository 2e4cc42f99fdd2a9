"""`composer container diff|commit|export|cp` from the CLI on real containers."""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.cli.harness import run_cli
from tests.runtime.engine.enginefix import BASE, EngineEnv

pytestmark = pytest.mark.root


def _names(data: bytes) -> set[str]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name.rstrip("/") for m in tar.getmembers()}


def test_diff_commit_and_run_the_new_image(eng: EngineEnv) -> None:
    r = eng.cli("run", "--name", "src", BASE, "sh", "-c", "mkdir /srv && echo hi > /srv/new && rm /bin/ls")
    assert r.code == 0, r.stderr
    lines = eng.cli("diff", "src").stdout.splitlines()
    assert "A /srv/new" in lines
    assert "D /bin/ls" in lines
    assert "C /bin" in lines
    r = eng.cli("commit", "-m", "snapshot", "-c", "ENV FROM_COMMIT=1", "src", "composer-test/committed:v1")
    assert r.code == 0, r.stderr
    assert r.stdout.startswith("sha256:")
    out = eng.cli("run", "--rm", "composer-test/committed:v1", "sh", "-c",
                  "cat /srv/new; echo $FROM_COMMIT; test -e /bin/ls || echo gone")
    assert out.stdout == "hi\n1\ngone\n"
    history = run_cli(eng.tmp, ["image", "history", "composer-test/committed:v1"], env=eng.env).stdout
    assert "snapshot" in history


def test_export_is_the_merged_filesystem(eng: EngineEnv, tmp_path: Path) -> None:
    eng.cli("run", "--name", "x", BASE, "sh", "-c", "echo data > /exported")
    target = tmp_path / "x.tar"
    assert eng.cli("export", "-o", str(target), "x").code == 0
    names = _names(target.read_bytes())
    assert {"exported", "bin/busybox", "bin/sh"} <= names
    streamed = subprocess.run([sys.executable, "-m", "composer", "container", "export", "x"],
                              env={**eng.env, "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}, capture_output=True)
    assert streamed.returncode == 0
    assert _names(streamed.stdout) == names


def test_cp_both_directions(eng: EngineEnv, tmp_path: Path) -> None:
    eng.cli("run", "-d", "--name", "box", BASE, "sleep", "100")
    host = tmp_path / "in"
    (host / "sub").mkdir(parents=True)
    (host / "sub" / "f").write_text("payload")
    assert eng.cli("cp", str(host), "box:/tmp").code == 0
    assert eng.cli_process("exec", "box", "cat", "/tmp/in/sub/f").stdout == "payload"
    assert eng.cli("cp", "box:/tmp/in/sub/.", str(tmp_path / "back")).code == 0
    assert (tmp_path / "back" / "f").read_text() == "payload"
    r = eng.cli("cp", "box:/nope", str(tmp_path / "n"))
    assert r.code == 1
    assert "no such file or directory in the container" in r.stderr
    r = eng.cli("cp", "a", "b")
    assert r.code == 1
    assert "CONTAINER:PATH" in r.stderr
