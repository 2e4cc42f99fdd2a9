"""`RUN --mount=...` (cache, bind, tmpfs, secret) and build secrets, on real runc: what a RUN sees, what
the cache key sees, and that nothing of a mount (stub, secret) is left in the image."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.harness import run_cli, write_tree
from tests.runtime.build.test_build import BASE, build, context, run_image
from tests.runtime.compose.composefix import compose, down_all
from tests.runtime.engine.enginefix import EngineEnv

pytestmark = pytest.mark.root


def added_files(eng: EngineEnv, ref: str) -> dict[str, bytes]:
    """Every path of the layers the build added on top of the base image, with a regular file's bytes."""
    store = eng.engine.images
    base = len(store.layer_dirs(store.resolve(BASE)))
    out: dict[str, bytes] = {}
    for layer in store.layer_dirs(store.resolve(ref))[base:]:
        for dirpath, dirnames, filenames in os.walk(layer):
            for name in [*dirnames, *filenames]:
                path = Path(dirpath, name)
                rel = str(path.relative_to(layer))
                out[rel] = path.read_bytes() if path.is_file() and not path.is_symlink() else b""
    if "etc" in out and not any(p.startswith("etc/") for p in out):
        del out["etc"]  # the copy-up every RUN leaves (/etc/hosts and co. are bound over), not a mount's
    return out


def base_has(eng: EngineEnv, rel: str) -> bool:
    store = eng.engine.images
    return any(os.path.lexists(Path(d, rel)) for d in store.layer_dirs(store.resolve(BASE)))


CACHE = f"""\
FROM {BASE}
RUN --mount=type=cache,target=/var/cache/app,id=counter,sharing=locked \\
    echo x >> /var/cache/app/count && wc -l < /var/cache/app/count | tr -d ' ' > /count.txt
RUN --mount=type=cache,target=/root/.c1,mode=0700,uid=65534 --mount=type=cache,target=/root/.c2,sharing=private \\
    stat -c '%a %u' /root/.c1 > /c1.txt
CMD ["cat", "/count.txt", "/c1.txt"]
"""


def test_cache_mount_persists_across_builds_and_leaves_no_trace(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": CACHE})
    for expected in ("1", "2"):
        result = build(eng, "--no-cache", "-t", "mount/cache", str(ctx))
        assert result.code == 0, result.stderr
        run = run_image(eng, "mount/cache")
        assert run.stdout.splitlines() == [expected, "700 65534"], run.stderr
    files = added_files(eng, "mount/cache")
    assert files.keys() == {"count.txt", "c1.txt"}, sorted(files)
    assert not base_has(eng, "var/cache/app")
    roots = list((eng.engine.roots.state_root / "build" / "cache-mounts").glob("counter-*"))
    assert [p.name.endswith(".lock") for p in sorted(roots)] == [False, True]  # the directory and its lock
    cached = build(eng, "-t", "mount/cache", str(ctx))
    assert cached.code == 0, cached.stderr
    assert "2/2 layer steps cached" in cached.stderr, cached.stderr


BIND = f"""\
FROM {BASE} AS tools
RUN mkdir /out && echo from-stage > /out/made.txt
FROM {BASE}
WORKDIR /work
RUN --mount=target=ctx --mount=type=bind,from=tools,source=/out,target=/m \\
    cat ctx/data.txt /m/made.txt > /work/out.txt && (test -e ctx/skip.txt || echo no-skip >> /work/out.txt)
RUN --mount=type=bind,source=sub,target=/rw,rw touch /rw/new && ls /rw >> /work/out.txt
RUN --mount=type=tmpfs,target=/scratch,size=1m grep ' /scratch ' /proc/mounts | cut -d' ' -f3 >> /work/out.txt
CMD ["cat", "/work/out.txt"]
"""


def test_bind_mounts_from_the_context_and_a_stage_and_tmpfs(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": BIND, "data.txt": "data-1\n", "skip.txt": "x", ".dockerignore": "skip.txt\n",
                        "sub/kept": "k"})
    first = build(eng, "-t", "mount/bind", str(ctx))
    assert first.code == 0, first.stderr
    run = run_image(eng, "mount/bind")
    assert run.stdout.splitlines() == ["data-1", "from-stage", "no-skip", "kept", "new", "tmpfs"], run.stderr
    assert not (ctx / "sub" / "new").exists()  # rw: the write went to a scratch overlay
    files = added_files(eng, "mount/bind")
    assert {p for p in files if p.startswith(("work/ctx", "m", "rw", "scratch"))} == set(), sorted(files)
    again = build(eng, "-t", "mount/bind", str(ctx))
    assert "4/4 layer steps cached" in again.stderr, again.stderr
    (ctx / "skip.txt").write_text("ignored: changes nothing")
    assert "4/4 layer steps cached" in build(eng, "-t", "mount/bind", str(ctx)).stderr
    (ctx / "data.txt").write_text("data-2\n")
    changed = build(eng, "-t", "mount/bind", str(ctx))
    assert changed.code == 0, changed.stderr
    assert "1/4 layer steps cached" in changed.stderr, changed.stderr  # the stage's RUN only
    assert run_image(eng, "mount/bind").stdout.splitlines()[0] == "data-2"


SECRET = f"""\
FROM {BASE}
RUN --mount=type=secret,id=tok --mount=type=secret,id=envtok,env=TOKEN,target=/etc/tok,uid=65534 \\
    --mount=type=secret,id=absent \\
    wc -c < /run/secrets/tok | tr -d ' ' > /seen.txt && stat -c '%a %u' /run/secrets/tok /etc/tok >> /seen.txt \\
    && echo "${{#TOKEN}}" >> /seen.txt && (test -e /run/secrets/absent || echo no-absent >> /seen.txt)
CMD ["cat", "/seen.txt"]
"""


def test_secrets_reach_the_run_and_nothing_else(eng: EngineEnv) -> None:
    ctx = context(eng, {"Dockerfile": SECRET})
    secret_file = eng.tmp / "tok.txt"
    secret_file.write_text("file-secret-value")
    env = {**eng.env, "MY_TOKEN": "env-secret-value-42"}
    args = ["image", "build", "--secret", f"id=tok,src={secret_file}", "--secret", "id=envtok,env=MY_TOKEN",
            "-t", "mount/secret", str(ctx)]
    first = run_cli(eng.tmp, args, env=env)
    assert first.code == 0, first.stderr
    run = run_image(eng, "mount/secret")
    assert run.stdout.splitlines() == ["17", "400 0", "400 65534", "19", "no-absent"], run.stderr
    for secret in (b"file-secret-value", b"env-secret-value-42"):
        assert secret.decode() not in first.stderr + first.stdout
        for name, data in added_files(eng, "mount/secret").items():
            assert secret not in data, name
        for view in (["image", "history", "mount/secret"], ["image", "inspect", "mount/secret"]):
            shown = run_cli(eng.tmp, view, env=eng.env)
            assert shown.code == 0, shown.stderr
            assert secret.decode() not in shown.stdout
    assert set(added_files(eng, "mount/secret")) == {"seen.txt"}
    secret_file.write_text("another-value")
    changed = run_cli(eng.tmp, args, env={**env, "MY_TOKEN": "changed"})
    assert changed.code == 0, changed.stderr
    assert "1/1 layer steps cached" in changed.stderr, changed.stderr  # a secret's value is not in the key
    # buildx's other spellings: type=env with the variable as src, and a bare id read from its variable
    other = run_cli(eng.tmp, ["image", "build", "--secret", f"id=tok,source={secret_file}", "--secret",
                              "type=env,id=envtok,src=MY_TOKEN", "--no-cache", "-q", str(ctx)], env=env)
    assert other.code == 0, other.stderr
    bare = run_cli(eng.tmp, ["image", "build", "--secret", "id=tok", "--secret", "id=envtok", "-q", "--no-cache",
                             str(ctx)], env={**eng.env, "tok": "abc", "envtok": "x"})
    assert bare.code == 0, bare.stderr


@pytest.mark.parametrize(("dockerfile", "line", "words"), [
    (f"FROM {BASE}\nRUN --mount=type=secret,id=needed,required=true true\n", 2, "secret 'needed' is required"),
    (f"FROM {BASE}\n\nRUN --mount=type=bogus,target=/x true\n", 3, "unknown mount type 'bogus'"),
    (f"FROM {BASE}\nRUN --mount=type=cache true\n", 2, "a cache mount needs target="),
    (f"FROM {BASE}\nRUN --mount=type=cache,target=/x,colour=red true\n", 2, "unknown option 'colour'"),
    (f"FROM {BASE}\nRUN --mount=type=ssh true\n", 2, "type=ssh mounts"),
    (f"FROM {BASE}\nRUN --mount=type=bind,source=nothing,target=/x true\n", 2, "nothing: not found"),
    (f"FROM {BASE}\nRUN --mount=type=bind,source=../x,target=/x true\n", 2, "outside of the build context"),
    (f"FROM {BASE}\nRUN --mount=from=nowhere,target=/x true\n", 2, "from=nowhere: no such stage or image"),
    (f"FROM {BASE}\nRUN --mount=type=tmpfs,target=/x,sharing=locked true\n", 2, "unknown option 'sharing'"),
    (f"FROM {BASE}\nRUN --security=insecure true\n", 2, "RUN --security is not supported"),
])
def test_bad_mounts_name_their_line(eng: EngineEnv, dockerfile: str, line: int, words: str) -> None:
    ctx = context(eng, {"Dockerfile": dockerfile})
    result = build(eng, "-t", "bad", str(ctx))
    assert result.code == 1
    assert f"Dockerfile:{line}:" in result.stderr, result.stderr
    assert words in result.stderr, result.stderr


COMPOSE = """\
name: {project}
services:
  app:
    build:
      context: ./app
      secrets:
        - npmrc
        - source: api
          target: api_key
secrets:
  npmrc:
    file: ./npmrc.txt
  api:
    environment: API_KEY
"""

COMPOSE_DOCKERFILE = f"""\
FROM {BASE}
RUN --mount=type=secret,id=npmrc,required=true --mount=type=secret,id=api_key,env=API,required=true \\
    echo "$(cat /run/secrets/npmrc | wc -c) ${{#API}}" | tr -s ' ' > /lens.txt
CMD ["cat", "/lens.txt"]
"""


def test_compose_build_secrets(eng: EngineEnv) -> None:
    """`build.secrets`, short and long syntax (target is the id), from a file and from the environment: the
    secrets are read from the top-level `secrets:` that only the build uses."""
    project = f"s{eng.tag.rsplit('-', 1)[-1]}"
    write_tree(eng.tmp, {
        "compose.yaml": COMPOSE.format(project=project),
        "npmrc.txt": "token=abcdef",
        "app/Dockerfile": COMPOSE_DOCKERFILE,
    })
    try:
        config = compose(eng, "config", extra_env={"API_KEY": "k"})
        assert "npmrc" in config.stdout, config.stdout  # not pruned as unused
        assert "API_KEY" in config.stdout, config.stdout
        assert "build.secrets" not in config.stderr, config.stderr  # no "ignored" warning
        built = compose(eng, "build", extra_env={"API_KEY": "key-12345"})
        assert built.code == 0, built.stderr
        assert run_image(eng, f"{project}-app").stdout == "12 9\n"
        doc = json.loads(run_cli(eng.tmp, ["image", "inspect", f"{project}-app"], env=eng.env).stdout)[0]
        assert "key-12345" not in json.dumps(doc)
        missing = compose(eng, "build")
        assert missing.code == 1, missing.stderr
        assert "API_KEY" in missing.stderr, missing.stderr
    finally:
        down_all(eng, project)
