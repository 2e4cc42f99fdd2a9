"""A running container's cgroups and resource usage: what `stats` and `top` read.

The cgroup directories come from the kernel's own view (`/proc/<pid>/cgroup` plus the cgroup mounts in
`/proc/self/mountinfo`), not from the cgroupsPath we asked runc for, so the answer is right whatever the
cgroup driver, and on v1, hybrid and pure v2 hosts alike. Parsing is pure (file text in, numbers out);
the readers do the I/O relative to `root`, so tests run on fake trees.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from composer.errors import ComposerError

_NS_PER_TICK = 1_000_000_000 // 100
"""/proc/stat counts USER_HZ ticks, which the kernel ABI fixes at 100 per second."""
_ESCAPE = re.compile(r"\\([0-7]{3})")


@dataclass(frozen=True, slots=True)
class CgroupMount:
    """One cgroup filesystem mount: where it is, which cgroup it shows, and its controllers (v1)."""

    mountpoint: str
    root: str
    version: int
    controllers: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class CgroupPaths:
    """A process's cgroup directories: one per v1 controller, and the v2 (unified) one if mounted."""

    v1: Mapping[str, Path] = field(default_factory=dict)
    unified: Path | None = None


@dataclass(frozen=True, slots=True)
class CgroupStats:
    """One snapshot of a container's usage; CPU % needs two of them."""

    cpu_total_ns: int
    system_cpu_ns: int
    online_cpus: int
    mem_usage: int
    mem_limit: int
    pids_current: int
    pids_limit: int | None
    blk_read: int
    blk_write: int
    net_rx: int
    net_tx: int


# -- pure parsing -------------------------------------------------------------------------------------------


def parse_proc_cgroup(text: str) -> list[tuple[frozenset[str], str]]:
    """`/proc/<pid>/cgroup` as (controllers, path) pairs; the v2 line has no controllers."""
    out: list[tuple[frozenset[str], str]] = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        out.append((frozenset(c for c in parts[1].split(",") if c), parts[2]))
    return out


def _unescape(text: str) -> str:
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), text)


def parse_mountinfo(text: str) -> list[CgroupMount]:
    """The cgroup and cgroup2 mounts listed in a mountinfo file, in order."""
    mounts: list[CgroupMount] = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        fstype, superopts = tail[0], tail[2].split(",")
        root, mountpoint = _unescape(fields[3]), _unescape(fields[4])
        if fstype == "cgroup2":
            mounts.append(CgroupMount(mountpoint, root, 2))
        elif fstype == "cgroup":
            ctrls = frozenset(o for o in superopts if (o not in ("rw", "ro") and "=" not in o) or o.startswith("name="))
            mounts.append(CgroupMount(mountpoint, root, 1, ctrls))
    return mounts


def _under(mount: CgroupMount, cgroup: str) -> str | None:
    """`cgroup` as a path below the mount point, or None if the mount does not show it."""
    rel = os.path.relpath(cgroup, mount.root) if mount.root != "/" else cgroup.lstrip("/")
    if rel == ".":
        return mount.mountpoint
    if rel.startswith(".."):
        return None
    return str(PurePosixPath(mount.mountpoint) / rel)


def resolve_cgroup_paths(proc_cgroup: str, mountinfo: str) -> CgroupPaths:
    """Host paths of the process's cgroups: for each v1 controller and for the unified hierarchy."""
    mounts = parse_mountinfo(mountinfo)
    v1: dict[str, Path] = {}
    unified: Path | None = None
    for ctrls, cgroup in parse_proc_cgroup(proc_cgroup):
        wanted = 2 if not ctrls else 1
        for m in mounts:
            if m.version != wanted or (ctrls and not ctrls <= m.controllers):
                continue
            path = _under(m, cgroup)
            if path is None:
                continue
            if wanted == 2:
                unified = unified or Path(path)
            else:
                for c in ctrls:
                    v1.setdefault(c, Path(path))
            break
    return CgroupPaths(v1=v1, unified=unified)


def parse_keyed(text: str) -> dict[str, int]:
    """A flat-keyed file ("key value" lines: memory.stat, cpu.stat); lines that are not numbers are skipped."""
    out: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2:
            with contextlib.suppress(ValueError):
                out[parts[0]] = int(parts[1])
    return out


def parse_int(text: str) -> int | None:
    """A single-number file; "max" (v2 for no limit) and garbage are None."""
    try:
        return int(text.strip())
    except ValueError:
        return None


def parse_proc_stat(text: str) -> tuple[int, int]:
    """(system CPU time in ns, online cpus) from /proc/stat, as dockerd computes them.

    The system time sums the first seven columns of the "cpu" line (user..softirq) as Docker does;
    online cpus are the per-cpu "cpuN" lines."""
    system, online = 0, 0
    for line in text.splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "cpu":
            system = sum(int(v) for v in parts[1:8]) * _NS_PER_TICK
        elif parts[0].startswith("cpu") and parts[0][3:].isdigit():
            online += 1
    return system, online


def parse_meminfo_total(text: str) -> int:
    """MemTotal from /proc/meminfo in bytes (0 if absent)."""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            return int(parts[1]) * (1024 if parts[-1] == "kB" else 1)
    return 0


def memory_usage(usage: int, stat: Mapping[str, int], *, v2: bool) -> int:
    """Docker's memory figure: usage minus the inactive page cache, which the kernel can drop at will."""
    inactive = stat.get("inactive_file" if v2 else "total_inactive_file", 0)
    return usage - inactive if inactive < usage else usage


def memory_limit(raw: int | None, host_total: int) -> int:
    """The limit capped at the host's memory: "unlimited" is a huge number (v1) or "max" (v2)."""
    if raw is None or raw <= 0 or (host_total > 0 and raw > host_total):
        return host_total
    return raw


def parse_blkio_v1(text: str) -> tuple[int, int]:
    """(read, write) bytes from blkio.throttle.io_service_bytes_recursive ("MAJ:MIN Op bytes" lines)."""
    read = write = 0
    for line in text.splitlines():
        parts = line.split()
        if len(parts) != 3:
            continue  # the "Total N" line
        op = parts[1].lower()
        with contextlib.suppress(ValueError):
            if op == "read":
                read += int(parts[2])
            elif op == "write":
                write += int(parts[2])
    return read, write


def parse_io_stat(text: str) -> tuple[int, int]:
    """(read, write) bytes from v2 io.stat ("MAJ:MIN rbytes=N wbytes=N ..." lines)."""
    read = write = 0
    for line in text.splitlines():
        for item in line.split()[1:]:
            key, _, value = item.partition("=")
            with contextlib.suppress(ValueError):
                if key == "rbytes":
                    read += int(value)
                elif key == "wbytes":
                    write += int(value)
    return read, write


def parse_net_dev(text: str) -> tuple[int, int]:
    """(rx, tx) bytes summed over a network namespace's interfaces except loopback, from /proc/<pid>/net/dev."""
    rx = tx = 0
    for line in text.splitlines():
        name, sep, rest = line.partition(":")
        if not sep or name.strip() == "lo":
            continue
        cols = rest.split()
        if len(cols) < 9:
            continue
        with contextlib.suppress(ValueError):
            rx += int(cols[0])
            tx += int(cols[8])
    return rx, tx


def parse_procs(text: str) -> list[int]:
    """Pids listed in a cgroup.procs file."""
    return [int(w) for w in text.split() if w.isdigit()]


# -- readers -------------------------------------------------------------------------------------------------


def _at(root: Path, path: str | Path) -> Path:
    return root / str(path).lstrip("/")


def _read(path: Path) -> str | None:
    """The file's text, or None when the kernel does not offer it (controller absent, process gone)."""
    try:
        return path.read_text()
    except OSError:
        return None


def find_cgroup_paths(pid: int, *, root: Path = Path("/")) -> CgroupPaths:
    """The cgroup directories of process `pid`, under `root`."""
    proc = _read(_at(root, f"/proc/{pid}/cgroup"))
    if proc is None:
        raise ComposerError(f"process {pid} is not running")
    mountinfo = _read(_at(root, "/proc/self/mountinfo")) or ""
    found = resolve_cgroup_paths(proc, mountinfo)
    return CgroupPaths(
        v1={c: _at(root, p) for c, p in found.v1.items()},
        unified=_at(root, found.unified) if found.unified is not None else None,
    )


def _file(paths: CgroupPaths, controller: str, v1_name: str, v2_name: str) -> tuple[str | None, bool]:
    """The text of a controller's file and whether it came from v2: v1 when that controller is mounted there
    (a hybrid host keeps its controllers on v1), else the unified directory."""
    d = paths.v1.get(controller)
    if d is not None:
        return _read(d / v1_name), False
    if paths.unified is not None:
        return _read(paths.unified / v2_name), True
    return None, True


def read_stats(pid: int, *, root: Path = Path("/"), paths: CgroupPaths | None = None) -> CgroupStats:
    """A usage snapshot of the container whose init process is `pid`."""
    if paths is None:
        paths = find_cgroup_paths(pid, root=root)

    cpu_ns = 0
    if "cpuacct" in paths.v1:
        cpu_ns = parse_int(_read(paths.v1["cpuacct"] / "cpuacct.usage") or "") or 0
    elif paths.unified is not None:
        cpu_ns = parse_keyed(_read(paths.unified / "cpu.stat") or "").get("usage_usec", 0) * 1000
    system_ns, online = parse_proc_stat(_read(_at(root, "/proc/stat")) or "")
    if online == 0:
        online = os.cpu_count() or 1

    host_mem = parse_meminfo_total(_read(_at(root, "/proc/meminfo")) or "")
    usage_text, v2 = _file(paths, "memory", "memory.usage_in_bytes", "memory.current")
    stat_text, _ = _file(paths, "memory", "memory.stat", "memory.stat")
    limit_text, _ = _file(paths, "memory", "memory.limit_in_bytes", "memory.max")
    mem = memory_usage(parse_int(usage_text or "") or 0, parse_keyed(stat_text or ""), v2=v2)
    limit = memory_limit(parse_int(limit_text or ""), host_mem)

    pids_text, _ = _file(paths, "pids", "pids.current", "pids.current")
    pids_max, _ = _file(paths, "pids", "pids.max", "pids.max")
    pids = parse_int(pids_text or "")
    if pids is None:
        pids = len(cgroup_pids(pid, root=root, paths=paths))

    io_text, io_v2 = _file(paths, "blkio", "blkio.throttle.io_service_bytes_recursive", "io.stat")
    blk_read, blk_write = (parse_io_stat if io_v2 else parse_blkio_v1)(io_text or "")

    net_rx, net_tx = parse_net_dev(_read(_at(root, f"/proc/{pid}/net/dev")) or "")
    return CgroupStats(
        cpu_total_ns=cpu_ns,
        system_cpu_ns=system_ns,
        online_cpus=online,
        mem_usage=mem,
        mem_limit=limit,
        pids_current=pids,
        pids_limit=parse_int(pids_max or ""),
        blk_read=blk_read,
        blk_write=blk_write,
        net_rx=net_rx,
        net_tx=net_tx,
    )


def _procs_dir(paths: CgroupPaths) -> Path | None:
    """The hierarchy that lists the container's processes: a v1 controller runc always sets up when the
    controllers live on v1, else the unified one (pure v2, or v2 plus only systemd's named v1 hierarchy)."""
    for c in ("pids", "memory", "cpu", "cpuacct", "devices", "freezer"):
        if c in paths.v1:
            return paths.v1[c]
    if paths.unified is not None:
        return paths.unified
    return next(iter(paths.v1.values()), None)


def cgroup_pids(pid: int, *, root: Path = Path("/"), paths: CgroupPaths | None = None) -> list[int]:
    """Every process in the container's cgroup, its sub-cgroups included (as `runc ps` lists them), sorted."""
    if paths is None:
        paths = find_cgroup_paths(pid, root=root)
    top = _procs_dir(paths)
    if top is None:
        return [pid]
    found: set[int] = set()
    for dirpath, _dirs, files in os.walk(top):
        if "cgroup.procs" in files:
            found.update(parse_procs(_read(Path(dirpath) / "cgroup.procs") or ""))
    return sorted(found)
