"""The pure planner: service graph, desired state, and the text of the plans `diff` makes."""

from __future__ import annotations

from typing import Any

import pytest

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.graph import service_graph, start_order, with_dependencies
from composer.planner.plan import ObservedContainer, ObservedState, UpOptions, diff, down_plan

INFO = d.ProjectInfo(name="demo", working_dir="/src", config_files=("/src/compose.yaml",))


def doc(**services: dict[str, Any]) -> dict[str, Any]:
    for svc in services.values():
        svc.setdefault("image", "busybox")
        svc.setdefault("networks", {"default": None})
    return {"name": "demo", "services": services, "networks": {"default": {"name": "demo_default"}},
            "volumes": {"data": {"name": "demo_data"}}}


def observed_for(want: d.DesiredState, *, status: str = "running", **overrides: Any) -> list[ObservedContainer]:
    """Containers exactly as `want` would have made them."""
    out = []
    for svc in want.services.values():
        for n in range(1, svc.replicas + 1):
            labels = {**svc.labels, d.NUMBER: str(n), d.IMAGE: "sha256:img"}
            out.append(ObservedContainer(id=f"{svc.name}{n}".ljust(64, "0"), name=svc.container(want.project, n),
                                         service=svc.name, number=n, status=status, labels=labels, spec=svc.spec))
    return out


def state(want: d.DesiredState, containers: list[ObservedContainer]) -> ObservedState:
    return ObservedState(containers=containers, networks={"demo_default": {d.PROJECT: "demo"}},
                         volumes={"demo_data": {d.PROJECT: "demo"}}, images={"busybox": "sha256:img"})


def test_fresh_project_creates_network_then_services_in_dependency_order() -> None:
    want = d.desired_state(doc(web={"depends_on": {"db": {"condition": "service_healthy"}}}, db={}), INFO)
    plan = diff(want, ObservedState(images={"busybox": "sha256:img"}))
    assert plan.render() == "network demo_default: create\ndb-1: create (new)\nweb-1: create (new)\n"
    web = plan.by_id()["container:demo-web-1"]
    assert set(web.after) == {"network:demo_default", "container:demo-db-1"}
    assert [w.condition for w in web.waits] == ["service_healthy"]


def test_up_to_date_project_keeps_everything() -> None:
    want = d.desired_state(doc(web={}, db={}), INFO)
    plan = diff(want, state(want, observed_for(want)))
    assert plan.render() == "db-1: keep (up to date)\nweb-1: keep (up to date)\n"
    assert plan.empty


def test_changed_setting_recreates_and_names_it() -> None:
    want = d.desired_state(doc(web={}, db={}), INFO)
    have = observed_for(want)
    changed = d.desired_state(doc(web={"environment": {"A": "1"}}, db={}), INFO)
    plan = diff(changed, state(changed, have))
    assert "web-1: recreate (environment changed)\n" in plan.render()
    assert "db-1: keep (up to date)\n" in plan.render()
    recreate = plan.by_id()["container:demo-web-1"]
    assert recreate.destructive
    assert recreate.replaces == have[0].id


def test_image_id_change_recreates() -> None:
    want = d.desired_state(doc(web={}), INFO)
    observed = ObservedState(containers=observed_for(want), networks={"demo_default": {}},
                             images={"busybox": "sha256:new"})
    assert diff(want, observed).render() == "web-1: recreate (image changed)\n"


def test_force_and_no_recreate() -> None:
    want = d.desired_state(doc(web={}), INFO)
    have = state(want, observed_for(want))
    assert diff(want, have, UpOptions(force_recreate=True)).render() == "web-1: recreate (forced)\n"
    changed = d.desired_state(doc(web={"environment": {"A": "1"}}), INFO)
    assert diff(changed, have, UpOptions(no_recreate=True)).render() == "web-1: keep (up to date)\n"


def test_always_recreate_deps_and_restart_true() -> None:
    base = doc(web={"depends_on": {"db": {"condition": "service_started", "restart": True}}}, db={})
    want = d.desired_state(base, INFO)
    have = state(want, observed_for(want))
    changed = doc(web={"depends_on": {"db": {"condition": "service_started", "restart": True}}},
                  db={"environment": {"X": "2"}})
    want2 = d.desired_state(changed, INFO)
    assert diff(want2, have).render() == "db-1: recreate (environment changed)\nweb-1: restart (db recreated)\n"
    assert "web-1: recreate (dependency db recreated)" in diff(want2, have,
                                                               UpOptions(always_recreate_deps=True)).render()


def test_stopped_container_is_started_unless_follow_up_pass() -> None:
    want = d.desired_state(doc(job={}), INFO)
    have = state(want, observed_for(want, status="exited"))
    assert diff(want, have).render() == "job-1: start (exited)\n"
    assert diff(want, have, UpOptions(start_stopped=False)).render() == "job-1: keep (exited)\n"


def test_scale_up_and_down() -> None:
    want = d.desired_state(doc(web={}), INFO)
    have = state(want, observed_for(want))
    up = diff(d.desired_state(doc(web={}), INFO, scale={"web": 3}), have)
    assert up.render() == "web-1: keep (up to date)\nweb-2: create (scale up)\nweb-3: create (scale up)\n"
    three = d.desired_state(doc(web={"scale": 3}), INFO)
    down = diff(d.desired_state(doc(web={}), INFO), state(three, observed_for(three)))
    assert down.render() == "web-1: keep (up to date)\nweb-2: remove (scale down)\nweb-3: remove (scale down)\n"


def test_half_done_recreate_keeps_the_properly_named_one() -> None:
    want = d.desired_state(doc(web={}), INFO)
    old = observed_for(want)[0]
    temp = ObservedContainer(id="f" * 64, name=f"{old.id[:12]}_demo-web-1", service="web", number=1,
                             status="created", labels=old.labels, spec=old.spec)
    plan = diff(want, state(want, [temp, old]))
    assert plan.render() == "web-1: keep (up to date)\nweb-1: remove (duplicate)\n"
    assert plan.actions[1].target == temp.name


def test_orphans_warn_or_go() -> None:
    want = d.desired_state(doc(web={}), INFO)
    old = d.desired_state(doc(web={}, gone={}), INFO)
    have = state(old, observed_for(old))
    plan = diff(want, have)
    assert plan.render() == "web-1: keep (up to date)\n"
    assert "Found orphan containers (demo-gone-1)" in plan.warnings[0]
    assert "gone-1: remove (orphan)" in diff(want, have, UpOptions(remove_orphans=True)).render()


def test_anonymous_volumes_are_inherited_unless_renewed() -> None:
    want = d.desired_state(doc(web={}), INFO)
    c = observed_for(want)[0]
    c = ObservedContainer(**{**{f: getattr(c, f) for f in c.__slots__}, "anonymous_volumes": {"/v": "a" * 64}})
    plan = diff(want, state(want, [c]), UpOptions(force_recreate=True))
    assert dict(plan.actions[0].inherit) == {"/v": "a" * 64}
    plan = diff(want, state(want, [c]), UpOptions(force_recreate=True, renew_anon_volumes=True))
    assert dict(plan.actions[0].inherit) == {}


def test_external_network_must_exist() -> None:
    document = doc(web={})
    document["networks"]["default"] = {"name": "shared", "external": True}
    want = d.desired_state(document, INFO)
    with pytest.raises(ComposerError, match="declared as external"):
        diff(want, ObservedState())
    assert diff(want, ObservedState(networks={"shared": {}}, images={"busybox": "x"})).render() == \
        "web-1: create (new)\n"


def test_labels_and_engine_spec() -> None:
    document = doc(web={"volumes": [{"type": "volume", "source": "data", "target": "/d"}],
                        "depends_on": {"db": {"condition": "service_healthy", "required": True}},
                        "links": ["db:database"], "labels": {"tier": "front"}},
                   db={},
                   side={"volumes_from": ["service:web:ro"], "network_mode": "service:web", "networks": None})
    want = d.desired_state(document, INFO, all_services=("web", "db", "side"))
    web = want.services["web"]
    assert web.labels[d.PROJECT] == "demo"
    assert web.labels[d.SERVICE] == "web"
    assert web.labels[d.ONEOFF] == "False"
    assert web.labels["tier"] == "front"
    assert web.labels[d.DEPENDS] == "db:service_healthy:false"
    assert web.labels[d.CONFIG_FILES] == "/src/compose.yaml"
    assert web.labels[d.WORKING_DIR] == "/src"
    assert web.spec["volumes"][0]["source"] == "demo_data"
    assert web.spec["networks"] == {"demo_default": {"aliases": ["web"]}}
    assert web.spec["links"] == ["demo-db-1:database"]
    db = want.services["side"]
    assert db.spec["volumes_from"] == ["container:demo-web-1:ro"]
    assert db.spec["network_mode"] == "container:demo-web-1"
    assert "networks" not in db.spec


def test_config_hash_ignores_scale_and_depends_on() -> None:
    a = d.desired_state(doc(web={"scale": 2, "depends_on": {"x": {}}}, x={}), INFO)
    b = d.desired_state(doc(web={}, x={}), INFO)
    assert a.services["web"].config_hash == b.services["web"].config_hash


def test_container_name_cannot_scale() -> None:
    with pytest.raises(ComposerError, match="cannot be scaled"):
        d.desired_state(doc(web={"container_name": "w", "scale": 2}), INFO)


def test_graph_order_selection_and_cycle() -> None:
    services = {"web": {"depends_on": {"api": {}}}, "api": {"links": ["db"]}, "db": {}, "other": {}}
    graph = service_graph(services)
    assert start_order(graph) == ["db", "api", "other", "web"]
    assert with_dependencies(graph, ["web"]) == {"web", "api", "db"}
    assert with_dependencies(graph, ["web"], no_deps=True) == {"web"}
    with pytest.raises(ComposerError, match=r"cycle.*a -> b \[depends_on\].*b -> a \[volumes_from\]"):
        service_graph({"a": {"depends_on": {"b": {}}}, "b": {"volumes_from": ["a"]}})


def test_down_plan_removes_dependents_first_then_networks() -> None:
    want = d.desired_state(doc(web={"depends_on": {"db": {}}}, db={}), INFO)
    observed = state(want, observed_for(want))
    plan = down_plan(want, "demo", observed)
    assert plan.render() == "web-1: remove\ndb-1: remove\nnetwork demo_default: remove\n"
    db = plan.by_id()[f"remove:{'db1'.ljust(64, '0')}"]
    assert db.after == (f"remove:{'web1'.ljust(64, '0')}",)
    assert "volume demo_data: remove" in down_plan(want, "demo", observed, volumes=True).render()


def test_recreate_killed_after_the_old_one_went_finishes_with_a_rename() -> None:
    want = d.desired_state(doc(web={}), INFO)
    old = observed_for(want)[0]
    temp = ObservedContainer(id="f" * 64, name=f"{old.id[:12]}_demo-web-1", service="web", number=1,
                             status="created", labels=old.labels, spec=old.spec)
    assert diff(want, state(want, [temp])).render() == "web-1: rename (finish an interrupted recreate)\n"


def test_enable_ipv6_is_refused() -> None:
    document = doc(web={})
    document["networks"]["default"]["enable_ipv6"] = True
    with pytest.raises(ComposerError, match="network default: enable_ipv6 is not supported"):
        d.desired_state(document, INFO)
