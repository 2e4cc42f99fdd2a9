"""Healthchecks as Docker runs them: the check a container gets, and the health state its probes produce.

Pure: the spec is merged from the Compose service's `healthcheck` (as `config --format json` prints it) and
the image config's `Healthcheck` the way dockerd merges a container's config with its image's; the state
machine is Docker's `handleProbeResult`. Running probes and storing the state is `runtime/health.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from composer.errors import ComposerError
from composer.schema.units import parse_duration

NS = 1_000_000_000
DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 30.0
DEFAULT_START_PERIOD = 0.0
DEFAULT_START_INTERVAL = 5.0
DEFAULT_RETRIES = 3
MAX_LOG_ENTRIES = 5
MAX_OUTPUT_LEN = 4096
"""Docker keeps the first 4096 bytes of a probe's output (stdout and stderr together), then `...`."""
DEFAULT_SHELL = ("/bin/sh", "-c")

Status = Literal["starting", "healthy", "unhealthy"]
STARTING: Status = "starting"
HEALTHY: Status = "healthy"
UNHEALTHY: Status = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthSpec:
    """The check to run: `argv` (the shell already prepended for CMD-SHELL), times in seconds."""

    argv: tuple[str, ...]
    interval: float = DEFAULT_INTERVAL
    timeout: float = DEFAULT_TIMEOUT
    start_period: float = DEFAULT_START_PERIOD
    start_interval: float = DEFAULT_START_INTERVAL
    retries: int = DEFAULT_RETRIES

    def next_interval(self, status: str, since_start: float) -> float:
        """Seconds until the next probe (Docker's `getInterval`): `start_interval` while the container is
        still starting inside its start period, `interval` otherwise."""
        if since_start >= self.start_period:
            return self.interval
        return self.start_interval if status == STARTING else self.interval

    def in_start_period(self, since_start: float) -> bool:
        return since_start < self.start_period


def _seconds(value: Any, key: str, *, image: bool = False) -> float:
    """A duration: a Go duration string (`5s`, `1m30s`), a number of seconds, or (image config) nanoseconds."""
    if value is None or value == "":
        return 0.0
    if isinstance(value, bool):
        raise ComposerError(f"healthcheck {key}: {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = value / NS if image else float(value)
    else:
        try:
            seconds = parse_duration(str(value)) / NS
        except ValueError:
            raise ComposerError(f"healthcheck {key}: {value!r} is not a duration such as 5s or 1m30s") from None
    if seconds < 0 or 0 < seconds < 0.001:
        raise ComposerError(f"healthcheck {key}: {value!r} must be 0 (the default) or at least 1ms")
    return float(seconds)


def _retries(value: Any) -> int:
    if value is None or value == "":
        return 0
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).lstrip("-").isdigit():
        raise ComposerError(f"healthcheck retries: {value!r} is not a whole number")
    if int(value) < 0:
        raise ComposerError(f"healthcheck retries: {value!r} must not be negative")
    return int(value)


def _test(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return ["CMD-SHELL", value]
    return [str(v) for v in value]


_FIELDS = (  # (Compose key, image config key)
    ("interval", "Interval"),
    ("timeout", "Timeout"),
    ("start_period", "StartPeriod"),
    ("start_interval", "StartInterval"),
)


def health_spec(
    service: Mapping[str, Any] | None,
    image: Mapping[str, Any] | None,
    *,
    shell: Sequence[str] | None = None,
) -> HealthSpec | None:
    """The container's healthcheck, or None when it has none (no check, `disable: true`, `NONE`).

    `service` is the Compose `healthcheck` mapping, `image` the image config's `Healthcheck`; as dockerd
    does, a service test or time left empty or zero takes the image's, and zero after that means Docker's
    default. `shell` is the image's `Shell` (CMD-SHELL runs in it; `/bin/sh -c` without one).
    """
    service = service or {}
    image = image or {}
    if service.get("disable") is True or str(service.get("disable")).lower() == "true":
        return None
    test = _test(service.get("test")) or _test(image.get("Test"))
    if not test or test[0] == "NONE":
        return None
    kind, args = test[0], test[1:]
    if kind == "CMD":
        argv = args
    elif kind == "CMD-SHELL":
        argv = [*(shell or DEFAULT_SHELL), *args]
    else:
        raise ComposerError(f'healthcheck test must start with "CMD", "CMD-SHELL" or "NONE", not {kind!r}')
    if not args or not any(a.strip() for a in args):
        raise ComposerError(f"healthcheck test {kind} has no command")
    times = {}
    for key, image_key in _FIELDS:
        times[key] = _seconds(service.get(key), key) or _seconds(image.get(image_key), image_key, image=True)
    retries = _retries(service.get("retries")) or _retries(image.get("Retries"))
    return HealthSpec(
        argv=tuple(argv),
        interval=times["interval"] or DEFAULT_INTERVAL,
        timeout=times["timeout"] or DEFAULT_TIMEOUT,
        start_period=times["start_period"] or DEFAULT_START_PERIOD,
        start_interval=times["start_interval"] or DEFAULT_START_INTERVAL,
        retries=retries or DEFAULT_RETRIES,
    )


class LimitedBuffer:
    """Docker's `limitedBuffer`: keeps the first MAX_OUTPUT_LEN bytes written, `...` marks that more came."""

    def __init__(self, limit: int = MAX_OUTPUT_LEN) -> None:
        self._data = bytearray()
        self._limit = limit
        self.truncated = False

    def write(self, data: bytes) -> None:
        keep = max(0, min(self._limit - len(self._data), len(data)))
        self._data += data[:keep]
        if keep < len(data):
            self.truncated = True

    def text(self) -> str:
        out = self._data.decode(errors="replace")
        return out + "..." if self.truncated else out


def truncate_output(data: bytes, limit: int = MAX_OUTPUT_LEN) -> str:
    buf = LimitedBuffer(limit)
    buf.write(data)
    return buf.text()


def _time(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


def _parse_time(text: Any) -> datetime:
    return datetime.fromisoformat(str(text).replace("Z", "+00:00"))


@dataclass(frozen=True, slots=True)
class Probe:
    """One probe's result: `exit_code` -1 when it timed out or could not run (Output says why)."""

    start: datetime
    end: datetime
    exit_code: int
    output: str

    def to_json(self) -> dict[str, Any]:
        return {"Start": _time(self.start), "End": _time(self.end), "ExitCode": self.exit_code,
                "Output": self.output}

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> Probe:
        return cls(_parse_time(doc["Start"]), _parse_time(doc["End"]), int(doc["ExitCode"]), str(doc["Output"]))


@dataclass(frozen=True, slots=True)
class HealthState:
    """`State.Health` of `docker inspect`; `run` is the container start (its StartedAt) this state is about,
    so a state left from an earlier run is recognised as stale (Docker starts each run at `starting`)."""

    status: Status = STARTING
    failing_streak: int = 0
    log: tuple[Probe, ...] = ()
    run: str = ""

    def to_json(self) -> dict[str, Any]:
        """Docker's fields (what `inspect` shows) plus `Run`."""
        return {"Status": self.status, "FailingStreak": self.failing_streak,
                "Log": [p.to_json() for p in self.log], "Run": self.run}

    def inspect_doc(self) -> dict[str, Any]:
        doc = self.to_json()
        del doc["Run"]
        return doc

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> HealthState:
        status = str(doc.get("Status") or STARTING)
        if status not in (STARTING, HEALTHY, UNHEALTHY):
            raise ValueError(f"unknown health status {status!r}")
        return cls(
            status=status,
            failing_streak=int(doc.get("FailingStreak") or 0),
            log=tuple(Probe.from_json(p) for p in doc.get("Log") or ()),
            run=str(doc.get("Run") or ""),
        )


def record_probe(state: HealthState, probe: Probe, spec: HealthSpec, in_start_period: bool) -> HealthState:
    """The state after one probe (Docker's `handleProbeResult`).

    Success: healthy, streak 0. Failure (any other exit code, -1 for a timeout): the streak grows and at
    `retries` the container is unhealthy, except that a container still `starting` inside its start
    period does not count failures (the probe is logged all the same).
    """
    log = (*state.log, probe)[-MAX_LOG_ENTRIES:]
    if probe.exit_code == 0:
        return HealthState(HEALTHY, 0, log, state.run)
    status, streak = state.status, state.failing_streak
    if not (status == STARTING and in_start_period):
        streak += 1
        if streak >= spec.retries:
            status = UNHEALTHY
    return HealthState(status, streak, log, state.run)


def stopped(state: HealthState) -> HealthState:
    """The state once the container stopped: Docker marks it unhealthy when its monitor ends."""
    return HealthState(UNHEALTHY, state.failing_streak, state.log, state.run)


def status_suffix(status: str) -> str:
    """What `docker ps` appends to `Up 5 seconds`."""
    return " (health: starting)" if status == STARTING else f" ({status})"

