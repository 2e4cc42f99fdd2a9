"""Progress of pulls and pushes as `docker pull` shows it: one line per layer.

On a terminal the block of lines is redrawn in place (at most ten times a second, and at once when
a layer changes state); elsewhere each change of state is one plain line (`abc123def456: Pull
complete`), byte counts left out so logs stay short. Only the trio thread calls it.
"""

from __future__ import annotations

import time
from typing import TextIO

_BAR = 40


def human(size: float) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.3g}{unit}" if unit != "B" else f"{int(size)}B"
        size /= 1000
    return f"{size}B"


class TransferProgress:
    """`mode` is tty, plain or quiet."""

    def __init__(self, stream: TextIO | None, mode: str = "plain") -> None:
        self.stream = stream
        self.mode = "quiet" if stream is None else mode
        self._lines: dict[str, str] = {}
        self._drawn = 0
        self._last = 0.0

    def message(self, text: str) -> None:
        """A line above the layer block (`latest: Pulling from ...`, `Digest: ...`)."""
        if self.mode == "quiet" or self.stream is None:
            return
        if self.mode == "tty" and self._drawn:
            self._redraw(force=True)
            self._lines.clear()
            self._drawn = 0
        self.stream.write(text + "\n")
        self.stream.flush()

    def status(self, key: str, text: str, current: int | None = None, total: int | None = None) -> None:
        if self.mode == "quiet" or self.stream is None:
            return
        if self.mode == "plain":
            if self._lines.get(key) != text:
                self._lines[key] = text
                self.stream.write(f"{key}: {text}\n")
                self.stream.flush()
            return
        changed = not self._lines.get(key, "").startswith(text)
        if current is not None and total:
            filled = min(_BAR, _BAR * current // total)
            arrow = ">" if filled < _BAR else ""
            text = f"{text} [{'=' * filled}{arrow}{' ' * (_BAR - filled - len(arrow))}] " \
                   f"{human(current)}/{human(total)}"
        self._lines[key] = text
        self._redraw(force=changed)

    def _redraw(self, *, force: bool) -> None:
        assert self.stream is not None
        now = time.monotonic()
        if not force and now - self._last < 0.1:
            return
        self._last = now
        out = [f"\x1b[{self._drawn}A"] if self._drawn else []
        out.extend(f"\x1b[2K{key}: {text}\n" for key, text in self._lines.items())
        self._drawn = len(self._lines)
        self.stream.write("".join(out))
        self.stream.flush()

    def close(self) -> None:
        if self.mode == "tty" and self._drawn:
            self._redraw(force=True)
