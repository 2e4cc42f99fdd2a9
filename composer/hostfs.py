"""The real file system behind `schema.fs.SourceFS` (the one effectful piece the loader uses)."""

from __future__ import annotations

import os


class HostFS:
    def read_bytes(self, path: str) -> bytes:
        with open(path, "rb") as handle:
            return handle.read()

    def is_file(self, path: str) -> bool:
        return os.path.isfile(path)

    def is_dir(self, path: str) -> bool:
        return os.path.isdir(path)
