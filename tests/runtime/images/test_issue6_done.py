"""Issue 6's "Done when", end to end on the native engine and a real registry on 127.0.0.1.

A busybox base is pushed to the registry and removed locally; a multi-stage Dockerfile `FROM` it is
built by `up --build -d` (the build pulls the base back), the stack runs, `composer push` sends the
result, and a second state root pulls it with identical digests and runs it.
"""

from __future__ import annotations

import json
import secrets
import time

import pytest

from composer.errors import ComposerError
from composer.runtime.engine.engine import Engine
from tests.cli.harness import run_cli
from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv, eng, image_archive
from tests.runtime.images.ownregistry import own_registry
from tests.runtime.images.registryfix import Registry

__all__ = ["eng", "image_archive", "own_registry"]

pytestmark = pytest.mark.root

DOCKERFILE = """\
FROM {base} AS build
WORKDIR /work
RUN echo "built by composer from {base}" > message && wc -c message > size
COPY note.txt /work/note.txt

FROM {base}
COPY --from=build /work/ /srv/
CMD ["sh", "-c", "cat /srv/message /srv/note.txt; exec sleep 3600"]
"""

STACK = """\
name: {project}
services:
  web:
    image: {image}
    build:
      context: .
    network_mode: none
    stop_grace_period: 1s
"""


def _digests(engine: Engine, ref: str) -> tuple[str, str, tuple[str, ...], tuple[str, ...]]:
    image = engine.images.get(ref)
    return image.id, image.manifest_digest, tuple(d.digest for d in image.manifest.layers), image.diff_ids


def _logs(eng: EngineEnv, want: str) -> str:
    deadline = time.monotonic() + 20
    out = ""
    while time.monotonic() < deadline:
        out = compose(eng, "logs", "--no-log-prefix", "web").stdout
        if want in out:
            break
        time.sleep(0.2)
    return out


def test_build_from_a_pulled_base_run_push_and_pull_elsewhere(eng: EngineEnv, own_registry: Registry) -> None:
    project = f"i6{secrets.token_hex(3)}"
    host = own_registry.host
    base = f"{host}/{project}/busybox:1"
    image = f"{host}/{project}/app:1"
    env = eng.env

    # the base goes to the registry and leaves the local store
    assert run_cli(eng.tmp, ["image", "tag", "composer-fixture/base:latest", base], env=env).code == 0
    pushed = run_cli(eng.tmp, ["image", "push", base], env=env)
    assert pushed.code == 0, pushed.stderr
    base_id = eng.engine.images.get(base).id
    for ref in (base, "composer-fixture/base:latest"):
        assert run_cli(eng.tmp, ["image", "rm", ref], env=env).code == 0
    with pytest.raises(ComposerError, match="No such image"):
        eng.engine.images.get(base_id)

    (eng.tmp / "Dockerfile").write_text(DOCKERFILE.format(base=base))
    (eng.tmp / "note.txt").write_text("a file from the build context\n")
    (eng.tmp / "compose.yaml").write_text(STACK.format(project=project, image=image))
    try:
        up = compose(eng, "up", "--build", "-d")
        assert up.code == 0, up.stderr
        # the build pulled the base back from the registry
        assert own_registry.requests("GET", f"^/v2/{project}/busybox/manifests/1$") == 1
        assert eng.engine.images.get(base).id == base_id
        built = eng.engine.images.get(image)
        assert built.diff_ids[0] == eng.engine.images.get(base).diff_ids[0]
        assert len(built.diff_ids) == 2  # the base and one COPY --from layer
        ps = compose(eng, "ps", "--format", "json")
        rows = [json.loads(line) for line in ps.stdout.splitlines() if line.strip()]
        assert [(r["Service"], r["State"], r["Image"]) for r in rows] == [("web", "running", image)]
        logs = _logs(eng, "a file from the build context")
        assert f"built by composer from {base}" in logs
        assert "a file from the build context" in logs

        push = compose(eng, "push")
        assert push.code == 0, push.stderr
        assert own_registry.requests("PUT", f"^/v2/{project}/app/manifests/1$") == 1
        uploads = own_registry.requests("PUT", f"^/v2/{project}/app/blobs/uploads/")
        assert uploads == 3  # two layers and the config
        assert compose(eng, "push").code == 0  # a second push sends no blob again
        assert own_registry.requests("PUT", f"^/v2/{project}/app/blobs/uploads/") == uploads
        source = _digests(eng.engine, image)
    finally:
        down_all(eng, project)

    # a second engine on another root pulls it: identical image ID, manifest and layer digests
    second = {**env, "COMPOSER_ROOT": str(eng.tmp / "state2"), "COMPOSER_RUN_ROOT": str(eng.tmp / "run2")}
    pulled = run_cli(eng.tmp, ["image", "pull", image], env=second)
    assert pulled.code == 0, pulled.stderr
    assert "Pull complete" in pulled.stdout
    other = Engine(eng.tmp / "state2", eng.tmp / "run2", cgroup_parent=f"/{eng.tag}", nft_table=env[
        "COMPOSER_NFT_TABLE"])
    assert _digests(other, image) == source
    assert other.images.get(image).repo_digests == (f"{image.rsplit(':', 1)[0]}@{source[1]}",)
    ran = run_cli(eng.tmp, ["container", "run", "--rm", image, "cat", "/srv/message", "/srv/size"], env=second)
    assert ran.code == 0, ran.stderr
    assert ran.stdout.splitlines()[0] == f"built by composer from {base}"
