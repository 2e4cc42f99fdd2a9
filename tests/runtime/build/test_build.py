"""`composer image build` and `composer build` on real runc and conmon: stages, the layer cache, errors."""

from __future__ import annotations

import json
import tarfile
import time
from pathlib import Path

import pytest

from tests.cli.harness import Result, run_cli, write_tree
from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root

BASE = "composer-fixture/base:latest"

MULTI = f"""\
# syntax=docker/dockerfile:1
ARG BASE={BASE}
FROM $BASE AS build
WORKDIR /src
COPY greeting.txt .
RUN echo "built from $(cat greeting.txt)" > /src/out.txt \\
    && echo step-output
FROM $BASE
ENV GREETING=hi \\
    OTHER="two words"
WORKDIR /app
COPY --from=build /src/out.txt ./out.txt
COPY --chown=65534:65534 --chmod=0600 greeting.txt /app/private.txt
USER nobody
LABEL org.example.role=test
EXPOSE 8080/tcp
CMD ["sh", "-c", "cat out.txt; echo $GREETING $OTHER; pwd; id -u; stat -c '%a %u' private.txt"]
"""


def build(env: EngineEnv, *args: str, cwd: Path | None = None) -> Result:
    return run_cli(cwd or env.tmp, ["image", "build", *args], env=env.env)


def run_image(env: EngineEnv, image: str) -> Result:
    """What a container of `image` prints: create, start, wait, logs, rm. (`run --rm` sometimes loses a
    short-lived container's output: it stops reading when runc says "stopped", which can come before conmon
    has drained the output; conmon's exit file, which `wait` reads, comes after.)"""
    cid = env.cli("create", image).stdout.strip()
    assert cid, f"cannot create a container of {image}"
    try:
        assert env.cli("start", cid).code == 0
        code = env.cli("wait", cid).stdout.strip()
        logs = env.cli("logs", cid)
    finally:
        env.cli("rm", "-f", cid)
    return Result(int(code or 1), logs.stdout, logs.stderr, 0.0)


def context(env: EngineEnv, files: dict[str, str | bytes], name: str = "ctx") -> Path:
    root = env.tmp / name
    root.mkdir()
    write_tree(root, files)
    return root


def test_multi_stage_build_runs(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": MULTI, "greeting.txt": "hello\n"})
    result = build(eng, "-t", "built/multi:1", str(ctx))
    assert result.code == 0, result.stderr
    assert "step-output" in result.stderr
    assert "[build 4/4] RUN" in result.stderr or "RUN echo" in result.stderr
    run = run_image(eng, "built/multi:1")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines() == ["built from hello", "hi two words", "/app", "65534", "600 65534"]
    doc = json.loads(run_cli(eng.tmp, ["image", "inspect", "built/multi:1"], env=eng.env).stdout)[0]
    assert doc["Config"]["Labels"] == {"org.example.role": "test"}
    assert doc["Config"]["ExposedPorts"] == {"8080/tcp": {}}
    assert doc["Config"]["User"] == "nobody"
    history = run_cli(eng.tmp, ["image", "history", "built/multi:1"], env=eng.env)
    assert history.code == 0
    assert "CMD" in history.stdout


TEN = f"""\
FROM {BASE}
ARG VERSION=1
ENV APP=/app
WORKDIR $APP
COPY a.txt ./
COPY b.txt ./
RUN cat a.txt b.txt > both.txt
COPY c.txt ./
RUN cat both.txt c.txt > all.txt
LABEL version=$VERSION
CMD ["cat", "/app/all.txt"]
"""


def test_unchanged_rebuild_reuses_every_layer_and_a_changed_file_rebuilds_from_its_step(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": TEN, "a.txt": "a\n", "b.txt": "b\n", "c.txt": "c\n",
                        ".dockerignore": "ignored/\n"})
    (ctx / "ignored").mkdir()
    first = build(eng, "-q", "-t", "ten", str(ctx))
    assert first.code == 0, first.stderr
    image_id = first.stdout.strip()
    assert image_id.startswith("sha256:")
    again = build(eng, "-t", "ten", str(ctx))
    assert again.code == 0, again.stderr
    assert again.stderr.count("CACHED") == 5, again.stderr
    assert "5/5 layer steps cached" in again.stderr
    assert image_id in again.stderr
    print(f"no-change rebuild of a 10-step Dockerfile: {again.seconds:.3f} s")
    (ctx / "ignored" / "noise").write_text("not in the context\n")
    quiet = build(eng, "-q", str(ctx))
    assert quiet.stdout.strip() == image_id  # an ignored file changes nothing
    (ctx / "b.txt").write_text("B\n")
    changed = build(eng, "-t", "ten", str(ctx))
    assert changed.code == 0, changed.stderr
    assert "1/5 layer steps cached" in changed.stderr  # a.txt only: from COPY b.txt on, all is rebuilt
    run = run_image(eng, "ten")
    assert run.stdout == "a\nB\nc\n", run.stderr
    arg = build(eng, "--build-arg", "VERSION=2", "--build-arg", "UNUSED=1", "-t", "ten:2", str(ctx))
    assert arg.code == 0, arg.stderr
    assert "2/5 layer steps cached" in arg.stderr  # a RUN sees every ARG in its environment, as with Docker
    assert "build args not consumed by any ARG: UNUSED" in arg.stderr
    doc = json.loads(run_cli(eng.tmp, ["image", "inspect", "ten:2"], env=eng.env).stdout)[0]
    assert doc["Config"]["Labels"] == {"version": "2"}


@pytest.mark.parametrize(("dockerfile", "line", "words"), [
    (f"FROM {BASE}\nRUN true\nFROBNICATE x\n", 3, "unknown instruction: FROBNICATE"),
    (f"FROM {BASE}\n\nCOPY ../secret /x\n", 3, "outside of the build context"),
    (f"FROM {BASE}\nCOPY --from=nowhere /a /b\n", 2, "--from=nowhere: no such stage or image"),
    (f"FROM {BASE}\nRUN echo going-to-fail && exit 3\n", 2, "non-zero code: 3"),
    ("FROM composer-fixture/missing:latest\n", 1, "no such image"),
    (f"FROM {BASE}\nCOPY nothing.txt /x\n", 2, "not found in the build context"),
    (f"FROM {BASE}\nADD git@github.com:o/r.git /x\n", 2, "ADD from a git repository is not supported"),
    (f"FROM {BASE}\nCOPY a b /file\n", 2, "the destination must be a directory"),
])
def test_bad_dockerfiles_name_their_line(eng: EngineEnv, dockerfile: str, line: int, words: str) -> None:
    ctx = context(eng, {"Dockerfile": dockerfile, "a": "a", "b": "b"})
    (eng.tmp / "secret").write_text("s\n")
    result = build(eng, "-t", "bad", str(ctx))
    assert result.code == 1
    assert f"Dockerfile:{line}:" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr
    if "going-to-fail" in dockerfile:
        assert "going-to-fail" in result.stderr  # the failing command's output


def test_add_unpacks_a_local_archive_and_heredocs_work(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": f"""\
FROM {BASE}
ADD files.tar.gz /opt/
COPY <<EOF /etc/motd
welcome
EOF
RUN <<EOF
echo from-heredoc > /opt/heredoc.txt
EOF
CMD ["sh", "-c", "cat /opt/inner/file.txt /etc/motd /opt/heredoc.txt"]
"""})
    src = eng.tmp / "inner"
    src.mkdir()
    (src / "file.txt").write_text("packed\n")
    with tarfile.open(ctx / "files.tar.gz", "w:gz") as tar:
        tar.add(src, arcname="inner")
    result = build(eng, "-t", "added", str(ctx))
    assert result.code == 0, result.stderr
    run = run_image(eng, "added")
    assert run.stdout == "packed\nwelcome\nfrom-heredoc\n", run.stderr


def test_onbuild_triggers_run_in_the_child(eng: EngineEnv) -> None:
    parent = context(eng, {"Dockerfile": f"FROM {BASE}\nONBUILD COPY marker.txt /marker.txt\n",
                           "marker.txt": "parent\n"}, "parent")
    assert build(eng, "-t", "withonbuild", str(parent)).code == 0
    child = context(eng, {"Dockerfile": "FROM withonbuild\nCMD [\"cat\", \"/marker.txt\"]\n",
                          "marker.txt": "child\n"}, "child")
    result = build(eng, "-t", "child", str(child))
    assert result.code == 0, result.stderr
    run = run_image(eng, "child")
    assert run.stdout == "child\n", (run.stderr, result.stderr)


def test_target_stops_at_the_named_stage(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": f"FROM {BASE} AS one\nCMD [\"echo\", \"one\"]\n"
                                      f"FROM {BASE} AS two\nRUN exit 1\n"})
    result = build(eng, "-t", "first", "--target", "one", str(ctx))
    assert result.code == 0, result.stderr
    assert run_image(eng, "first").stdout == "one\n"


COMPOSE = """\
name: {project}
services:
  app:
    build:
      context: ./app
      args:
        WORD: composed
      labels:
        org.example.built: "yes"
    network_mode: none
    command: ["sleep", "3600"]
    stop_grace_period: 1s
"""


def test_compose_build_then_up(eng: EngineEnv) -> None:
    project = f"b{eng.tag.rsplit('-', 1)[-1]}"
    write_tree(eng.tmp, {
        "compose.yaml": COMPOSE.format(project=project),
        "app/Dockerfile": f"FROM {BASE}\nARG WORD=plain\nRUN echo $WORD > /word.txt\n",
    })
    try:
        started = time.monotonic()
        built = compose(eng, "build")
        assert built.code == 0, built.stderr
        print(f"compose build: {time.monotonic() - started:.2f} s")
        up = compose(eng, "up", "-d")
        assert up.code == 0, up.stderr
        ps = eng.cli("ls", "-q", "--filter", f"label=com.docker.compose.project={project}")
        cid = ps.stdout.split()[0]
        assert eng.cli_process("exec", cid, "cat", "/word.txt").stdout == "composed\n"
        doc = json.loads(run_cli(eng.tmp, ["image", "inspect", f"{project}-app"], env=eng.env).stdout)[0]
        assert doc["Config"]["Labels"]["org.example.built"] == "yes"
        again = compose(eng, "build", "-q", "app")
        assert again.code == 0, again.stderr
        assert again.stdout == ""
        assert "#1" not in again.stderr, again.stderr
        down = compose(eng, "down", "--rmi", "local", "-t", "1")
        assert down.code == 0, down.stderr
        gone = run_cli(eng.tmp, ["image", "inspect", f"{project}-app"], env=eng.env)
        assert gone.code == 1, gone.stdout
    finally:
        down_all(eng, project)



def test_up_builds_what_is_missing_and_up_build_rebuilds(eng: EngineEnv) -> None:
    project = f"u{eng.tag.rsplit('-', 1)[-1]}"
    write_tree(eng.tmp, {
        "compose.yaml": COMPOSE.format(project=project),
        "app/Dockerfile": f"FROM {BASE}\nARG WORD=plain\nRUN echo $WORD > /word.txt\n",
    })
    try:
        refused = compose(eng, "up", "-d", "--no-build")
        assert refused.code == 1  # nothing to run: the image is neither built nor pullable
        up = compose(eng, "up", "-d")  # builds the missing image first
        assert up.code == 0, up.stderr
        assert "#1" in up.stderr or "Built" in up.stderr, up.stderr
        cid = eng.cli("ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()[0]
        assert eng.cli_process("exec", cid, "cat", "/word.txt").stdout == "composed\n"
        (eng.tmp / "app" / "Dockerfile").write_text(f"FROM {BASE}\nARG WORD=plain\nRUN echo v2-$WORD > /word.txt\n")
        assert compose(eng, "up", "-d").code == 0  # present: not rebuilt, nothing changes
        assert eng.cli("ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()[0] == cid
        rebuilt = compose(eng, "up", "-d", "--build")
        assert rebuilt.code == 0, rebuilt.stderr
        assert "recreate" in compose(eng, "up", "-d", "--dry-run", "--force-recreate").stdout
        new = eng.cli("ls", "-q", "--filter", f"label=com.docker.compose.project={project}").stdout.split()[0]
        assert new != cid  # a new image: the container was recreated (image changed)
        assert eng.cli_process("exec", new, "cat", "/word.txt").stdout == "v2-composed\n"
    finally:
        down_all(eng, project)


def test_copy_globs_directories_ignore_rules_and_scratch(eng: EngineEnv) -> None:
    ctx = context(eng, {
        "Dockerfile": f"""\
FROM scratch AS files
COPY src/ /tree/
COPY *.cfg /cfg/
FROM {BASE}
COPY --from=files --chown=nobody /tree /srv/tree
COPY --from=files /cfg/ /etc/app/
SHELL ["/bin/sh", "-ec"]
RUN cat > /srv/list.sh <<EOF
find /srv/tree /etc/app -type f | sort
stat -c '%U' /srv/tree/keep.txt
EOF
ENTRYPOINT ["sh", "/srv/list.sh"]
""",
        "src/keep.txt": "k\n", "src/sub/deep.txt": "d\n", "src/skip.log": "s\n", "src/sub/important.log": "i\n",
        "a.cfg": "a\n", "b.cfg": "b\n", "other.txt": "o\n",
        ".dockerignore": "**/*.log\n!src/sub/important.log\n",
    })
    result = build(eng, "-t", "rules", str(ctx))
    assert result.code == 0, result.stderr
    run = run_image(eng, "rules")
    assert run.stdout.splitlines() == [
        "/etc/app/a.cfg", "/etc/app/b.cfg", "/srv/tree/keep.txt", "/srv/tree/sub/deep.txt",
        "/srv/tree/sub/important.log", "nobody",
    ], run.stderr


def test_scratch_left_by_a_killed_build_is_swept(eng: EngineEnv) -> None:
    from composer.runtime.oci.rootfs import is_mounted, mount_rootfs

    stale = eng.engine.roots.state_root / "build" / "work" / "tmpdead" / "target"
    (stale / "empty").mkdir(parents=True)
    mount_rootfs([stale / "empty"], stale / "upper", stale / "work", stale / "merged")
    assert is_mounted(stale / "merged")
    ctx = context(eng, {"Dockerfile": "FROM scratch\nCOPY a /a\n", "a": "a\n"})
    result = build(eng, "-q", str(ctx))
    assert result.code == 0, result.stderr
    assert not stale.parent.exists()
