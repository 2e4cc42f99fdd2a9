"""Restart policies as Docker applies them: which policy a service has, whether an exit restarts it, and when.

Pure. `restart: no|always|on-failure[:N]|unless-stopped`, overridden by `deploy.restart_policy` as Docker
Compose maps it (condition none|on-failure|any, max_attempts). `should_restart` and `Backoff` are dockerd's
restart manager: 0.1 s doubling up to 60 s between restarts, back to 0.1 s after a run of 10 s or more.
The watcher that applies them is `runtime/restarts.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from composer.errors import ComposerError
from composer.schema.units import parse_duration

PolicyName = Literal["no", "always", "on-failure", "unless-stopped"]
INITIAL_DELAY = 0.1
MAX_DELAY = 60.0
RESET_AFTER = 10.0
"""A container that ran this many seconds restarts after INITIAL_DELAY again."""

_CONDITIONS: dict[str, PolicyName] = {
    "no": "no", "none": "no", "": "no",
    "always": "always", "any": "always",
    "on-failure": "on-failure",
    "unless-stopped": "unless-stopped",
}


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """`max_attempts` counts restarts for on-failure (0: no limit). `delay` (seconds, from
    `deploy.restart_policy.delay`) is a floor under the back-off; `window` is kept for display only
    (Docker Compose ignores both outside Swarm)."""

    name: PolicyName
    max_attempts: int = 0
    delay: float = 0.0
    window: float = 0.0


def _seconds(value: Any, where: str) -> float:
    if value in (None, ""):
        return 0.0
    if isinstance(value, bool):
        raise ComposerError(f"{where}: {value!r} is not a duration")
    if isinstance(value, int | float):
        seconds = float(value)
    else:
        try:
            seconds = parse_duration(str(value)) / 1e9
        except ValueError:
            raise ComposerError(f"{where}: {value!r} is not a duration such as 5s or 1m30s") from None
    if seconds < 0:
        raise ComposerError(f"{where}: {value!r} must not be negative")
    return seconds


def parse_restart(text: str) -> RestartPolicy:
    """`restart:` text: `no`, `always`, `unless-stopped`, `on-failure` or `on-failure:N`."""
    name, sep, count = str(text).strip().partition(":")
    policy = _CONDITIONS.get(name) if name in ("no", "always", "on-failure", "unless-stopped") else None
    if policy is None:
        raise ComposerError(
            f"restart: invalid policy {text!r}: use no, always, on-failure[:max-retries] or unless-stopped"
        )
    if not sep:
        return RestartPolicy(policy)
    if policy != "on-failure":
        raise ComposerError(f"restart: maximum retry count cannot be used with restart policy {name!r}")
    if not count.isdigit():
        raise ComposerError(f"restart: {text!r}: the maximum retry count must be a whole number, 0 or more")
    return RestartPolicy(policy, int(count))


def restart_policy(service: Mapping[str, Any]) -> RestartPolicy | None:
    """The service's policy, None when it never restarts. `deploy.restart_policy` wins over `restart`."""
    deploy = service.get("deploy") or {}
    given = deploy.get("restart_policy") if isinstance(deploy, Mapping) else None
    if isinstance(given, Mapping):
        condition = str(given.get("condition") or "any")  # Swarm's default condition is `any`
        name = _CONDITIONS.get(condition)
        if name is None:
            raise ComposerError(
                f"deploy.restart_policy.condition: invalid value {condition!r}: use none, on-failure or any"
            )
        attempts = given.get("max_attempts")
        if attempts is not None and (isinstance(attempts, bool) or not str(attempts).isdigit()):
            raise ComposerError(f"deploy.restart_policy.max_attempts: {attempts!r} must be a whole number")
        policy = RestartPolicy(
            name,
            int(attempts or 0) if name == "on-failure" else 0,
            _seconds(given.get("delay"), "deploy.restart_policy.delay"),
            _seconds(given.get("window"), "deploy.restart_policy.window"),
        )
    else:
        policy = parse_restart(str(service.get("restart") or "no"))
    return None if policy.name == "no" else policy


def should_restart(policy: RestartPolicy | None, exit_code: int, restart_count: int, stopped_by_user: bool) -> bool:
    """Whether an exit restarts the container (dockerd's `RestartManager.ShouldRestart`).

    A stop the user asked for is never undone, whatever the policy (dockerd cancels the restart manager on
    `docker stop`). `restart_count` is the number of restarts since the user last started it: on-failure:N
    restarts N times.
    """
    if policy is None or policy.name == "no" or stopped_by_user:
        return False
    if policy.name in ("always", "unless-stopped"):
        return True
    if policy.max_attempts and restart_count >= policy.max_attempts:
        return False
    return exit_code != 0


@dataclass(frozen=True, slots=True)
class Backoff:
    """The delay before the next restart (0 before the first exit); `after_exit` gives the next one."""

    delay: float = 0.0

    def after_exit(self, ran_for: float) -> Backoff:
        """The back-off for an exit after `ran_for` seconds of running: 0.1 s, then doubling to 60 s;
        a run of 10 s or more starts again at 0.1 s."""
        previous = 0.0 if ran_for >= RESET_AFTER else self.delay
        delay = INITIAL_DELAY if previous <= 0 else min(previous * 2, MAX_DELAY)
        return Backoff(delay)

    def wait(self, policy: RestartPolicy | None = None) -> float:
        """Seconds to sleep before restarting, with `deploy.restart_policy.delay` as a floor."""
        return max(self.delay, policy.delay if policy is not None else 0.0)
