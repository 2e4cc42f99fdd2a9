"""Healthcheck specs (service + image merge, Docker's defaults) and the health state machine."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from composer.errors import ComposerError
from composer.planner.health import (
    HEALTHY,
    MAX_LOG_ENTRIES,
    STARTING,
    UNHEALTHY,
    HealthSpec,
    HealthState,
    LimitedBuffer,
    Probe,
    health_spec,
    record_probe,
    status_suffix,
    stopped,
    truncate_output,
)

S = 1_000_000_000
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def probe(code: int, output: str = "", at: float = 0.0) -> Probe:
    return Probe(T0 + timedelta(seconds=at), T0 + timedelta(seconds=at + 0.01), code, output)


# -- spec ----------------------------------------------------------------------------------------------


def test_no_check_anywhere_is_none() -> None:
    assert health_spec(None, None) is None
    assert health_spec({}, {}) is None
    assert health_spec({"interval": "5s"}, None) is None  # times without a test: nothing to run


def test_cmd_shell_gets_the_shell_and_docker_defaults() -> None:
    spec = health_spec({"test": ["CMD-SHELL", "curl -f localhost"]}, None)
    assert spec == HealthSpec(("/bin/sh", "-c", "curl -f localhost"), 30.0, 30.0, 0.0, 5.0, 3)


def test_cmd_runs_as_given_and_a_string_test_is_shell() -> None:
    assert health_spec({"test": ["CMD", "pg_isready", "-U", "x"]}, None).argv == ("pg_isready", "-U", "x")  # type: ignore[union-attr]
    assert health_spec({"test": "exit 0"}, None).argv == ("/bin/sh", "-c", "exit 0")  # type: ignore[union-attr]


def test_image_shell_is_used_for_cmd_shell() -> None:
    spec = health_spec({"test": ["CMD-SHELL", "true"]}, None, shell=["/bin/bash", "-ec"])
    assert spec is not None
    assert spec.argv == ("/bin/bash", "-ec", "true")


@pytest.mark.parametrize(("value", "seconds"), [("5s", 5.0), ("1m30s", 90.0), ("500ms", 0.5), (2, 2.0), (0.25, 0.25),
                                            ("1h", 3600.0)])
def test_durations_strings_and_numbers_of_seconds(value: object, seconds: float) -> None:
    spec = health_spec({"test": ["CMD", "true"], "interval": value, "timeout": value, "start_period": value,
                        "start_interval": value}, None)
    assert spec is not None
    assert (spec.interval, spec.timeout, spec.start_period, spec.start_interval) == (seconds,) * 4


def test_zero_means_default() -> None:
    spec = health_spec({"test": ["CMD", "true"], "interval": "0s", "retries": 0}, None)
    assert spec is not None
    assert (spec.interval, spec.retries) == (30.0, 3)


@pytest.mark.parametrize("check", [
    {"test": ["CMD", "true"], "interval": "soon"},
    {"test": ["CMD", "true"], "interval": "-1s"},
    {"test": ["CMD", "true"], "timeout": "10us"},
    {"test": ["CMD", "true"], "retries": -1},
    {"test": ["CMD", "true"], "retries": "many"},
    {"test": ["CMD"]},
    {"test": ["CMD-SHELL", " "]},
    {"test": ["EXEC", "true"]},
])
def test_invalid_checks_are_one_line_errors(check: dict[str, object]) -> None:
    with pytest.raises(ComposerError) as err:
        health_spec(check, None)
    assert "\n" not in str(err.value)
    assert "healthcheck" in str(err.value)


def test_disable_and_none_turn_the_image_check_off() -> None:
    image = {"Test": ["CMD-SHELL", "true"], "Interval": 5 * S}
    assert health_spec({"disable": True}, image) is None
    assert health_spec({"test": ["NONE"]}, image) is None
    assert health_spec(None, {"Test": ["NONE"]}) is None


def test_image_check_alone_in_nanoseconds() -> None:
    image = {"Test": ["CMD", "/healthy"], "Interval": 5 * S, "Timeout": 2 * S, "StartPeriod": 60 * S,
             "StartInterval": S // 2, "Retries": 7}
    assert health_spec(None, image) == HealthSpec(("/healthy",), 5.0, 2.0, 60.0, 0.5, 7)


def test_service_values_override_the_image_field_by_field() -> None:
    image = {"Test": ["CMD", "/healthy"], "Interval": 5 * S, "Timeout": 2 * S, "Retries": 7}
    spec = health_spec({"interval": "1s", "retries": 2}, image)
    assert spec == HealthSpec(("/healthy",), 1.0, 2.0, 0.0, 5.0, 2)
    spec = health_spec({"test": ["CMD-SHELL", "mine"]}, image)
    assert spec == HealthSpec(("/bin/sh", "-c", "mine"), 5.0, 2.0, 0.0, 5.0, 7)


def test_next_interval_uses_start_interval_only_while_starting_in_the_start_period() -> None:
    spec = HealthSpec(("true",), interval=30.0, start_period=60.0, start_interval=5.0)
    assert spec.next_interval(STARTING, 0.0) == 5.0
    assert spec.next_interval(STARTING, 59.0) == 5.0
    assert spec.next_interval(STARTING, 60.0) == 30.0
    assert spec.next_interval(HEALTHY, 10.0) == 30.0
    no_period = HealthSpec(("true",), interval=30.0)
    assert no_period.next_interval(STARTING, 0.0) == 30.0  # start_interval needs a start_period
    assert spec.in_start_period(59.9)
    assert not spec.in_start_period(60.0)


# -- state machine -----------------------------------------------------------------------------------------

SPEC = HealthSpec(("true",), retries=3)


def test_success_makes_healthy_and_resets_the_streak() -> None:
    state = HealthState(UNHEALTHY, 5, (), "run1")
    after = record_probe(state, probe(0, "ok\n"), SPEC, False)
    assert after == HealthState(HEALTHY, 0, (probe(0, "ok\n"),), "run1")


def test_failures_count_up_to_retries_then_unhealthy() -> None:
    state = HealthState()
    statuses = []
    for i in range(4):
        state = record_probe(state, probe(1, "no", i), SPEC, False)
        statuses.append((state.status, state.failing_streak))
    assert statuses == [(STARTING, 1), (STARTING, 2), (UNHEALTHY, 3), (UNHEALTHY, 4)]


def test_a_healthy_container_fails_to_unhealthy_after_retries() -> None:
    state = record_probe(HealthState(), probe(0), SPEC, False)
    state = record_probe(state, probe(1), SPEC, False)
    assert (state.status, state.failing_streak) == (HEALTHY, 1)
    state = record_probe(record_probe(state, probe(1), SPEC, False), probe(1), SPEC, False)
    assert (state.status, state.failing_streak) == (UNHEALTHY, 3)


def test_failures_in_the_start_period_do_not_count_unless_it_succeeds() -> None:
    state = HealthState()
    for i in range(10):
        state = record_probe(state, probe(1, at=i), SPEC, True)
    assert (state.status, state.failing_streak) == (STARTING, 0)
    assert len(state.log) == MAX_LOG_ENTRIES  # still logged
    state = record_probe(state, probe(0), SPEC, True)
    assert state.status == HEALTHY
    # once healthy, failures count even inside the start period
    state = record_probe(state, probe(1), SPEC, True)
    assert (state.status, state.failing_streak) == (HEALTHY, 1)


def test_timeouts_are_failures() -> None:
    state = HealthState()
    for _ in range(3):
        state = record_probe(state, probe(-1, "Health check exceeded timeout (1s)"), SPEC, False)
    assert state.status == UNHEALTHY


def test_log_keeps_the_last_five_in_order() -> None:
    state = HealthState()
    for i in range(8):
        state = record_probe(state, probe(i % 2, str(i), i), SPEC, False)
    assert [p.output for p in state.log] == ["3", "4", "5", "6", "7"]


def test_stopped_is_unhealthy_keeping_the_log() -> None:
    state = record_probe(HealthState(run="r"), probe(0), SPEC, False)
    assert stopped(state) == HealthState(UNHEALTHY, 0, state.log, "r")


def test_json_round_trip_and_inspect_shape() -> None:
    state = record_probe(HealthState(run="r"), probe(1, "bad"), SPEC, False)
    doc = state.to_json()
    assert HealthState.from_json(doc) == state
    assert state.inspect_doc() == {
        "Status": "starting", "FailingStreak": 1,
        "Log": [{"Start": "2026-01-01T00:00:00Z", "End": "2026-01-01T00:00:00.010000Z", "ExitCode": 1,
                 "Output": "bad"}],
    }
    with pytest.raises(ValueError):
        HealthState.from_json({"Status": "sick"})


def test_output_is_truncated_as_docker_does() -> None:
    assert truncate_output(b"x" * 4096) == "x" * 4096
    assert truncate_output(b"x" * 4097) == "x" * 4096 + "..."
    buf = LimitedBuffer(limit=4)
    for chunk in (b"ab", b"cd", b"e"):
        buf.write(chunk)
    assert buf.text() == "abcd..."
    assert truncate_output("é".encode()[:1]) == "\ufffd"


def test_status_suffix_as_docker_ps() -> None:
    assert status_suffix(STARTING) == " (health: starting)"
    assert status_suffix(HEALTHY) == " (healthy)"
    assert status_suffix(UNHEALTHY) == " (unhealthy)"
