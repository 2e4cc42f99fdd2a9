"""Run the `composer` CLI in-process on files written to a temporary directory."""

from __future__ import annotations

import contextlib
import io
import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from composer.cli.main import main


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str
    seconds: float


class _Stdin(io.StringIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data.decode(errors="replace"))
        self.buffer = io.BytesIO(data)


def write_tree(root: Path, files: Mapping[str, str | bytes]) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def run_cli(cwd: Path, args: list[str], env: Mapping[str, str] | None = None, stdin: bytes = b"") -> Result:
    """Call composer's entry point as the shell would, with exactly `env` as the environment."""
    out, err = io.StringIO(), io.StringIO()
    saved_env, saved_cwd, saved_stdin = dict(os.environ), os.getcwd(), sys.stdin
    os.environ.clear()
    os.environ.update({"PATH": saved_env.get("PATH", "/usr/bin:/bin"), "HOME": "/root", **(env or {})})
    os.chdir(cwd)
    sys.stdin = _Stdin(stdin)
    started = time.perf_counter()
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                main(args)
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        seconds = time.perf_counter() - started
        os.environ.clear()
        os.environ.update(saved_env)
        os.chdir(saved_cwd)
        sys.stdin = saved_stdin
    return Result(code, out.getvalue(), err.getvalue(), seconds)
