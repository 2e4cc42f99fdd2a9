"""What a build leaves on disk: secret environment never in a container record, and the RUN containers
of a killed build swept by the next build."""

from __future__ import annotations

import json

import pytest

from composer.runtime.build.builder import BUILD_LABEL, BUILD_OWNER_LABEL
from composer.runtime.engine.engine import CreateRequest
from tests.runtime.build.test_build import BASE, build, context
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root


def test_secret_env_reaches_the_process_but_not_the_record(eng: EngineEnv) -> None:
    record = eng.engine.create(CreateRequest(image=BASE, service={"command": ["sh", "-c", "echo $TOKEN"],
                                                                  "environment": {"TOKEN": "public"}},
                                             secret_env={"TOKEN": "s3cret-value"}))
    try:
        paths = eng.engine.roots.container(record.id)
        on_disk = b"".join(p.read_bytes() for p in paths.dir.rglob("*.json") if p.is_file()
                           and p.name != "config.json")
        assert b"s3cret-value" not in on_disk  # only the runtime spec has it (root only, gone with the container)
        eng.engine.start(record.id)
        assert eng.engine.wait(record.id) == 0
        assert eng.cli("logs", record.id).stdout == "s3cret-value\n"  # it wins over the recorded value
    finally:
        eng.engine.remove(record.id, force=True)


def test_a_killed_builds_run_container_is_swept_by_the_next_build(eng: EngineEnv) -> None:
    orphan = eng.engine.create(CreateRequest(image=BASE, service={"command": ["true"]},
                                             labels={BUILD_LABEL: "true", BUILD_OWNER_LABEL: "1:0"}))
    live = eng.engine.create(CreateRequest(image=BASE, service={"command": ["true"]}))  # not a build's: kept
    try:
        ctx = context(eng, {"Dockerfile": f"FROM {BASE}\nRUN echo hi > /hi.txt\n"})
        built = build(eng, "-t", "swept:1", str(ctx))
        assert built.code == 0, built.stderr
        ids = [json.loads(line)["ID"] for line in eng.cli("ls", "-a", "--format", "json").stdout.splitlines()]
        assert orphan.id[:12] not in [i[:12] for i in ids]
        assert live.id[:12] in [i[:12] for i in ids]
    finally:
        eng.engine.remove(live.id, force=True)
        if any(c.id == orphan.id for c in eng.engine.list(all=True)):
            eng.engine.remove(orphan.id, force=True)
