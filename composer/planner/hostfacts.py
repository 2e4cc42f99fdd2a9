"""What the OCI spec generator needs to know about the host, as plain values.

`planner/` is pure, so nothing here looks at the machine: the runtime layer probes the host once
(cgroup mounts, `uname`, `getrlimit`, `/proc/sys/kernel/cap_last_cap`, `stat` of device nodes) and
hands the results in. Tests build a `HostFacts` by hand, which is why every field has a default that
describes this project's reference machine (kernel 6.x, amd64, hybrid cgroups, runc 1.1.5, root).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

RLIM_INFINITY = (1 << 64) - 1
"""`RLIM_INFINITY` as the OCI spec writes it (an unsigned 64-bit value); Python's `resource` says -1."""

V1_CONTROLLERS = frozenset({"cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"})


@dataclass(frozen=True, slots=True)
class Rlimit:
    """One `process.rlimits` entry: `type` is `RLIMIT_NOFILE` style, limits are OCI unsigned values."""

    type: str
    soft: int
    hard: int

    def to_oci(self) -> dict[str, object]:
        return {"type": self.type, "soft": self.soft, "hard": self.hard}


@dataclass(frozen=True, slots=True)
class HostDevice:
    """A device node on the host, as `stat` saw it: what `devices:` and `privileged` need."""

    path: str
    type: str  # "c" or "b"
    major: int
    minor: int
    file_mode: int = 0o666
    uid: int = 0
    gid: int = 0


@dataclass(frozen=True, slots=True)
class HostFacts:
    """Host properties that change the generated `config.json`.

    `cgroup_version` is the hierarchy the OCI runtime writes limits to: 1 on v1 *and* on hybrid hosts
    (runc 1.1.5 uses the v1 controllers there; the cgroup2 `unified` mount only tracks processes), 2 on
    unified-only hosts. v1-only knobs (swappiness, the OOM killer switch) are dropped on v2, and a
    private cgroup namespace is the default only on v2, as in Docker. `cgroup_controllers` lists the
    mounted v1 controllers: limits for a missing one are dropped with a warning, as Docker does.
    `arch` is Go's GOARCH name (it selects seccomp rules); `last_cap` is
    `/proc/sys/kernel/cap_last_cap`; `rlimits` are the explicit limits every container gets (see
    `default_rlimits`); `thermal_throttle_paths` are the host's
    `/sys/devices/system/cpu/cpu<N>/thermal_throttle` that exist (Docker masks them).
    """

    cgroup_version: int = 1
    cgroup_hybrid: bool = True
    cgroup_controllers: frozenset[str] = V1_CONTROLLERS
    swap_accounting: bool = True
    runtime_path: str = "/usr/sbin/runc"
    init_path: str | None = None
    kernel: tuple[int, ...] = (6, 1, 0)
    arch: str = "amd64"
    is_root: bool = True
    last_cap: int = 40
    rlimits: tuple[Rlimit, ...] = ()
    thermal_throttle_paths: tuple[str, ...] = ()


# What Docker's containers end up with on a systemd >= 240 host (docker.service sets
# LimitNPROC/LimitCORE=infinity and leaves NOFILE at systemd's 1024:524288), as composer's default.
WANTED_RLIMITS: Mapping[str, tuple[int, int]] = {
    "RLIMIT_NOFILE": (1024, 524288),
    "RLIMIT_NPROC": (RLIM_INFINITY, RLIM_INFINITY),
    "RLIMIT_CORE": (RLIM_INFINITY, RLIM_INFINITY),
}


def _oci_limit(value: int) -> int:
    return RLIM_INFINITY if value < 0 or value >= RLIM_INFINITY else value


def default_rlimits(caller: Mapping[str, tuple[int, int]]) -> tuple[Rlimit, ...]:
    """Explicit rlimits for containers, clamped to the caller's own hard limits.

    Without a daemon a container would inherit whatever shell started composer, so composer always
    sets these. Raising a hard limit above the caller's can fail (on this machine root's hard nofile
    is 20000 and `setrlimit` above it is refused), hence the clamp. `caller` maps `RLIMIT_*` names to
    `resource.getrlimit` pairs (-1 = unlimited); a missing name is taken as unlimited.
    """
    out = []
    for name, (soft, hard) in WANTED_RLIMITS.items():
        have_hard = _oci_limit(caller.get(name, (-1, -1))[1])
        hard = min(hard, have_hard)
        out.append(Rlimit(name, min(soft, hard), hard))
    return tuple(out)
