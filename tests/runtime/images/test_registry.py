"""The registry client against a real distribution registry (Debian's docker-registry) on 127.0.0.1.

Open over plain HTTP, basic auth over TLS with a test CA, and token auth behind a token issuer
the tests run; nothing comes from the internet.
"""

from __future__ import annotations

import base64
import io
import json
import os
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import httpx
import pytest
import trio

from composer.errors import ComposerError
from composer.planner.desired import DesiredService, DesiredState
from composer.runtime.compose.pull import ensure_images, policy_interval
from composer.runtime.images import ImageStore
from composer.runtime.images import registry as reg
from composer.runtime.images.auth import lookup
from composer.runtime.images.blob_stream import ALIGN
from composer.runtime.images.transfer_progress import TransferProgress
from tests.cli.harness import run_cli
from tests.runtime.images.registryfix import (
    PASSWORD,
    USER,
    Registry,
    basic_registry,
    digest_of,
    free_port,
    make_ca_and_server,
    open_registry,
    token_registry,
)

__all__ = ["basic_registry", "open_registry", "token_registry"]

REPO = Path(__file__).resolve().parents[3]
APP = "composer-fixture/app:latest"
BASE = "composer-fixture/base:latest"


@pytest.fixture(scope="session")
def fixture_archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static is not installed (apt-get install -y busybox-static)")
    out = tmp_path_factory.mktemp("registry-fixture-images")
    subprocess.run([sys.executable, str(REPO / "fixtures" / "images" / "build.py"), str(out)], check=True,
                   capture_output=True)
    return out / "busybox-docker.tar"


@pytest.fixture(autouse=True)
def _own_credentials(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Never read or write the real ~/.docker or ~/.config/composer."""
    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path / "composer-config"))
    monkeypatch.setenv("DOCKER_CONFIG", str(tmp_path / "docker-config"))
    monkeypatch.delenv("COMPOSER_REGISTRY_CA", raising=False)
    monkeypatch.setenv("COMPOSER_CERTS_D", str(tmp_path / "certs.d"))


def loaded_store(path: Path, archive: Path) -> ImageStore:
    store = ImageStore(path)
    store.load(str(archive))
    return store


def layers(store: ImageStore, ref: str) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    image = store.get(ref)
    return image.id, tuple(desc.digest for desc in image.manifest.layers), image.diff_ids


def set_env(monkeypatch: pytest.MonkeyPatch, registry: Registry) -> None:
    for key, value in registry.env.items():
        monkeypatch.setenv(key, value)


# -- (a) open registry, plain HTTP -----------------------------------------------------------------------


def test_push_pull_round_trip_and_nothing_twice(open_registry: Registry, fixture_archive: Path,
                                               tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{open_registry.host}/fixture/app:1"
    src.tag(APP, target)
    pushed = reg.push(src, target)
    assert pushed.uploaded == 3  # two layers and the config
    assert f"{target.rsplit(':', 1)[0]}@{pushed.digest}" in src.get(target).repo_digests

    dst = ImageStore(tmp_path / "b")
    pulled = reg.pull(dst, target)
    assert pulled.image_id == src.get(APP).id
    assert layers(dst, target) == layers(src, APP)
    assert pulled.digest == pushed.digest
    assert pulled.blobs_fetched == 3
    assert dst.get(target).repo_digests == (f"{open_registry.host}/fixture/app@{pushed.digest}",)

    by_digest = f"{open_registry.host}/fixture/app@{pushed.digest}"
    assert reg.pull(ImageStore(tmp_path / "c"), by_digest).image_id == pulled.image_id
    assert ImageStore(tmp_path / "c").get(by_digest).repo_tags == ()
    blob_gets = open_registry.requests("GET", r"^/v2/fixture/app/blobs/")
    assert blob_gets == 6
    again = reg.pull(dst, target)
    assert again.up_to_date
    assert again.blobs_fetched == 0
    assert open_registry.requests("GET", r"^/v2/fixture/app/blobs/") == blob_gets

    uploads = open_registry.requests("POST", r"^/v2/fixture/app/blobs/uploads/")
    puts = open_registry.requests("PUT", r"^/v2/fixture/app/blobs/uploads/")
    assert (uploads, puts) == (3, 3)
    unchanged = reg.push(src, target)
    assert (unchanged.uploaded, unchanged.mounted, unchanged.existing) == (0, 0, 3)
    assert open_registry.requests("POST", r"^/v2/fixture/app/blobs/uploads/") == uploads
    assert open_registry.requests("PUT", r"^/v2/fixture/app/blobs/uploads/") == puts


def test_interrupted_pull_resumes(open_registry: Registry, fixture_archive: Path, tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{open_registry.host}/fixture/resume:1"
    src.tag(APP, target)
    reg.push(src, target)
    image = src.get(APP)
    first, last = image.manifest.layers[0], image.manifest.layers[-1]
    dst = ImageStore(tmp_path / "b")
    with src.open_blob(first.digest) as blob:
        dst.put_blob(blob, expected=first.digest)  # finished before the "interruption"
    half = last.size // 2
    (dst.root / "downloads").mkdir(mode=0o700)
    (dst.root / "downloads" / f"{last.digest.removeprefix('sha256:')}.partial").write_bytes(
        src.read_blob(last.digest)[:half])
    pulled = reg.pull(dst, target)
    assert pulled.image_id == image.id
    assert pulled.blobs_fetched == 2  # the config and the rest of the partial layer
    kept = half - half % ALIGN  # resumed from an O_DIRECT-aligned offset
    assert kept > 0
    assert pulled.bytes_fetched == image.manifest.config.size + last.size - kept
    assert dst.has_layer(image.diff_ids[-1])  # unpacked from the kept prefix and the fetched rest
    assert not list((dst.root / "downloads").glob("*.partial"))


def test_cross_repository_mount(open_registry: Registry, fixture_archive: Path, tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    first = f"{open_registry.host}/fixture/mount-a:1"
    second = f"{open_registry.host}/fixture/mount-b:1"
    src.tag(APP, first)
    reg.push(src, first)
    src.tag(APP, second)
    result = reg.push(src, second)
    assert (result.uploaded, result.mounted) == (0, 3)


def test_platform_selection_from_an_index(open_registry: Registry, fixture_archive: Path, tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    repo = f"{open_registry.host}/fixture/multi"
    src.tag(APP, f"{repo}:app")
    src.tag(BASE, f"{repo}:base")
    app, base = reg.push(src, f"{repo}:app"), reg.push(src, f"{repo}:base")

    def desc(digest: str, store_ref: str, arch: str) -> dict[str, object]:
        size = src.blob_path(digest).stat().st_size
        return {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest, "size": size,
                "platform": {"os": "linux", "architecture": arch}}

    index = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                        "manifests": [desc(app.digest, APP, "amd64"), desc(base.digest, BASE, "arm64")]}).encode()
    response = httpx.put(f"http://{repo.split('/', 1)[0]}/v2/fixture/multi/manifests/both", content=index,
                         headers={"Content-Type": "application/vnd.oci.image.index.v1+json"})
    assert response.status_code == 201, response.text
    dst = ImageStore(tmp_path / "b")
    arm = reg.pull(dst, f"{repo}:both", platform="linux/arm64")
    assert arm.image_id == src.get(BASE).id
    assert arm.digest == digest_of(index)
    amd = reg.pull(dst, f"{repo}:both", platform="linux/amd64")
    assert amd.image_id == src.get(APP).id
    with pytest.raises(ComposerError, match=r"no image for platform linux/s390x .*linux/amd64, linux/arm64"):
        reg.pull(dst, f"{repo}:both", platform="linux/s390x")


def test_errors_name_the_reference(open_registry: Registry, tmp_path: Path) -> None:
    store = ImageStore(tmp_path / "s")
    with pytest.raises(ComposerError, match=rf"^{open_registry.host}/fixture/nothing-here:1: not found"):
        reg.pull(store, f"{open_registry.host}/fixture/nothing-here:1")
    dead = free_port()
    with pytest.raises(ComposerError, match=rf"^127.0.0.1:{dead}/x:1: registry 127.0.0.1:{dead} is unreachable"):
        reg.pull(store, f"127.0.0.1:{dead}/x:1")
    with pytest.raises(ComposerError, match="No such image"):
        reg.push(store, f"{open_registry.host}/fixture/absent:1")


def test_cli_image_pull_and_push(open_registry: Registry, fixture_archive: Path, tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "root"), "COMPOSER_CONFIG": str(tmp_path / "cc"),
           "DOCKER_CONFIG": str(tmp_path / "dc")}
    assert run_cli(tmp_path, ["image", "load", "-i", str(fixture_archive)], env=env).code == 0
    target = f"{open_registry.host}/fixture/cli:1"
    assert run_cli(tmp_path, ["image", "tag", APP, target], env=env).code == 0
    pushed = run_cli(tmp_path, ["image", "push", target], env=env)
    assert pushed.code == 0, pushed.stderr
    assert "digest: sha256:" in pushed.stdout
    env["COMPOSER_ROOT"] = str(tmp_path / "fresh")
    pulled = run_cli(tmp_path, ["image", "pull", target], env=env)
    assert pulled.code == 0, pulled.stderr
    assert pulled.stdout.splitlines()[-1] == target
    assert "Pull complete" in pulled.stdout
    quiet = run_cli(tmp_path, ["image", "pull", "-q", target], env=env)
    assert quiet.stdout == f"{target}\n"
    missing = run_cli(tmp_path, ["image", "pull", f"{open_registry.host}/fixture/cli:nope"], env=env)
    assert missing.code == 1
    assert "Traceback" not in missing.stderr
    assert f"{open_registry.host}/fixture/cli:nope: not found" in missing.stderr


def test_docker_hub_images_come_from_a_mirror(open_registry: Registry, fixture_archive: Path, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """`busybox-ish:1` means docker.io/library/busybox-ish:1; the local registry mirrors Docker Hub, after a
    dead mirror that is skipped. Nothing goes to the real Docker Hub (the pull would fail here if it did)."""
    src = loaded_store(tmp_path / "a", fixture_archive)
    src.tag(APP, f"{open_registry.host}/library/mirrored-app:1")
    reg.push(src, f"{open_registry.host}/library/mirrored-app:1")
    dead = free_port()
    monkeypatch.setenv("COMPOSER_REGISTRY_MIRRORS", f"http://127.0.0.1:{dead}, http://{open_registry.host}/")
    dst = ImageStore(tmp_path / "b")
    pulled = reg.pull(dst, "mirrored-app:1")
    assert pulled.reference == "mirrored-app:1"
    assert pulled.image_id == src.get(APP).id
    assert dst.resolve("docker.io/library/mirrored-app:1") == pulled.image_id
    assert dst.inspect("mirrored-app:1")["RepoDigests"] == [f"mirrored-app@{pulled.digest}"]

    env = {"COMPOSER_ROOT": str(tmp_path / "root"), "COMPOSER_CONFIG": str(tmp_path / "cc"),
           "DOCKER_CONFIG": str(tmp_path / "dc"), "COMPOSER_REGISTRY_MIRRORS": ""}
    (tmp_path / "cc").mkdir()
    (tmp_path / "cc" / "registries.json").write_text(json.dumps({"registry-mirrors": [f"http://{open_registry.host}"]}))
    monkeypatch.delenv("COMPOSER_REGISTRY_MIRRORS")
    del env["COMPOSER_REGISTRY_MIRRORS"]
    cli = run_cli(tmp_path, ["image", "pull", "-q", "mirrored-app:1"], env=env)
    assert cli.code == 0, cli.stderr
    assert cli.stdout == "mirrored-app:1\n"


def test_registry_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from composer.runtime.images.registry_config import hub_mirrors
    from composer.runtime.images.registry_http import is_insecure

    monkeypatch.setenv("COMPOSER_CONFIG", str(tmp_path))
    assert hub_mirrors() == []
    assert not is_insecure("registry.lan:5000")
    (tmp_path / "registries.json").write_text(json.dumps({"registry-mirrors": ["https://m.example:8443"],
                                                          "insecure-registries": ["registry.lan:5000"]}))
    assert hub_mirrors() == ["https://m.example:8443"]
    assert is_insecure("registry.lan:5000")
    monkeypatch.setenv("COMPOSER_INSECURE_REGISTRIES", "")  # the environment wins over the file
    assert not is_insecure("registry.lan:5000")
    monkeypatch.setenv("COMPOSER_REGISTRY_MIRRORS", "m.example")
    with pytest.raises(ComposerError, match=r"registry mirror 'm.example' is not a URL like https://host\[:port\]"):
        hub_mirrors()
    monkeypatch.delenv("COMPOSER_REGISTRY_MIRRORS")
    (tmp_path / "registries.json").write_text('{"registry-mirrors": "https://m.example"}')
    with pytest.raises(ComposerError, match="'registry-mirrors' must be a list of strings"):
        hub_mirrors()


# -- (b) basic auth over TLS ------------------------------------------------------------------------------


def test_basic_auth_over_tls(basic_registry: Registry, fixture_archive: Path, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, basic_registry)
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{basic_registry.host}/fixture/app:1"
    src.tag(APP, target)
    with pytest.raises(ComposerError, match=rf"^{target}: unauthorized: .*composer login {basic_registry.host}"):
        reg.push(src, target)

    env = {k: os.environ[k] for k in ("COMPOSER_CONFIG", "DOCKER_CONFIG", "COMPOSER_REGISTRY_CA")}
    wrong = run_cli(tmp_path, ["login", "-u", USER, "--password-stdin", basic_registry.host], env=env,
                    stdin=b"wrong\n")
    assert wrong.code == 1
    assert "unauthorized" in wrong.stderr
    ok = run_cli(tmp_path, ["login", "-u", USER, "--password-stdin", basic_registry.host], env=env,
                 stdin=PASSWORD.encode() + b"\n")
    assert ok.code == 0, ok.stderr
    assert "Login Succeeded" in ok.stdout
    auth_file = Path(env["COMPOSER_CONFIG"]) / "auth.json"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    saved = json.loads(auth_file.read_text())["auths"][basic_registry.host]["auth"]
    assert base64.b64decode(saved).decode() == f"{USER}:{PASSWORD}"

    reg.push(src, target)
    dst = ImageStore(tmp_path / "b")
    assert reg.pull(dst, target).image_id == src.get(APP).id
    assert layers(dst, target) == layers(src, APP)

    out = run_cli(tmp_path, ["logout", basic_registry.host], env=env)
    assert out.stdout == f"Removing login credentials for {basic_registry.host}\n"
    assert lookup(basic_registry.host) is None


def test_tls_with_another_ca_is_refused(basic_registry: Registry, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """A configured CA is checked even on loopback; plain HTTP then gets a 400 from the TLS port."""
    other = tmp_path / "other-ca"
    other.mkdir()
    ca, _, _ = make_ca_and_server(other)
    monkeypatch.setenv("COMPOSER_REGISTRY_CA", str(ca))
    with pytest.raises(ComposerError, match=rf"registry {basic_registry.host} is unreachable"):
        reg.pull(ImageStore(tmp_path / "s"), f"{basic_registry.host}/fixture/app:1")


def test_docker_config_and_credential_helper(basic_registry: Registry, fixture_archive: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    set_env(monkeypatch, basic_registry)
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{basic_registry.host}/fixture/docker-config:1"
    src.tag(APP, target)
    docker = Path(os.environ["DOCKER_CONFIG"])
    docker.mkdir()
    auth = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    (docker / "config.json").write_text(json.dumps({"auths": {f"https://{basic_registry.host}": {"auth": auth}}}))
    reg.push(src, target)

    helper_dir = tmp_path / "bin"
    helper_dir.mkdir()
    helper = helper_dir / "docker-credential-composertest"
    helper.write_text(f"""#!/bin/sh
read server
[ "$server" = "{basic_registry.host}" ] || {{ echo "credentials not found in native keychain"; exit 1; }}
echo '{{"ServerURL": "{basic_registry.host}", "Username": "{USER}", "Secret": "{PASSWORD}"}}'
""")
    helper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{helper_dir}:{os.environ['PATH']}")
    (docker / "config.json").write_text(json.dumps({"credsStore": "composertest"}))
    assert reg.pull(ImageStore(tmp_path / "b"), target).image_id == src.get(APP).id


# -- (c) bearer tokens from an issuer ---------------------------------------------------------------------


def test_bearer_token_flow(token_registry: Registry, fixture_archive: Path, tmp_path: Path,
                           monkeypatch: pytest.MonkeyPatch) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{token_registry.host}/fixture/app:1"
    src.tag(APP, target)
    with pytest.raises(ComposerError, match=rf"^{target}: unauthorized: the token service refused"):
        reg.push(src, target)
    env = {k: os.environ[k] for k in ("COMPOSER_CONFIG", "DOCKER_CONFIG")}
    ok = run_cli(tmp_path, ["login", "-u", USER, "-p", PASSWORD, token_registry.host], env=env)
    assert ok.code == 0, ok.stderr
    pushed = reg.push(src, target)
    assert pushed.uploaded == 3
    dst = ImageStore(tmp_path / "b")
    pulled = reg.pull(dst, target)
    assert pulled.image_id == src.get(APP).id
    assert layers(dst, target) == layers(src, APP)
    other = f"{token_registry.host}/fixture/other:1"
    src.tag(APP, other)
    assert reg.push(src, other).mounted == 3  # the token covers both repositories


# -- concurrency ---------------------------------------------------------------------------------------------


def test_parallel_pulls_of_one_image_share_the_store(open_registry: Registry, fixture_archive: Path,
                                                     tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{open_registry.host}/fixture/parallel:1"
    src.tag(APP, target)
    reg.push(src, target)
    dst = ImageStore(tmp_path / "b")

    async def both() -> list[reg.PullResult]:
        results: list[reg.PullResult] = []

        async def one() -> None:
            results.append(await reg.pull_image(dst, target))

        async with trio.open_nursery() as nursery:
            nursery.start_soon(one)
            nursery.start_soon(one)
        return results

    results = trio.run(both)
    assert {r.image_id for r in results} == {src.get(APP).id}


# -- Compose pull policies ------------------------------------------------------------------------------------


def _want(image: str, **spec: object) -> DesiredState:
    import networkx as nx

    svc = DesiredService(name="web", replicas=1, image=image, config_hash="", spec={"image": image, **spec},
                         labels={})
    built = DesiredService(name="local", replicas=1, image="proj-local", config_hash="", spec={}, labels={})
    return DesiredState(project="proj", services={"web": svc, "local": built}, networks={}, volumes={},
                        graph=nx.DiGraph())


def test_ensure_images_follows_the_pull_policy(open_registry: Registry, fixture_archive: Path,
                                               tmp_path: Path) -> None:
    src = loaded_store(tmp_path / "a", fixture_archive)
    target = f"{open_registry.host}/fixture/policy:1"
    src.tag(APP, target)
    reg.push(src, target)
    engine = SimpleNamespace(images=ImageStore(tmp_path / "b"))
    manifests = "^/v2/fixture/policy/manifests/"

    with pytest.raises(ComposerError, match="not present and its pull_policy is never"):
        ensure_images(engine, _want(target, pull_policy="never"), None, None)
    ensure_images(engine, _want(target), None, None)  # missing (the default): pulls
    assert engine.images.get(target).id == src.get(APP).id
    seen = open_registry.requests("GET", manifests)
    ensure_images(engine, _want(target), None, None)  # present: no request at all
    ensure_images(engine, _want(target, pull_policy="daily"), None, None)  # pulled a moment ago
    ensure_images(engine, _want(target, pull_policy="always"), "never", None)  # `up --pull never` wins
    assert open_registry.requests("GET", manifests) == seen
    blobs = open_registry.requests("GET", "^/v2/fixture/policy/blobs/")
    ensure_images(engine, _want(target, pull_policy="every_1s"), "always", None)
    assert open_registry.requests("GET", manifests) == seen + 1
    assert open_registry.requests("GET", "^/v2/fixture/policy/blobs/") == blobs

    missing = f"{open_registry.host}/fixture/policy:nope"
    with pytest.raises(ComposerError, match=f"^{missing}: not found"):
        ensure_images(engine, _want(missing), None, None)


def test_policy_intervals() -> None:
    assert policy_interval("daily") == 86400
    assert policy_interval("weekly") == 7 * 86400
    assert policy_interval("every_1h30m") == 5400
    assert policy_interval("missing") is None
    with pytest.raises(ComposerError):
        policy_interval("every_soon")


def test_progress_draws_one_line_per_layer_on_a_terminal() -> None:
    out = io.StringIO()
    progress = TransferProgress(out, "tty")
    progress.message("1: Pulling from fixture/app")
    progress.status("aaa", "Pulling fs layer")
    progress.status("bbb", "Pulling fs layer")
    progress.status("aaa", "Downloading", 500, 1000)
    progress.status("aaa", "Pull complete")
    progress.close()
    screen = out.getvalue()
    assert "\x1b[2A" in screen  # the block of two layer lines is redrawn in place
    assert screen.rstrip().endswith("\x1b[2Kaaa: Pull complete\n\x1b[2Kbbb: Pulling fs layer")
    plain = io.StringIO()
    progress = TransferProgress(plain, "plain")
    for _ in range(3):
        progress.status("aaa", "Downloading", 1, 2)
    progress.status("aaa", "Pull complete")
    assert plain.getvalue() == "aaa: Downloading\naaa: Pull complete\n"
