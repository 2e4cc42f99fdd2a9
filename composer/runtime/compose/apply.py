"""Carry out a Plan's actions on the native engine (each engine call in a worker thread)."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import trio

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.graph import COMPLETED, HEALTHY, Dependency
from composer.planner.plan import Action
from composer.runtime import failpoints
from composer.runtime.compose.observe import has_healthcheck
from composer.runtime.compose.progress import Progress
from composer.runtime.engine.engine import Engine

T = TypeVar("T")
POLL = 0.1


class Applier:
    """Runs one action at a time for the executor; knows the desired state to create containers from."""

    def __init__(self, engine: Engine, want: d.DesiredState, progress: Progress, *, no_start: bool = False,
                 timeout: float | None = None) -> None:
        self.engine = engine
        self.want = want
        self.progress = progress
        self.no_start = no_start
        self.timeout = timeout
        self._image_ids: dict[str, str] = {}

    async def _sync(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(functools.partial(fn, *args, **kwargs))

    async def __call__(self, action: Action) -> None:
        kind = action.kind
        if action.id.startswith("network:"):
            await (self._create_network(action) if kind == "create" else self._remove_network(action))
        elif action.id.startswith("volume:"):
            await (self._create_volume(action) if kind == "create" else self._remove_volume(action))
        elif kind == "create":
            await self._wait_for(action)
            cid = await self._create(action, action.target)
            failpoints.hit("up.after-create")
            await self._start(action, cid)
        elif kind == "recreate":
            await self._recreate(action)
        elif kind == "rename":
            assert action.service is not None
            assert action.number is not None
            final = self.want.services[action.service].container(self.want.project, action.number)
            await self._sync(self.engine.rename, action.target, final)
            if not self.no_start and (await self._sync(self.engine.get, final)).status != "running":
                await self._wait_for(action)
                await self._start(action, final)
        elif kind == "start":
            await self._wait_for(action)
            await self._start(action, action.target)
        elif kind == "restart":
            self.progress.event("Container", action.target, "Restarting")
            await self._sync(self.engine.restart, action.target, timeout=self.timeout)
            self.progress.event("Container", action.target, "Started")
        elif kind == "stop":
            await self.stop(action.target)
        elif kind == "remove":
            await self.remove(action.target)
        elif kind != "keep":
            raise AssertionError(f"unknown action {kind}")

    # -- networks and volumes ----------------------------------------------------------------------

    async def _create_network(self, action: Action) -> None:
        net = next(n for n in self.want.networks.values() if n.name == action.target)
        self.progress.event("Network", net.name, "Creating")
        store = self.engine.networks
        kwargs: dict[str, Any] = {"ipam_config": net.ipam, "internal": net.internal, "labels": net.labels,
                                  "options": net.options, "exist_ok": True}
        if net.driver not in ("bridge", "default"):
            kwargs["driver"] = net.driver
        await self._sync(store.create, net.name, **kwargs)
        failpoints.hit("up.after-network")
        self.progress.event("Network", net.name, "Created")

    async def _remove_network(self, action: Action) -> None:
        failpoints.hit("down.before-network")  # every container of the project is gone by now
        self.progress.event("Network", action.target, "Removing")
        await self._sync(self.engine.networks.remove, action.target)
        failpoints.hit("down.after-network")
        self.progress.event("Network", action.target, "Removed")

    def _volumes(self) -> Any:
        from composer.runtime.engine.volumes import VolumeStore

        return VolumeStore(self.engine.roots.state_root)

    async def _create_volume(self, action: Action) -> None:
        vol = next(v for v in self.want.volumes.values() if v.name == action.target)
        self.progress.event("Volume", vol.name, "Creating")
        await self._sync(self._volumes().create, vol.name, labels=vol.labels, options=vol.options or None,
                         driver=vol.driver)
        failpoints.hit("up.after-volume")
        self.progress.event("Volume", vol.name, "Created")

    async def _remove_volume(self, action: Action) -> None:
        failpoints.hit("down.before-volume")
        self.progress.event("Volume", action.target, "Removing")
        await self._sync(self._volumes().remove, action.target)
        self.progress.event("Volume", action.target, "Removed")

    # -- containers --------------------------------------------------------------------------------

    def _image_id(self, image: str) -> str:
        if image not in self._image_ids:
            self._image_ids[image] = str(self.engine._image(image).id)
        return self._image_ids[image]

    async def _create(self, action: Action, name: str, inherit: Mapping[str, str] | None = None) -> str:
        from composer.runtime.engine.engine import REPLACES, CreateRequest

        assert action.service is not None
        assert action.number is not None
        svc = self.want.services[action.service]
        spec = dict(svc.spec)
        if action.replaces:
            spec[REPLACES] = action.replaces
        if inherit:
            targets = {str(m.get("target")) for m in spec.get("volumes") or () if isinstance(m, Mapping)}
            extra = [{"type": "volume", "source": vol, "target": target, d.ADDED: "inherited"}
                     for target, vol in sorted(inherit.items()) if target not in targets]
            spec["volumes"] = [*(spec.get("volumes") or ()), *extra]
        if svc.files:
            from composer.runtime.compose.files import bind_mounts

            extra_files = await self._sync(bind_mounts, self.engine.roots.state_root, self.want.project, svc.name,
                                           svc.files, self.want.contents)
            spec["volumes"] = [*(spec.get("volumes") or ()), *extra_files]
        image_id = await self._sync(self._image_id, svc.image)
        labels = {**svc.labels, d.NUMBER: str(action.number), d.IMAGE: image_id}
        self.progress.event("Container", svc.container(self.want.project, action.number), "Creating")
        record = await self._sync(self.engine.create,
                                  CreateRequest(image=svc.image, service=spec, name=name, labels=labels))
        self.progress.event("Container", svc.container(self.want.project, action.number), "Created")
        return record.id

    async def _start(self, action: Action, ref: str) -> None:
        if self.no_start:
            return
        from composer.runtime import restarts

        self.progress.event("Container", action.target, "Starting")
        record = await self._sync(self.engine.start, ref)
        await self._sync(restarts.clear_stopped_by_user, self.engine.roots, record.id)
        if record.service.get("post_start"):
            from composer.runtime.compose import hooks

            await hooks.post_start(self.engine, record.id, record.name, record.service["post_start"])
        self.progress.event("Container", action.target, "Started")
        from composer.runtime.compose.supervisor import ensure_supervisor

        container = await self._sync(self.engine.get, record.id)  # healthchecks start now, not after `up`
        await self._sync(ensure_supervisor, self.engine, self.want.project, container=container)

    async def _recreate(self, action: Action) -> None:
        """As Docker Compose: the new container first (under a temporary name), then the old one goes."""
        assert action.replaces is not None
        final = action.target
        temporary = f"{action.replaces[:12]}_{final}"
        await self._wait_for(action)
        new_id = await self._create(action, temporary, inherit=action.inherit)
        failpoints.hit("recreate.after-create")
        self.progress.event("Container", final, "Recreate")
        await self.remove(action.replaces, label=final, quiet=True)
        failpoints.hit("recreate.after-remove")
        await self._sync(self.engine.rename, new_id, final)
        failpoints.hit("recreate.after-rename")
        self.progress.event("Container", final, "Recreated")
        await self._start(action, new_id)

    async def stop(self, ref: str, *, label: str | None = None, quiet: bool = False) -> None:
        """Stop as the user asked for it (the supervisor will not restart it), after the `pre_stop` hooks."""
        from composer.runtime import restarts

        label = label or ref
        if not quiet:
            self.progress.event("Container", label, "Stopping")
        record = await self._sync(self.engine.resolve, ref)
        await self._sync(restarts.mark_stopped_by_user, self.engine.roots, record.id)
        if record.service.get("pre_stop"):
            from composer.runtime.compose import hooks

            await hooks.pre_stop(self.engine, record.id, record.name, record.service["pre_stop"], self.progress.warn)
        await self._sync(self.engine.stop, ref, timeout=self.timeout)
        if not quiet:
            self.progress.event("Container", label, "Stopped")

    async def remove(self, ref: str, *, label: str | None = None, quiet: bool = False,
                     volumes: bool = False) -> None:
        label = label or ref
        container = await self._sync(self.engine.get, ref)
        if container.state.status in ("running", "paused"):
            await self.stop(ref, label=label, quiet=quiet)
        if not quiet:
            self.progress.event("Container", label, "Removing")
        failpoints.hit("down.after-stop")
        await self._sync(self.engine.remove, ref, force=True, volumes=volumes)
        if not quiet:
            self.progress.event("Container", label, "Removed")

    # -- dependency conditions ---------------------------------------------------------------------

    async def _wait_for(self, action: Action) -> None:
        for dep in action.waits:
            try:
                await self._condition(action, dep)
            except ComposerError as exc:
                if dep.required:
                    raise
                self.progress.warn(f"optional dependency {dep.service!r} failed: {exc}")

    async def _condition(self, action: Action, dep: Dependency) -> None:
        if dep.condition not in (HEALTHY, COMPLETED):
            return
        from composer.runtime.compose.observe import project_containers

        containers = await self._sync(project_containers, self.engine, self.want.project)
        mine = [c for c in containers if c.record.labels.get(d.SERVICE) == dep.service
                and c.record.labels.get(d.ONEOFF) != "True"]
        if not mine:
            raise ComposerError(f"dependency failed to start: service {dep.service!r} has no container")
        for c in mine:
            self.progress.event("Container", c.name, "Waiting")
            if dep.condition == HEALTHY:
                await self._healthy(c.id, c.name)
                self.progress.event("Container", c.name, "Healthy")
            else:
                await self._completed(c.id, c.name, dep.service)
                self.progress.event("Container", c.name, "Exited")

    async def _healthy(self, container_id: str, name: str) -> None:
        from composer.runtime.health import read_health

        while True:
            c = await self._sync(self.engine.get, container_id)
            if c.status == "exited":
                raise ComposerError(f"dependency failed to start: container {name} exited ({c.state.exit_code})")
            health = read_health(self.engine.roots, container_id)
            if health is None and not has_healthcheck(self.engine, c):
                raise ComposerError(f"dependency failed to start: container {name} has no healthcheck configured")
            status = getattr(health, "status", None) if health is not None else None
            if status == "healthy":
                return
            if status == "unhealthy":
                raise ComposerError(f"dependency failed to start: container {name} is unhealthy")
            await trio.sleep(POLL)

    async def _completed(self, container_id: str, name: str, service: str) -> None:
        while True:
            c = await self._sync(self.engine.get, container_id)
            if c.status in ("exited", "dead"):
                code = c.state.exit_code
                if code != 0:
                    raise ComposerError(f'service "{service}" didn\'t complete successfully: exit {code}')
                return
            if c.status == "created":
                raise ComposerError(f"dependency failed to start: container {name} was never started")
            await trio.sleep(POLL)
