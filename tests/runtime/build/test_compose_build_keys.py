"""Compose's `build:` keys beyond context/args/labels, each shown by what the built image holds."""

from __future__ import annotations

import json

import pytest

from tests.cli.harness import run_cli, write_tree
from tests.runtime.build.test_build import BASE, run_image
from tests.runtime.compose.composefix import compose
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

COMPOSE = """\
name: {project}
services:
  files:
    build:
      context: ./app
      dockerfile: build/Other.Dockerfile
      target: final
      tags: ["{project}-extra:1"]
      no_cache: true
      network: none
      extra_hosts:
        - "buildhost.example=10.1.2.3"
      shm_size: 96m
  inline:
    build:
      context: .
      dockerfile_inline: |
        FROM {base}
        RUN echo inline > /inline.txt
        CMD ["cat", "/inline.txt"]
"""

OTHER = f"""\
FROM {BASE} AS final
RUN grep buildhost.example /etc/hosts | tr -s ' \\t' ' ' > /hosts.txt
RUN df -k /dev/shm | tail -1 | tr -s ' ' | cut -d' ' -f2 > /shm.txt
RUN grep -c : /proc/net/dev > /links.txt
CMD ["cat", "/hosts.txt", "/shm.txt", "/links.txt"]
FROM {BASE} AS after
RUN echo "a stage after the target must not run" && false
"""


def test_compose_build_keys(eng: EngineEnv) -> None:
    """dockerfile (a path inside the context), target (the failing later stage never runs), tags (a
    second name), no_cache (a rebuild runs every step again), network none (only `lo` in RUN),
    extra_hosts (in RUN's /etc/hosts), shm_size (RUN's /dev/shm), dockerfile_inline."""
    project = f"k{eng.tag.rsplit('-', 1)[-1]}"
    write_tree(eng.tmp, {
        "compose.yaml": COMPOSE.format(project=project, base=BASE),
        "app/build/Other.Dockerfile": OTHER,
        "app/Dockerfile": "FROM scratch\nthis file is not the one to use\n",
    })
    built = compose(eng, "build")
    assert built.code == 0, built.stderr
    assert "must not run" not in built.stderr

    main = run_image(eng, f"{project}-files")
    assert main.stdout.splitlines() == ["10.1.2.3 buildhost.example", str(96 * 1024), "1"], main.stderr
    ids = [json.loads(run_cli(eng.tmp, ["image", "inspect", ref], env=eng.env).stdout)[0]["Id"]
           for ref in (f"{project}-files", f"{project}-extra:1")]
    assert ids[0] == ids[1]
    assert run_image(eng, f"{project}-inline").stdout == "inline\n"

    again = compose(eng, "build", "files")
    assert again.code == 0, again.stderr
    assert "CACHED" not in again.stderr, again.stderr  # no_cache: every step ran again
    cached = compose(eng, "build", "inline")
    assert cached.code == 0, cached.stderr
    assert "CACHED" in cached.stderr, cached.stderr
