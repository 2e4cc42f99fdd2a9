"""`composer manifest create --amend / push / inspect / rm` against a real registry on 127.0.0.1.

Two images of different architectures are pushed (the fixture app for the host, and the OCI
archive's foreign-architecture variant of it), combined into one list in another repository,
pushed, and pulled back: the host platform by default, the other with `--platform`.
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from composer.runtime.images import ImageStore
from composer.runtime.images.model import MT_OCI_INDEX
from composer.runtime.images.reference import parse_reference
from tests.cli.harness import run_cli
from tests.runtime.images.ownregistry import own_registry
from tests.runtime.images.registryfix import Registry, digest_of

__all__ = ["own_registry"]

APP = "composer-fixture/app:latest"


def _blobs(archive: Path) -> dict[str, bytes]:
    with tarfile.open(archive) as tar:
        out = {}
        for member in tar.getmembers():
            if member.isreg() and (member.name.startswith("blobs/sha256/") or member.name == "index.json"):
                src = tar.extractfile(member)
                assert src is not None
                out[member.name] = src.read()
        return out


def load_foreign(store: ImageStore, oci_archive: Path, foreign_arch: str, name: str) -> str:
    """Put the OCI archive's foreign-architecture app image in the store under `name` (loading picks the host's)."""
    files = _blobs(oci_archive)

    def blob(digest: str) -> bytes:
        return files["blobs/sha256/" + digest.removeprefix("sha256:")]

    index = json.loads(files["index.json"])
    for top in index["manifests"]:
        if top["mediaType"] != MT_OCI_INDEX:
            continue
        for desc in json.loads(blob(top["digest"]))["manifests"]:
            if desc["platform"]["architecture"] == foreign_arch:
                manifest = json.loads(blob(desc["digest"]))
                store.put_blob_bytes(blob(manifest["config"]["digest"]))
                for layer in manifest["layers"]:
                    store.put_blob_bytes(blob(layer["digest"]))
                store.put_blob_bytes(blob(desc["digest"]))
                return store.add_image(desc["digest"], [parse_reference(name)]).id
    raise AssertionError("the OCI archive has no foreign image")


def test_manifest_list_of_two_architectures(own_registry: Registry, fixture_images: dict[str, Any],
                                            tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "root"), "COMPOSER_CONFIG": str(tmp_path / "cc"),
           "DOCKER_CONFIG": str(tmp_path / "dc")}

    def cli(*args: str) -> str:
        result = run_cli(tmp_path, list(args), env=env)
        assert result.code == 0, result.stderr
        assert "Traceback" not in result.stderr
        return result.stdout

    host = own_registry.host
    native, foreign = f"{host}/m/app:native", f"{host}/m/app:foreign"
    cli("image", "load", "-i", fixture_images["oci_archive"])
    cli("image", "tag", APP, native)
    store = ImageStore(tmp_path / "root" / "images")
    foreign_id = load_foreign(store, Path(fixture_images["oci_archive"]), _foreign_arch(fixture_images), foreign)
    assert foreign_id == fixture_images["foreign_id"]
    cli("image", "push", "-q", native)
    cli("image", "push", "-q", foreign)

    multi = f"{host}/m/multi:1"  # another repository: the entries' blobs are mounted there
    assert cli("manifest", "create", multi, native).strip() == f"Created manifest list {multi}"
    again = run_cli(tmp_path, ["manifest", "create", multi, foreign], env=env)
    assert again.code == 1
    assert "refusing to amend an existing manifest list with no --amend flag" in again.stderr
    cli("manifest", "create", multi, "--amend", foreign)
    shown = json.loads(cli("manifest", "inspect", multi))
    assert shown["mediaType"] == MT_OCI_INDEX
    platforms = [(m["platform"]["os"], m["platform"]["architecture"]) for m in shown["manifests"]]
    assert platforms == [("linux", fixture_images["arch"]), ("linux", _foreign_arch(fixture_images))]
    assert [m["digest"] for m in shown["manifests"]] == [store.get(native).manifest_digest,
                                                         store.get(foreign).manifest_digest]
    verbose = json.loads(cli("manifest", "inspect", "-v", multi))
    assert [row["Ref"] for row in verbose] == [native, foreign]

    digest = cli("manifest", "push", "--purge", multi).strip()
    assert digest.startswith("sha256:")
    assert own_registry.requests("PUT", r"^/v2/m/multi/manifests/1$") == 1
    assert own_registry.requests("POST", r"^/v2/m/multi/blobs/uploads/\?.*mount=") >= 1
    assert own_registry.requests("PUT", r"^/v2/m/multi/blobs/uploads/") == 0  # mounted, not copied
    remote = cli("manifest", "inspect", multi)  # purged locally: this is the registry's copy
    assert digest_of(remote.encode().rstrip(b"\n")) == digest  # the same bytes, not only the same JSON
    gone = run_cli(tmp_path, ["manifest", "push", multi], env=env)
    assert gone.code == 1
    assert f"No such manifest: {multi}" in gone.stderr

    env["COMPOSER_ROOT"] = str(tmp_path / "fresh")
    fresh = ImageStore(tmp_path / "fresh" / "images")
    cli("image", "pull", "-q", multi)
    assert fresh.get(multi).id == fixture_images["images"]["app"]["id"]
    assert f"{host}/m/multi@{digest}" in fresh.get(multi).repo_digests
    cli("image", "pull", "-q", "--platform", f"linux/{_foreign_arch(fixture_images)}", multi)
    assert fresh.get(multi).id == fixture_images["foreign_id"]
    assert fresh.get(multi).config.architecture == _foreign_arch(fixture_images)


def _foreign_arch(fixture_images: dict[str, Any]) -> str:
    return "s390x" if fixture_images["arch"] != "s390x" else "ppc64le"


def test_manifest_errors(own_registry: Registry, fixture_images: dict[str, Any], tmp_path: Path) -> None:
    env = {"COMPOSER_ROOT": str(tmp_path / "root"), "COMPOSER_CONFIG": str(tmp_path / "cc"),
           "DOCKER_CONFIG": str(tmp_path / "dc")}
    host = own_registry.host
    missing = run_cli(tmp_path, ["manifest", "create", f"{host}/e/list:1", f"{host}/e/absent:1"], env=env)
    assert missing.code == 1
    assert f"{host}/e/absent:1: no such manifest in the registry" in missing.stderr
    assert not (tmp_path / "root" / "manifests").exists() or not list((tmp_path / "root" / "manifests").iterdir())
    other = run_cli(tmp_path, ["manifest", "create", f"{host}/e/list:1", "127.0.0.2:1/x:1"], env=env)
    assert other.code == 1
    assert "different registry" in other.stderr
    assert run_cli(tmp_path, ["manifest", "rm", f"{host}/e/list:1"], env=env).code == 1

    assert run_cli(tmp_path, ["image", "load", "-i", fixture_images["docker_archive"]], env=env).code == 0
    one = f"{host}/e/app:1"
    assert run_cli(tmp_path, ["image", "tag", APP, one], env=env).code == 0
    assert run_cli(tmp_path, ["image", "push", "-q", one], env=env).code == 0
    listed = f"{host}/e/list:1"
    assert run_cli(tmp_path, ["manifest", "create", listed, one], env=env).code == 0
    nested = run_cli(tmp_path, ["manifest", "create", f"{host}/e/list2:1", listed], env=env)
    assert nested.code == 1  # not pushed yet: the registry has no such manifest
    annotated = run_cli(tmp_path, ["manifest", "annotate", "--arch", "arm64", "--variant", "v8", listed, one],
                        env=env)
    assert annotated.code == 0, annotated.stderr
    doc = json.loads(run_cli(tmp_path, ["manifest", "inspect", listed], env=env).stdout)
    assert doc["manifests"][0]["platform"] == {"architecture": "arm64", "os": "linux", "variant": "v8"}
    assert run_cli(tmp_path, ["manifest", "push", listed], env=env).code == 0
    as_list = run_cli(tmp_path, ["manifest", "create", f"{host}/e/list2:1", listed], env=env)
    assert as_list.code == 1
    assert f"{listed} is a manifest list" in as_list.stderr
    assert run_cli(tmp_path, ["manifest", "rm", listed], env=env).code == 0
    assert run_cli(tmp_path, ["manifest", "rm", listed], env=env).code == 1
