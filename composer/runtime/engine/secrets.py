"""Engine-stored secrets (`composer secret create/ls/inspect/rm`): what `external: true` secrets come from.

One directory per secret under `<state root>/secrets/` (mode 0700, root only), the value in `data` (0600)
and its metadata in `meta.json`. Values are never printed: `ls` and `inspect` show names, dates and labels.
"""

from __future__ import annotations

import json
import re
import secrets as token
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.runtime.fsutil import write_atomic

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]{0,63}")


@dataclass(frozen=True)
class Secret:
    name: str
    id: str
    created: str
    labels: dict[str, str]

    def inspect(self) -> dict[str, Any]:
        return {"ID": self.id, "CreatedAt": self.created, "UpdatedAt": self.created,
                "Spec": {"Name": self.name, "Labels": self.labels}}


class SecretStore:
    def __init__(self, state_root: Path) -> None:
        self.root = Path(state_root) / "secrets"

    def _dir(self, name: str) -> Path:
        if not _NAME.fullmatch(name):
            raise ComposerError(f"invalid secret name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-], up to 64 characters")
        return self.root / name

    def create(self, name: str, data: bytes, *, labels: dict[str, str] | None = None) -> Secret:
        where = self._dir(name)
        if (where / "meta.json").exists():
            raise ComposerError(f"secret {name} already exists: remove it first (`composer secret rm {name}`)")
        if not data:
            raise ComposerError("secret data is empty")
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        self.root.chmod(0o700)
        where.mkdir(mode=0o700, exist_ok=True)
        write_atomic(where / "data", data, mode=0o600)
        meta = {"Name": name, "ID": token.token_hex(13)[:25],
                "CreatedAt": datetime.now(UTC).isoformat().replace("+00:00", "Z"), "Labels": dict(labels or {})}
        write_atomic(where / "meta.json", json.dumps(meta).encode(), mode=0o600)  # last: the secret exists now
        return self.get(name)

    def get(self, name: str) -> Secret:
        try:
            meta = json.loads((self._dir(name) / "meta.json").read_text())
        except FileNotFoundError:
            raise ComposerError(f"no such secret: {name}") from None
        return Secret(meta["Name"], meta["ID"], meta["CreatedAt"], dict(meta.get("Labels") or {}))

    def read(self, name: str) -> bytes:
        self.get(name)
        return (self._dir(name) / "data").read_bytes()

    def all(self) -> list[Secret]:
        if not self.root.is_dir():
            return []
        return sorted((self.get(p.name) for p in self.root.iterdir() if (p / "meta.json").exists()),
                      key=lambda s: s.name)

    def remove(self, name: str) -> None:
        self.get(name)
        shutil.rmtree(self._dir(name))
