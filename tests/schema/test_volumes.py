"""Short `volumes` and `devices` syntax read as Docker Compose reads it (expected values from its binary)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer.schema.volumes import is_host_path, parse_device, parse_volume

CREATE = {"create_host_path": True}


@pytest.mark.parametrize(
    ("spec", "mount"),
    [
        ("/data", {"type": "volume", "target": "/data", "volume": {}}),
        ("/a", {"type": "volume", "target": "/a"}),  # two characters or less: Compose adds no `volume: {}`
        ("data:/data", {"type": "volume", "source": "data", "target": "/data", "volume": {}}),
        ("data:/data:ro,nocopy", {"type": "volume", "source": "data", "target": "/data", "read_only": True,
                                  "volume": {"nocopy": True}}),
        ("data:/data:ro,rw", {"type": "volume", "source": "data", "target": "/data", "volume": {}}),
        ("./src:/src", {"type": "bind", "source": "./src", "target": "/src", "bind": CREATE}),
        ("./src:/src:rw", {"type": "bind", "source": "./src", "target": "/src", "bind": CREATE}),
        ("..:/c", {"type": "bind", "source": "..", "target": "/c", "bind": CREATE}),
        ("/h:/c:ro,z", {"type": "bind", "source": "/h", "target": "/c", "read_only": True,
                        "bind": {"selinux": "z", **CREATE}}),
        ("~/x:/x:rshared", {"type": "bind", "source": "~/x", "target": "/x",
                            "bind": {"propagation": "rshared", **CREATE}}),
        ("/h:/c:rslave,private", {"type": "bind", "source": "/h", "target": "/c",
                                  "bind": {"propagation": "private", **CREATE}}),
        ("/h:/c:cached", {"type": "bind", "source": "/h", "target": "/c", "bind": CREATE}),
        ("/h:/c:delegated,Z", {"type": "bind", "source": "/h", "target": "/c", "bind": {"selinux": "Z", **CREATE}}),
        ("/h:/c:consistent", {"type": "bind", "source": "/h", "target": "/c", "bind": CREATE}),
        ("/h:/c:ro,,rw", {"type": "bind", "source": "/h", "target": "/c", "bind": CREATE}),
        ("rel:rel", {"type": "volume", "source": "rel", "target": "rel", "volume": {}}),
        ("_:/x", {"type": "volume", "source": "_", "target": "/x", "volume": {}}),
        ("c:\\x:/y", {"type": "bind", "source": "c:\\x", "target": "/y", "bind": CREATE}),
        ("\\\\pipe\\x:/p", {"type": "bind", "source": "\\\\pipe\\x", "target": "/p", "bind": CREATE}),
    ],
)
def test_short_volumes(spec: str, mount: dict[str, Any]) -> None:
    assert parse_volume(spec) == mount


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ("", "empty volume"),
        (":/x", "empty section"),
        ("/h:/c:", "empty section"),
        ("a::ro", "empty section"),
        ("/h:/c:ro:x", "too many colons"),
        ("a:b:c:d", "too many colons"),
        # Stricter than Compose, which takes these silently:
        ("./a:/b:sideways", "invalid mode 'sideways'"),
        ("data:/d:ro,nocpy", "invalid mode 'nocpy'"),
        ("data", "absolute container path"),
        ("/h:/c:nocopy", "option 'nocopy' applies to volumes, and '/h' is a host path"),
        ("data:/d:z", "option 'z' applies to bind mounts, and 'data' names a volume"),
        ("data:/d:rw,shared,cached", "option 'shared' applies to bind mounts"),
        ("ab", "absolute container path"),
    ],
)
def test_bad_short_volumes(spec: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_volume(spec)


@pytest.mark.parametrize(
    ("source", "bind"),
    [("./a", True), ("/a", True), ("~", True), ("..", True), ("C:\\x", True), ("c:/x", True), ("\\\\pipe", True),
     ("data", False), ("a:b", False), ("", False), ("_", False)],
)
def test_host_paths(source: str, bind: bool) -> None:
    assert is_host_path(source) is bind


@pytest.mark.parametrize(
    ("spec", "device"),
    [
        ("/dev/fuse", {"source": "/dev/fuse", "target": "/dev/fuse", "permissions": "rwm"}),
        ("/dev/a:/dev/b", {"source": "/dev/a", "target": "/dev/b", "permissions": "rwm"}),
        ("/dev/a:/dev/b:r", {"source": "/dev/a", "target": "/dev/b", "permissions": "r"}),
        ("/dev/a::r", {"source": "/dev/a", "target": "/dev/a", "permissions": "r"}),
        ("/dev/a:/dev/b:xyz", {"source": "/dev/a", "target": "/dev/b", "permissions": "xyz"}),
        # As in Compose, the second section is always the container path.
        ("/dev/c:rw", {"source": "/dev/c", "target": "rw", "permissions": "rwm"}),
    ],
)
def test_devices(spec: str, device: dict[str, str]) -> None:
    assert parse_device(spec) == device


def test_confusing_device() -> None:
    with pytest.raises(ValueError, match="confusing device mapping"):
        parse_device("a:b:c:d")


pieces = st.sampled_from(["", "data", "./s", "/t", "~", "C", "ro", "rw", "z", "nocopy", "rshared", "cached", "x",
                          "ro,z", ",", "\\"])


@given(st.one_of(st.text(max_size=25), st.lists(pieces, max_size=5).map(":".join)))
def test_parsers_only_raise_value_error(spec: str) -> None:
    try:
        mount = parse_volume(spec)
    except ValueError:
        pass
    else:
        assert mount["type"] in ("bind", "volume")
        assert mount["target"]
        assert ("bind" in mount) == (mount["type"] == "bind") == (mount.get("bind", {}).get("create_host_path") is True)
        assert ("volume" in mount) == (mount["type"] == "volume" and (len(spec) > 2))
    try:
        device = parse_device(spec)
    except ValueError:
        return
    assert set(device) == {"source", "target", "permissions"}
