"""`docker stats` as the docker CLI shows it: the percentages, Docker's size units and the table/JSON rows.

Pure functions of `CgroupStats` snapshots, so every figure is tested without a container. The units follow
docker/go-units: memory in binary units with 4 significant digits (BytesSize, "1.5MiB"), network and block
I/O in decimal units with 3 (HumanSizeWithPrecision, "1.2kB").
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from composer.runtime.oci.cgroups import CgroupStats

_DECIMAL = ("B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB")
_BINARY = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB")

DEFAULT_STATS_FORMAT = (
    "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}"
)
"""`docker stats`'s default `--format`, for the CLI's template renderer."""
STATS_HEADERS = {
    "Container": "CONTAINER",
    "ID": "CONTAINER ID",
    "Name": "NAME",
    "CPUPerc": "CPU %",
    "MemUsage": "MEM USAGE / LIMIT",
    "MemPerc": "MEM %",
    "NetIO": "NET I/O",
    "BlockIO": "BLOCK I/O",
    "PIDs": "PIDS",
}
"""What the table header shows for each field (the docker CLI executes the row template on these)."""
_COLUMNS = ("ID", "Name", "CPUPerc", "MemUsage", "MemPerc", "NetIO", "BlockIO", "PIDs")


def _scaled(size: float, base: float, units: Sequence[str]) -> tuple[float, str]:
    i = 0
    while size >= base and i < len(units) - 1:
        size /= base
        i += 1
    return size, units[i]


def human_size(size: float, precision: int = 3) -> str:
    """Decimal units with `precision` significant digits ("1.23kB"), like go-units HumanSizeWithPrecision."""
    value, unit = _scaled(float(size), 1000.0, _DECIMAL)
    return f"{value:.{precision}g}{unit}"


def bytes_size(size: float) -> str:
    """Binary units with 4 significant digits ("1.5MiB", "7.631GiB"), like go-units BytesSize."""
    value, unit = _scaled(float(size), 1024.0, _BINARY)
    return f"{value:.4g}{unit}"


def cpu_percent(prev: CgroupStats | None, cur: CgroupStats) -> float:
    """Docker's CPU %: the container's share of all CPU time between two snapshots, times the cpus.

    Without a previous snapshot (the first `--no-stream` sample) it is 0, as in Docker's first frame."""
    if prev is None:
        return 0.0
    cpu_delta = cur.cpu_total_ns - prev.cpu_total_ns
    system_delta = cur.system_cpu_ns - prev.system_cpu_ns
    if cpu_delta <= 0 or system_delta <= 0:
        return 0.0
    return cpu_delta / system_delta * cur.online_cpus * 100.0


def mem_percent(usage: int, limit: int) -> float:
    return usage / limit * 100.0 if limit > 0 else 0.0


@dataclass(frozen=True, slots=True)
class StatsEntry:
    """One container's `docker stats` row, already formatted as the docker CLI prints it."""

    container: str
    id: str
    name: str
    cpu_perc: str
    mem_usage: str
    mem_perc: str
    net_io: str
    block_io: str
    pids: str

    def as_dict(self) -> dict[str, str]:
        """The fields of `--format json` (and of templates), in the docker CLI's key order."""
        return {
            "BlockIO": self.block_io,
            "CPUPerc": self.cpu_perc,
            "Container": self.container,
            "ID": self.id,
            "MemPerc": self.mem_perc,
            "MemUsage": self.mem_usage,
            "Name": self.name,
            "NetIO": self.net_io,
            "PIDs": self.pids,
        }


def stats_entry(
    container_id: str,
    name: str,
    cur: CgroupStats,
    prev: CgroupStats | None = None,
    *,
    container: str | None = None,
    trunc: bool = True,
) -> StatsEntry:
    """The row for one container; `container` is how the user named it (defaults to the name)."""
    name = name.removeprefix("/")
    return StatsEntry(
        container=container if container is not None else name,
        id=container_id[:12] if trunc else container_id,
        name=name or "--",
        cpu_perc=f"{cpu_percent(prev, cur):.2f}%",
        mem_usage=f"{bytes_size(cur.mem_usage)} / {bytes_size(cur.mem_limit)}",
        mem_perc=f"{mem_percent(cur.mem_usage, cur.mem_limit):.2f}%",
        net_io=f"{human_size(cur.net_rx)} / {human_size(cur.net_tx)}",
        block_io=f"{human_size(cur.blk_read)} / {human_size(cur.blk_write)}",
        pids=str(cur.pids_current),
    )


def invalid_entry(container_id: str, name: str, *, container: str | None = None) -> StatsEntry:
    """The row of a container with no figures (stopped or gone), dashed out as the docker CLI does."""
    name = name.removeprefix("/")
    return StatsEntry(
        container=container if container is not None else name,
        id=container_id[:12],
        name=name or "--",
        cpu_perc="--",
        mem_usage="-- / --",
        mem_perc="--",
        net_io="--",
        block_io="--",
        pids="--",
    )


def stats_table(entries: Sequence[StatsEntry]) -> str:
    """The default `docker stats` table, aligned as the docker CLI's tabwriter does (min width 10, padding 3).

    Every column but the last is padded to its widest cell plus 3; the last is not padded."""
    rows = [[STATS_HEADERS[c] for c in _COLUMNS]]
    rows += [[e.as_dict()[c] for c in _COLUMNS] for e in entries]
    from composer.tabwriter import rows_table

    return rows_table(rows, minwidth=10, padding=3)
