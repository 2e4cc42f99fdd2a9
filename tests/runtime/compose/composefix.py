"""Running Compose commands of the CLI on a test's engine roots, with a compose file in the test's directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.cli.harness import Result, run_cli
from tests.runtime.engine.enginefix import EngineEnv


def compose(env: EngineEnv, *args: str, cwd: Path | None = None, extra_env: dict[str, str] | None = None) -> Result:
    """`composer ARGS` in-process, in `cwd` (default the test's tmp dir), on the test's engine."""
    return run_cli(cwd or env.tmp, list(args), env={**env.env, **(extra_env or {})})


def compose_process(env: EngineEnv, *args: str, cwd: Path | None = None, timeout: float = 120,
                    **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "composer", *args], env={**os.environ, **env.env},
                          capture_output=True, text=True, timeout=timeout, cwd=cwd or env.tmp, **kwargs)


def down_all(env: EngineEnv, project: str) -> None:
    """What a test made, gone: `down -v` of the project (the fixture checks for leaks after)."""
    run_cli(env.tmp, ["-p", project, "down", "-v", "-t", "1"], env=env.env)
