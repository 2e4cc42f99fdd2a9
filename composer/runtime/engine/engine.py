"""The native engine: containers made from stored images, run by runc under conmon, without a daemon.

A container is a directory under `<state root>/containers/<id>` holding its record (`records.py`),
its bundle, overlay upper dir, init files, log and exit code. The truth is what exists (runc's state,
conmon's exit file, the mount table); the record adds what those cannot say (name, image, settings).

Synchronous on purpose: each call is a few syscalls and subprocesses, and async callers go through
`runtime.native.NativeRuntime`, which runs these in worker threads. Every multi-step operation holds
the container's lock and is written so that running it again after a crash completes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from composer.errors import ComposerError, Diagnostics
from composer.runtime import failpoints
from composer.runtime.confined import read_text_in_root
from composer.runtime.engine import records
from composer.runtime.engine.initfiles import write_init_files
from composer.runtime.engine.locks import locked
from composer.runtime.engine.records import ContainerRecord
from composer.runtime.fsutil import write_atomic
from composer.runtime.oci.lifecycle import ContainerState, OciRuntime
from composer.runtime.oci.paths import ContainerPaths, Roots
from composer.runtime.oci.rootfs import is_mounted, mount_rootfs

DEFAULT_STATE_ROOT = Path("/var/lib/composer")
DEFAULT_RUN_ROOT = Path("/run/composer")
DEFAULT_CGROUP_PARENT = "/composer"
FOREGROUND = "foreground.pid"
"""In a container's directory: the pid of the foreground `run --rm` that will remove it."""
LayerDirs = list[Path]
"""An image's unpacked layer directories, lowest first (named: `Engine.list` shadows `list` in the class)."""


def _now() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


def preflight(runtime: str, conmon: str) -> None:
    """The one-line reasons the native engine cannot run here, checked before anything is touched."""
    if os.geteuid() != 0:
        raise ComposerError(
            "the native engine needs root (it mounts overlayfs, creates cgroups and namespaces): run composer as root"
        )
    if shutil.which(runtime) is None:
        raise ComposerError(f"OCI runtime {runtime!r} not found: install it with `apt-get install -y runc`")
    if shutil.which(conmon) is None:
        raise ComposerError(f"{conmon!r} not found: install it with `apt-get install -y conmon`")
    try:
        filesystems = Path("/proc/filesystems").read_text()
    except OSError:
        filesystems = ""
    if "\toverlay\n" not in filesystems and not Path("/sys/module/overlay").exists():
        raise ComposerError("the kernel has no overlayfs: load it with `modprobe overlay`")


REPLACES = "x-composer-replaces"
"""Service key naming the container a new one replaces (Compose's recreate): its published ports are not a
conflict, since it goes once the new one exists."""


@dataclass(frozen=True, slots=True)
class CreateRequest:
    """What to create: an image, Compose-shaped service settings (as `config --format json` prints a service)."""

    image: str
    service: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    auto_remove: bool = False
    leave_stdin_open: bool = False
    """With `stdin_open`: keep the container's stdin open when an attached client leaves (`create -i`,
    `run -di`); off, the client's end of input is the container's (an attached `run -i`)."""
    secret_env: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Environment that must not be recorded (a build's `RUN --mount=type=secret,env=`): it goes into the
    runtime spec only, so neither the record nor `inspect` holds it, and it is gone with the container."""


@dataclass(frozen=True, slots=True)
class Container:
    """A record with its live state, what `ls` and `inspect` show."""

    record: ContainerRecord
    state: ContainerState
    paths: ContainerPaths

    @property
    def id(self) -> str:
        return self.record.id

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def status(self) -> str:
        """Docker's status word: created, running, paused, restarting, removing, exited, dead."""
        if self.record.phase == "removing":
            return "removing"
        if self.state.status == "stopped":
            return "exited" if self.state.started_at is not None or self.state.exit_code is not None else "created"
        return self.state.status


class Engine:
    """Containers on this host: create, start, stop, kill, pause, remove, wait, and what they are doing."""

    def __init__(
        self,
        state_root: Path = DEFAULT_STATE_ROOT,
        run_root: Path = DEFAULT_RUN_ROOT,
        *,
        runtime: str = "runc",
        conmon: str = "conmon",
        cgroup_parent: str = DEFAULT_CGROUP_PARENT,
        nft_table: str = "composer",
    ) -> None:
        preflight(runtime, conmon)
        self.roots = Roots(state_root=Path(state_root), run_root=Path(run_root))
        self.oci = OciRuntime(self.roots, runtime=runtime, conmon=conmon)
        self.cgroup_parent = "/" + cgroup_parent.strip("/")
        self.nft_table = nft_table
        self._repaired = False
        self._images: Any = None
        self._image_cache: dict[str, Any] = {}
        self._layer_cache: dict[str, LayerDirs] = {}
        self.deferred_hosts: set[str] | None = None
        """While a set (`defer_hosts`): peers' hosts files are rewritten once at the end, not after every change."""

    @property
    def images(self) -> Any:
        """The image store under `<state root>/images` (imported lazily: not every command needs it)."""
        if self._images is None:
            from composer.runtime.images.store import ImageStore

            self._images = ImageStore(self.roots.state_root / "images")
        return self._images

    def _image(self, ref: str) -> Any:
        """An image by reference, remembered for this engine's lifetime (one command: creates of many
        containers from one image read and parse its manifest and config once)."""
        found = self._image_cache.get(ref)
        if found is None:
            found = self._image_cache[ref] = self.images.get(ref)
        return found

    def _layers(self, image_id: str) -> LayerDirs:
        found = self._layer_cache.get(image_id)
        if found is None:
            found = self._layer_cache[image_id] = list(self.images.layer_dirs(image_id))
        return found

    # -- records ---------------------------------------------------------------------------------

    def _lock_path(self, container_id: str) -> Path:
        return self.roots.run_root / "locks" / f"{container_id}.lock"

    @contextlib.contextmanager
    def _locked(self, container_id: str) -> Iterator[None]:
        with locked(self._lock_path(container_id)):
            yield

    def _records(self) -> list[ContainerRecord]:
        found = []
        try:
            entries = list(self.roots.containers.iterdir())
        except FileNotFoundError:
            return []
        for entry in entries:
            if entry.name.startswith("."):
                continue
            record = records.load(entry)
            if record is not None:
                found.append(record)
            elif entry.is_dir():
                found.append(_orphan(entry.name))
        return found

    def repair(self) -> list[str]:
        """Finish what killed commands left: half-created and half-removed containers are removed.

        A record in phase `creating` or `removing` whose lock is free belongs to a dead command (a live one
        holds the lock throughout). A `--rm` container that has exited is removed too: without a daemon
        to do it the moment it exits, the next command does it before anyone can see it. Returns the ids.
        """
        done = []
        for record in self._records():
            if record.phase == "ready" and not (record.auto_remove and self._exited(record.id)):
                continue
            with locked(self._lock_path(record.id), blocking=False) as mine:
                if not mine:
                    continue
                current = records.load(self.roots.containers / record.id)
                if current is not None and current.phase == "ready" and not current.auto_remove:
                    continue
                self._teardown(record.id)
                done.append(record.id)
        return done

    def _exited(self, container_id: str) -> bool:
        """Exited, and no foreground `run --rm` is still waiting to read its exit code and remove it itself."""
        paths = self.roots.container(container_id)
        exit_file = paths.exit_file
        if not (exit_file.exists() and exit_file.read_text().strip().lstrip("-").isdigit()):
            return False
        try:
            waiter = int((paths.dir / FOREGROUND).read_text())
        except (OSError, ValueError):
            return True
        return not Path(f"/proc/{waiter}").exists()

    def hold_for_foreground(self, container_id: str) -> None:
        """Mark a `--rm` container as watched by this process (a foreground `run`): the sweep of exited
        `--rm` containers leaves it to us while we live, so we still get its exit code."""
        (self.roots.container(container_id).dir / FOREGROUND).write_text(str(os.getpid()))

    def _ready(self) -> list[ContainerRecord]:
        if not self._repaired:
            self._repaired = True
            self.repair()
        return [r for r in self._records() if r.phase == "ready"]

    def resolve(self, ref: str) -> ContainerRecord:
        """A container by full ID, name (with or without Docker's leading `/`), or unambiguous ID prefix."""
        if len(ref) == 64 and self._repaired:  # a full ID (what the runtime protocol passes): no scan
            record = records.load(self.roots.containers / ref) if all(c in "0123456789abcdef" for c in ref) else None
            if record is not None and record.phase == "ready":
                return record
        name = ref.removeprefix("/")
        if self._repaired and (record := self._by_name(name)) is not None:
            return record
        found = self._ready()
        for record in found:
            if record.id == ref or record.name == name:
                return record
        matches = [r for r in found if ref and r.id.startswith(ref)]
        if len(matches) == 1:
            return matches[0]
        if len(matches) > 1:
            raise ComposerError(f"multiple containers match {ref!r}: use more of the ID or the name")
        raise ComposerError(f"No such container: {ref}")

    def _by_name(self, name: str) -> ContainerRecord | None:
        """The ready container named `name`, found through its name file without reading every record.

        Names are unique (claimed under a lock in `.names/<name>`), so a ready record carrying the name its
        file points to is the only match; anything else (no file, a rename half-way, a record not ready)
        answers None and the caller scans, as before. Down of 50 containers resolved names about 200 times,
        each a scan of 50 records.
        """
        if not name or "/" in name or name in (".", ".."):
            return None
        owner = self._name_owner_raw(self._name_file(name))
        if not owner or "/" in owner or owner.startswith("."):
            return None
        record = records.load(self.roots.containers / owner)
        return record if record is not None and record.phase == "ready" and record.name == name else None

    def get(self, ref: str) -> Container:
        return self._container(self.resolve(ref))

    def _container(self, record: ContainerRecord) -> Container:
        paths = self.roots.container(record.id)
        try:
            state = self.oci.state(record.id)
        except ComposerError:
            state = ContainerState(record.id, "stopped", 0, None, None, None, False)
        return Container(record, state, paths)

    def list(self, *, all: bool = True) -> list[Container]:
        """Containers, newest first (as `docker ps` sorts); only running ones unless `all`."""
        out = [self._container(r) for r in self._ready()]
        if not all:
            out = [c for c in out if c.state.status in ("running", "paused")]
        out.sort(key=lambda c: c.record.created, reverse=True)
        return out

    # -- create ------------------------------------------------------------------------------------

    def _name_file(self, name: str) -> Path:
        return self.roots.containers / ".names" / name

    def _name_owner(self, name: str) -> str | None:
        """The ID of the container holding `name`, if that container still exists."""
        try:
            owner = self._name_file(name).read_text().strip()
        except OSError:
            return None
        # the directory, not the record: a creator makes it before claiming the name and writes the record after
        return owner if owner and (self.roots.containers / owner).is_dir() else None

    def _reserve_name(self, wanted: str | None, container_id: str) -> str:
        """Claim a name for `container_id` (under the names lock): `.names/<name>` holds its owner's ID.

        O(1) instead of reading every record, so parallel creates hold the lock only briefly; a file
        whose owner is gone (a container removed by a killed command) is simply taken over.
        """
        if wanted is not None:
            name = wanted.removeprefix("/")
            _check_name(name)
            owner = self._name_owner(name)
            if owner is not None and owner != container_id:
                held = records.load(self.roots.containers / owner)
                if held is not None and held.name != name:  # a rename killed before it released the old name
                    owner = None
            if owner is not None and owner != container_id:
                raise ComposerError(
                    f'the container name "/{name}" is already in use by container "{owner}": '
                    "remove or rename that container to reuse the name"
                )
        else:
            for _ in range(100):
                name = records.random_name()
                if self._name_owner(name) is None:
                    break
            else:
                name = f"{records.random_name()}_{records.new_id()[:6]}"
        path = self._name_file(name)
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        write_atomic(path, container_id.encode(), fsync=False)
        return name

    def _release_name(self, name: str, container_id: str) -> None:
        path = self._name_file(name) if name else None
        if path is not None and self._name_owner_raw(path) == container_id:
            path.unlink(missing_ok=True)

    def rename(self, ref: str, new_name: str) -> ContainerRecord:
        """Give a container another name (`docker rename`); peers' hosts files follow."""
        record = self.resolve(ref)
        with self._locked(record.id):
            old = record.name
            if new_name.removeprefix("/") == old:
                return record
            with locked(self.roots.containers / ".names.lock"):
                record.name = self._reserve_name(new_name, record.id)
            records.save(self.roots.container(record.id).dir, record)
            with locked(self.roots.containers / ".names.lock"):
                self._release_name(old, record.id)
        if record.networks:
            self._refresh_hosts(set(record.networks))
        return record

    @staticmethod
    def _name_owner_raw(path: Path) -> str | None:
        try:
            return path.read_text().strip()
        except OSError:
            return None

    def create(self, request: CreateRequest, *, diagnostics: Diagnostics | None = None) -> ContainerRecord:
        """Make a container (created, not started). Safe to kill at any point: `repair` removes the rest."""
        from composer.planner.ocispec import ANNOTATION_STOP_SIGNAL, oci_config
        from composer.runtime.hostprobe import probe_host

        image = self._image(request.image)
        image_config: dict[str, Any] = dict(image.config_json.get("config") or {})
        layers = self._layers(image.id)
        service = dict(request.service)
        self._ready()  # repair first, so a dead command's half-made container frees its name
        container_id = records.new_id()
        paths = self.roots.container(container_id)
        with contextlib.ExitStack() as stack:
            # the container's lock first: `repair` leaves a directory alone while its creator holds it
            stack.enter_context(locked(self._lock_path(container_id)))
            paths.dir.mkdir(parents=True, mode=0o700)
            with locked(self.roots.containers / ".names.lock"):  # held for two small file operations
                name = self._reserve_name(request.name, container_id)
            record = ContainerRecord(
                id=container_id,
                name=name,
                image_id=image.id,
                image_ref=request.image,
                created=_now(),
                service=service,
                labels={**(image_config.get("Labels") or {}), **dict(request.labels)},
                cgroups_path=f"{self.cgroup_parent}/{container_id}",
                hostname=str(service.get("hostname") or container_id[:12]),
                stop_timeout=_grace(service.get("stop_grace_period")),
                auto_remove=request.auto_remove,
                leave_stdin_open=request.leave_stdin_open,
            )
            records.save(paths.dir, record)  # the intent: phase "creating"
            failpoints.hit("create.after-record")
            return self._build(
                record,
                paths,
                image_config,
                layers,
                diagnostics,
                oci_config,
                ANNOTATION_STOP_SIGNAL,
                probe_host(self.oci.cfg.runtime),
                request.secret_env,
            )
        raise AssertionError("unreachable")

    def _build(
        self,
        record: ContainerRecord,
        paths: ContainerPaths,
        image_config: dict[str, Any],
        layers: Sequence[Path],
        diagnostics: Diagnostics | None,
        oci_config: Any,
        stop_signal_key: str,
        host: Any,
        secret_env: Mapping[str, str] | None = None,
    ) -> ContainerRecord:
        from composer.runtime.hostprobe import host_devices

        service = record.service
        try:
            mount_rootfs(layers, paths.upper, paths.work, paths.rootfs)
            failpoints.hit("create.after-mount")
            mounts = write_init_files(paths.dir / "etc", service, record.hostname)  # rewritten once addressed
            from composer.runtime.engine.volumes import VolumeStore

            store = VolumeStore(self.roots.state_root)
            with store.lock():  # `volume rm` must not delete a volume between its creation here and the record
                mounts += _bind_mounts(service, store=store, rootfs=paths.rootfs,
                                       image_volumes=image_config.get("Volumes") or (), claimed=record.volumes)
                if record.volumes:
                    records.save(paths.dir, record)  # the claim, still in phase "creating"
            namespace_paths = self._joined_namespaces(service)
            netns_path = self._attach_networks(record, service)
            if netns_path is not None:
                records.save(paths.dir, record)  # the leases it holds, still in phase "creating"
            device_paths = [
                str(d.get("source") if isinstance(d, Mapping) else str(d).split(":")[0])
                for d in service.get("devices") or ()
            ]
            spec = oci_config(
                service,
                image_config,
                host,
                name=record.name,
                container_id=record.id,
                rootfs=str(paths.rootfs),
                cgroups_path=record.cgroups_path,
                hostname=record.hostname,
                mounts=mounts,
                passwd=read_text_in_root(paths.rootfs, "/etc/passwd"),
                group=read_text_in_root(paths.rootfs, "/etc/group"),
                namespace_paths=namespace_paths,
                netns_path=str(netns_path) if netns_path is not None else None,
                host_devices=host_devices(device_paths, privileged=bool(service.get("privileged"))),
                seccomp_profiles=_seccomp_files(service),
                annotations={"io.composer.container.name": record.name, "io.composer.image.id": record.image_id},
                diagnostics=diagnostics,
            )
            if secret_env:
                env = [e for e in spec["process"].get("env") or () if e.partition("=")[0] not in secret_env]
                spec["process"]["env"] = env + [f"{k}={v}" for k, v in secret_env.items()]
            record.stop_signal = spec["annotations"][stop_signal_key]
            record.path, *rest = spec["process"]["args"]
            record.args = list(rest)
            record.mounts = [m for m in spec["mounts"] if m.get("type") == "bind"]
            self.oci.create(record.id, spec, layers, fresh=True, **self._stdio(record))
            failpoints.hit("create.after-runtime")
            record.phase = "ready"
            records.save(paths.dir, record)
            if record.networks:
                self._refresh_hosts(set(record.networks), only=record.id)  # its own file now; peers' maybe later
            return record
        except BaseException:
            with contextlib.suppress(Exception):
                self._teardown(record.id)
            raise

    @property
    def networks(self) -> Any:
        """The bridge networks under `<state root>/networks` (imported lazily: pyroute2 is slow to import)."""
        from composer.runtime.engine.networks import NetworkStore

        return NetworkStore(self.roots.state_root, nft_table=self.nft_table)

    def _attach_networks(self, record: ContainerRecord, service: Mapping[str, Any]) -> Path | None:
        """Put the container on its `networks` (own namespace, one veth each); None when it has none.

        Published `ports` are checked against the host and other containers before any veth exists, then
        become DNAT rules to the address on the first network (recorded in `record.ports`).
        """
        networks = service.get("networks")
        ports = list(service.get("ports") or ())
        links = _parse_links(service.get("links"))
        if not networks or service.get("network_mode"):
            if links:
                raise ComposerError(f"links: container {links[0][0]!r} can only be linked over a network both "
                                    "containers are on: add --network NAME")
            if ports and not service.get("network_mode"):
                raise ComposerError("publishing ports needs a bridge network: add --network NAME "
                                    "(create one with `composer network create NAME`)")
            return None  # network_mode host/none/container: Docker ignores published ports too
        from composer.runtime.engine.initfiles import write_init_files
        from composer.runtime.engine.networks import attach_container

        bindings: list[dict[str, str]] = []
        if ports:
            from composer.runtime.net import hostports

            replaced = service.get(REPLACES)  # a Compose recreate: the old container's ports pass to the new one
            claimed = [{**p, "Container": r.name} for r in self._records() if r.id not in (record.id, replaced)
                       for p in r.ports]
            bindings = hostports.bind_all(ports, claimed)
        if isinstance(networks, list):
            networks = {str(n): None for n in networks}
        linked = [self.resolve(ref) for ref, _ in links]  # a missing one fails before anything is attached
        if ports:
            first_net = self.networks.get(str(next(iter(networks))))
            if first_net.driver != "bridge":
                raise ComposerError(f"publishing ports needs a bridge network: {first_net.name} is {first_net.driver}")
        path, record.networks = attach_container(self.networks, self.roots.run_root / "netns", record.id, networks)
        mine = {n["NetworkID"] for n in record.networks.values()}
        for other, (ref, _) in zip(linked, links, strict=True):
            if not mine & {n.get("NetworkID") for n in other.networks.values()}:
                raise ComposerError(f"links: container {ref!r} shares no network with this container: "
                                    "connect both to one network")
        addresses = [n["IPAddress"] for n in record.networks.values()]
        write_init_files(self.roots.container(record.id).dir / "etc", service, record.hostname, addresses=addresses)
        if bindings:
            from composer.planner.ipam import bridge_name
            from composer.runtime.net import nat

            first = next(iter(record.networks.values()))
            record.ports = [{**b, "ContainerIp": first["IPAddress"]} for b in bindings]
            nat.set_port_mappings(record.id, [
                nat.PortMapping("" if p["HostIp"] == "0.0.0.0" else p["HostIp"], int(p["HostPort"]), p["Protocol"],
                                p["ContainerIp"], int(p["ContainerPort"])) for p in record.ports
            ], [bridge_name(first["NetworkID"])], self.nft_table)
        return path

    @contextlib.contextmanager
    def defer_hosts(self) -> Iterator[None]:
        """Batch the hosts-file rewrites of many creates and removals (a Compose `up` or `down`).

        Inside, a new container still gets its own complete hosts file at once; the others learn about it
        when the block ends (one rewrite per container instead of one per change: creating 50 containers
        would otherwise rewrite 1,275 files).
        """
        self.deferred_hosts = set()
        try:
            yield
        finally:
            pending, self.deferred_hosts = self.deferred_hosts, None
            if pending:
                self._refresh_hosts(pending)

    def _refresh_hosts(self, networks: set[str], *, leaving: str | None = None, only: str | None = None) -> None:
        """Rewrite /etc/hosts of every container on `networks` so it lists its peers on shared networks.

        Name resolution by a managed hosts file: each container sees the names, hostnames, aliases and short
        IDs of the containers it shares a network with (and no others), and first its `links` (alias and name of
        the linked container, at its address on the first network they share). Files are rewritten in place (the
        bind mount follows the inode), under one lock so concurrent creates and removals do not interleave.
        """
        from composer.runtime.engine.initfiles import write_init_files

        deferred = self.deferred_hosts
        if deferred is not None:
            deferred.update(networks)
            if only is None:
                return
        with locked(self.roots.containers / ".hosts.lock"):
            members = [r for r in self._records() if r.phase == "ready" and r.networks and r.id != leaving]
            for record in members:
                if not networks & set(record.networks) or (deferred is not None and record.id != only):
                    continue
                peers: list[tuple[str, list[str]]] = _link_entries(record, members)
                for other in members:
                    if other.id == record.id:
                        continue
                    for net, info in other.networks.items():
                        if net in record.networks:
                            aliases = [a for a in info.get("Aliases", "").split(",") if a]
                            peers.append((info["IPAddress"], [other.name, *aliases, other.hostname, other.short_id]))
                addresses = [n["IPAddress"] for n in record.networks.values()]
                # A peer removed meanwhile (its teardown does not take this lock) must not get its directory
                # back: check again just before writing, and let a file vanishing under the write go.
                current = records.load(self.roots.containers / record.id)
                if current is None or current.phase != "ready":
                    continue
                with contextlib.suppress(FileNotFoundError):
                    write_init_files(self.roots.container(record.id).dir / "etc", record.service, record.hostname,
                                     addresses=addresses, peers=peers)

    def connect(self, ref: str, network: str, *, ip: str | None = None, aliases: Sequence[str] = ()) -> None:
        """`network connect`: one more interface for a container made on networks (running or not)."""
        from composer.runtime.engine.networks import attach_container

        record = self.resolve(ref)
        with self._locked(record.id):
            if not record.networks:
                raise ComposerError(f"container {record.name} has no network namespace of its own to connect: "
                                    "create it with --network NAME")
            target = self.networks.get(network)
            if target.name in record.networks:
                raise ComposerError(f"container {record.name} is already connected to network {target.name}")
            cfg = {"ipv4_address": ip, "aliases": list(aliases)}
            _, added = attach_container(self.networks, self.roots.run_root / "netns", record.id, {target.name: cfg},
                                        first_index=len(record.networks), default_route=False)
            record.networks.update(added)
            records.save(self.roots.container(record.id).dir, record)
        self._refresh_hosts(set(record.networks))

    def disconnect(self, ref: str, network: str) -> None:
        """`network disconnect`: remove the container's interface and address on one network."""
        from composer.runtime.engine.networks import detach_network

        record = self.resolve(ref)
        with self._locked(record.id):
            target = self.networks.get(network)
            if target.name not in record.networks:
                raise ComposerError(f"container {record.name} is not connected to network {target.name}")
            detach_network(self.networks, record.id, target.id)
            del record.networks[target.name]
            records.save(self.roots.container(record.id).dir, record)
        self._refresh_hosts({target.name, *record.networks})

    def _joined_namespaces(self, service: Mapping[str, Any]) -> dict[str, str]:
        """`network_mode`/`ipc`/`pid: container:NAME`: the namespaces of that running container."""
        out = {}
        for kind, key, ns in (("network", "network_mode", "net"), ("ipc", "ipc", "ipc"), ("pid", "pid", "pid")):
            mode = str(service.get(key) or "")
            if not mode.startswith("container:"):
                continue
            other = self.get(mode.split(":", 1)[1])
            if other.state.status not in ("running", "paused") or not other.state.pid:
                raise ComposerError(f"{key} {mode!r}: container {other.name!r} is not running")
            out[kind] = f"/proc/{other.state.pid}/ns/{ns}"
        return out

    # -- lifecycle --------------------------------------------------------------------------------

    def start(self, ref: str) -> ContainerRecord:
        """Start a created or exited container (an exited one gets a fresh runtime container, same filesystem)."""
        record = self.resolve(ref)
        with self._locked(record.id):
            status = "created" if self.oci.is_created(record.id) else self.oci.state(record.id).status
            if status in ("running", "paused"):
                return record
            if status == "stopped":
                self._respawn(record)
                status = "created"
            failpoints.hit("start.before-start")
            self.oci.start(record.id, status=status)
        return record

    def _respawn(self, record: ContainerRecord) -> None:
        """A new runc container from the existing bundle, for `start` after an exit (or after a reboot)."""
        paths = self.roots.container(record.id)
        layers = self._layers(record.image_id)
        self.oci.reset(record.id)
        mount_rootfs(layers, paths.upper, paths.work, paths.rootfs)  # a no-op unless a reboot unmounted it
        self.oci.create(record.id, json.loads(paths.config.read_bytes()), layers, **self._stdio(record))

    @staticmethod
    def _stdio(record: ContainerRecord) -> dict[str, Any]:
        return {"name": record.name, "stdin": record.stdin_open, "tty": record.tty,
                "leave_stdin_open": record.leave_stdin_open}

    def exec(
        self,
        ref: str,
        cmd: Sequence[str],
        *,
        user: str | None = None,
        env: Sequence[str] = (),
        workdir: str | None = None,
        tty: bool = False,
        interactive: bool = False,
        detach: bool = False,
        privileged: bool = False,
    ) -> int:
        """Run a command in a running container (`docker exec`); its exit code (0 once started with `detach`)."""
        from composer.runtime.hostprobe import probe_host
        from composer.runtime.oci.exec import exec_spec, exec_user, run_exec

        record = self.resolve(ref)
        state = self.oci.state(record.id)
        if state.status == "paused":
            raise ComposerError(f"container {record.name} is paused: unpause it first")
        if state.status != "running" or not state.pid:
            raise ComposerError(f"container {record.name} is not running")
        spec = json.loads(self.roots.container(record.id).config.read_text())
        process = exec_spec(
            spec["process"],
            list(cmd),
            user=exec_user(state.pid, user) if user else None,
            env=env,
            workdir=workdir,
            tty=tty,
            privileged=privileged,
            last_cap=probe_host(self.oci.cfg.runtime).last_cap,
        )
        return run_exec(self.oci.cfg, record.id, process, detach=detach, interactive=interactive, tty=tty)

    def stop(self, ref: str, *, timeout: float | None = None, signal: str | None = None) -> Container:
        """The stop signal, then SIGKILL after the grace period (the container's own unless `timeout` is given)."""
        record = self.resolve(ref)
        with self._locked(record.id):
            grace = record.stop_timeout if timeout is None else timeout
            self.oci.stop(record.id, sig=signal or record.stop_signal, timeout=grace)
        return self._container(record)

    def restart(self, ref: str, *, timeout: float | None = None, signal: str | None = None) -> ContainerRecord:
        self.stop(ref, timeout=timeout, signal=signal)
        return self.start(ref)

    def kill(self, ref: str, signal: str = "KILL") -> Container:
        record = self.resolve(ref)
        with self._locked(record.id):
            self.oci.kill(record.id, signal)
        return self._container(record)

    def pause(self, ref: str) -> Container:
        """Freeze every process of the container (cgroup freezer, through the runtime)."""
        record = self.resolve(ref)
        with self._locked(record.id):
            self.oci.pause(record.id)
        return self._container(record)

    def unpause(self, ref: str) -> Container:
        record = self.resolve(ref)
        with self._locked(record.id):
            self.oci.resume(record.id)
        return self._container(record)

    def wait(self, ref: str, timeout: float | None = None) -> int:
        """Block until the container exits; its exit code (conmon's record survives composer)."""
        record = self.resolve(ref)
        return self.oci.wait(record.id, timeout=timeout)

    def remove(self, ref: str, *, force: bool = False, volumes: bool = False) -> str:
        """Remove a container; a running one only with `force` (killed first). Returns the id.

        With `volumes` (`rm -v`), or for a `--rm` container, its anonymous volumes go too (named ones stay,
        as do volumes another container still uses).
        """
        record = self.resolve(ref)
        with self._locked(record.id):
            state = self.oci.state(record.id)
            if state.status in ("running", "paused") and not force:
                raise ComposerError(
                    f"cannot remove container {record.name!r}: it is {state.status}; stop it first or use --force"
                )
            record.phase = "removing"
            if volumes:  # part of the intent: whoever finishes a killed `rm -v` takes the anonymous volumes too
                record.auto_remove = True
            records.save(self.roots.container(record.id).dir, record)  # the intent
            failpoints.hit("rm.after-intent")
            self._teardown(record.id)
        if record.volumes and (volumes or record.auto_remove):
            from composer.runtime.engine.volumes import VolumeStore

            VolumeStore(self.roots.state_root).remove_anonymous(record.volumes)
        return record.id

    def _teardown(self, container_id: str) -> None:
        """Everything a container has, gone: runc container, conmon, mount, files, its name. Idempotent."""
        record = records.load(self.roots.containers / container_id)
        self.oci.remove(container_id, force=True)
        if record is None or record.networks or (self.roots.run_root / "netns" / container_id).exists():
            from composer.runtime.engine.networks import detach_container
            from composer.runtime.net import nat

            # rules exist only where the record says so, except after a create killed before it saved them
            if record is None or record.ports or record.phase == "creating":
                with contextlib.suppress(nat.NftError):  # no nft: there cannot be rules either
                    nat.remove_port_mappings(container_id, self.nft_table)
            detach_container(self.networks, self.roots.run_root / "netns", container_id)
        if record is not None and record.networks:
            self._refresh_hosts(set(record.networks), leaving=container_id)
        if record is not None:
            self._release_name(record.name, container_id)
            # `--rm` takes its anonymous volumes, whoever sweeps it; so does a create that never finished (volumes
            # still in use, as those a recreate inherits from the container it replaces, stay)
            if (record.auto_remove or record.phase == "creating") and record.volumes:
                from composer.runtime.engine.volumes import VolumeStore

                VolumeStore(self.roots.state_root).remove_anonymous(record.volumes)
        self._lock_path(container_id).unlink(missing_ok=True)

    # -- file system -----------------------------------------------------------------------------

    def rootfs(self, ref: str) -> tuple[ContainerRecord, Path]:
        """The container's merged root filesystem, mounted (again, after a reboot) if it is not."""
        record = self.resolve(ref)
        paths = self.roots.container(record.id)
        if not is_mounted(paths.rootfs):
            with self._locked(record.id):
                mount_rootfs(self._layers(record.image_id), paths.upper, paths.work, paths.rootfs)
        return record, paths.rootfs

    def layers(self, ref: str) -> tuple[ContainerRecord, LayerDirs, Path]:
        """(record, image layer dirs lowest first, upper dir): what `diff` and `commit` read."""
        record = self.resolve(ref)
        return record, self._layers(record.image_id), self.roots.container(record.id).upper

    # -- images ----------------------------------------------------------------------------------

    def image_in_use(self, image_id: str) -> bool:
        return any(r.image_id == image_id for r in self._records())


def _orphan(container_id: str) -> ContainerRecord:
    """A stand-in for a directory whose record was never written (killed before it): to be removed."""
    return ContainerRecord(container_id, "", "", "", "", {}, phase="creating")


def _check_name(name: str) -> None:
    import re

    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise ComposerError(f"invalid container name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")


def _grace(value: Any) -> float:
    """`stop_grace_period` (Compose prints a Go duration such as `1m30s`) in seconds; Docker's 10 s default."""
    if value in (None, ""):
        return 10.0
    if isinstance(value, int | float):
        return float(value)
    from composer.schema.units import parse_duration

    try:
        return parse_duration(str(value)) / 1e9
    except ValueError:
        raise ComposerError(f"stop_grace_period: {value!r} is not a duration such as 10s or 1m30s") from None


def _bind_mounts(
    service: Mapping[str, Any],
    *,
    store: Any = None,
    rootfs: Path | None = None,
    image_volumes: Iterable[str] = (),
    claimed: list[str] | None = None,
) -> list[Any]:
    """Mounts from the service's long-syntax `volumes`: binds, tmpfs, and volumes from `store` (a VolumeStore,
    its lock held): named ones made on first use, anonymous ones for an empty source and for every image
    `VOLUME` nothing else covers (Docker does that), and `volumes_from`: the source containers' volumes and binds
    at their destinations (the service's own `volumes` win over them). Names used go to `claimed`; on an error the
    anonymous volumes this call made are removed again (nothing refers to them yet)."""
    from composer.planner.ocispec import Mount
    from composer.runtime.engine import volumes as vols

    claimed = [] if claimed is None else claimed
    fresh: list[str] = []
    specs = list(service.get("volumes") or ())
    covered = {str(v.get("target") or "").rstrip("/") or "/" for v in specs if isinstance(v, Mapping)}
    covered |= {str(t).partition(":")[0].rstrip("/") or "/" for t in service.get("tmpfs") or ()}
    out = _volumes_from(service, store, claimed, covered)
    covered |= {m.destination.rstrip("/") or "/" for m in out}
    specs += [{"type": "volume", "target": t} for t in image_volumes if (t.rstrip("/") or "/") not in covered]
    try:
        for volume in specs:
            if not isinstance(volume, Mapping):
                raise ComposerError(f"volume {volume!r}: expected the long syntax")
            kind = volume.get("type", "volume")
            target = str(volume.get("target") or "")
            if not target.startswith("/"):
                raise ComposerError(f"volume {target!r}: the target must be an absolute path")
            if kind == "tmpfs":
                out.append(Mount(target, "tmpfs", "tmpfs", vols.tmpfs_options(volume)))
                continue
            if kind == "volume":
                if store is None:
                    raise ComposerError(f"volume {target}: no volume store")
                source = str(vols.mount_volume(store, volume, rootfs, claimed, fresh))
            elif kind == "bind":
                source = str(volume.get("source") or "")
                if not source.startswith("/"):
                    raise ComposerError(f"bind mount {source!r}: the source must be an absolute path")
                if not os.path.exists(source):
                    if (volume.get("bind") or {}).get("create_host_path", True):
                        os.makedirs(source, exist_ok=True)
                    else:
                        raise ComposerError(f"bind mount source path does not exist: {source}")
            else:
                raise ComposerError(f"volume {target}: type {kind!r} is not supported by this engine")
            options = ["rbind", (volume.get("bind") or {}).get("propagation") or "rprivate"]
            if volume.get("read_only"):
                options.append("ro")
            out.append(Mount(target, source, "bind", tuple(options)))
    except BaseException:
        if store is not None and fresh:
            for name in fresh:
                with contextlib.suppress(Exception):
                    if store.get(name).anonymous:
                        store.discard(name)
        raise
    return out


def _seccomp_files(service: Mapping[str, Any]) -> dict[str, str]:
    """The text of every `seccomp=FILE` profile the service names (the spec generator is pure)."""
    out = {}
    for opt in service.get("security_opt") or ():
        key, sep, value = str(opt).replace(":", "=", 1).partition("=")
        if key.strip() == "seccomp" and sep and value not in ("unconfined", "builtin"):
            try:
                out[value] = Path(value).read_text()
            except OSError as err:
                raise ComposerError(f"security_opt: cannot read seccomp profile {value}: {err.strerror}")
    return out


def _volumes_from(service: Mapping[str, Any], store: Any, claimed: list[str], covered: set[str]) -> list[Any]:
    """`volumes_from` as mounts, minus destinations the service's own volumes or tmpfs take (those win)."""
    from composer.planner.ocispec import Mount
    from composer.runtime.engine.volumes import volumes_from_mounts

    specs = [str(s) for s in service.get("volumes_from") or ()]
    if not specs:
        return []
    if store is None:
        raise ComposerError("volumes_from: no volume store")
    mounts = volumes_from_mounts(store, specs, claimed)
    return [Mount(str(m["destination"]), str(m["source"]), "bind", tuple(m["options"])) for m in mounts
            if (str(m["destination"]).rstrip("/") or "/") not in covered]


def _parse_links(value: Any) -> list[tuple[str, str]]:
    """`links` (`NAME_OR_ID:ALIAS` or `NAME`) as (container reference, alias); the alias defaults to the reference."""
    out = []
    for item in value or ():
        ref, _, alias = str(item).partition(":")
        if not ref:
            raise ComposerError(f"links {item!r}: no container named (use NAME or NAME:ALIAS)")
        out.append((ref.removeprefix("/"), alias or ref.removeprefix("/")))
    return out


def _link_entries(record: ContainerRecord, members: Sequence[ContainerRecord]) -> list[tuple[str, list[str]]]:
    """Hosts entries for `record`'s links: (address of the linked container on a shared network, [alias, name])."""
    out: list[tuple[str, list[str]]] = []
    for ref, alias in _parse_links(record.service.get("links")):
        other = next((m for m in members if m.id != record.id and ref in (m.id, m.name)), None)
        if other is None:
            prefixed = [m for m in members if m.id != record.id and m.id.startswith(ref)]
            other = prefixed[0] if len(prefixed) == 1 else None
        if other is None:
            continue  # gone (or not on any network now): nothing to resolve
        theirs = {n.get("NetworkID"): n for n in other.networks.values()}
        shared = next((theirs[n["NetworkID"]] for n in record.networks.values() if n["NetworkID"] in theirs), None)
        if shared is not None:
            out.append((shared["IPAddress"], [alias, other.name]))
    return out
