"""Pulling a project's images: `pull_policy`, `up --pull`, and `composer pull`.

Policies as Docker Compose reads them: `missing`/`if_not_present` (the default) pulls what is
not in the store, `always`/`refresh` pulls every time, `never` and `build` never pull, and
`daily`, `weekly`, `every_<duration>` pull when the image's last tag time (set by every pull) is
older than that. Services built locally (`build:` without `image:`) are never pulled. Distinct
references are pulled in parallel.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from composer.errors import ComposerError

if TYPE_CHECKING:
    from composer.planner.desired import DesiredService, DesiredState
    from composer.runtime.images.store import ImageStore

_DURATION = re.compile(r"(\d+)([wdhms])")
_UNITS = {"w": 604800, "d": 86400, "h": 3600, "m": 60, "s": 1}


class EventSink(Protocol):
    """What `composer.runtime.compose.progress.Progress` offers."""

    def event(self, kind: str, name: str, status: str) -> None: ...

    def warn(self, message: str) -> None: ...


class _HasImages(Protocol):
    @property
    def images(self) -> ImageStore: ...


@dataclass(frozen=True, slots=True)
class PullJob:
    reference: str
    platform: str | None
    services: tuple[str, ...]
    buildable: bool


def policy_interval(policy: str) -> float | None:
    """Seconds for `daily`, `weekly`, `every_<duration>`; None for the other policies."""
    if policy == "daily":
        return 86400.0
    if policy == "weekly":
        return 604800.0
    if policy.startswith("every_"):
        spec = policy.removeprefix("every_")
        parts = _DURATION.findall(spec)
        if not parts or "".join(n + u for n, u in parts) != spec:
            raise ComposerError(f"invalid pull_policy {policy!r}")
        return float(sum(int(n) * _UNITS[u] for n, u in parts))
    return None


def _last_pulled(store: ImageStore, reference: str) -> dt.datetime | None:
    from composer.runtime.images.store import parse_time

    try:
        when = parse_time(store.get(reference).last_tag_time)
    except ComposerError:
        return None
    return when.astimezone(dt.UTC) if when is not None else None


def must_pull(store: ImageStore, service: DesiredService, policy: str, *, now: dt.datetime | None = None) -> bool:
    """Whether the policy asks for a pull of the service's image now."""
    if policy in ("never", "build"):
        return False
    if policy in ("always", "refresh"):
        return True
    present = _present(store, service.image)
    if policy in ("missing", "if_not_present"):
        return not present
    interval = policy_interval(policy)
    if interval is None:
        raise ComposerError(f"service {service.name}: unknown pull_policy {policy!r}")
    if not present:
        return True
    last = _last_pulled(store, service.image)
    now = now or dt.datetime.now(dt.UTC)
    return last is None or (now - last).total_seconds() >= interval


def _present(store: ImageStore, reference: str) -> bool:
    try:
        store.resolve(reference)
    except ComposerError:
        return False
    return True


def jobs(store: ImageStore, want: DesiredState, policy_override: str | None, *,
         services: Collection[str] | None = None, built: Collection[str] = ()) -> list[PullJob]:
    """What to pull for the services (all by default), one job per distinct reference."""
    by_ref: dict[tuple[str, str | None], list[str]] = {}
    buildable: set[tuple[str, str | None]] = set()
    for name in sorted(services if services is not None else want.services):
        svc = want.services[name]
        if not svc.spec.get("image"):
            continue  # built locally under its default name
        policy = policy_override or str(svc.spec.get("pull_policy") or "missing")
        if policy == "never" and not _present(store, svc.image) and name not in built:
            raise ComposerError(f"service {name}: image {svc.image} is not present and its pull_policy is never")
        if not must_pull(store, svc, policy):
            continue
        platform = svc.spec.get("platform")
        key = (svc.image, str(platform) if platform else None)
        by_ref.setdefault(key, []).append(name)
        if name in built:
            buildable.add(key)
    return [PullJob(ref, plat, tuple(names), (ref, plat) in buildable) for (ref, plat), names in by_ref.items()]


async def pull_all(store: ImageStore, todo: Iterable[PullJob], progress: EventSink | None, *,
                   limit: int = 4) -> dict[str, str]:
    """Pull the jobs in parallel; returns {reference: error} for the ones that failed."""
    import trio

    from composer.runtime.images.registry import pull_image

    failures: dict[str, str] = {}
    limiter = trio.CapacityLimiter(max(1, limit))

    async def one(job: PullJob) -> None:
        async with limiter:
            if progress is not None:
                progress.event("Image", job.reference, "Pulling")
            try:
                await pull_image(store, job.reference, platform=job.platform)
            except ComposerError as err:
                failures[job.reference] = str(err)
                if progress is not None:
                    progress.event("Image", job.reference, "Error")
                return
            if progress is not None:
                progress.event("Image", job.reference, "Pulled")

    async with trio.open_nursery() as nursery:
        for job in todo:
            nursery.start_soon(one, job)
    return failures


def ensure_images(engine: _HasImages, want: DesiredState, policy_override: str | None, progress: EventSink | None,
                  *, services: Collection[str] | None = None, built: Collection[str] = ()) -> None:
    """Before `up` creates containers: pull what the policies (or `up --pull`) ask for.

    `built` names services that also have `build:` (their pull may fail: the build makes the
    image). A failed pull of any other image stops `up` with the registry's one-line reason.
    """
    if policy_override not in (None, "always", "missing", "never", "build", "if_not_present"):
        raise ComposerError(f"invalid --pull {policy_override!r}: use always, missing or never")
    store = engine.images
    todo = jobs(store, want, policy_override, services=services, built=built)
    if not todo:
        return
    import trio

    failures = trio.run(pull_all, store, todo, progress)
    for job in todo:
        if job.reference in failures:
            if job.buildable:
                if progress is not None:
                    progress.warn(f"{job.reference}: pull failed, the image will be built: {failures[job.reference]}")
                continue
            raise ComposerError(failures[job.reference])


def build_services(document: Mapping[str, Any]) -> frozenset[str]:
    """Services of a Compose model document that have a `build:` section."""
    services = document.get("services") or {}
    return frozenset(name for name, svc in services.items() if isinstance(svc, Mapping) and svc.get("build"))
