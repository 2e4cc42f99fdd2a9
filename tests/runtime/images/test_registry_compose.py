"""`composer pull` and `up` of a stack whose image is only in a local registry."""

from __future__ import annotations

import json
import secrets

import pytest

from composer.runtime.images import registry as reg
from tests.runtime.compose.composefix import compose, compose_process, down_all
from tests.runtime.engine.enginefix import EngineEnv, eng, image_archive
from tests.runtime.images.registryfix import Registry, open_registry

__all__ = ["eng", "image_archive", "open_registry"]

pytestmark = pytest.mark.root

STACK = """
name: {project}
services:
  web:
    image: {image}
    network_mode: none
    command: ["sleep", "3600"]
    stop_grace_period: 1s
"""


def test_up_runs_an_image_pulled_from_the_registry(eng: EngineEnv, open_registry: Registry) -> None:
    project = f"reg{secrets.token_hex(3)}"
    image = f"{open_registry.host}/fixture/compose-{project}:1"
    store = eng.engine.images
    store.tag("composer-fixture/app:latest", image)
    reg.push(store, image)
    store.remove(image)  # only the fixture's own tag is left: the stack's image is not present
    with pytest.raises(Exception, match="No such image"):
        store.get(image)
    (eng.tmp / "compose.yaml").write_text(STACK.format(project=project, image=image))
    try:
        up = compose(eng, "up", "-d")  # pull_policy missing: up pulls it
        assert up.code == 0, up.stderr
        assert open_registry.requests("GET", f"^/v2/fixture/compose-{project}/manifests/") == 1
        assert store.get(image).id == store.get("composer-fixture/app:latest").id
        assert compose(eng, "up", "-d").code == 0  # present now: no second pull
        assert open_registry.requests("GET", f"^/v2/fixture/compose-{project}/manifests/") == 1
        ps = compose(eng, "ps", "--format", "json")
        rows = [json.loads(line) for line in ps.stdout.splitlines() if line.strip()]
        assert [(r["Service"], r["State"], r["Image"]) for r in rows] == [("web", "running", image)]
        again = compose(eng, "pull", "--policy", "missing")
        assert again.code == 0, again.stderr
        assert open_registry.requests("GET", f"^/v2/fixture/compose-{project}/manifests/") == 1
        # `run` gets its image the same way: gone locally, pulled by the service's pull_policy (missing)
        assert compose(eng, "down", "-t", "0").code == 0
        store.remove(image)
        ran = compose_process(eng, "run", "--rm", "-T", "--no-deps", "web", "echo", "ran-after-pull")
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout.strip() == "ran-after-pull"
        assert open_registry.requests("GET", f"^/v2/fixture/compose-{project}/manifests/") == 2
    finally:
        down_all(eng, project)
