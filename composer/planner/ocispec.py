"""service + image config + host facts -> the OCI runtime `config.json` for one container.

Pure: the runtime reads the image's /etc/passwd and /etc/group, `stat`s device nodes, reads seccomp
profile files and probes the host (`HostFacts`); everything arrives here as values, so the whole
security profile is unit-tested without root. The result follows Docker's `createSpec` (moby
`daemon/oci_linux.go`) so a container under composer looks like one under Docker from inside: the
same 14 capabilities, masked and read-only paths, device rules, seccomp allow-list, mounts and
defaults, plus explicit rlimits (without a daemon the caller's shell limits would leak in).

`service` is one service in the shape `docker compose config --format json` prints; `image` is the
image's `Config` object (`Entrypoint`, `Cmd`, `Env`, `WorkingDir`, `User`, `StopSignal`), as
`runtime.images.store.inspect()["Config"]` returns it. `run SERVICE CMD` and `--entrypoint` are the
caller's business: replace `command`/`entrypoint` in the mapping before calling. `stdin_open` does
not change the spec (conmon holds stdin); `tty` sets `process.terminal`.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from types import MappingProxyType
from typing import Any

from composer.errors import ComposerError, Diagnostics
from composer.planner import security
from composer.planner.hostfacts import RLIM_INFINITY, HostDevice, HostFacts, Rlimit
from composer.planner.userdb import resolve_user
from composer.schema.units import parse_bytes

OCI_VERSION = "1.0.2"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_SHM_SIZE = 64 << 20
MIN_MEMORY = 6 << 20
INIT_PATH = "/sbin/docker-init"
"""Where the init binary is bind-mounted: Docker's path, so tools that look for it find it."""
ANNOTATION_STOP_SIGNAL = "org.opencontainers.image.stopSignal"
"""The container's stop signal, for whoever stops it (podman reads the same key)."""

_EMPTY: Mapping[str, Any] = MappingProxyType({})
_KEEP_WRITABLE = ("/proc", "/dev", "/dev/pts", "/dev/shm", "/dev/mqueue")
"""Default mounts `read_only: true` leaves writable, as Docker does."""


@dataclass(frozen=True, slots=True)
class Mount:
    """A mount the caller prepared: volumes, binds, and /etc/hosts, /etc/hostname, /etc/resolv.conf."""

    destination: str
    source: str
    type: str = "bind"
    options: tuple[str, ...] = ("rbind", "rprivate")

    def to_oci(self) -> dict[str, Any]:
        return {
            "destination": self.destination,
            "type": self.type,
            "source": self.source,
            "options": list(self.options),
        }


def _m(destination: str, kind: str, source: str, options: str) -> dict[str, Any]:
    return {"destination": destination, "type": kind, "source": source, "options": options.split(",")}


def _default_mounts() -> list[dict[str, Any]]:
    """Docker's default mounts (`/dev/shm` gets its size later)."""
    return [
        _m("/proc", "proc", "proc", "nosuid,noexec,nodev"),
        _m("/dev", "tmpfs", "tmpfs", "nosuid,strictatime,mode=755,size=65536k"),
        _m("/dev/pts", "devpts", "devpts", "nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5"),
        _m("/sys", "sysfs", "sysfs", "nosuid,noexec,nodev,ro"),
        _m("/sys/fs/cgroup", "cgroup", "cgroup", "ro,nosuid,noexec,nodev"),
        _m("/dev/mqueue", "mqueue", "mqueue", "nosuid,noexec,nodev"),
        _m("/dev/shm", "tmpfs", "shm", "nosuid,noexec,nodev,mode=1777"),
    ]


# --- small value helpers ------------------------------------------------------------------------


class _Fail:
    """Makes ComposerErrors that name the service, as every message about a service must."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, message: str) -> ComposerError:
        return ComposerError(f"service {self.name!r}: {message}")


def _bytes(value: Any, key: str, fail: _Fail) -> int | None:
    """A byte size as Compose prints it (`"536870912"`, `536870912`, `"512m"`, `-1`); 0/None = unset."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value or None
    text = str(value).strip()
    try:
        number = int(text) if text.lstrip("-").isdigit() else parse_bytes(text)
    except (ValueError, InvalidOperation):
        raise fail(f"{key}: {value!r} is not a size in bytes")
    return number or None


def _int(value: Any, key: str, fail: _Fail) -> int | None:
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        return int(str(value).strip())
    except ValueError:
        raise fail(f"{key}: {value!r} is not an integer")


def _argv(value: Any) -> list[str] | None:
    """`command`/`entrypoint`: None keeps the image's; a string is split into words, run without a shell."""
    if value is None:
        return None
    if isinstance(value, str):
        return shlex.split(value)
    return [str(v) for v in value]


def _deep(service: Mapping[str, Any], *keys: str) -> Any:
    node: Any = service
    for key in keys:
        if not isinstance(node, Mapping):
            return None
        node = node.get(key)
    return node


# --- process ------------------------------------------------------------------------------------


def command_line(service: Mapping[str, Any], image: Mapping[str, Any]) -> list[str]:
    """ENTRYPOINT + CMD after Compose's overrides (compose-semantics.md section 4, facts 1-10).

    `command` replaces the image CMD (null keeps it, `[]`/`''` clears it); a non-null `entrypoint`
    replaces ENTRYPOINT *and* drops the image CMD unless `command` is set too (`[]` clears it).
    Shell forms are already `/bin/sh -c ...` in the image config, so plain concatenation is right.
    """
    entrypoint = _argv(service.get("entrypoint"))
    command = _argv(service.get("command"))
    if entrypoint is not None:
        return entrypoint + (command or [])
    image_cmd = list(image.get("Cmd") or ())
    return list(image.get("Entrypoint") or ()) + (command if command is not None else image_cmd)


def environment(service: Mapping[str, Any], image: Mapping[str, Any], *, hostname: str, tty: bool) -> list[str]:
    """Docker's order: PATH, HOSTNAME, TERM (tty), then image ENV, then the service's; later wins in place.

    A service variable with a null value (unresolved in Compose) removes the variable, image's included.
    """
    env: dict[str, str] = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    if tty:
        env["TERM"] = "xterm"
    for entry in image.get("Env") or ():
        key, sep, value = str(entry).partition("=")
        if sep:
            env[key] = value
        else:
            env.pop(key, None)
    raw = service.get("environment") or {}
    items: Iterable[tuple[str, Any]]
    if isinstance(raw, Mapping):
        items = raw.items()
    else:
        items = [(k, v if sep else None) for k, sep, v in (str(e).partition("=") for e in raw)]
    for key, value in items:
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return [f"{k}={v}" for k, v in env.items()]


def _signal_name(value: Any) -> str:
    text = str(value).strip().upper()
    if text.isdigit():
        return text
    return text if text.startswith("SIG") else "SIG" + text


_ULIMIT_NAMES = frozenset(
    security.words("as core cpu data fsize locks memlock msgqueue nice nofile nproc rss rtprio rttime sigpending stack")
)


def _rlim(value: int) -> int:
    return RLIM_INFINITY if value < 0 else value


def _rlimits(service: Mapping[str, Any], host: HostFacts, fail: _Fail) -> list[dict[str, Any]]:
    """The host's explicit defaults, each replaced by the service's `ulimits` entry of that name."""
    limits: dict[str, Rlimit] = {r.type: r for r in host.rlimits}
    for name, value in (service.get("ulimits") or {}).items():
        if name.lower() not in _ULIMIT_NAMES:
            raise fail(f"ulimits: unknown limit {name!r}")
        if isinstance(value, Mapping):
            soft = _int(value.get("soft"), f"ulimits.{name}.soft", fail)
            hard = _int(value.get("hard"), f"ulimits.{name}.hard", fail)
        else:
            soft = hard = _int(value, f"ulimits.{name}", fail)
        if soft is None or hard is None:
            raise fail(f"ulimits.{name}: needs a number, or soft and hard")
        soft, hard = _rlim(soft), _rlim(hard)
        if soft > hard:
            raise fail(f"ulimits.{name}: soft limit {soft} is greater than hard limit {hard}")
        key = "RLIMIT_" + name.upper()
        limits[key] = Rlimit(key, soft, hard)
    return [r.to_oci() for r in limits.values()]


# --- mounts -------------------------------------------------------------------------------------

_FLAG_GROUPS = [
    {"ro", "rw"},
    {"exec", "noexec"},
    {"suid", "nosuid"},
    {"dev", "nodev"},
    {"sync", "async"},
    {"atime", "noatime"},
    {"diratime", "nodiratime"},
    {"relatime", "norelatime"},
    {"strictatime", "nostrictatime"},
    {"private", "rprivate", "shared", "rshared", "slave", "rslave", "unbindable", "runbindable"},
]
_TMPFS_DATA = frozenset({"size", "mode", "uid", "gid", "nr_inodes", "nr_blocks", "mpol"})
_TMPFS_BASE = ("noexec", "nosuid", "nodev", "rprivate")


def _merge_tmpfs_options(options: Sequence[str], fail: _Fail, where: str) -> list[str]:
    """Later options win over earlier ones of the same kind (`exec` over `noexec`, `size=` over `size=`)."""
    seen: set[str] = set()
    out: list[str] = []
    for option in reversed(options):
        if option in ("", "defaults"):
            continue
        group = next((g for g in _FLAG_GROUPS if option in g), None)
        if group is not None:
            key = min(group)
        else:
            key, sep, _ = option.partition("=")
            if not sep or key not in _TMPFS_DATA:
                raise fail(f"{where}: invalid tmpfs option {option!r}")
        if key not in seen:
            seen.add(key)
            out.insert(0, option)
    return out


def _tmpfs_mounts(service: Mapping[str, Any], fail: _Fail) -> list[dict[str, Any]]:
    """`tmpfs: ["/run", "/tmp:size=64m"]` -> tmpfs mounts, `noexec,nosuid,nodev` unless overridden."""
    raw = service.get("tmpfs") or []
    if isinstance(raw, str):
        raw = [raw]
    out = []
    for entry in raw:
        path, _, opts = str(entry).partition(":")
        if not path.startswith("/"):
            raise fail(f"tmpfs: {path!r} is not an absolute path")
        merged = _merge_tmpfs_options([*_TMPFS_BASE, *opts.split(",")], fail, f"tmpfs {path}")
        out.append({"destination": path, "type": "tmpfs", "source": "tmpfs", "options": merged})
    return out


def _depth(destination: str) -> int:
    return len([p for p in destination.split("/") if p and p != "."])


# --- devices ------------------------------------------------------------------------------------


def _device_entries(source: str, target: str, host_devices: Mapping[str, HostDevice]) -> list[tuple[str, HostDevice]]:
    """(path in container, device) for a device path, or for every device under a directory."""
    if source in host_devices:
        return [(target, host_devices[source])]
    prefix = source.rstrip("/") + "/"
    return [
        (target.rstrip("/") + "/" + path[len(prefix) :], dev)
        for path, dev in sorted(host_devices.items())
        if path.startswith(prefix)
    ]


def _oci_device(path: str, dev: HostDevice) -> dict[str, Any]:
    return {
        "path": path,
        "type": dev.type,
        "major": dev.major,
        "minor": dev.minor,
        "fileMode": dev.file_mode,
        "uid": dev.uid,
        "gid": dev.gid,
    }


def _device_mappings(service: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    out = []
    for entry in service.get("devices") or ():
        if isinstance(entry, Mapping):
            source = str(entry.get("source") or "")
            out.append((source, str(entry.get("target") or source), str(entry.get("permissions") or "rwm")))
        else:
            parts = str(entry).split(":")
            source = parts[0]
            target = parts[1] if len(parts) > 1 else source
            out.append((source, target, parts[2] if len(parts) > 2 else "rwm"))
    return out


def _check_access(access: str, fail: _Fail, where: str) -> None:
    if not access or len(set(access)) != len(access) or not set(access) <= set("rwm"):
        raise fail(f"{where}: permissions {access!r} must be made of r, w and m")


def _cgroup_rule(text: str, fail: _Fail) -> dict[str, Any]:
    """`device_cgroup_rules` entry (`c 1:3 mr`, `a *:* rwm`, `a`) -> an OCI device rule."""
    parts = text.split()
    if parts == ["a"]:
        return {"allow": True, "type": "a", "access": "rwm"}
    if len(parts) != 3 or parts[0] not in ("a", "b", "c") or ":" not in parts[1]:
        raise fail(f"device_cgroup_rules: invalid rule {text!r}")
    major, _, minor = parts[1].partition(":")
    rule: dict[str, Any] = {"allow": True, "type": parts[0]}
    for key, number in (("major", major), ("minor", minor)):
        if number != "*":
            if not number.isdigit():
                raise fail(f"device_cgroup_rules: invalid rule {text!r}")
            rule[key] = int(number)
    _check_access(parts[2], fail, f"device_cgroup_rules {text!r}")
    rule["access"] = parts[2]
    return rule


# --- namespaces, sysctls ------------------------------------------------------------------------

_IPC_SYSCTLS = frozenset(
    security.words(
        "kernel.msgmax kernel.msgmnb kernel.msgmni kernel.sem kernel.shmall kernel.shmmax kernel.shmmni "
        "kernel.shm_rmid_forced"
    )
)


def _joins(mode: str) -> bool:
    return mode.startswith(("service:", "container:"))


def _check_sysctl(name: str, own: Mapping[str, bool], fail: _Fail) -> None:
    """Only namespaced sysctls, and only when the container has its own namespace of that kind."""
    if name in _IPC_SYSCTLS or name.startswith("fs.mqueue."):
        kind = "ipc"
    elif name.startswith("net."):
        kind = "network"
    elif name in ("kernel.domainname", "kernel.hostname"):
        kind = "uts"
    else:
        raise fail(f"sysctls: {name} is not namespaced, a container cannot set it")
    if not own[kind]:
        raise fail(f"sysctls: {name} needs the container's own {kind} namespace")


# --- resources ----------------------------------------------------------------------------------


def _resources(service: Mapping[str, Any], host: HostFacts, fail: _Fail, warn: Diagnostics) -> dict[str, Any]:
    """memory, cpu and pids limits; the OCI shape is the same for cgroup v1 and v2 (runc converts)."""
    limits = _deep(service, "deploy", "resources", "limits") or {}
    reservations = _deep(service, "deploy", "resources", "reservations") or {}
    v2 = host.cgroup_version == 2

    def controller(name: str, what: str) -> bool:
        if v2 or name in host.cgroup_controllers:
            return True
        warn.warn(f"service {fail.name!r}: the host has no {name} cgroup controller; {what} ignored")
        return False

    def v1_only(what: str) -> bool:
        if v2:
            warn.warn(f"service {fail.name!r}: {what} is not supported on cgroup v2; ignored")
        return not v2

    out: dict[str, Any] = {}
    memory: dict[str, Any] = {}
    mem = _bytes(service.get("mem_limit"), "mem_limit", fail) or _bytes(limits.get("memory"), "memory", fail)
    reserve = _bytes(service.get("mem_reservation"), "mem_reservation", fail) or _bytes(
        reservations.get("memory"), "reservations.memory", fail
    )
    swap = _bytes(service.get("memswap_limit"), "memswap_limit", fail)
    if mem is not None:
        if mem < MIN_MEMORY:
            raise fail("mem_limit: the minimum memory limit is 6MB")
        memory["limit"] = mem
    if reserve is not None:
        if mem is not None and reserve > mem:
            raise fail("mem_reservation: must be smaller than mem_limit")
        memory["reservation"] = reserve
    if swap is not None and swap != -1:
        if mem is None:
            raise fail("memswap_limit: set mem_limit too (memswap_limit is memory plus swap)")
        if swap < mem:
            raise fail("memswap_limit: must be at least mem_limit (it is memory plus swap)")
    if host.swap_accounting:
        if swap is not None:
            memory["swap"] = swap
        elif mem is not None:
            memory["swap"] = 2 * mem  # Docker's default: as much swap as memory
    elif swap is not None and swap != -1:
        warn.warn(f"service {fail.name!r}: the host has no swap accounting; memswap_limit ignored")
    swappiness = _int(service.get("mem_swappiness"), "mem_swappiness", fail)
    if swappiness is not None and swappiness != -1:
        if not 0 <= swappiness <= 100:
            raise fail("mem_swappiness: must be between 0 and 100")
        if v1_only("mem_swappiness"):
            memory["swappiness"] = swappiness
    if service.get("oom_kill_disable") and v1_only("oom_kill_disable"):
        memory["disableOOMKiller"] = True
        if mem is None:
            warn.warn(f"service {fail.name!r}: oom_kill_disable without mem_limit can hang the host")
    if memory and controller("memory", "memory limits"):
        out["memory"] = memory

    cpu: dict[str, Any] = {}
    cpus_raw = service.get("cpus") or limits.get("cpus")
    quota = _int(service.get("cpu_quota"), "cpu_quota", fail)
    period = _int(service.get("cpu_period"), "cpu_period", fail)
    if cpus_raw:
        try:
            nano = int(Decimal(str(cpus_raw)) * 1_000_000_000)
        except InvalidOperation:
            raise fail(f"cpus: {cpus_raw!r} is not a number")
        if quota or period:
            raise fail("cpus cannot be combined with cpu_quota or cpu_period")
        if nano > 0:  # Docker's NanoCPUs: a quota per 100 ms period
            cpu["quota"], cpu["period"] = nano * 100_000 // 1_000_000_000, 100_000
    else:
        if quota:
            cpu["quota"] = quota
        if period:
            cpu["period"] = period
    shares = _int(service.get("cpu_shares"), "cpu_shares", fail)
    if shares:
        cpu["shares"] = shares
    if cpu and not controller("cpu", "CPU limits"):
        cpu = {}
    cpuset = str(service.get("cpuset") or "").strip()
    if cpuset and controller("cpuset", "cpuset"):
        cpu["cpus"] = cpuset
    if cpu:
        out["cpu"] = cpu

    pids = _int(service.get("pids_limit"), "pids_limit", fail) or _int(limits.get("pids"), "limits.pids", fail)
    if pids and controller("pids", "pids_limit"):
        out["pids"] = {"limit": pids if pids > 0 else -1}
    return out


# --- the spec -----------------------------------------------------------------------------------


def oci_config(
    service: Mapping[str, Any],
    image: Mapping[str, Any],
    host: HostFacts,
    *,
    name: str,
    container_id: str,
    rootfs: str,
    cgroups_path: str,
    hostname: str | None = None,
    mounts: Sequence[Mount] = (),
    passwd: str | None = None,
    group: str | None = None,
    netns_path: str | None = None,
    namespace_paths: Mapping[str, str] = _EMPTY,
    host_devices: Mapping[str, HostDevice] = _EMPTY,
    seccomp_profiles: Mapping[str, str] = _EMPTY,
    annotations: Mapping[str, str] = _EMPTY,
    diagnostics: Diagnostics | None = None,
) -> dict[str, Any]:
    """The `config.json` dict for one container of service `name`.

    - `hostname`: used when the service sets none (default: the first 12 characters of `container_id`,
      as Docker does).
    - `mounts`: the caller's mounts (volumes, binds, /etc/hosts, /etc/hostname, /etc/resolv.conf);
      one at a default mount's destination replaces it, one at /dev replaces everything under /dev.
    - `passwd`/`group`: the TEXT of the image's /etc/passwd and /etc/group (None if absent).
    - `netns_path`: a prepared network namespace to join; `namespace_paths` maps `network`/`pid`/
      `ipc`/`uts` to a namespace to join, which `service:`/`container:` modes require.
    - `host_devices`: `stat` results of host device nodes by host path: those `devices:` names, and
      for `privileged` every device the container should get.
    - `seccomp_profiles`: the text of each `security_opt: seccomp=FILE` profile, keyed by FILE.
    - `annotations`: the caller's own (bundle bookkeeping), applied after labels and `annotations`.
    - `diagnostics`: collects warnings for settings this host cannot honour.
    Raises ComposerError (naming the service) for settings no host could honour.
    """
    fail = _Fail(name)
    warn = diagnostics if diagnostics is not None else Diagnostics()
    privileged = bool(service.get("privileged"))

    # namespaces: Docker's set; `host` leaves one out, `service:`/`container:` join a path
    modes = {kind: str(service.get(key) or "").strip() for kind, key in _NS_KEYS}
    cgroup_mode = str(service.get("cgroup") or "").strip() or ("private" if host.cgroup_version == 2 else "host")
    paths = dict(namespace_paths)
    if netns_path:
        paths["network"] = netns_path
    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    for kind, mode in modes.items():
        if mode == "host":
            continue
        entry = {"type": kind}
        if kind in paths:
            entry["path"] = paths[kind]
        elif _joins(mode):
            raise fail(f"{kind} mode {mode!r} needs the namespace of a running container")
        namespaces.append(entry)
    if cgroup_mode == "private":
        namespaces.append({"type": "cgroup"})
    elif cgroup_mode != "host":
        raise fail(f"cgroup: {cgroup_mode!r} must be host or private")
    private = {kind: mode != "host" for kind, mode in modes.items()}
    own = {kind: mode != "host" and not _joins(mode) for kind, mode in modes.items()}

    # process
    tty = bool(service.get("tty"))
    host_name = str(service.get("hostname") or hostname or container_id[:12])
    args = command_line(service, image)
    if not args:
        raise fail("no command specified: the image has no ENTRYPOINT or CMD and the service sets no command")
    use_init = bool(service.get("init")) and own["pid"]
    if use_init:
        if not host.init_path:
            raise fail("init: true needs an init binary (install catatonit or tini)")
        args = [INIT_PATH, "--", *args]
    try:
        user = resolve_user(
            service.get("user") or image.get("User") or "",
            passwd,
            group,
            [str(g) for g in service.get("group_add") or ()],
        )
    except ComposerError as err:
        raise fail(f"user: {err.message}")
    cwd = str(service.get("working_dir") or image.get("WorkingDir") or "/")
    if not cwd.startswith("/"):
        raise fail(f"working_dir: {cwd!r} must be an absolute path")

    try:
        caps = security.tweak_capabilities(
            service.get("cap_add") or (), service.get("cap_drop") or (), privileged=privileged, last_cap=host.last_cap
        )
    except ComposerError as err:
        raise fail(err.message)
    capabilities: dict[str, list[str]] = {"bounding": caps}
    if user.uid == 0:
        capabilities.update(effective=caps, permitted=caps)
    else:  # as execve would leave them for a non-root user; inheritable stays empty (CVE-2022-24769)
        capabilities.update(effective=[], permitted=[])

    process: dict[str, Any] = {
        "terminal": tty,
        "user": {"uid": user.uid, "gid": user.gid, "additionalGids": list(user.additional_gids)},
        "args": args,
        "env": environment(service, image, hostname=host_name, tty=tty),
        "cwd": cwd,
        "capabilities": capabilities,
        "rlimits": _rlimits(service, host, fail),
        "noNewPrivileges": False,
    }
    score = _int(service.get("oom_score_adj"), "oom_score_adj", fail)
    if score is not None:
        if not -1000 <= score <= 1000:
            raise fail("oom_score_adj: must be between -1000 and 1000")
        process["oomScoreAdj"] = score

    # security_opt
    seccomp_profile: Mapping[str, Any] | None = security.DEFAULT_SECCOMP_PROFILE
    system_paths = True
    for opt in service.get("security_opt") or ():
        key, sep, value = str(opt).replace(":", "=", 1).partition("=")
        key = key.strip()
        if key == "no-new-privileges":
            if value not in ("", "true", "false"):
                raise fail(f"security_opt: invalid no-new-privileges value {value!r}")
            process["noNewPrivileges"] = value != "false"
        elif key == "seccomp" and sep:
            if value == "unconfined":
                seccomp_profile = None
            elif value == "builtin":
                seccomp_profile = security.DEFAULT_SECCOMP_PROFILE
            elif value in seccomp_profiles:
                try:
                    seccomp_profile = security.load_seccomp_profile(seccomp_profiles[value], value)
                except ComposerError as err:
                    raise fail(err.message)
            else:
                raise fail(f"security_opt: seccomp profile {value!r} was not read (the caller passes its text)")
        elif key == "systempaths" and value == "unconfined":
            system_paths = False
        elif key in ("label", "apparmor"):
            pass  # composer loads no SELinux/AppArmor profiles; Docker ignores these without LSM support
        else:
            raise fail(f"security_opt: unsupported option {opt!r}")

    # mounts: Docker's defaults (minus those the caller replaces), init, then the caller's by depth
    user_mounts = [m.to_oci() for m in mounts] + _tmpfs_mounts(service, fail)
    if modes["ipc"] == "host" and not any(m["destination"] == "/dev/shm" for m in user_mounts):
        user_mounts.append(Mount("/dev/shm", "/dev/shm").to_oci())
    user_mounts.sort(key=lambda m: _depth(m["destination"]))
    taken = {m["destination"] for m in user_mounts}
    shm_size = _bytes(service.get("shm_size"), "shm_size", fail) or DEFAULT_SHM_SIZE
    read_only = bool(service.get("read_only"))
    spec_mounts: list[dict[str, Any]] = []
    for mount in _default_mounts():
        dest = mount["destination"]
        if dest in taken or ("/dev" in taken and dest.startswith("/dev/")):
            continue
        if dest == "/dev/shm":
            if modes["ipc"] == "none":
                continue
            mount["options"].append(f"size={shm_size}")
        if read_only and dest not in _KEEP_WRITABLE and "ro" not in mount["options"]:
            mount["options"].append("ro")
        if privileged and mount["type"] in ("sysfs", "cgroup"):
            mount["options"] = [o for o in mount["options"] if o != "ro"]
        spec_mounts.append(mount)
    if use_init and host.init_path:
        spec_mounts.append(Mount(INIT_PATH, host.init_path, "bind", ("bind", "ro")).to_oci())
    spec_mounts += user_mounts

    # devices
    devices: list[dict[str, Any]] = []
    rules: list[dict[str, Any]]
    mappings = _device_mappings(service)
    if privileged:
        devices = [_oci_device(path, dev) for path, dev in sorted(host_devices.items()) if dev.type in ("c", "b")]
        for source, target, _perm in mappings:
            if source != target:
                devices += [_oci_device(p, d) for p, d in _device_entries(source, target, host_devices)]
        rules = [{"allow": True, "access": "rwm"}]
    else:
        rules = [dict(r) for r in security.DEFAULT_DEVICE_RULES]
        for source, target, perm in mappings:
            _check_access(perm, fail, f"devices {source}")
            found = _device_entries(source, target, host_devices)
            if not found:
                raise fail(f"devices: {source} is not a device on this host")
            for path, dev in found:
                devices.append(_oci_device(path, dev))
                rules.append({"allow": True, "type": dev.type, "major": dev.major, "minor": dev.minor, "access": perm})
        rules += [_cgroup_rule(str(r), fail) for r in service.get("device_cgroup_rules") or ()]

    # sysctls
    sysctl: dict[str, str] = {}
    if own["network"]:
        # Docker's defaults for a container's own network namespace: ping and low ports without caps
        sysctl["net.ipv4.ping_group_range"] = "0 2147483647"
        if host.kernel >= (4, 11):
            sysctl["net.ipv4.ip_unprivileged_port_start"] = "0"
    domainname = str(service.get("domainname") or "")
    if domainname and private["uts"]:
        sysctl["kernel.domainname"] = domainname  # OCI 1.0.2 has no `domainname`; Docker does the same
    for key, value in (service.get("sysctls") or {}).items():
        _check_sysctl(str(key), own, fail)
        sysctl[str(key)] = str(value)

    linux: dict[str, Any] = {
        "cgroupsPath": cgroups_path,
        "namespaces": namespaces,
        "resources": {"devices": rules, **_resources(service, host, fail, warn)},
        "devices": devices,
        "sysctl": sysctl,
    }
    if not privileged and system_paths:
        linux["maskedPaths"] = [*security.MASKED_PATHS, *host.thermal_throttle_paths]
        linux["readonlyPaths"] = list(security.READONLY_PATHS)
    if not privileged and seccomp_profile is not None:
        try:
            seccomp = security.seccomp_for(seccomp_profile, bounding=caps, arch=host.arch, kernel=host.kernel)
        except ComposerError as err:
            raise fail(err.message)
        if seccomp is not None:
            linux["seccomp"] = seccomp

    notes: dict[str, str] = {str(k): str(v) for k, v in (service.get("labels") or {}).items()}
    notes.update({str(k): str(v) for k, v in (service.get("annotations") or {}).items()})
    notes.update(annotations)
    notes[ANNOTATION_STOP_SIGNAL] = _signal_name(service.get("stop_signal") or image.get("StopSignal") or "SIGTERM")

    spec: dict[str, Any] = {
        "ociVersion": OCI_VERSION,
        "process": process,
        "root": {"path": rootfs, "readonly": read_only},
        "mounts": spec_mounts,
        "linux": linux,
        "annotations": notes,
    }
    if private["uts"]:
        spec["hostname"] = host_name
    return spec


_NS_KEYS = (("network", "network_mode"), ("uts", "uts"), ("pid", "pid"), ("ipc", "ipc"))
"""Namespace kind -> the Compose key that chooses it, in Docker's order."""
