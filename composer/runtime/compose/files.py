"""Secrets and configs on the host: read their bytes once, and write each mounted copy where runc binds it.

Copies live under `<state root>/compose/<project>/files/` (directories 0700, root only): a container sees
its file at the target with the uid, gid and mode the service asked for (default 0444), read-only. The
state directory itself is not readable by anyone but root, so no value sits in a world-readable place.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.planner.desired import ADDED
from composer.planner.files import FileMount, sources
from composer.runtime.fsutil import write_atomic


def read_contents(document: Mapping[str, Any], environ: Mapping[str, str],
                  state_root: Path) -> dict[tuple[str, str], bytes]:
    """The bytes of every secret and config the project defines (only those it uses are kept by the loader)."""
    from composer.runtime.engine.secrets import SecretStore

    out: dict[tuple[str, str], bytes] = {}
    for (kind, name), src in sources(document).items():
        if src.source == "file":
            try:
                out[kind, name] = Path(src.ref).read_bytes()
            except OSError as exc:
                raise ComposerError(f"{kind}s.{name}: cannot read {src.ref}: {exc.strerror}") from None
        elif src.source == "environment":
            if src.ref not in environ:
                raise ComposerError(f"{kind}s.{name}: environment variable {src.ref} is not set")
            out[kind, name] = environ[src.ref].encode()
        elif src.source == "content":
            out[kind, name] = src.ref.encode()
        elif kind == "secret":
            out[kind, name] = SecretStore(state_root).read(src.ref)
        else:
            raise ComposerError(f"configs.{name}: external configs are not supported by the native engine "
                                "(use file, environment or content)")
    return out


def project_dir(state_root: Path, project: str) -> Path:
    return state_root / "compose" / project


def materialize(state_root: Path, project: str, service: str, mount: FileMount, data: bytes) -> Path:
    """Write the copy one service mounts (same for every replica); its host path."""
    base = project_dir(state_root, project)
    for directory in (state_root / "compose", base, base / "files", base / "files" / service):
        directory.mkdir(mode=0o700, exist_ok=True)
        os.chmod(directory, 0o700)
    digest = hashlib.sha256(f"{mount.kind}\0{mount.name}\0{mount.target}".encode()).hexdigest()[:16]
    path = base / "files" / service / f"{mount.kind}-{digest}"
    write_atomic(path, data, mode=0o600, fsync=False)
    os.chown(path, mount.uid, mount.gid)
    os.chmod(path, mount.mode)
    return path


def bind_mounts(state_root: Path, project: str, service: str, mounts: tuple[FileMount, ...],
                contents: Mapping[tuple[str, str], bytes]) -> list[dict[str, Any]]:
    """The service's secrets and configs as read-only bind mounts (long volume syntax)."""
    out = []
    for m in mounts:
        data = contents.get((m.kind, m.name))
        if data is None:
            raise ComposerError(f"{m.kind} {m.name}: no content")
        path = materialize(state_root, project, service, m, data)
        out.append({"type": "bind", "source": str(path), "target": m.target, "read_only": True,
                    "bind": {"create_host_path": False}, ADDED: "file"})
    return out


def forget(state_root: Path, project: str) -> None:
    """Remove the project's copies (`down`)."""
    shutil.rmtree(project_dir(state_root, project), ignore_errors=True)
