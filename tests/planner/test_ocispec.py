"""The OCI `config.json` generator: a golden spec, the ENTRYPOINT/CMD matrix, and each setting's effect."""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError, Diagnostics
from composer.planner import security
from composer.planner.hostfacts import HostDevice, HostFacts, Rlimit, default_rlimits
from composer.planner.ocispec import INIT_PATH, Mount, command_line, oci_config

GOLDEN = Path(__file__).parent / "golden"

# The reference machine: hybrid cgroups (runc writes v1), kernel 6.x, amd64, root, hard nofile 20000.
HOST = HostFacts(
    kernel=(6, 18, 44),
    init_path="/usr/bin/catatonit",
    rlimits=(
        Rlimit("RLIMIT_NOFILE", 1024, 20000),
        Rlimit("RLIMIT_NPROC", 96365, 96365),
        Rlimit("RLIMIT_CORE", 18446744073709551615, 18446744073709551615),
    ),
    thermal_throttle_paths=("/sys/devices/system/cpu/cpu0/thermal_throttle",),
)
IMAGE = {
    "Entrypoint": ["/entrypoint.sh"],
    "Cmd": ["serve", "--port", "80"],
    "Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8", "APP_MODE=image"],
    "WorkingDir": "/app",
    "User": "",
    "StopSignal": "SIGQUIT",
}
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
GROUP = "root:x:0:\nwheel:x:10:app\naudio:x:29:\napp:x:1000:\n"
ETC = [
    Mount("/etc/hosts", "/run/composer/c1/hosts"),
    Mount("/etc/hostname", "/run/composer/c1/hostname"),
    Mount("/etc/resolv.conf", "/run/composer/c1/resolv.conf"),
]


def spec(service: Mapping[str, Any], image: Mapping[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "name": "web",
        "container_id": "0123456789abcdef0123",
        "rootfs": "/var/lib/composer/containers/c1/rootfs",
        "cgroups_path": "/composer/c1",
        "passwd": PASSWD,
        "group": GROUP,
    }
    args.update(kw)
    host = args.pop("host", HOST)
    return oci_config(service, IMAGE if image is None else image, host, **args)


def _find(s: dict[str, Any], destination: str) -> dict[str, Any] | None:
    return next((m for m in s["mounts"] if m["destination"] == destination), None)


def _named(s: dict[str, Any], destination: str) -> dict[str, Any]:
    found = _find(s, destination)
    assert found is not None, destination
    return found


# --- golden -------------------------------------------------------------------------------------

# What `docker compose config --format json` prints for a typical service (checked with the
# Docker Compose v2 binary): sizes as byte strings, sysctl values as strings, devices in long form.
GOLDEN_SERVICE: dict[str, Any] = {
    "image": "example/app",
    "command": ["serve", "--port", "8080"],
    "environment": {"APP_MODE": "compose", "EMPTY": "", "LANG": None},
    "user": "app",
    "group_add": ["audio"],
    "working_dir": "/srv",
    "domainname": "example.com",
    "init": True,
    "tmpfs": ["/run", "/tmp:size=64m,mode=1777"],
    "cap_add": ["NET_ADMIN"],
    "cap_drop": ["MKNOD"],
    "security_opt": ["no-new-privileges:true"],
    "devices": [{"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}],
    "sysctls": {"net.core.somaxconn": "1024"},
    "ulimits": {"nofile": {"soft": 4096, "hard": 8192}},
    "mem_limit": "536870912",
    "mem_reservation": "268435456",
    "cpus": 1.5,
    "cpu_shares": 512,
    "cpuset": "0-1",
    "pids_limit": 100,
    "shm_size": "134217728",
    "oom_score_adj": 500,
    "labels": {"com.example.team": "web"},
    "stop_signal": "SIGINT",
    "tty": True,
    "stdin_open": True,
}


def golden_spec() -> dict[str, Any]:
    return spec(
        GOLDEN_SERVICE,
        mounts=[*ETC, Mount("/srv/data", "/var/lib/composer/volumes/p_data/_data")],
        netns_path="/run/netns/composer-c1",
        host_devices={"/dev/fuse": HostDevice("/dev/fuse", "c", 10, 229, 0o666, 0, 0)},
        annotations={"io.composer.bundle": "c1"},
    )


def test_golden_spec() -> None:
    """Checked by hand against Docker's `daemon/pkg/oci/defaults.go` and `daemon/oci_linux.go` facts."""
    expected = json.loads((GOLDEN / "full.json").read_text())
    assert golden_spec() == expected


def test_golden_default_spec() -> None:
    """A service that sets nothing: Docker's default profile exactly, plus composer's explicit rlimits."""
    expected = json.loads((GOLDEN / "default.json").read_text())
    assert spec({"image": "example/app"}, mounts=ETC) == expected


# --- ENTRYPOINT / CMD (compose-semantics.md section 4, facts 1-10) ------------------------------

# Images as the Dockerfile builder writes their config: shell forms are already `/bin/sh -c ...`,
# and ENTRYPOINT in a Dockerfile resets an inherited CMD (fact 4) before the image is saved.
EXEC_BOTH = {"Entrypoint": ["/ep", "a"], "Cmd": ["c1", "c2"]}
SHELL_EP = {"Entrypoint": ["/bin/sh", "-c", "cmd p1"], "Cmd": ["ignored"]}
CMD_ONLY = {"Cmd": ["/bin/sh", "-c", "echo hi"]}
EP_RESETS_CMD = {"Entrypoint": ["/ep"], "Cmd": None}
NOTHING: dict[str, Any] = {}


@pytest.mark.parametrize(
    ("fact", "image", "service", "argv"),
    [
        (1, EXEC_BOTH, {}, ["/ep", "a", "c1", "c2"]),
        # 2: shell-form ENTRYPOINT: CMD lands after `sh -c STRING` where sh ignores it as $0...
        (2, SHELL_EP, {}, ["/bin/sh", "-c", "cmd p1", "ignored"]),
        (3, CMD_ONLY, {}, ["/bin/sh", "-c", "echo hi"]),
        (4, EP_RESETS_CMD, {}, ["/ep"]),
        (5, EXEC_BOTH, {"command": ["x", "y"]}, ["/ep", "a", "x", "y"]),
        (6, EXEC_BOTH, {"command": None}, ["/ep", "a", "c1", "c2"]),
        (6, EXEC_BOTH, {"command": []}, ["/ep", "a"]),
        (6, EXEC_BOTH, {"command": ""}, ["/ep", "a"]),
        # 7: a string command is split into words, never run through a shell
        (7, EXEC_BOTH, {"command": "echo $HOME 'a b'"}, ["/ep", "a", "echo", "$HOME", "a b"]),
        (8, EXEC_BOTH, {"entrypoint": ["/other"]}, ["/other"]),
        (8, EXEC_BOTH, {"entrypoint": ["/other"], "command": ["z"]}, ["/other", "z"]),
        (9, EXEC_BOTH, {"entrypoint": []}, []),
        (9, EXEC_BOTH, {"entrypoint": [], "command": ["z"]}, ["z"]),
        (9, EXEC_BOTH, {"entrypoint": ""}, []),
        (9, EXEC_BOTH, {"entrypoint": None}, ["/ep", "a", "c1", "c2"]),
        # 10: `run SERVICE CMD` / `--entrypoint` replace the service's values before the call
        (10, EXEC_BOTH, {"command": ["svc"], **{"command": ["run-cmd"]}}, ["/ep", "a", "run-cmd"]),
        (10, EXEC_BOTH, {"command": ["svc"], "entrypoint": ["/run-ep"]}, ["/run-ep", "svc"]),
    ],
)
def test_entrypoint_cmd_matrix(fact: int, image: dict[str, Any], service: dict[str, Any], argv: list[str]) -> None:
    assert command_line(service, image) == argv, f"fact {fact}"


@pytest.mark.parametrize(
    "case",
    [(NOTHING, {}), (EXEC_BOTH, {"entrypoint": []}), (CMD_ONLY, {"command": []})],
)
def test_no_command_at_all_is_a_clear_error(case: tuple[dict[str, Any], dict[str, Any]]) -> None:
    image, service = case
    with pytest.raises(ComposerError, match="service 'web': no command specified"):
        spec(service, image)


# --- process ------------------------------------------------------------------------------------


def test_environment_order_and_overrides() -> None:
    s = spec({"environment": {"APP_MODE": "x", "LANG": None, "NEW": "1"}, "hostname": "h1", "tty": True})
    assert s["process"]["env"] == [
        "PATH=/usr/local/bin:/usr/bin:/bin",  # the image's PATH replaces the default in place
        "HOSTNAME=h1",
        "TERM=xterm",
        "APP_MODE=x",
        "NEW=1",
    ]
    s = spec({}, {"Cmd": ["x"]})
    assert s["process"]["env"] == [
        "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOSTNAME=0123456789ab",
    ]
    assert s["hostname"] == "0123456789ab"


def test_user_working_dir_and_terminal() -> None:
    s = spec({"user": "app:audio"})
    assert s["process"]["user"] == {"uid": 1000, "gid": 29, "additionalGids": [29]}
    assert s["process"]["cwd"] == "/app"
    assert s["process"]["terminal"] is False
    s = spec({}, {**IMAGE, "User": "1000", "WorkingDir": ""})
    assert s["process"]["user"] == {"uid": 1000, "gid": 1000, "additionalGids": [1000, 10]}
    assert s["process"]["cwd"] == "/"


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ({"user": "ghost"}, "service 'web': user: unable to find user ghost"),
        ({"group_add": ["ghosts"]}, "service 'web': user: unable to find group ghosts"),
        ({"working_dir": "rel"}, "working_dir: 'rel' must be an absolute path"),
    ],
)
def test_user_errors_name_the_service(service: dict[str, Any], words: str) -> None:
    with pytest.raises(ComposerError, match=words):
        spec(service)


def test_init_wraps_the_command_and_mounts_the_binary() -> None:
    s = spec({"init": True})
    assert s["process"]["args"] == [INIT_PATH, "--", "/entrypoint.sh", "serve", "--port", "80"]
    assert _named(s, INIT_PATH) == {
        "destination": INIT_PATH,
        "type": "bind",
        "source": "/usr/bin/catatonit",
        "options": ["bind", "ro"],
    }
    # in the host's PID namespace there is already an init
    assert spec({"init": True, "pid": "host"})["process"]["args"][0] == "/entrypoint.sh"
    with pytest.raises(ComposerError, match="install catatonit or tini"):
        spec({"init": True}, host=HostFacts())


def test_stop_signal_labels_and_annotations() -> None:
    s = spec({"labels": {"a": "1", "b": "2"}, "annotations": {"b": "3"}}, annotations={"a": "caller"})
    assert s["annotations"] == {"a": "caller", "b": "3", "org.opencontainers.image.stopSignal": "SIGQUIT"}
    assert spec({"stop_signal": "int"})["annotations"]["org.opencontainers.image.stopSignal"] == "SIGINT"
    assert spec({}, {"Cmd": ["x"]})["annotations"]["org.opencontainers.image.stopSignal"] == "SIGTERM"


def test_ulimits_replace_defaults_by_name() -> None:
    s = spec({"ulimits": {"nofile": 5000, "nproc": {"soft": 10, "hard": 20}, "memlock": -1}})
    assert s["process"]["rlimits"] == [
        {"type": "RLIMIT_NOFILE", "soft": 5000, "hard": 5000},
        {"type": "RLIMIT_NPROC", "soft": 10, "hard": 20},
        {"type": "RLIMIT_CORE", "soft": 2**64 - 1, "hard": 2**64 - 1},
        {"type": "RLIMIT_MEMLOCK", "soft": 2**64 - 1, "hard": 2**64 - 1},
    ]
    with pytest.raises(ComposerError, match="unknown limit 'nofiles'"):
        spec({"ulimits": {"nofiles": 1}})
    with pytest.raises(ComposerError, match="soft limit 20 is greater than hard limit 10"):
        spec({"ulimits": {"nproc": {"soft": 20, "hard": 10}}})


# --- capabilities and privileges ----------------------------------------------------------------


def _capeff(s: dict[str, Any]) -> str:
    return f"{security.capability_mask(s['process']['capabilities']['effective']):016x}"


def test_default_effective_capabilities_are_dockers() -> None:
    s = spec({})
    assert _capeff(s) == "00000000a80425fb"
    caps = s["process"]["capabilities"]
    assert caps["bounding"] == caps["permitted"] == caps["effective"]
    assert "inheritable" not in caps  # CVE-2022-24769
    assert "ambient" not in caps


def test_non_root_user_keeps_only_the_bounding_set() -> None:
    caps = spec({"user": "app"})["process"]["capabilities"]
    assert caps["effective"] == caps["permitted"] == []
    assert security.capability_mask(caps["bounding"]) == 0xA80425FB


def test_cap_add_and_drop() -> None:
    s = spec({"cap_add": ["SYS_ADMIN"], "cap_drop": ["CAP_NET_RAW"]})
    assert _capeff(s) == f"{(0xA80425FB | 1 << 21) & ~(1 << 13):016x}"
    # seccomp follows the bounding set: mount/unshare become allowed with CAP_SYS_ADMIN
    allowed = {n for r in s["linux"]["seccomp"]["syscalls"] if r["action"] == "SCMP_ACT_ALLOW" for n in r["names"]}
    assert {"mount", "unshare"} <= allowed
    assert spec({"cap_drop": ["ALL"]})["process"]["capabilities"]["effective"] == []
    with pytest.raises(ComposerError, match="service 'web': unknown capability"):
        spec({"cap_add": ["NOPE"]})


def test_privileged() -> None:
    devices = {
        "/dev/null": HostDevice("/dev/null", "c", 1, 3),
        "/dev/sda": HostDevice("/dev/sda", "b", 8, 0, 0o660, 0, 6),
    }
    s = spec({"privileged": True, "read_only": True, "cap_drop": ["ALL"]}, host_devices=devices)
    assert s["process"]["capabilities"]["effective"] == security.all_capabilities(40)
    assert "maskedPaths" not in s["linux"]
    assert "readonlyPaths" not in s["linux"]
    assert "seccomp" not in s["linux"]
    assert s["linux"]["resources"]["devices"] == [{"allow": True, "access": "rwm"}]
    assert [d["path"] for d in s["linux"]["devices"]] == ["/dev/null", "/dev/sda"]
    assert "ro" not in _named(s, "/sys")["options"]
    assert "ro" not in _named(s, "/sys/fs/cgroup")["options"]


@pytest.mark.parametrize(
    ("opts", "nnp", "seccomp", "masked"),
    [
        ([], False, True, True),
        (["no-new-privileges"], True, True, True),
        (["no-new-privileges:true"], True, True, True),
        (["no-new-privileges=false"], False, True, True),
        (["seccomp=unconfined"], False, False, True),
        (["seccomp:unconfined", "systempaths=unconfined"], False, False, False),
        (["label=disable", "apparmor=unconfined"], False, True, True),
    ],
)
def test_security_opt(opts: list[str], nnp: bool, seccomp: bool, masked: bool) -> None:
    s = spec({"security_opt": opts})
    assert s["process"]["noNewPrivileges"] is nnp
    assert ("seccomp" in s["linux"]) is seccomp
    assert ("maskedPaths" in s["linux"]) is masked


def test_seccomp_profile_text_from_the_caller() -> None:
    profile = json.dumps(
        {"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}]}
    )
    s = spec({"security_opt": ["seccomp=./p.json"]}, seccomp_profiles={"./p.json": profile})
    assert s["linux"]["seccomp"] == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}],
    }
    with pytest.raises(ComposerError, match=r"seccomp profile '\./q\.json' was not read"):
        spec({"security_opt": ["seccomp=./q.json"]})
    with pytest.raises(ComposerError, match=r"service 'web': seccomp profile \./p\.json: invalid JSON"):
        spec({"security_opt": ["seccomp=./p.json"]}, seccomp_profiles={"./p.json": "{"})
    with pytest.raises(ComposerError, match="unsupported option 'bogus'"):
        spec({"security_opt": ["bogus"]})


# --- mounts -------------------------------------------------------------------------------------


def test_read_only_root_and_shm_size() -> None:
    s = spec({"read_only": True, "shm_size": "1000"}, mounts=ETC)
    assert s["root"]["readonly"] is True
    assert _named(s, "/dev/shm")["options"] == ["nosuid", "noexec", "nodev", "mode=1777", "size=1000"]
    assert "ro" not in _named(s, "/dev/mqueue")["options"]
    assert "ro" in _named(s, "/sys")["options"]
    assert _named(s, "/etc/hosts")["options"] == ["rbind", "rprivate"]
    assert _named(spec({}), "/dev/shm")["options"][-1] == "size=67108864"


def test_tmpfs_options_merge_like_docker() -> None:
    s = spec({"tmpfs": ["/run", "/tmp:exec,size=64m,mode=1777,size=1g"]})
    assert _named(s, "/run")["options"] == ["noexec", "nosuid", "nodev", "rprivate"]
    assert _named(s, "/tmp")["options"] == ["nosuid", "nodev", "rprivate", "exec", "mode=1777", "size=1g"]
    with pytest.raises(ComposerError, match="invalid tmpfs option 'bogus=1'"):
        spec({"tmpfs": ["/x:bogus=1"]})


def test_caller_mounts_replace_defaults_and_sort_by_depth() -> None:
    mounts = [Mount("/a/b/c", "/h/c"), Mount("/dev", "/host/dev"), Mount("/a", "/h/a")]
    s = spec({}, mounts=mounts)
    dests = [m["destination"] for m in s["mounts"]]
    assert not any(d.startswith("/dev/") for d in dests)
    assert dests[-3:] == ["/dev", "/a", "/a/b/c"]


def test_ipc_modes() -> None:
    host = spec({"ipc": "host"})
    assert "ipc" not in [n["type"] for n in host["linux"]["namespaces"]]
    assert _named(host, "/dev/shm")["type"] == "bind"
    assert _find(spec({"ipc": "none"}), "/dev/shm") is None
    joined = spec({"ipc": "service:db"}, namespace_paths={"ipc": "/proc/42/ns/ipc"})
    assert {"type": "ipc", "path": "/proc/42/ns/ipc"} in joined["linux"]["namespaces"]
    with pytest.raises(ComposerError, match="ipc mode 'service:db' needs the namespace of a running container"):
        spec({"ipc": "service:db"})


# --- namespaces, devices, sysctls ---------------------------------------------------------------


def test_namespaces() -> None:
    types = [n["type"] for n in spec({})["linux"]["namespaces"]]
    assert types == ["mount", "network", "uts", "pid", "ipc"]
    s = spec({"network_mode": "host", "pid": "host", "uts": "host"})
    assert s["linux"]["namespaces"] == [{"type": "mount"}, {"type": "ipc"}]
    assert "hostname" not in s
    assert "net.ipv4.ping_group_range" not in s["linux"]["sysctl"]
    s = spec({}, netns_path="/run/netns/x")
    assert {"type": "network", "path": "/run/netns/x"} in s["linux"]["namespaces"]
    # cgroup v2: a private cgroup namespace by default, as Docker
    v2 = spec({}, host=HostFacts(cgroup_version=2, cgroup_hybrid=False))
    assert {"type": "cgroup"} in v2["linux"]["namespaces"]
    assert {"type": "cgroup"} in spec({"cgroup": "private"})["linux"]["namespaces"]


def test_devices() -> None:
    host_devices = {
        "/dev/fuse": HostDevice("/dev/fuse", "c", 10, 229),
        "/dev/snd/pcm0": HostDevice("/dev/snd/pcm0", "c", 116, 2, 0o660, 0, 29),
        "/dev/snd/timer": HostDevice("/dev/snd/timer", "c", 116, 33, 0o660, 0, 29),
    }
    s = spec(
        {
            "devices": [
                {"source": "/dev/fuse", "target": "/dev/f", "permissions": "rw"},
                {"source": "/dev/snd", "target": "/dev/snd", "permissions": "rwm"},
            ],
            "device_cgroup_rules": ["c 1:3 mr", "b *:* m"],
        },
        host_devices=host_devices,
    )
    assert s["linux"]["devices"] == [
        {"path": "/dev/f", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666, "uid": 0, "gid": 0},
        {"path": "/dev/snd/pcm0", "type": "c", "major": 116, "minor": 2, "fileMode": 0o660, "uid": 0, "gid": 29},
        {"path": "/dev/snd/timer", "type": "c", "major": 116, "minor": 33, "fileMode": 0o660, "uid": 0, "gid": 29},
    ]
    rules = s["linux"]["resources"]["devices"]
    assert rules[: len(security.DEFAULT_DEVICE_RULES)] == list(security.DEFAULT_DEVICE_RULES)
    assert rules[len(security.DEFAULT_DEVICE_RULES) :] == [
        {"allow": True, "type": "c", "major": 10, "minor": 229, "access": "rw"},
        {"allow": True, "type": "c", "major": 116, "minor": 2, "access": "rwm"},
        {"allow": True, "type": "c", "major": 116, "minor": 33, "access": "rwm"},
        {"allow": True, "type": "c", "major": 1, "minor": 3, "access": "mr"},
        {"allow": True, "type": "b", "access": "m"},
    ]
    with pytest.raises(ComposerError, match="/dev/nope is not a device on this host"):
        spec({"devices": [{"source": "/dev/nope", "target": "/dev/nope", "permissions": "rwm"}]})
    with pytest.raises(ComposerError, match="permissions 'rx' must be made of r, w and m"):
        spec({"devices": ["/dev/fuse:/dev/fuse:rx"]}, host_devices=host_devices)


def test_sysctls() -> None:
    s = spec({"sysctls": {"net.ipv4.ip_unprivileged_port_start": "1024", "kernel.shmmax": "1"}, "domainname": "d"})
    assert s["linux"]["sysctl"] == {
        "net.ipv4.ping_group_range": "0 2147483647",
        "net.ipv4.ip_unprivileged_port_start": "1024",
        "kernel.domainname": "d",
        "kernel.shmmax": "1",
    }
    with pytest.raises(ComposerError, match=r"vm\.swappiness is not namespaced"):
        spec({"sysctls": {"vm.swappiness": "1"}})
    with pytest.raises(ComposerError, match=r"net\.core\.somaxconn needs the container's own network namespace"):
        spec({"network_mode": "host", "sysctls": {"net.core.somaxconn": "1"}})


# --- resources ----------------------------------------------------------------------------------


def test_resources_v1() -> None:
    s = spec(
        {
            "mem_limit": "536870912",
            "memswap_limit": "1073741824",
            "mem_reservation": "268435456",
            "mem_swappiness": "10",
            "oom_kill_disable": True,
            "cpus": 0.5,
            "cpu_shares": 512,
            "cpuset": "0",
            "pids_limit": -1,
        }
    )
    res = s["linux"]["resources"]
    assert res["memory"] == {
        "limit": 536870912,
        "reservation": 268435456,
        "swap": 1073741824,
        "swappiness": 10,
        "disableOOMKiller": True,
    }
    assert res["cpu"] == {"quota": 50000, "period": 100000, "shares": 512, "cpus": "0"}
    assert res["pids"] == {"limit": -1}
    assert s["linux"]["cgroupsPath"] == "/composer/c1"


def test_resources_from_deploy_and_docker_defaults() -> None:
    deploy = {"resources": {"limits": {"cpus": 2, "memory": "104857600", "pids": 10}, "reservations": {"memory": "1m"}}}
    res = spec({"deploy": deploy})["linux"]["resources"]
    # Docker's default swap is as much again as the memory limit
    assert res["memory"] == {"limit": 104857600, "reservation": 1 << 20, "swap": 209715200}
    assert res["cpu"] == {"quota": 200000, "period": 100000}
    assert res["pids"] == {"limit": 10}
    assert spec({"memswap_limit": "-1", "mem_limit": "64m"})["linux"]["resources"]["memory"]["swap"] == -1
    assert spec({"cpu_quota": 25000, "cpu_period": 50000})["linux"]["resources"]["cpu"] == {
        "quota": 25000,
        "period": 50000,
    }


def test_resources_v2_drops_v1_only_knobs_with_a_warning() -> None:
    notes = Diagnostics()
    v2 = HostFacts(cgroup_version=2, cgroup_hybrid=False, cgroup_controllers=frozenset())
    s = spec({"mem_limit": "64m", "mem_swappiness": 0, "oom_kill_disable": True}, host=v2, diagnostics=notes)
    assert s["linux"]["resources"]["memory"] == {"limit": 64 << 20, "swap": 128 << 20}
    assert len(notes.warnings) == 2
    assert "cgroup v2" in notes.warnings[0]


def test_resources_missing_controller_or_swap_accounting() -> None:
    notes = Diagnostics()
    host = HostFacts(cgroup_controllers=frozenset({"memory", "cpu"}), swap_accounting=False)
    s = spec({"mem_limit": "64m", "memswap_limit": "128m", "pids_limit": 5}, host=host, diagnostics=notes)
    assert s["linux"]["resources"]["memory"] == {"limit": 64 << 20}
    assert "pids" not in s["linux"]["resources"]
    assert any("no pids cgroup controller" in w for w in notes.warnings)
    assert any("no swap accounting" in w for w in notes.warnings)


@pytest.mark.parametrize(
    ("service", "words"),
    [
        ({"mem_limit": "1m"}, "minimum memory limit is 6MB"),
        ({"memswap_limit": "1g"}, "set mem_limit too"),
        ({"mem_limit": "1g", "memswap_limit": "512m"}, "must be at least mem_limit"),
        ({"mem_limit": "64m", "mem_reservation": "1g"}, "must be smaller than mem_limit"),
        ({"cpus": 1, "cpu_quota": 1000}, "cpus cannot be combined"),
        ({"mem_limit": "lots"}, "mem_limit: 'lots' is not a size in bytes"),
        ({"oom_score_adj": 2000}, "between -1000 and 1000"),
    ],
)
def test_resource_errors(service: dict[str, Any], words: str) -> None:
    with pytest.raises(ComposerError, match=f"service 'web': .*{words}"):
        spec(service)


# --- in a real container ------------------------------------------------------------------------


def _runc_ready() -> bool:
    return os.geteuid() == 0 and shutil.which("runc") is not None and Path("/bin/busybox").exists()


@pytest.mark.root
@pytest.mark.skipif(not _runc_ready(), reason="needs root, runc and /bin/busybox (busybox-static)")
def test_generated_spec_runs_under_runc(tmp_path: Path) -> None:
    """CapEff is Docker's, and seccomp blocks unshare (which needs no capability for a user namespace)."""
    rootfs = tmp_path / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy2("/bin/busybox", rootfs / "bin" / "busybox")
    for applet in ("sh", "grep", "unshare"):
        (rootfs / "bin" / applet).symlink_to("busybox")
    limits = {n: resource.getrlimit(getattr(resource, n)) for n in ("RLIMIT_NOFILE", "RLIMIT_NPROC", "RLIMIT_CORE")}
    host = HostFacts(rlimits=default_rlimits(limits))
    script = "grep CapEff /proc/self/status; unshare -U true && echo unshare-allowed || echo unshare-blocked"
    results = {}
    for label, opts in (("default", []), ("unconfined", ["seccomp=unconfined"])):
        cid = f"composer-test-{uuid.uuid4().hex[:12]}"
        bundle = tmp_path / label
        bundle.mkdir()
        config = oci_config(
            {"command": ["sh", "-c", script], "security_opt": opts},
            {"Env": ["PATH=/bin"]},
            host,
            name="t",
            container_id=cid,
            rootfs=str(rootfs),
            cgroups_path=f"/{cid}",  # one level: `runc delete` removes all of it
        )
        (bundle / "config.json").write_text(json.dumps(config))
        try:
            run = subprocess.run(
                ["runc", "run", "--bundle", str(bundle), cid], capture_output=True, text=True, timeout=60, check=False
            )
        finally:
            subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)
        assert run.returncode == 0, run.stderr
        results[label] = run.stdout
        assert not any(Path(p).exists() for p in Path("/sys/fs/cgroup").glob(f"*/{cid}"))
    assert "CapEff:\t00000000a80425fb" in results["default"]
    assert "unshare-blocked" in results["default"]
    assert "unshare-allowed" in results["unconfined"]  # so it is seccomp that blocks it
