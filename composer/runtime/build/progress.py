"""Build progress, BuildKit-like: `#3 [2/5] RUN ...`, the step's output prefixed by its number, then DONE or CACHED.

The same lines on a terminal and off one (a plain log reads best in CI); `quiet` prints nothing.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(self, out: TextIO | None = None, *, quiet: bool = False) -> None:
        self.out = out if out is not None else sys.stderr
        self.quiet = quiet
        self.number = 0
        self._started = 0.0

    def _write(self, text: str) -> None:
        if not self.quiet:
            self.out.write(text + "\n")
            self.out.flush()

    def step(self, label: str, text: str) -> None:
        self.number += 1
        self._started = time.monotonic()
        shown = text if len(text) <= 200 else text[:197] + "..."
        self._write(f"#{self.number} [{label}] {shown}")

    def cached(self) -> None:
        self._write(f"#{self.number} CACHED")

    def output(self, line: str) -> None:
        self._write(f"#{self.number} {line}")

    def done(self) -> None:
        self._write(f"#{self.number} DONE {time.monotonic() - self._started:.1f}s")

    def note(self, text: str) -> None:
        self._write(text)


__all__ = ["Progress"]
