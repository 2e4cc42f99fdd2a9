"""The bad-input corpus: every user mistake is one located line on stderr, exit 1, no traceback, fast.

Each case writes its files into a fresh directory, runs `composer ... config` in-process and
checks the exit code, the `file:line:col` (when the mistake has a place) and the message.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.cli.bad_cases import CASES
from tests.cli.harness import run_cli, write_tree


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]
    where: str | None
    message: str
    args: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    command: tuple[str, ...] = ("config",)
    hint: str | None = None


@pytest.mark.parametrize("case", [Case(**c) for c in CASES], ids=lambda c: c.id)
def test_bad_input(case: Case, tmp_path: Path) -> None:
    write_tree(tmp_path, case.files)
    result = run_cli(tmp_path, [*case.args, *case.command], case.env)
    assert result.code == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("composer: error: ")]
    assert errors, result.stderr
    expected_prefix = f"composer: error: {case.where}: " if case.where else "composer: error: "
    matching = [line for line in errors if line.startswith(expected_prefix) and case.message in line]
    assert matching, f"wanted {expected_prefix}...{case.message!r} in:\n{result.stderr}"
    if case.hint:
        assert f"hint: {case.hint}" in result.stderr.splitlines()
    assert result.seconds < 1.0
    assert result.stdout == ""


def test_corpus_is_large_enough() -> None:
    assert len(CASES) >= 80
    assert len({c["id"] for c in CASES}) == len(CASES)
