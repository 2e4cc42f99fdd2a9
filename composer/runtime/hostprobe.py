"""Probing the host once for the facts the pure OCI spec generator needs (`planner.hostfacts.HostFacts`).

Everything here reads the machine: cgroup mounts, `uname`, rlimits, `cap_last_cap`, the init binary,
device nodes. The result is a plain value, so the generator stays pure and testable without root.
"""

from __future__ import annotations

import functools
import os
import platform
import re
import resource
import shutil
import stat
from collections.abc import Iterable
from pathlib import Path

from composer.planner.hostfacts import V1_CONTROLLERS, HostDevice, HostFacts, default_rlimits

INIT_CANDIDATES = ("catatonit", "tini", "tini-static", "docker-init")
"""Init binaries `init: true` can use, in order of preference (Debian packages catatonit and tini)."""

_GOARCH = {
    "x86_64": "amd64",
    "aarch64": "arm64",
    "armv7l": "arm",
    "i686": "386",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}


def _cgroup_mounts(mountinfo: str) -> tuple[bool, frozenset[str]]:
    """(a cgroup2 hierarchy is mounted, the v1 controllers that are mounted) from mountinfo text."""
    v2 = False
    controllers: set[str] = set()
    for line in mountinfo.splitlines():
        _, sep, post = line.partition(" - ")
        if not sep:
            continue
        fields = post.split()
        if not fields:
            continue
        if fields[0] == "cgroup2":
            v2 = True
        elif fields[0] == "cgroup" and len(fields) >= 3:
            controllers.update(opt for opt in fields[2].split(",") if opt in V1_CONTROLLERS)
    return v2, frozenset(controllers)


def find_init() -> str | None:
    """The init binary for `init: true`, or None (the spec generator then names what to install)."""
    for name in INIT_CANDIDATES:
        path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/sbin:/usr/libexec/podman")
        if path:
            return os.path.realpath(path)
    return None


def _kernel(release: str) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", release.split("-")[0])[:3]) or (0,)


@functools.cache
def probe_host(runtime_path: str = "/usr/sbin/runc") -> HostFacts:
    """The facts of this machine; cached, as none of them changes while composer runs."""
    mountinfo = Path("/proc/self/mountinfo").read_text()
    has_v2, controllers = _cgroup_mounts(mountinfo)
    version = 1 if controllers else 2
    limits = {
        name: resource.getrlimit(getattr(resource, name)) for name in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE")
    }
    try:
        last_cap = int(Path("/proc/sys/kernel/cap_last_cap").read_text())
    except (OSError, ValueError):
        last_cap = 40
    swap = True
    if version == 1:
        swap = Path("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists()
    else:
        swap = any(Path("/sys/fs/cgroup").glob("*/memory.swap.max")) or Path("/sys/fs/cgroup/memory.swap.max").exists()
    thermal = tuple(sorted(str(p) for p in Path("/sys/devices/system/cpu").glob("cpu[0-9]*/thermal_throttle")))
    return HostFacts(
        cgroup_version=version,
        cgroup_hybrid=version == 1 and has_v2,
        cgroup_controllers=controllers if version == 1 else frozenset(V1_CONTROLLERS),
        swap_accounting=swap,
        runtime_path=runtime_path,
        init_path=find_init(),
        kernel=_kernel(platform.release()),
        arch=_GOARCH.get(platform.machine(), platform.machine()),
        is_root=os.geteuid() == 0,
        last_cap=last_cap,
        rlimits=default_rlimits(limits),
        thermal_throttle_paths=thermal,
    )


def stat_device(path: str) -> HostDevice | None:
    """A host device node as `devices:` needs it, or None if `path` is not a device."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    if stat.S_ISCHR(st.st_mode):
        kind = "c"
    elif stat.S_ISBLK(st.st_mode):
        kind = "b"
    else:
        return None
    return HostDevice(
        path, kind, os.major(st.st_rdev), os.minor(st.st_rdev), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
    )


def host_devices(paths: Iterable[str], *, privileged: bool) -> dict[str, HostDevice]:
    """`stat` of the devices a service names (a directory stands for the devices under it); with
    `privileged`, every device under /dev as well (Docker gives a privileged container all of them)."""
    out: dict[str, HostDevice] = {}
    wanted = list(paths)
    if privileged:
        wanted.append("/dev")
    for path in wanted:
        if os.path.isdir(path) and not os.path.islink(path):
            for dirpath, dirnames, filenames in os.walk(path):
                dirnames[:] = [d for d in dirnames if d not in ("pts", "shm", "mqueue")]
                for name in filenames:
                    full = os.path.join(dirpath, name)
                    if (dev := stat_device(full)) is not None:
                        out[full] = dev
        elif (dev := stat_device(path)) is not None:
            out[path] = dev
    return out
