"""The on-disk layout of one container's state, as pure path arithmetic.

Every other module asks this one where things live, so the layout is stated once and tests can point it
at temporary directories instead of /var/lib/composer and /run/composer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from composer.errors import ComposerError

# runc accepts ids matching ^[\w+-\.]+$; we are a little stricter so an id is always a safe path segment.
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_id(container_id: str) -> str:
    """Return the id if it is a valid container id (a safe single path segment), else raise ComposerError."""
    if not _ID_RE.fullmatch(container_id) or container_id in (".", ".."):
        raise ComposerError(f"invalid container id {container_id!r}: use letters, digits, '_', '.', '-'")
    return container_id


@dataclass(frozen=True, slots=True)
class Roots:
    """The two roots: persistent state (`state_root`) and runtime files such as runc's `--root` (`run_root`)."""

    state_root: Path
    run_root: Path

    @property
    def runc_root(self) -> Path:
        """Directory passed to `runc --root`; runtime state only, so it lives under the run root."""
        return self.run_root / "runc"

    @property
    def containers(self) -> Path:
        return self.state_root / "containers"

    def container(self, container_id: str) -> ContainerPaths:
        return ContainerPaths(self.containers / check_id(container_id))


@dataclass(frozen=True, slots=True)
class ContainerPaths:
    """Where one container's files live: `<state_root>/containers/<id>/...`."""

    dir: Path

    @property
    def id(self) -> str:
        return self.dir.name

    @property
    def bundle(self) -> Path:
        """The OCI bundle; conmon (run with --full-attach) also keeps the `attach` socket and `ctl` fifo here."""
        return self.dir / "bundle"

    @property
    def config(self) -> Path:
        return self.bundle / "config.json"

    @property
    def rootfs(self) -> Path:
        """The overlay mount point; config.json's root.path is "rootfs" relative to the bundle."""
        return self.bundle / "rootfs"

    @property
    def upper(self) -> Path:
        return self.dir / "upper"

    @property
    def work(self) -> Path:
        return self.dir / "work"

    @property
    def state(self) -> Path:
        """composer's own record (start/finish times) next to what runc and conmon keep."""
        return self.dir / "state.json"

    @property
    def log(self) -> Path:
        return self.dir / "ctr.log"

    @property
    def exit_dir(self) -> Path:
        """conmon writes `<exit_dir>/<id>` holding the exit code when the container's PID 1 ends."""
        return self.dir / "exit"

    @property
    def exit_file(self) -> Path:
        return self.exit_dir / self.id

    @property
    def persist_dir(self) -> Path:
        """conmon's --persist-dir: it writes `exit` and `oom` files there too."""
        return self.dir / "persist"

    @property
    def conmon_pidfile(self) -> Path:
        return self.dir / "conmon.pid"

    @property
    def container_pidfile(self) -> Path:
        return self.dir / "ctr.pid"

    @property
    def conmon_stderr(self) -> Path:
        """conmon's own stderr: kept in a file because its daemonised child holds the fd open."""
        return self.dir / "conmon.stderr"
