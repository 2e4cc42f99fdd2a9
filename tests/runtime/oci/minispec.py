"""A minimal OCI config.json for these tests only.

Deliberately minimal: the lifecycle tests exercise runc + conmon handling, not the security profile, so
this builds just enough for runc to run a busybox process in fresh namespaces under a test-owned cgroup
path. Containers made by the engine use the real generator (`composer.planner.ocispec`), tested in
tests/planner and, end to end, in tests/runtime/engine.
"""

from __future__ import annotations

from typing import Any


def minimal_spec(args: list[str], cgroups_path: str, hostname: str = "ctr", terminal: bool = False) -> dict[str, Any]:
    return {
        "ociVersion": "1.0.2",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/bin:/usr/bin:/sbin:/usr/sbin"],
            "cwd": "/",
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": "rootfs", "readonly": False},
        "hostname": hostname,
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {
                "destination": "/dev",
                "type": "tmpfs",
                "source": "tmpfs",
                "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
            },
            {
                "destination": "/dev/pts",
                "type": "devpts",
                "source": "devpts",
                "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
            },
        ],
        "linux": {
            "cgroupsPath": cgroups_path,
            "namespaces": [{"type": t} for t in ("pid", "ipc", "uts", "mount", "network")],
            "maskedPaths": ["/proc/kcore", "/proc/keys"],
            "readonlyPaths": ["/proc/sys", "/proc/sysrq-trigger"],
        },
    }
