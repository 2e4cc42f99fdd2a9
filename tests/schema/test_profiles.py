"""Profiles: which services are enabled, and the error when an enabled one needs a disabled one."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError, Span
from composer.schema.profiles import active_profiles, check_dependencies, select
from composer.schema.tree import YMap, located

SPAN = Span("compose.yaml", 1, 1)


def services(spec: dict[str, object]) -> YMap:
    doc = located(spec, SPAN)
    assert isinstance(doc, YMap)
    return doc


def test_flags_win_over_environment() -> None:
    assert active_profiles(["a", "b,c"], {"COMPOSE_PROFILES": "x"}) == {"a", "b", "c"}
    assert active_profiles([], {"COMPOSE_PROFILES": "x, y"}) == {"x", "y"}
    assert active_profiles([], {}) == frozenset()


def test_services_without_profiles_are_always_enabled() -> None:
    svc = services({"web": {}, "debug": {"profiles": ["debug"]}})
    assert select(svc, frozenset()).enabled == ("web",)
    assert select(svc, frozenset({"debug"})).enabled == ("web", "debug")


def test_star_enables_everything() -> None:
    svc = services({"a": {"profiles": ["x"]}, "b": {"profiles": ["y"]}})
    assert select(svc, frozenset({"*"})).enabled == ("a", "b")


def test_naming_a_service_activates_its_profiles() -> None:
    svc = services({"a": {"profiles": ["x"]}, "b": {"profiles": ["x"]}, "c": {"profiles": ["y"]}})
    chosen = select(svc, frozenset(), ["a"])
    assert chosen.enabled == ("a", "b")
    assert chosen.disabled == ("c",)


def test_naming_an_unknown_service_is_an_error() -> None:
    with pytest.raises(ComposerError, match='no such service: "nope"'):
        select(services({"a": {}}), frozenset(), ["nope"])


def test_enabled_service_depending_on_disabled_names_the_profile() -> None:
    svc = services({"a": {"profiles": ["p"]}, "b": {"depends_on": {"a": {"condition": "service_started",
                                                                            "required": True}}}})
    with pytest.raises(ComposerError) as info:
        check_dependencies(svc, select(svc, frozenset()))
    assert 'service "b" depends on service "a"' in info.value.message
    assert info.value.hint is not None
    assert "--profile p" in info.value.hint


def test_optional_dependency_on_disabled_service_is_fine() -> None:
    svc = services({"a": {"profiles": ["p"]}, "b": {"depends_on": {"a": {"required": False}}}})
    check_dependencies(svc, select(svc, frozenset()))
