"""The file access the loader needs, as an interface, so `schema/` stays free of I/O.

The CLI passes `composer.hostfs.HostFS` (real files); tests pass `MemoryFS`.
Paths are absolute POSIX strings.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Protocol


class SourceFS(Protocol):
    def read_bytes(self, path: str) -> bytes:
        """The file's bytes; raises FileNotFoundError / IsADirectoryError / PermissionError."""
        ...

    def is_file(self, path: str) -> bool: ...

    def is_dir(self, path: str) -> bool: ...


@dataclass
class MemoryFS:
    """An in-memory file tree for tests: {absolute path: text or bytes}."""

    files: dict[str, str | bytes] = field(default_factory=dict)

    def read_bytes(self, path: str) -> bytes:
        path = posixpath.normpath(path)
        if path not in self.files:
            if self.is_dir(path):
                raise IsADirectoryError(path)
            raise FileNotFoundError(path)
        data = self.files[path]
        return data.encode() if isinstance(data, str) else data

    def is_file(self, path: str) -> bool:
        return posixpath.normpath(path) in self.files

    def is_dir(self, path: str) -> bool:
        prefix = posixpath.normpath(path).rstrip("/") + "/"
        return prefix == "/" or any(name.startswith(prefix) for name in self.files)
