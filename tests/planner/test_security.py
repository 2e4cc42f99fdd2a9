"""Docker's default security profile as data: capabilities, seccomp evaluation, rlimit defaults."""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Any

import pytest

from composer.errors import ComposerError
from composer.planner import security
from composer.planner.hostfacts import RLIM_INFINITY, Rlimit, default_rlimits

DOCKER_CAPEFF = 0x00000000A80425FB  # /proc/self/status of a default Docker container
DEFAULTS = list(security.DEFAULT_CAPABILITIES)


def test_default_capabilities_are_dockers_14() -> None:
    assert len(DEFAULTS) == len(set(DEFAULTS)) == 14
    assert security.capability_mask(DEFAULTS) == DOCKER_CAPEFF
    assert f"{security.capability_mask(DEFAULTS):016x}" == "00000000a80425fb"


def test_capability_numbers_match_the_kernel() -> None:
    numbers = security.CAPABILITY_NUMBERS
    assert (numbers["CAP_CHOWN"], numbers["CAP_SYS_ADMIN"], numbers["CAP_AUDIT_WRITE"]) == (0, 21, 29)
    assert numbers["CAP_CHECKPOINT_RESTORE"] == 40
    assert sorted(numbers.values()) == list(range(41))
    assert security.all_capabilities(37)[-1] == "CAP_AUDIT_READ"


@pytest.mark.parametrize(
    ("add", "drop", "privileged", "expected"),
    [
        ([], [], False, DEFAULTS),
        # with and without the prefix, any case
        (["net_admin", "CAP_SYS_TIME"], [], False, [*DEFAULTS, "CAP_NET_ADMIN", "CAP_SYS_TIME"]),
        ([], ["mknod", "CAP_NET_RAW"], False, [c for c in DEFAULTS if c not in ("CAP_MKNOD", "CAP_NET_RAW")]),
        # adding one already present does not duplicate it
        (["CHOWN"], [], False, DEFAULTS),
        # drop ALL: only the added ones
        (["NET_BIND_SERVICE"], ["ALL"], False, ["CAP_NET_BIND_SERVICE"]),
        ([], ["all"], False, []),
        # add ALL: every capability the kernel has, minus the dropped ones
        (["ALL"], ["SYS_ADMIN"], False, [c for c in security.all_capabilities(40) if c != "CAP_SYS_ADMIN"]),
        # privileged: everything; cap_drop is ignored, as in Docker
        ([], ["ALL"], True, security.all_capabilities(40)),
    ],
)
def test_tweak_capabilities(add: list[str], drop: list[str], privileged: bool, expected: list[str]) -> None:
    assert security.tweak_capabilities(add, drop, privileged=privileged, last_cap=40) == expected


def test_unknown_and_unsupported_capabilities_are_errors() -> None:
    with pytest.raises(ComposerError, match="unknown capability: 'NET_MAGIC'"):
        security.tweak_capabilities(["NET_MAGIC"], [], privileged=False, last_cap=40)
    with pytest.raises(ComposerError, match="CAP_BPF is not supported by the running kernel"):
        security.tweak_capabilities(["BPF"], [], privileged=False, last_cap=37)


def test_masked_and_readonly_paths_are_dockers() -> None:
    assert {"/proc/kcore", "/proc/interrupts", "/sys/devices/virtual/powercap", "/sys/firmware"} <= set(
        security.MASKED_PATHS
    )
    assert len(security.MASKED_PATHS) == 12
    assert security.READONLY_PATHS == ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def test_device_rules_deny_all_then_allow_defaults_and_deny_fuse() -> None:
    rules = security.DEFAULT_DEVICE_RULES
    assert rules[0] == {"allow": False, "access": "rwm"}
    allowed = {(r["major"], r["minor"]) for r in rules if r["allow"]}
    assert allowed == {(1, 3), (1, 5), (1, 8), (1, 9), (5, 0), (5, 1)}
    assert rules[-1] == {"allow": False, "type": "c", "major": 10, "minor": 229, "access": "rwm"}


# --- seccomp ------------------------------------------------------------------------------------


def _default(
    bounding: Collection[str] = DEFAULTS, arch: str = "amd64", kernel: Sequence[int] = (6, 1)
) -> dict[str, Any]:
    out = security.seccomp_for(security.DEFAULT_SECCOMP_PROFILE, bounding=bounding, arch=arch, kernel=kernel)
    assert out is not None
    return out


def _allowed(profile: dict[str, Any]) -> set[str]:
    """Syscalls allowed without argument conditions."""
    return {n for s in profile["syscalls"] if s["action"] == "SCMP_ACT_ALLOW" and not s.get("args") for n in s["names"]}


def test_default_profile_shape() -> None:
    out = _default()
    assert out["defaultAction"] == "SCMP_ACT_ERRNO"
    assert out["defaultErrnoRet"] == 1
    assert out["architectures"] == ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"]
    assert len(set(security.DEFAULT_SECCOMP_PROFILE["syscalls"][0]["names"])) == 361
    allowed = _allowed(out)
    assert {"read", "write", "execve", "fork", "arch_prctl", "ptrace", "chroot"} <= allowed
    # what the default profile exists to block
    for blocked in ("mount", "umount2", "unshare", "setns", "reboot", "kexec_load", "init_module", "bpf", "keyctl"):
        assert blocked not in allowed, blocked
    json.dumps(out)  # plain JSON data


def test_argument_filtered_rules() -> None:
    out = _default()
    socket = [s["args"] for s in out["syscalls"] if s["names"] == ["socket"]]
    # every address family but AF_ALG (38) and AF_VSOCK (40)
    assert socket == [
        [{"index": 0, "value": 38, "op": "SCMP_CMP_LT"}],
        [{"index": 0, "value": 39, "op": "SCMP_CMP_EQ"}],
        [{"index": 0, "value": 40, "op": "SCMP_CMP_GT"}],
    ]
    personality = sorted(s["args"][0]["value"] for s in out["syscalls"] if s["names"] == ["personality"])
    assert personality == [0, 8, 0x20000, 0x20008, 0xFFFFFFFF]
    clone = [s for s in out["syscalls"] if s["names"] == ["clone"]]
    masked = {"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}
    assert clone == [{"names": ["clone"], "action": "SCMP_ACT_ALLOW", "args": [masked]}]
    assert {"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38} in out["syscalls"]


def test_cap_sys_admin_in_the_bounding_set_widens_seccomp() -> None:
    out = _default([*DEFAULTS, "CAP_SYS_ADMIN"])
    assert {"mount", "unshare", "setns", "clone", "clone3", "sethostname"} <= _allowed(out)
    assert not any(s["names"] == ["clone3"] and s["action"] == "SCMP_ACT_ERRNO" for s in out["syscalls"])
    assert not any(s["names"] == ["clone"] and s.get("args") for s in out["syscalls"])


def test_a_dropped_capability_narrows_seccomp() -> None:
    assert "chroot" not in _allowed(_default([c for c in DEFAULTS if c != "CAP_SYS_CHROOT"]))


def test_arch_and_kernel_conditions() -> None:
    arm = _default(arch="arm64")
    assert arm["architectures"] == ["SCMP_ARCH_AARCH64", "SCMP_ARCH_ARM"]
    assert "arch_prctl" not in _allowed(arm)
    assert "set_tls" in _allowed(arm)
    s390 = _default(arch="s390x")
    assert [s["args"][0]["index"] for s in s390["syscalls"] if s["names"] == ["clone"]] == [1]
    assert "ptrace" not in _allowed(_default(kernel=(4, 4, 0)))
    assert "ptrace" in _allowed(_default(kernel=(4, 8)))


def test_user_profile_format() -> None:
    chown_arg = {"index": 1, "value": 5, "valueTwo": 7, "op": "SCMP_CMP_MASKED_EQ"}
    profile = {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"name": "mkdir", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["chmod"], "action": "SCMP_ACT_ERRNO", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
            {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "args": [chown_arg]},
        ],
    }
    out = security.seccomp_for(profile, bounding=DEFAULTS, arch="amd64", kernel=(6, 1))
    assert out == {
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [
            {"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["chown"], "action": "SCMP_ACT_ERRNO", "args": [chown_arg]},
        ],
    }
    assert security.seccomp_for({}, bounding=(), arch="amd64", kernel=(6,)) is None


@pytest.mark.parametrize(("text", "words"), [("{not json", "invalid JSON"), ("[]", "must be a JSON object")])
def test_bad_profile_files(text: str, words: str) -> None:
    with pytest.raises(ComposerError, match=words):
        security.load_seccomp_profile(text, "p.json")


@pytest.mark.parametrize(
    ("profile", "words"),
    [
        ({"defaultAction": "SCMP_ACT_ALLOW", "architectures": ["x"], "archMap": [{}]}, "'architectures' or 'archMap'"),
        ({"syscalls": [{"name": "a", "names": ["b"], "action": "SCMP_ACT_ALLOW"}]}, "both 'name' and 'names'"),
        ({"syscalls": [{"names": ["a"], "includes": {"minKernel": "x.y"}}]}, "invalid minKernel"),
    ],
)
def test_bad_profiles(profile: dict[str, Any], words: str) -> None:
    with pytest.raises(ComposerError, match=words):
        security.seccomp_for(profile, bounding=(), arch="amd64", kernel=(6,))


# --- rlimits ------------------------------------------------------------------------------------


def test_default_rlimits_clamp_to_the_callers_hard_limits() -> None:
    # this machine: root's hard nofile is 20000 and raising it fails
    got = default_rlimits({"RLIMIT_NOFILE": (20000, 20000), "RLIMIT_NPROC": (96365, 96365), "RLIMIT_CORE": (0, -1)})
    assert got == (
        Rlimit("RLIMIT_NOFILE", 1024, 20000),
        Rlimit("RLIMIT_NPROC", 96365, 96365),
        Rlimit("RLIMIT_CORE", RLIM_INFINITY, RLIM_INFINITY),
    )
    assert default_rlimits({})[0] == Rlimit("RLIMIT_NOFILE", 1024, 524288)
    assert default_rlimits({"RLIMIT_NOFILE": (10, 512)})[0] == Rlimit("RLIMIT_NOFILE", 512, 512)
