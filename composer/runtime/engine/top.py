"""`docker top CONTAINER [ps OPTIONS]`: the host's `ps` output cut down to the container's processes.

As dockerd does it: run `ps` with the user's options (default `-ef`) on the host, find the PID column in
the header, and keep the rows whose pid is in the container's cgroup. The filter is a pure function of the
`ps` text; only `run_ps` starts a process.
"""

from __future__ import annotations

import subprocess
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from composer.errors import ComposerError

DEFAULT_PS_ARGS = ("-ef",)


@dataclass(frozen=True, slots=True)
class TopResult:
    """The API's shape of `top`: the column titles and one list of cells per process."""

    titles: list[str]
    processes: list[list[str]]

    def as_dict(self) -> dict[str, list[str] | list[list[str]]]:
        return {"Titles": self.titles, "Processes": self.processes}


def filter_ps(output: str, pids: Collection[int]) -> TopResult:
    """Keep `ps` rows of the given pids; the last column (the command) keeps its spaces.

    Raises ComposerError when the header has no PID column (e.g. `-o comm`), as Docker does."""
    lines = [line for line in output.splitlines() if line.strip()]
    if not lines:
        raise ComposerError("ps printed nothing")
    titles = lines[0].split()
    if "PID" not in titles:
        raise ComposerError("couldn't find PID field in ps output")
    pid_col = titles.index("PID")
    wanted = set(pids)
    processes: list[list[str]] = []
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= pid_col:
            continue
        try:
            pid = int(fields[pid_col])
        except ValueError:
            continue
        if pid not in wanted:
            continue
        last = len(titles) - 1
        processes.append([*fields[:last], " ".join(fields[last:])] if len(fields) > last else fields)
    return TopResult(titles, processes)


def run_ps(args: Sequence[str] = DEFAULT_PS_ARGS, *, ps: str = "ps") -> str:
    """`ps ARGS` on the host; its output, or ComposerError with ps's complaint."""
    try:
        proc = subprocess.run([ps, *args], capture_output=True, text=True, stdin=subprocess.DEVNULL, check=False)
    except OSError as e:
        raise ComposerError(f"error running ps: {e.strerror}")
    if proc.returncode != 0:
        raise ComposerError(f"ps {' '.join(args)} failed: {proc.stderr.strip() or f'exit status {proc.returncode}'}")
    return proc.stdout


def top(pids: Collection[int], args: Sequence[str] = DEFAULT_PS_ARGS, *, ps: str = "ps") -> TopResult:
    """The container's processes (`pids`, from `cgroups.cgroup_pids`) as `ps ARGS` describes them."""
    return filter_ps(run_ps(args or DEFAULT_PS_ARGS, ps=ps), pids)


def format_top(result: TopResult) -> str:
    """The docker CLI's `top` table: tab-separated cells through a tabwriter of min width 20, padding 3."""
    from composer.tabwriter import rows_table

    return rows_table([result.titles, *result.processes], minwidth=20, padding=3)
