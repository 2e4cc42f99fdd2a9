"""The image documents' parser: what it checks, what it keeps, what its errors say."""

from __future__ import annotations

import json

import pytest

from composer.errors import ComposerError
from composer.runtime.images import model

DIGEST = "sha256:" + "a" * 64


def _doc(value: object) -> bytes:
    return json.dumps(value).encode()


def test_a_manifest_parses_keeps_unknown_keys_and_dumps_back() -> None:
    raw = {"schemaVersion": 2, "mediaType": model.MT_OCI_MANIFEST, "x-extra": {"kept": True},
           "config": {"mediaType": model.MT_OCI_CONFIG, "digest": DIGEST, "size": 7},
           "layers": [{"mediaType": model.MT_OCI_LAYER_GZIP, "digest": DIGEST, "size": 0,
                       "annotations": {"a": "b"}, "urls": ["https://example.invalid/x"],
                       "platform": {"architecture": "amd64", "os": "linux", "os.version": "1"}}]}
    manifest = model.parse_doc(model.Manifest, _doc(raw), "m")
    assert manifest.layers[0].platform is not None
    assert manifest.layers[0].platform.os_version == "1"
    assert manifest.extra == {"x-extra": {"kept": True}}
    assert manifest.layers[0].to_json() == raw["layers"][0]  # type: ignore[index]
    assert manifest.to_json() == raw


def test_an_image_config_has_defaults_and_docker_keys() -> None:
    config = model.parse_doc(model.ImageConfig, _doc({
        "rootfs": {"type": "layers", "diff_ids": [DIGEST]}, "os.version": "10",
        "config": {"Env": ["A=1"], "Healthcheck": {"Test": ["CMD", "true"], "Interval": 10**9},
                   "ExposedPorts": {"80/tcp": {}}, "Cmd": None}}), "c")
    assert (config.architecture, config.os, config.history) == ("", "", None)
    assert config.config is not None
    assert config.config.cmd is None
    assert config.config.healthcheck is not None
    assert config.config.healthcheck.interval == 10**9
    assert config.extra == {"os.version": "10"}
    assert model.HistoryEntry().to_json() == {}


@pytest.mark.parametrize(("model_type", "raw", "message"), [
    (model.Descriptor, {"mediaType": "x", "digest": DIGEST}, "d: size: Field required"),
    (model.Descriptor, {"mediaType": "x", "digest": DIGEST, "size": -1},
     "d: size: Input should be greater than or equal to 0"),
    (model.Descriptor, {"mediaType": "x", "digest": DIGEST, "size": True}, "d: size: Input should be a valid integer"),
    (model.Descriptor, {"mediaType": "x", "digest": "md5:abc", "size": 1}, "d: digest: Value error, "),
    (model.Manifest, {"schemaVersion": 2, "config": {"mediaType": "x", "digest": DIGEST, "size": 1},
                      "layers": [{"mediaType": 5, "digest": DIGEST, "size": 1}]},
     "d: layers.0.mediaType: Input should be a valid string"),
    (model.ImageConfig, {"rootfs": {"type": "layers", "diff_ids": ["nope"]}}, "d: rootfs.diff_ids.0: Value error, "),
    (model.ImageConfig, {"rootfs": {"type": "layers", "diff_ids": []}, "config": {"Labels": {"a": 1}}},
     "d: config.Labels.a: Input should be a valid string"),
    (model.Index, [], "d: document: Input should be a valid dictionary"),
])
def test_mistyped_documents_are_one_line_errors(model_type: type[model.Descriptor], raw: object,
                                                message: str) -> None:
    with pytest.raises(ComposerError) as caught:
        model.parse_doc(model_type, _doc(raw), "d")
    assert caught.value.message.startswith(message), caught.value.message
    assert "\n" not in caught.value.message


def test_not_json_is_an_error() -> None:
    with pytest.raises(ComposerError, match=r"^d: not valid JSON"):
        model.parse_doc(model.Index, b"{", "d")
