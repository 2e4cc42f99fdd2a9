"""Restart policies: parsing, `deploy.restart_policy`, the decision and the back-off sequence."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError
from composer.planner.restarts import (
    INITIAL_DELAY,
    MAX_DELAY,
    Backoff,
    RestartPolicy,
    parse_restart,
    restart_policy,
    should_restart,
)


@pytest.mark.parametrize(("text", "policy"), [
    ("no", RestartPolicy("no")),
    ("always", RestartPolicy("always")),
    ("unless-stopped", RestartPolicy("unless-stopped")),
    ("on-failure", RestartPolicy("on-failure", 0)),
    ("on-failure:5", RestartPolicy("on-failure", 5)),
    ("on-failure:0", RestartPolicy("on-failure", 0)),
])
def test_parse_restart(text: str, policy: RestartPolicy) -> None:
    assert parse_restart(text) == policy


@pytest.mark.parametrize("text", ["sometimes", "always:3", "on-failure:x", "on-failure:-1", "unless-stopped:1", "any"])
def test_invalid_restart_is_a_one_line_error(text: str) -> None:
    with pytest.raises(ComposerError) as err:
        parse_restart(text)
    assert "\n" not in str(err.value)


def test_service_policy_none_when_it_never_restarts() -> None:
    assert restart_policy({}) is None
    assert restart_policy({"restart": "no"}) is None
    assert restart_policy({"restart": "always"}) == RestartPolicy("always")


def test_deploy_restart_policy_wins_and_maps_conditions() -> None:
    deploy = {"restart": "always", "deploy": {"restart_policy": {"condition": "on-failure", "max_attempts": 3,
                                                                 "delay": "5s", "window": "1m"}}}
    assert restart_policy(deploy) == RestartPolicy("on-failure", 3, 5.0, 60.0)
    assert restart_policy({"deploy": {"restart_policy": {"condition": "any", "max_attempts": 3}}}) == \
        RestartPolicy("always")
    assert restart_policy({"restart": "always", "deploy": {"restart_policy": {"condition": "none"}}}) is None
    assert restart_policy({"deploy": {"restart_policy": {}}}) == RestartPolicy("always")  # Swarm's default: any
    assert restart_policy({"deploy": {"resources": {}}, "restart": "unless-stopped"}) == \
        RestartPolicy("unless-stopped")


@pytest.mark.parametrize("policy", [
    {"condition": "sometimes"},
    {"condition": "on-failure", "max_attempts": -1},
    {"condition": "on-failure", "delay": "later"},
])
def test_invalid_deploy_policy(policy: dict[str, object]) -> None:
    with pytest.raises(ComposerError):
        restart_policy({"deploy": {"restart_policy": policy}})


def test_should_restart_always_and_unless_stopped() -> None:
    for name in ("always", "unless-stopped"):
        policy = RestartPolicy(name)
        assert should_restart(policy, 0, 0, False)
        assert should_restart(policy, 1, 100, False)
        assert not should_restart(policy, 1, 0, True)  # a user stop is never undone


def test_should_restart_no_policy() -> None:
    assert not should_restart(None, 1, 0, False)
    assert not should_restart(RestartPolicy("no"), 1, 0, False)


def test_should_restart_on_failure_counts_attempts() -> None:
    policy = RestartPolicy("on-failure", 2)
    assert not should_restart(policy, 0, 0, False)  # success: done
    assert should_restart(policy, 3, 0, False)
    assert should_restart(policy, 3, 1, False)
    assert not should_restart(policy, 3, 2, False)  # restarted twice: left exited
    assert not should_restart(policy, 3, 0, True)
    unlimited = RestartPolicy("on-failure")
    assert should_restart(unlimited, 137, 10_000, False)


def test_backoff_sequence_doubles_to_sixty_seconds() -> None:
    backoff, seen = Backoff(), []
    for _ in range(12):
        backoff = backoff.after_exit(0.5)
        seen.append(round(backoff.delay, 3))
    assert seen == [0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 60.0, 60.0]
    assert Backoff().delay == 0.0
    assert seen[0] == INITIAL_DELAY
    assert seen[-1] == MAX_DELAY


def test_backoff_resets_after_ten_seconds_of_running() -> None:
    backoff = Backoff(25.6)
    assert backoff.after_exit(9.99).delay == 51.2
    assert backoff.after_exit(10.0).delay == INITIAL_DELAY
    assert Backoff(60.0).after_exit(3600).delay == INITIAL_DELAY


def test_backoff_wait_uses_deploy_delay_as_floor() -> None:
    assert Backoff(0.4).wait(RestartPolicy("always", delay=5.0)) == 5.0
    assert Backoff(12.8).wait(RestartPolicy("always", delay=5.0)) == 12.8
    assert Backoff(0.1).wait(None) == 0.1
