"""Progress lines as Docker Compose prints them (` Container demo-web-1  Started`), on stderr."""

from __future__ import annotations

import sys
import threading
from typing import TextIO


class Progress:
    """Plain progress: one line per event. `quiet` prints nothing."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._lock = threading.Lock()

    def event(self, kind: str, name: str, status: str) -> None:
        if self.quiet:
            return
        label = f'"{name}"' if kind == "Volume" else name
        with self._lock:
            self.stream.write(f" {kind} {label}  {status}\n")
            self.stream.flush()

    def warn(self, message: str) -> None:
        with self._lock:
            self.stream.write(f"WARN[0000] {message}\n")
            self.stream.flush()
