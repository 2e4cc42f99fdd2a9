"""What root-tier tests may leave behind on the host, found by looking at the host itself.

Every test resource carries a recognisable mark: container ids and cgroups start with `composer-test-`
(or live under the test's cgroup parent `/composer-test-*`), and state roots live in pytest's temp
directories. Network resources cannot carry the long mark (interface names fit 15 bytes), so every link,
named network namespace and nftables table a network test makes starts with `cmpt` (`NET_MARK`) followed by a
per-test random tag. The session-wide check in `tests/conftest.py` fails the run if any of these remain.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

MARKS = ("composer-test-", "/pytest-of-")
NET_MARK = "cmpt"


def _cmdline(pid: str) -> list[bytes]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return []


def _state(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "?"


def leaked_processes() -> list[str]:
    """conmon monitors of test containers, and processes inside a test cgroup (zombies excepted)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        if _state(pid) in ("Z", "X", "?"):
            continue  # a zombie conmon waiting for its reaper holds nothing
        argv = _cmdline(pid)
        text = b" ".join(argv).decode(errors="replace")
        if argv and argv[0].endswith(b"conmon") and any(m in text for m in MARKS):
            found.append(f"conmon pid {pid}: {text[:120]}")
            continue
        try:
            cgroups = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        if "/composer-test-" in cgroups:
            found.append(f"process {pid} in a test cgroup: {text[:120]}")
    return found


def leaked_mounts() -> list[str]:
    out = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        point = line.split(" ")[4]
        if any(m in point for m in MARKS):
            out.append(f"mount {point}")
    return out


def leaked_cgroups() -> list[str]:
    root = Path("/sys/fs/cgroup")
    found = [str(p) for p in root.glob("composer-test-*")]
    found += [str(p) for p in root.glob("*/composer-test-*")]
    return [f"cgroup {p}" for p in found]


def leaked_links() -> list[str]:
    """Interfaces of the host's network namespace (bridges, veth ends) named by a network test."""
    return [f"link {name}" for name in sorted(os.listdir("/sys/class/net")) if name.startswith(NET_MARK)]


def leaked_netns() -> list[str]:
    """Named network namespaces in iproute2's directory (tests keep theirs in temp dirs: see leaked_mounts)."""
    directory = Path("/run/netns")
    names = sorted(os.listdir(directory)) if directory.is_dir() else []
    return [f"netns {directory / n}" for n in names if n.startswith(NET_MARK) or n.startswith(MARKS[0])]


def leaked_nft_tables() -> list[str]:
    nft = shutil.which("nft")
    if nft is None:
        return []
    listed = subprocess.run([nft, "list", "tables"], capture_output=True, text=True, check=False)
    tables = [line.split()[1:] for line in listed.stdout.splitlines() if line.startswith("table ")]
    return [f"nft table {' '.join(t)}" for t in tables if len(t) == 2 and t[1].startswith(NET_MARK)]


def leaks() -> list[str]:
    return (leaked_processes() + leaked_mounts() + leaked_cgroups() + leaked_links() + leaked_netns()
            + leaked_nft_tables())
