"""Docker's default security profile, as data, and the rules that apply `cap_add`/`cap_drop`.

Facts come from Docker (moby `daemon/pkg/oci/defaults.go`, `daemon/pkg/oci/caps`, and the seccomp
profile `moby/profiles` `seccomp/default.json`, checked 2026-06-30; see
`shared/reference/security-and-reliability.md` section 1). The lists grow with security advisories:
they are data to keep in step with Docker, not constants to freeze. The seccomp profile is kept in
Docker's own profile format (rules with `includes`/`excludes` on capabilities, architecture and
kernel) because a user's `security_opt: seccomp=FILE` is in that format too, and both go through
the same evaluation as Docker's `setupSeccomp`: rules are chosen by the container's *bounding*
capability set, so `cap_add: [SYS_ADMIN]` also widens seccomp.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from composer.errors import ComposerError

# --- capabilities -------------------------------------------------------------------------------


def words(text: str) -> list[str]:
    """Whitespace-separated names: long name lists stay readable as text."""
    return text.split()


CAPABILITY_NUMBERS: Mapping[str, int] = {
    f"CAP_{name}": number
    for number, name in enumerate(
        words(
            "CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID KILL SETGID SETUID SETPCAP LINUX_IMMUTABLE "
            "NET_BIND_SERVICE NET_BROADCAST NET_ADMIN NET_RAW IPC_LOCK IPC_OWNER SYS_MODULE SYS_RAWIO "
            "SYS_CHROOT SYS_PTRACE SYS_PACCT SYS_ADMIN SYS_BOOT SYS_NICE SYS_RESOURCE SYS_TIME "
            "SYS_TTY_CONFIG MKNOD LEASE AUDIT_WRITE AUDIT_CONTROL SETFCAP MAC_OVERRIDE MAC_ADMIN SYSLOG "
            "WAKE_ALARM BLOCK_SUSPEND AUDIT_READ PERFMON BPF CHECKPOINT_RESTORE"
        )
    )
}
"""Every capability the kernel headers name, by number (`include/uapi/linux/capability.h`)."""

DEFAULT_CAPABILITIES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
)
"""Docker's 14 default capabilities, in Docker's order (CapEff 00000000a80425fb)."""


def capability_mask(names: Iterable[str]) -> int:
    """The bitmask `/proc/self/status` shows for a capability set."""
    mask = 0
    for name in names:
        mask |= 1 << CAPABILITY_NUMBERS[name]
    return mask


def all_capabilities(last_cap: int) -> list[str]:
    """The capabilities the running kernel has (`/proc/sys/kernel/cap_last_cap`), in number order."""
    return [name for name, number in CAPABILITY_NUMBERS.items() if number <= last_cap]


def normalize_capabilities(names: Iterable[str], last_cap: int) -> list[str]:
    """`net_admin`, `NET_ADMIN`, `CAP_NET_ADMIN` -> `CAP_NET_ADMIN`; `ALL` stays `ALL`.

    Unknown names, and names the running kernel lacks, are errors as in Docker.
    """
    out: list[str] = []
    for raw in names:
        name = str(raw).strip().upper()
        if name != "ALL" and not name.startswith("CAP_"):
            name = "CAP_" + name
        if name != "ALL":
            number = CAPABILITY_NUMBERS.get(name)
            if number is None:
                raise ComposerError(f"unknown capability: {raw!r}")
            if number > last_cap:
                raise ComposerError(f"capability {name} is not supported by the running kernel")
        if name not in out:
            out.append(name)
    return out


def tweak_capabilities(adds: Iterable[str], drops: Iterable[str], *, privileged: bool, last_cap: int) -> list[str]:
    """The container's capability set after `privileged`, `cap_add` and `cap_drop`, as Docker computes it.

    privileged: every capability; `cap_add: [ALL]`: all but the dropped ones; `cap_drop: [ALL]`: only
    the added ones; otherwise the defaults minus drops plus adds.
    """
    if privileged:
        return all_capabilities(last_cap)
    add = normalize_capabilities(adds, last_cap)
    drop = normalize_capabilities(drops, last_cap)
    if "ALL" in add:
        return [c for c in all_capabilities(last_cap) if c not in drop]
    if "ALL" in drop:
        return add
    caps = [c for c in DEFAULT_CAPABILITIES if c not in drop]
    return caps + [c for c in add if c not in caps]


# --- paths and devices --------------------------------------------------------------------------

MASKED_PATHS: tuple[str, ...] = (
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",  # GHSA-6fw5-f8r9-fgfm
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/sys/devices/virtual/powercap",  # GHSA-jq35-85cj-fj4p
    "/sys/firmware",
)
"""Docker's masked paths; the host's `/sys/devices/system/cpu/cpu<N>/thermal_throttle` are added."""

READONLY_PATHS: tuple[str, ...] = ("/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger")


def _rule(allow: bool, major: int | None = None, minor: int | None = None, dev_type: str = "c") -> dict[str, Any]:
    rule: dict[str, Any] = {"allow": allow}
    if major is not None:
        rule.update(type=dev_type, major=major, minor=minor)
    rule["access"] = "rwm"
    return rule


DEFAULT_DEVICE_RULES: tuple[Mapping[str, Any], ...] = (
    _rule(False),
    _rule(True, 1, 5),  # /dev/zero
    _rule(True, 1, 3),  # /dev/null
    _rule(True, 1, 9),  # /dev/urandom
    _rule(True, 1, 8),  # /dev/random
    _rule(True, 5, 0),  # /dev/tty
    _rule(True, 5, 1),  # /dev/console
    _rule(False, 10, 229),  # /dev/fuse
)
"""Docker's device cgroup: deny everything, allow the OCI default nodes, deny /dev/fuse explicitly.
(/dev/full 1:7 and /dev/ptmx 5:2 are allowed by runc itself for the default devices.)"""


# --- seccomp ------------------------------------------------------------------------------------

_ALLOWED = """
    _llseek _newselect accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod chown
    chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64 clock_gettime clock_gettime64
    clock_nanosleep clock_nanosleep_time64 close close_range connect copy_file_range creat dup dup2 dup3
    epoll_create epoll_create1 epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old
    eventfd eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64 fallocate
    fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat fcntl fcntl64 fdatasync fgetxattr
    flistxattr flock fork fremovexattr fsetxattr fstat fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate
    ftruncate64 futex futex_requeue futex_time64 futex_wait futex_waitv futex_wake futimesat get_robust_list
    get_thread_area getcpu getcwd getdents getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32
    getgroups getgroups32 getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
    getresgid32 getresuid getresuid32 getrlimit getrusage getsid getsockname getsockopt gettid gettimeofday
    getuid getuid32 getxattr getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
    io_destroy io_getevents io_pgetevents io_pgetevents_time64 io_setup io_submit ioctl ioprio_get ioprio_set
    ipc kill landlock_add_rule landlock_create_ruleset landlock_restrict_self lchown lchown32 lgetxattr link
    linkat listen listmount listxattr listxattrat llistxattr lremovexattr lseek lsetxattr lstat lstat64 madvise
    map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat mknod mknodat mlock mlock2
    mlockall mmap mmap2 mprotect mq_getsetattr mq_notify mq_open mq_timedreceive mq_timedreceive_time64
    mq_timedsend mq_timedsend_time64 mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall
    munmap name_to_handle_at nanosleep newfstatat open openat openat2 pause pidfd_open pidfd_send_signal pipe
    pipe2 pkey_alloc pkey_free pkey_mprotect poll ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64
    process_mrelease pselect6 pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
    recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr removexattrat rename renameat
    renameat2 restart_syscall riscv_hwprobe rmdir rseq rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo
    rt_sigreturn rt_sigsuspend rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_get_priority_max
    sched_get_priority_min sched_getaffinity sched_getattr sched_getparam sched_getscheduler
    sched_rr_get_interval sched_rr_get_interval_time64 sched_setaffinity sched_setattr sched_setparam
    sched_setscheduler sched_yield seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
    sendfile64 sendmmsg sendmsg sendto set_robust_list set_thread_area set_tid_address setfsgid setfsgid32
    setfsuid setfsuid32 setgid setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32
    setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit setsid setsockopt setuid setuid32
    setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd signalfd4 sigprocmask sigreturn
    socketcall socketpair splice stat stat64 statfs statfs64 statmount statx symlink symlinkat sync
    sync_file_range syncfs sysinfo tee tgkill time timer_create timer_delete timer_getoverrun timer_gettime
    timer_gettime64 timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
    timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask uname unlink unlinkat
    uretprobe utime utimensat utimensat_time64 utimes vfork vmsplice wait4 waitid waitpid write writev
"""
"""Syscalls Docker's default profile allows unconditionally (361 names; unknown ones are skipped by
the runtime's libseccomp, so names of newer kernels do no harm on older ones)."""

_NS_FLAGS = 0x7E020000
"""CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: `clone` may not create namespaces."""


def _r(
    names: str,
    *,
    action: str = "SCMP_ACT_ALLOW",
    args: Sequence[tuple[int, int, str]] = (),
    caps: Sequence[str] = (),
    arches: Sequence[str] = (),
    min_kernel: str | None = None,
    not_caps: Sequence[str] = (),
    not_arches: Sequence[str] = (),
    errno: int | None = None,
) -> dict[str, Any]:
    """One rule in Docker's profile format, written compactly."""
    rule: dict[str, Any] = {"names": names.split(), "action": action}
    if errno is not None:
        rule["errnoRet"] = errno
    if args:
        rule["args"] = [{"index": i, "value": v, "valueTwo": 0, "op": op} for i, v, op in args]
    includes: dict[str, Any] = {k: v for k, v in (("caps", list(caps)), ("arches", list(arches))) if v}
    if min_kernel:
        includes["minKernel"] = min_kernel
    if includes:
        rule["includes"] = includes
    excludes = {k: v for k, v in (("caps", list(not_caps)), ("arches", list(not_arches))) if v}
    if excludes:
        rule["excludes"] = excludes
    return rule


_EQ, _LT, _GT, _MASKED = "SCMP_CMP_EQ", "SCMP_CMP_LT", "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"
_SYS_ADMIN = ["CAP_SYS_ADMIN"]

_ARCH_MAP = [
    {"architecture": arch, "subArchitectures": subs}
    for arch, subs in (
        ("SCMP_ARCH_X86_64", ["SCMP_ARCH_X86", "SCMP_ARCH_X32"]),
        ("SCMP_ARCH_AARCH64", ["SCMP_ARCH_ARM"]),
        ("SCMP_ARCH_MIPS64", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64N32"]),
        ("SCMP_ARCH_MIPS64N32", ["SCMP_ARCH_MIPS", "SCMP_ARCH_MIPS64"]),
        ("SCMP_ARCH_MIPSEL64", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64N32"]),
        ("SCMP_ARCH_MIPSEL64N32", ["SCMP_ARCH_MIPSEL", "SCMP_ARCH_MIPSEL64"]),
        ("SCMP_ARCH_S390X", ["SCMP_ARCH_S390"]),
        ("SCMP_ARCH_RISCV64", []),
        ("SCMP_ARCH_LOONGARCH64", []),
    )
]

DEFAULT_SECCOMP_PROFILE: Mapping[str, Any] = {
    "defaultAction": "SCMP_ACT_ERRNO",
    "defaultErrnoRet": 1,  # EPERM
    "archMap": _ARCH_MAP,
    "syscalls": [
        _r(" ".join(_ALLOWED.split())),
        _r("process_vm_readv process_vm_writev ptrace", min_kernel="4.8"),
        # socket: every address family but AF_ALG (38) and AF_VSOCK (40)
        _r("socket", args=[(0, 38, _LT)]),
        _r("socket", args=[(0, 39, _EQ)]),
        _r("socket", args=[(0, 40, _GT)]),
        # personality: PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query value
        *(_r("personality", args=[(0, value, _EQ)]) for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
        _r("sync_file_range2 swapcontext", arches=["ppc64le"]),
        _r(
            "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush set_tls",
            arches=["arm", "arm64"],
        ),
        _r("arch_prctl", arches=["amd64", "x32"]),
        _r("modify_ldt", arches=["amd64", "x32", "x86"]),
        _r("s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr", arches=["s390", "s390x"]),
        _r("riscv_flush_icache", arches=["riscv64"]),
        _r("open_by_handle_at", caps=["CAP_DAC_READ_SEARCH"]),
        _r(
            "bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie lsm_get_self_attr "
            "lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount open_tree perf_event_open "
            "quotactl quotactl_fd setdomainname sethostname setns syslog umount umount2 unshare",
            caps=_SYS_ADMIN,
        ),
        _r("clone", args=[(0, _NS_FLAGS, _MASKED)], not_caps=_SYS_ADMIN, not_arches=["s390", "s390x"]),
        _r("clone", args=[(1, _NS_FLAGS, _MASKED)], arches=["s390", "s390x"], not_caps=_SYS_ADMIN),
        # clone3 cannot be argument-filtered: ENOSYS makes libc fall back to clone
        _r("clone3", action="SCMP_ACT_ERRNO", errno=38, not_caps=_SYS_ADMIN),
        _r("reboot", caps=["CAP_SYS_BOOT"]),
        _r("chroot", caps=["CAP_SYS_CHROOT"]),
        _r("delete_module init_module finit_module", caps=["CAP_SYS_MODULE"]),
        _r("acct", caps=["CAP_SYS_PACCT"]),
        _r(
            "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
            caps=["CAP_SYS_PTRACE"],
        ),
        _r("iopl ioperm", caps=["CAP_SYS_RAWIO"]),
        _r("settimeofday stime clock_settime clock_settime64", caps=["CAP_SYS_TIME"]),
        _r("vhangup", caps=["CAP_SYS_TTY_CONFIG"]),
        _r("get_mempolicy mbind set_mempolicy set_mempolicy_home_node", caps=["CAP_SYS_NICE"]),
        _r("syslog", caps=["CAP_SYSLOG"]),
        _r("bpf", caps=["CAP_BPF"]),
        _r("perf_event_open", caps=["CAP_PERFMON"]),
    ],
}
"""Docker's default seccomp profile: an allow-list, everything else fails with EPERM."""

# Go's GOARCH -> libseccomp's name for the native architecture (what `includes.arches` lists)
_NATIVE_ARCH = {
    "386": "x86",
    "amd64": "amd64",
    "arm": "arm",
    "arm64": "arm64",
    "loong64": "loong64",
    "mips64": "mips64",
    "mips64le": "mipsel64",
    "ppc64le": "ppc64le",
    "riscv64": "riscv64",
    "s390x": "s390x",
}
# libseccomp's native name -> the SCMP_ARCH_ constant an `archMap` entry is keyed by
_SCMP_ARCH = {
    "x86": "SCMP_ARCH_X86",
    "amd64": "SCMP_ARCH_X86_64",
    "arm": "SCMP_ARCH_ARM",
    "arm64": "SCMP_ARCH_AARCH64",
    "loong64": "SCMP_ARCH_LOONGARCH64",
    "mips64": "SCMP_ARCH_MIPS64",
    "mipsel64": "SCMP_ARCH_MIPSEL64",
    "ppc64le": "SCMP_ARCH_PPC64LE",
    "riscv64": "SCMP_ARCH_RISCV64",
    "s390x": "SCMP_ARCH_S390X",
}


def _kernel_at_least(kernel: Sequence[int], wanted: str) -> bool:
    try:
        parts = tuple(int(p) for p in wanted.split("."))
    except ValueError:
        raise ComposerError(f"seccomp profile: invalid minKernel {wanted!r}")
    return tuple(kernel[: len(parts)]) >= parts


def _selected(rule: Mapping[str, Any], arch: str, bounding: Collection[str], kernel: Sequence[int]) -> bool:
    excludes = rule.get("excludes") or {}
    if arch in (excludes.get("arches") or ()):
        return False
    if any(c in bounding for c in excludes.get("caps") or ()):
        return False
    if excludes.get("minKernel") and _kernel_at_least(kernel, excludes["minKernel"]):
        return False
    includes = rule.get("includes") or {}
    if includes.get("arches") and arch not in includes["arches"]:
        return False
    if any(c not in bounding for c in includes.get("caps") or ()):
        return False
    return not (includes.get("minKernel") and not _kernel_at_least(kernel, includes["minKernel"]))


def _oci_arg(arg: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"index": int(arg["index"]), "value": int(arg.get("value", 0))}
    if arg.get("valueTwo"):
        out["valueTwo"] = int(arg["valueTwo"])
    out["op"] = str(arg["op"])
    return out


def seccomp_for(
    profile: Mapping[str, Any], *, bounding: Collection[str], arch: str, kernel: Sequence[int]
) -> dict[str, Any] | None:
    """A Docker-format seccomp profile -> the OCI `linux.seccomp` for this container and host.

    `arch` is Go's GOARCH (`amd64`). Returns None for a profile that disables seccomp (no default
    action and no rules), as Docker does.
    """
    if not isinstance(profile, Mapping):
        raise ComposerError("seccomp profile: must be a JSON object")
    if not profile.get("defaultAction") and not profile.get("syscalls"):
        return None
    if profile.get("architectures") and profile.get("archMap"):
        raise ComposerError("seccomp profile: use either 'architectures' or 'archMap', not both")
    native = _NATIVE_ARCH.get(arch, arch)
    out: dict[str, Any] = {"defaultAction": profile.get("defaultAction") or "SCMP_ACT_ALLOW"}
    if profile.get("defaultErrnoRet") is not None:
        out["defaultErrnoRet"] = int(profile["defaultErrnoRet"])
    architectures = list(profile.get("architectures") or ())
    for entry in profile.get("archMap") or ():
        if entry.get("architecture") == _SCMP_ARCH.get(native):
            architectures = [entry["architecture"], *(entry.get("subArchitectures") or ())]
            break
    if architectures:
        out["architectures"] = architectures
    for key in ("flags", "listenerPath", "listenerMetadata"):
        if profile.get(key):
            out[key] = profile[key]
    syscalls = []
    for rule in profile.get("syscalls") or ():
        names = list(rule.get("names") or ())
        if rule.get("name"):
            if names:
                raise ComposerError("seccomp profile: a rule has both 'name' and 'names'")
            names = [rule["name"]]
        if not names or not _selected(rule, native, bounding, kernel):
            continue
        call: dict[str, Any] = {"names": names, "action": rule.get("action") or "SCMP_ACT_ALLOW"}
        if rule.get("errnoRet") is not None:
            call["errnoRet"] = int(rule["errnoRet"])
        if rule.get("args"):
            call["args"] = [_oci_arg(a) for a in rule["args"]]
        syscalls.append(call)
    if syscalls:
        out["syscalls"] = syscalls
    return out


def load_seccomp_profile(text: str, where: str) -> Mapping[str, Any]:
    """A profile file's text (the caller reads it) -> the profile; bad JSON is a one-line error."""
    try:
        profile = json.loads(text)
    except ValueError as err:
        raise ComposerError(f"seccomp profile {where}: invalid JSON: {err}")
    if not isinstance(profile, dict):
        raise ComposerError(f"seccomp profile {where}: must be a JSON object")
    return profile
