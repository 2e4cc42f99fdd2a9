"""Progress as Docker Compose shows it: one line per resource, redrawn in place on a terminal
(`[+] Running 3/4` then ` ✔ Container demo-web-1  Started  0.4s`), plain lines otherwise
(` Container demo-web-1  Started`), nothing with `--progress quiet`, JSON lines with `--progress json`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from typing import TextIO

DONE = {"Created", "Started", "Stopped", "Removed", "Running", "Healthy", "Exited", "Recreated", "Killed",
        "Paused", "Unpaused", "Restarted", "Pulled", "Pushed", "Built", "Skipped"}
SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"


def choose_mode(progress: str | None, ansi: str, stream: TextIO) -> str:
    """tty, plain, quiet or json, from `--progress`, `--ansi`, COMPOSE_PROGRESS/COMPOSE_ANSI and the stream."""
    wanted = progress or os.environ.get("COMPOSE_PROGRESS") or "auto"
    ansi = os.environ.get("COMPOSE_ANSI", ansi) if ansi == "auto" else ansi
    if wanted in ("plain", "quiet", "json"):
        return wanted
    if wanted == "tty" or ansi == "always":
        return "tty"
    if ansi == "never" or os.environ.get("NO_COLOR"):
        return "plain"
    try:
        return "tty" if stream.isatty() else "plain"
    except (AttributeError, ValueError):
        return "plain"


class Progress:
    """Thread-safe: engine calls run in worker threads and report from there."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False, mode: str = "plain") -> None:
        self.stream = stream or (sys.stdout if os.environ.get("COMPOSE_STATUS_STDOUT") else sys.stderr)
        self.mode = "quiet" if quiet else mode
        self._lock = threading.Lock()
        self._lines: dict[str, tuple[str, str, float, float | None]] = {}  # id -> (kind, status, start, end)
        self._drawn = 0

    @property
    def quiet(self) -> bool:
        return self.mode == "quiet"

    def event(self, kind: str, name: str, status: str) -> None:
        if self.mode == "quiet":
            return
        label = f'"{name}"' if kind == "Volume" else name
        with self._lock:
            if self.mode == "json":
                self.stream.write(json.dumps({"id": f"{kind} {label}", "status": status}) + "\n")
            elif self.mode == "tty":
                key = f"{kind} {label}"
                now = time.monotonic()
                start = self._lines.get(key, ("", "", now, None))[2]
                self._lines[key] = (kind, status, start, now if status in DONE else None)
                self._redraw()
                return
            else:
                self.stream.write(f" {kind} {label}  {status}\n")
            self.stream.flush()

    def _redraw(self) -> None:
        out = []
        if self._drawn:
            out.append(f"\x1b[{self._drawn}A")
        done = sum(1 for _k, _s, _b, end in self._lines.values() if end is not None)
        out.append(f"\x1b[2K[+] Running {done}/{len(self._lines)}\n")
        width = max(len(k) for k in self._lines)
        now = time.monotonic()
        for key, (_kind, status, start, end) in self._lines.items():
            mark = "\x1b[32m✔\x1b[0m" if end is not None else SPINNER[int(now * 10) % len(SPINNER)]
            elapsed = (end or now) - start
            out.append(f"\x1b[2K {mark} {key.ljust(width)}  {status.ljust(10)} {elapsed:.1f}s\n")
        self._drawn = len(self._lines) + 1
        self.stream.write("".join(out))
        self.stream.flush()

    def warn(self, message: str) -> None:
        with self._lock:
            self.stream.write(f"WARN[0000] {message}\n")
            self.stream.flush()
            self._drawn = 0  # the warning scrolled the block: draw below it
