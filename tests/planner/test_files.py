"""Secrets and configs as files: targets, owners, modes, digests, and the plan naming what changed."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError
from composer.planner import desired as d
from composer.planner.files import FileMount, digests, mounts, sources
from composer.planner.plan import ObservedContainer, ObservedState, diff

DOC = {
    "secrets": {"pw": {"name": "p_pw", "file": "/src/pw"}, "tok": {"environment": "TOKEN"},
                "ext": {"external": True, "name": "shared"}},
    "configs": {"conf": {"file": "/src/app.conf"}, "inline": {"content": "a=1"}},
}


def test_targets_owner_and_mode_defaults() -> None:
    service = {"secrets": ["pw", {"source": "tok", "target": "token", "uid": "1000", "gid": "10", "mode": "0400"}],
               "configs": [{"source": "conf"}, {"source": "inline", "target": "etc/inline.conf", "mode": 288}]}
    assert mounts("web", service, DOC) == [
        FileMount("secret", "pw", "/run/secrets/pw", 0, 0, 0o444),
        FileMount("secret", "tok", "/run/secrets/token", 1000, 10, 0o400),
        FileMount("config", "conf", "/conf", 0, 0, 0o444),
        FileMount("config", "inline", "/etc/inline.conf", 0, 0, 0o440),
    ]


def test_sources_and_undefined_references() -> None:
    found = sources(DOC)
    assert found["secret", "ext"].source == "external"
    assert found["secret", "ext"].ref == "shared"
    assert found["config", "inline"].ref == "a=1"
    with pytest.raises(ComposerError, match="undefined secret nope"):
        mounts("web", {"secrets": ["nope"]}, DOC)
    with pytest.raises(ComposerError, match="invalid file mode"):
        mounts("web", {"secrets": [{"source": "pw", "mode": "rw"}]}, DOC)


def test_digests_cover_only_what_is_mounted() -> None:
    used = mounts("web", {"configs": ["conf"]}, DOC)
    out = digests(used, {("config", "conf"): b"x", ("secret", "pw"): b"y"})
    assert list(out) == ["config conf"]


def _doc(conf: bytes) -> tuple[d.DesiredState, dict[str, object]]:
    document = {"name": "p", "services": {
        "web": {"image": "i", "configs": ["conf"], "network_mode": "none"},
        "db": {"image": "i", "network_mode": "none"},
    }, "configs": {"conf": {"file": "/src/app.conf"}}}
    want = d.desired_state(document, d.ProjectInfo("p"), contents={("config", "conf"): conf})
    return want, document


def test_changed_bytes_recreate_exactly_the_users_and_say_which() -> None:
    old, _ = _doc(b"v1")
    containers = [
        ObservedContainer(id=f"{s}".ljust(64, "0"), name=f"p-{s}-1", service=s, number=1, status="running",
                          labels={**svc.labels, d.NUMBER: "1"}, spec=svc.spec)
        for s, svc in old.services.items()
    ]
    new, _ = _doc(b"v2")
    assert new.services["db"].config_hash == old.services["db"].config_hash
    assert new.services["web"].config_hash != old.services["web"].config_hash
    plan = diff(new, ObservedState(containers=containers, images={"i": None}))
    assert plan.render() == "db-1: keep (up to date)\nweb-1: recreate (config conf changed)\n"
    assert "v2" not in repr(new)  # contents stay out of reprs and logs
