"""Base images from a registry: a missing one is pulled, `--pull` / Compose `build.pull` re-pull a present one."""

from __future__ import annotations

from pathlib import Path

import pytest

from composer.runtime.images import ImageStore
from composer.runtime.images import registry as reg
from tests.cli.harness import write_tree
from tests.runtime.build.test_build import BASE, build, run_image
from tests.runtime.compose.composefix import compose
from tests.runtime.engine.enginefix import EngineEnv
from tests.runtime.images.registryfix import Registry, open_registry

pytestmark = pytest.mark.root
__all__ = ["open_registry"]

APP = "composer-fixture/app:latest"  # /etc/motd says "app layer"; the base's says "base layer"


def _publish(source: ImageStore, image: str, target: str) -> None:
    """`image` pushed as `target` from a store of its own (the engine's store sees only what it pulls)."""
    source.tag(image, target)
    reg.push(source, target)


def test_missing_base_is_pulled_and_pull_refreshes_it(eng: EngineEnv, open_registry: Registry, image_archive: Path,
                                                      tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = f"{open_registry.host}/lib/pull-base-{eng.tag.rsplit('-', 1)[-1]}:1"
    project = f"p{eng.tag.rsplit('-', 1)[-1]}"
    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path / "cc"))  # no real credentials or mirrors
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "dc"))
    source = ImageStore(tmp_path / "source")
    source.load(str(image_archive))
    write_tree(eng.tmp, {
        "ctx/Dockerfile": f"FROM {base}\nUSER root\nRUN cat /etc/motd > /seen.txt\nCMD [\"cat\", \"/seen.txt\"]\n",
        "compose.yaml": f"name: {project}\nservices:\n  app:\n    build:\n      context: ./ctx\n      pull: true\n",
    })
    _publish(source, BASE, base)

    first = build(eng, "-t", "pulled:1", str(eng.tmp / "ctx"))  # not in the store: pulled, as docker build does
    assert first.code == 0, first.stderr
    assert "Pulling from" in first.stderr
    assert run_image(eng, "pulled:1").stdout == "base layer\n"

    _publish(source, APP, base)  # the tag moves on in the registry
    stale = build(eng, "-t", "pulled:2", str(eng.tmp / "ctx"))
    assert stale.code == 0, stale.stderr
    assert "Pulling from" not in stale.stderr  # present: the local copy is used
    assert run_image(eng, "pulled:2").stdout == "base layer\n"

    fresh = build(eng, "--pull", "-t", "pulled:3", str(eng.tmp / "ctx"))
    assert fresh.code == 0, fresh.stderr
    assert run_image(eng, "pulled:3").stdout == "app layer\n"

    _publish(source, BASE, base)  # and back: Compose's `build.pull: true` re-pulls too
    composed = compose(eng, "build", "app")
    assert composed.code == 0, composed.stderr
    assert run_image(eng, f"{project}-app").stdout == "base layer\n"

    mounted = f"{open_registry.host}/lib/mounted-{eng.tag.rsplit('-', 1)[-1]}:1"
    _publish(source, APP, mounted)  # only in the registry: RUN --mount=from= pulls it too
    (eng.tmp / "ctx" / "Dockerfile").write_text(
        f"FROM {BASE}\nRUN --mount=type=bind,from={mounted},target=/m cat /m/etc/motd > /seen.txt\n"
        "CMD [\"cat\", \"/seen.txt\"]\n")
    bound = build(eng, "-t", "pulled:5", str(eng.tmp / "ctx"))
    assert bound.code == 0, bound.stderr
    assert run_image(eng, "pulled:5").stdout == "app layer\n"

    gone = f"{open_registry.host}/lib/never-pushed:1"
    (eng.tmp / "ctx" / "Dockerfile").write_text(f"FROM {gone}\n")
    failed = build(eng, "--pull", "-t", "pulled:4", str(eng.tmp / "ctx"))
    assert failed.code == 1
    assert "Traceback" not in failed.stderr
    assert f"Dockerfile:1: FROM {gone}: pulling it (--pull) failed:" in failed.stderr
