"""`stats` and `top`: cgroup discovery and parsing on fake v1, hybrid and v2 trees, Docker's formatting, and a real
busybox container read live."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from composer.cli.gotemplate import render_table
from composer.errors import ComposerError
from composer.runtime.engine import stats as st
from composer.runtime.engine import top as tp
from composer.runtime.oci import cgroups as cg
from tests.runtime.engine.enginefix import BASE, EngineEnv
from tests.runtime.oci.conftest import OciEnv

GiB = 1024**3

MOUNTINFO_HYBRID = """\
22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw,nsdelegate
"""
PROC_CGROUP_HYBRID = """\
12:pids:/tag/c1
5:blkio:/tag/c1
4:memory:/tag/c1
2:cpu,cpuacct:/tag/c1
1:name=systemd:/tag/c1
0::/tag/c1
"""
MOUNTINFO_V2 = """\
22 1 0:21 / / rw,relatime - ext4 /dev/vda rw
30 22 0:26 / /sys/fs/cgroup rw,nosuid,nodev,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""
PROC_STAT = """\
cpu  100 0 50 1000 10 0 5 7 0 0
cpu0 50 0 25 500 5 0 2 3 0 0
cpu1 50 0 25 500 5 0 3 4 0 0
intr 1 2 3
"""
MEMINFO = "MemTotal:        8000000 kB\nMemFree:         100 kB\n"
NET_DEV = (
    "Inter-|   Receive                                   |  Transmit\n"
    " face |bytes  packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier comp\n"
    "    lo:   500    5    0    0    0     0          0         0    500    5    0    0    0     0       0     0\n"
    "  eth0:  1200   10    0    0    0     0          0         0    648    6    0    0    0     0       0     0\n"
    "  eth1:    34    1    0    0    0     0          0         0      0    0    0    0    0     0       0     0\n"
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _proc(root: Path, pid: int, cgroup: str, mountinfo: str) -> None:
    _write(root / f"proc/{pid}/cgroup", cgroup)
    _write(root / "proc/self/mountinfo", mountinfo)
    _write(root / "proc/stat", PROC_STAT)
    _write(root / "proc/meminfo", MEMINFO)
    _write(root / f"proc/{pid}/net/dev", NET_DEV)


def _fake_v1(root: Path, pid: int = 42) -> None:
    _proc(root, pid, PROC_CGROUP_HYBRID, MOUNTINFO_HYBRID)
    base = root / "sys/fs/cgroup"
    _write(base / "cpu,cpuacct/tag/c1/cpuacct.usage", "123456789\n")
    _write(base / "memory/tag/c1/memory.usage_in_bytes", "10485760\n")
    _write(base / "memory/tag/c1/memory.limit_in_bytes", "9223372036854771712\n")
    _write(base / "memory/tag/c1/memory.stat", "cache 100\ninactive_file 7\ntotal_inactive_file 2097152\n")
    _write(base / "pids/tag/c1/pids.current", "3\n")
    _write(base / "pids/tag/c1/pids.max", "max\n")
    _write(base / "pids/tag/c1/cgroup.procs", f"{pid}\n43\n")
    _write(base / "pids/tag/c1/sub/cgroup.procs", "44\n")
    _write(
        base / "blkio/tag/c1/blkio.throttle.io_service_bytes_recursive",
        "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Total 12288\n"
        "8:16 Read 1000\n8:16 Write 0\nTotal 13288\n",
    )
    # hybrid: the unified directory exists but carries no controllers; its cpu.stat must not be used
    _write(base / "unified/tag/c1/cpu.stat", "usage_usec 999999999\n")
    _write(base / "unified/tag/c1/cgroup.procs", f"{pid}\n")


def _fake_v2(root: Path, pid: int = 42) -> None:
    _proc(root, pid, "0::/tag/c2\n", MOUNTINFO_V2)
    d = root / "sys/fs/cgroup/tag/c2"
    _write(d / "cpu.stat", "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n")
    _write(d / "memory.current", "5242880\n")
    _write(d / "memory.max", "1073741824\n")
    _write(d / "memory.stat", "anon 100\nfile 200\ninactive_file 1048576\nactive_file 3\n")
    _write(d / "pids.current", "2\n")
    _write(d / "pids.max", "100\n")
    _write(d / "io.stat", "8:0 rbytes=1000 wbytes=2000 rios=1 wios=2 dbytes=0 dios=0\n259:0 rbytes=5 wbytes=6\n")
    _write(d / "cgroup.procs", f"{pid}\n50\n")
    _write(d / "inner/cgroup.procs", "51\n")


# -- parsing ---------------------------------------------------------------------------------------------------


def test_resolve_hybrid_paths_per_controller() -> None:
    paths = cg.resolve_cgroup_paths(PROC_CGROUP_HYBRID, MOUNTINFO_HYBRID)
    assert paths.v1["memory"] == Path("/sys/fs/cgroup/memory/tag/c1")
    assert paths.v1["cpu"] == paths.v1["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct/tag/c1")
    assert paths.v1["name=systemd"] == Path("/sys/fs/cgroup/systemd/tag/c1")
    assert paths.unified == Path("/sys/fs/cgroup/unified/tag/c1")


def test_resolve_pure_v2() -> None:
    paths = cg.resolve_cgroup_paths("0::/tag/c2\n", MOUNTINFO_V2)
    assert paths.v1 == {}
    assert paths.unified == Path("/sys/fs/cgroup/tag/c2")


def test_resolve_mount_root_not_slash_and_escapes() -> None:
    """Inside a cgroup namespace, or with a bind mount, the mount shows a sub-tree: paths are made relative."""
    mi = "30 22 0:26 /outer /sys/fs/cgroup\\040x rw - cgroup2 cgroup2 rw\n"
    assert cg.resolve_cgroup_paths("0::/outer/ctr\n", mi).unified == Path("/sys/fs/cgroup x/ctr")
    assert cg.resolve_cgroup_paths("0::/outer\n", mi).unified == Path("/sys/fs/cgroup x")
    assert cg.resolve_cgroup_paths("0::/elsewhere\n", mi).unified is None


def test_parse_small_files() -> None:
    assert cg.parse_proc_stat(PROC_STAT) == ((100 + 50 + 1000 + 10 + 5) * 10_000_000, 2)
    assert cg.parse_meminfo_total(MEMINFO) == 8000000 * 1024
    assert cg.parse_net_dev(NET_DEV) == (1234, 648)
    assert cg.parse_int("max\n") is None
    assert cg.parse_int(" 12\n") == 12
    assert cg.parse_keyed("a 1\nb x\nc 3 4\n") == {"a": 1}
    assert cg.parse_procs("1\n2\n\n") == [1, 2]
    assert cg.parse_blkio_v1("8:0 Read 10\n8:0 Write 20\nTotal 30\n") == (10, 20)
    assert cg.parse_io_stat("8:0 rbytes=1 wbytes=2\n8:1 rbytes=3 wbytes=4 rios=9\n") == (4, 6)


def test_memory_figures_follow_docker() -> None:
    assert cg.memory_usage(100, {"total_inactive_file": 30}, v2=False) == 70
    assert cg.memory_usage(100, {"inactive_file": 30}, v2=True) == 70
    assert cg.memory_usage(100, {"inactive_file": 300}, v2=True) == 100  # never negative
    assert cg.memory_limit(None, 8 * GiB) == 8 * GiB
    assert cg.memory_limit(2**63 - 4096, 8 * GiB) == 8 * GiB
    assert cg.memory_limit(GiB, 8 * GiB) == GiB


def test_read_stats_v1(tmp_path: Path) -> None:
    _fake_v1(tmp_path)
    s = cg.read_stats(42, root=tmp_path)
    assert s == cg.CgroupStats(
        cpu_total_ns=123456789,
        system_cpu_ns=1165 * 10_000_000,
        online_cpus=2,
        mem_usage=10485760 - 2097152,
        mem_limit=8000000 * 1024,
        pids_current=3,
        pids_limit=None,
        blk_read=5096,
        blk_write=8192,
        net_rx=1234,
        net_tx=648,
    )
    assert cg.cgroup_pids(42, root=tmp_path) == [42, 43, 44]


def test_read_stats_v2(tmp_path: Path) -> None:
    _fake_v2(tmp_path)
    s = cg.read_stats(42, root=tmp_path)
    assert (s.cpu_total_ns, s.online_cpus) == (2_500_000, 2)
    assert (s.mem_usage, s.mem_limit) == (4 * 1024 * 1024, GiB)
    assert (s.pids_current, s.pids_limit) == (2, 100)
    assert (s.blk_read, s.blk_write) == (1005, 2006)
    assert (s.net_rx, s.net_tx) == (1234, 648)
    assert cg.cgroup_pids(42, root=tmp_path) == [42, 50, 51]


def test_v2_without_controller_files(tmp_path: Path) -> None:
    """A cgroup whose parent did not delegate memory/pids/io: zeros, host memory as limit, pids counted."""
    _proc(tmp_path, 7, "0::/bare\n", MOUNTINFO_V2)
    _write(tmp_path / "sys/fs/cgroup/bare/cgroup.procs", "7\n8\n")
    s = cg.read_stats(7, root=tmp_path)
    assert (s.mem_usage, s.mem_limit, s.pids_current, s.blk_read, s.cpu_total_ns) == (0, 8000000 * 1024, 2, 0, 0)


def test_v2_with_only_systemds_named_v1_hierarchy(tmp_path: Path) -> None:
    """Some hosts keep systemd's controller-less v1 hierarchy next to a full cgroup2 tree: use the v2 files."""
    mounts = MOUNTINFO_V2.replace("/sys/fs/cgroup rw", "/sys/fs/cgroup/unified rw") + (
        "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,xattr,name=systemd\n"
    )
    _proc(tmp_path, 9, "1:name=systemd:/tag/c3\n0::/tag/c3\n", mounts)
    d = tmp_path / "sys/fs/cgroup/unified/tag/c3"
    _write(d / "memory.current", "300\n")
    _write(d / "cgroup.procs", "9\n10\n")
    _write(tmp_path / "sys/fs/cgroup/systemd/tag/c3/cgroup.procs", "9\n")
    assert cg.read_stats(9, root=tmp_path).mem_usage == 300
    assert cg.cgroup_pids(9, root=tmp_path) == [9, 10]


def test_gone_process(tmp_path: Path) -> None:
    with pytest.raises(ComposerError, match="not running"):
        cg.find_cgroup_paths(99, root=tmp_path)


# -- Docker's presentation ----------------------------------------------------------------------------------


def _snap(**kw: int) -> cg.CgroupStats:
    base = dict(
        cpu_total_ns=0,
        system_cpu_ns=0,
        online_cpus=4,
        mem_usage=0,
        mem_limit=0,
        pids_current=1,
        pids_limit=None,
        blk_read=0,
        blk_write=0,
        net_rx=0,
        net_tx=0,
    )
    base.update(kw)
    return cg.CgroupStats(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("size", "human", "binary"),
    [
        (0, "0B", "0B"),
        (648, "648B", "648B"),
        (999, "999B", "999B"),
        (1000, "1kB", "1000B"),
        (1234, "1.23kB", "1.205KiB"),
        (1536 * 1024, "1.57MB", "1.5MiB"),
        (8000000 * 1024, "8.19GB", "7.629GiB"),
        (999_500, "1e+03kB", "976.1KiB"),
    ],
)
def test_units(size: int, human: str, binary: str) -> None:
    assert st.human_size(size) == human
    assert st.bytes_size(size) == binary


def test_cpu_percent() -> None:
    prev = _snap(cpu_total_ns=1_000, system_cpu_ns=10_000)
    cur = _snap(cpu_total_ns=1_500, system_cpu_ns=20_000)
    assert st.cpu_percent(prev, cur) == pytest.approx(500 / 10_000 * 4 * 100)
    assert st.cpu_percent(None, cur) == 0.0
    assert st.cpu_percent(cur, cur) == 0.0


def test_entry_and_json_fields() -> None:
    cur = _snap(
        cpu_total_ns=2_000,
        system_cpu_ns=20_000,
        mem_usage=1536 * 1024,
        mem_limit=8000000 * 1024,
        pids_current=3,
        net_rx=1200,
        net_tx=648,
        blk_read=4096,
        blk_write=0,
    )
    prev = _snap(cpu_total_ns=1_000, system_cpu_ns=10_000)
    e = st.stats_entry("0123456789abcdef0123", "/web", cur, prev)
    assert e.as_dict() == {
        "BlockIO": "4.1kB / 0B",
        "CPUPerc": "40.00%",
        "Container": "web",
        "ID": "0123456789ab",
        "MemPerc": "0.02%",
        "MemUsage": "1.5MiB / 7.629GiB",
        "Name": "web",
        "NetIO": "1.2kB / 648B",
        "PIDs": "3",
    }
    assert list(json.loads(json.dumps(e.as_dict()))) == sorted(e.as_dict())  # Docker's key order
    assert st.stats_entry("x" * 64, "n", cur, container="abc", trunc=False).id == "x" * 64
    dashed = st.invalid_entry("0123456789abcdef", "gone")
    assert (dashed.cpu_perc, dashed.mem_usage, dashed.pids) == ("--", "-- / --", "--")


def test_stats_table_matches_docker_header_spacing() -> None:
    cur = _snap(mem_usage=1597000, mem_limit=8232000000, net_rx=866, pids_current=1)
    e = st.stats_entry("3f214c61ad1d0123", "web", cur)
    lines = st.stats_table([e]).splitlines()
    assert lines[0] == (
        "CONTAINER ID   NAME      CPU %     MEM USAGE / LIMIT     MEM %     NET I/O     BLOCK I/O   PIDS"
    )
    assert lines[1] == "3f214c61ad1d   web       0.00%     1.523MiB / 7.667GiB   0.02%     866B / 0B   0B / 0B     1"
    # the gotemplate renderer with the default format and headers gives the same table
    assert render_table(st.DEFAULT_STATS_FORMAT, [e.as_dict()], headers=st.STATS_HEADERS) == st.stats_table([e])


# -- top ------------------------------------------------------------------------------------------------------

PS_EF = """\
UID          PID    PPID  C STIME TTY          TIME CMD
root           1       0  0 05:54 ?        00:00:33 /sbin/init splash
root         100       1  0 05:55 ?        00:00:00 sleep 1000
root         101     100  0 05:55 ?        00:00:00 sh -c while true; do :; done
"""


def test_filter_ps_keeps_header_and_container_rows() -> None:
    res = tp.filter_ps(PS_EF, [100, 101, 555])
    assert res.titles == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    assert res.processes == [
        ["root", "100", "1", "0", "05:55", "?", "00:00:00", "sleep 1000"],
        ["root", "101", "100", "0", "05:55", "?", "00:00:00", "sh -c while true; do :; done"],
    ]
    assert res.as_dict()["Titles"] == res.titles
    text = tp.format_top(res).splitlines()
    assert text[0].startswith("UID                 PID                 PPID   ")
    assert text[1].endswith("00:00:00            sleep 1000")


def test_filter_ps_other_columns_and_errors() -> None:
    res = tp.filter_ps("  PID COMMAND\n    1 init\n  100 sleep\n", [100])
    assert res.processes == [["100", "sleep"]]
    with pytest.raises(ComposerError, match="PID field"):
        tp.filter_ps("COMMAND\nsleep\n", [1])
    with pytest.raises(ComposerError):
        tp.filter_ps("", [1])


def test_run_ps_reports_failures() -> None:
    with pytest.raises(ComposerError, match="failed"):
        tp.run_ps(["--no-such-option-xyz"])
    with pytest.raises(ComposerError, match="error running ps"):
        tp.run_ps(ps="/nonexistent/ps")


# -- a real container --------------------------------------------------------------------------------------


@pytest.mark.root
def test_live_busybox_stats_and_top(oci: OciEnv) -> None:
    cid, pid = oci.create("sh", "-c", "sleep 1000 & i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done; wait")
    rt = oci.runtime
    rt.start(cid)
    paths = cg.find_cgroup_paths(pid)
    assert any(oci.tag in str(p) for p in [*paths.v1.values(), paths.unified] if p is not None)
    first = cg.read_stats(pid, paths=paths)
    time.sleep(0.5)
    second = cg.read_stats(pid, paths=paths)
    assert second.mem_usage > 0
    assert 0 < second.mem_usage <= second.mem_limit
    assert second.pids_current >= 2
    assert second.cpu_total_ns > first.cpu_total_ns  # the busy loop burns CPU
    assert second.system_cpu_ns > first.system_cpu_ns
    assert st.cpu_percent(first, second) > 0
    pids = cg.cgroup_pids(pid)
    assert pid in pids
    assert len(pids) >= 2
    res = tp.top(pids)
    assert "PID" in res.titles
    cmds = [row[-1] for row in res.processes]
    assert any(c.startswith("sleep 1000") for c in cmds)
    assert {int(row[res.titles.index("PID")]) for row in res.processes} <= set(pids)
    entry = st.stats_entry(cid, cid, second, first)
    assert entry.mem_usage.endswith("iB")
    assert " / " in entry.mem_usage
    assert rt.stop(cid, "KILL", timeout=1) == 137
    rt.remove(cid)


@pytest.mark.root
def test_engine_container_stats_and_top(eng: EngineEnv) -> None:
    """Through the engine as the CLI will use it: the container's init pid leads to its cgroups and processes."""
    script = (
        "sleep 1000 & while [ ! -e /tmp/go ]; do sleep 0.05; done; "
        "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done; wait"
    )
    r = eng.cli("run", "-d", "--name", "x", BASE, "sh", "-c", script)
    assert r.code == 0, r.stderr
    c = eng.engine.get("x")
    pid = c.state.pid
    assert pid
    paths = cg.find_cgroup_paths(pid)
    assert any(eng.tag in str(p) for p in [*paths.v1.values(), paths.unified] if p is not None)
    deadline = time.monotonic() + 10
    idle = cg.read_stats(pid, paths=paths)
    while idle.pids_current < 2 and time.monotonic() < deadline:  # `run -d` returns before sh has forked
        time.sleep(0.02)
        idle = cg.read_stats(pid, paths=paths)
    assert idle.mem_usage > 0
    assert idle.pids_current >= 2  # sh and its sleep
    assert idle.mem_limit > 0
    Path(f"/proc/{pid}/root/tmp/go").write_text("")  # start the busy loop
    time.sleep(0.8)
    busy = cg.read_stats(pid, paths=paths)
    assert busy.cpu_total_ns > idle.cpu_total_ns
    assert st.cpu_percent(idle, busy) > 0
    pids = cg.cgroup_pids(pid)
    assert pid in pids
    res = tp.top(pids)
    cmds = [row[-1] for row in res.processes]
    assert any(cmd.startswith("sleep 1000") for cmd in cmds), cmds
    assert any(cmd.startswith("sh -c") for cmd in cmds), cmds
    row = st.stats_entry(c.id, c.name, busy, idle).as_dict()
    assert row["Name"] == "x"
    assert row["ID"] == c.id[:12]
    table = render_table(st.DEFAULT_STATS_FORMAT, [row], st.STATS_HEADERS).splitlines()
    assert table[0].startswith("CONTAINER ID   NAME      CPU %")
    assert eng.cli("rm", "-f", "x").code == 0
