"""Image references parse and normalize as Docker's `ParseNormalizedNamed` does."""

from __future__ import annotations

import pytest

from composer.errors import ComposerError
from composer.runtime.images.reference import Reference, check_digest, parse_image_id, parse_reference

HEX = "a" * 64
DIGEST = f"sha256:{HEX}"

# text -> (domain, path, tag, digest, familiar)
VALID: list[tuple[str, tuple[str, str, str | None, str | None, str]]] = [
    ("busybox", ("docker.io", "library/busybox", None, None, "busybox")),
    ("busybox:latest", ("docker.io", "library/busybox", "latest", None, "busybox:latest")),
    ("library/busybox", ("docker.io", "library/busybox", None, None, "busybox")),
    ("docker.io/busybox", ("docker.io", "library/busybox", None, None, "busybox")),
    ("index.docker.io/busybox:1", ("docker.io", "library/busybox", "1", None, "busybox:1")),
    ("docker.io/library/busybox:1.36", ("docker.io", "library/busybox", "1.36", None, "busybox:1.36")),
    ("docker.io/library/a/b", ("docker.io", "library/a/b", None, None, "library/a/b")),
    ("user/repo", ("docker.io", "user/repo", None, None, "user/repo")),
    ("user/repo/sub:t", ("docker.io", "user/repo/sub", "t", None, "user/repo/sub:t")),
    ("localhost/foo", ("localhost", "foo", None, None, "localhost/foo")),
    ("localhost:5000/foo/bar:tag", ("localhost:5000", "foo/bar", "tag", None, "localhost:5000/foo/bar:tag")),
    ("example.com/foo", ("example.com", "foo", None, None, "example.com/foo")),
    ("example.com:8080/a/b/c:v1.2-rc_3", ("example.com:8080", "a/b/c", "v1.2-rc_3", None,
                                          "example.com:8080/a/b/c:v1.2-rc_3")),
    ("127.0.0.1:5000/x", ("127.0.0.1:5000", "x", None, None, "127.0.0.1:5000/x")),
    ("[::1]:5000/x:y", ("[::1]:5000", "x", "y", None, "[::1]:5000/x:y")),
    ("Foo/bar", ("Foo", "bar", None, None, "Foo/bar")),
    ("a__b/c-d.e_f:T_1", ("docker.io", "a__b/c-d.e_f", "T_1", None, "a__b/c-d.e_f:T_1")),
    ("a---b", ("docker.io", "library/a---b", None, None, "a---b")),
    (f"busybox@{DIGEST}", ("docker.io", "library/busybox", None, DIGEST, f"busybox@{DIGEST}")),
    (f"busybox:1@{DIGEST}", ("docker.io", "library/busybox", "1", DIGEST, f"busybox:1@{DIGEST}")),
    ("x:" + "a" * 128, ("docker.io", "library/x", "a" * 128, None, "x:" + "a" * 128)),
    ("x" * 237, ("docker.io", "library/" + "x" * 237, None, None, "x" * 237)),
]

# text -> a fragment of the message
INVALID: list[tuple[str, str]] = [
    ("", "at least one component"),
    ("Busybox", "must be lowercase"),
    ("UPPER:tag", "must be lowercase"),
    ("docker.io/Busybox", "must be lowercase"),
    ("foo/Bar", "must be lowercase"),
    ("busybox:", "invalid reference format"),
    (":tag", "invalid reference format"),
    ("busybox::tag", "invalid reference format"),
    ("-busybox", "invalid reference format"),
    ("busy_-box", "invalid reference format"),
    ("foo/../bar", "invalid reference format"),
    ("http://example.com/foo", "invalid reference format"),
    ("busybox:tag with space", "invalid reference format"),
    ("x:" + "a" * 129, "invalid reference format"),
    ("x" * 238, "not be more than 255 characters"),
    ("busybox@sha256:abc", "invalid reference format"),
    ("busybox@sha256:" + "a" * 63, "invalid checksum digest length"),
    ("busybox@md5:" + "a" * 32, "unsupported digest algorithm"),
    ("busybox@sha256:" + "A" * 64, "invalid checksum digest format"),
    (HEX, "cannot specify 64-byte hexadecimal strings"),
]


@pytest.mark.parametrize(("text", "expected"), VALID, ids=[t[:40] or "empty" for t, _ in VALID])
def test_valid(text: str, expected: tuple[str, str, str | None, str | None, str]) -> None:
    ref = parse_reference(text)
    domain, path, tag, digest, familiar = expected
    assert (ref.domain, ref.path, ref.tag, ref.digest) == (domain, path, tag, digest)
    assert ref.familiar() == familiar
    assert parse_reference(str(ref)) == ref, "the canonical form parses to the same reference"
    assert parse_reference(ref.familiar()) == ref, "so does the familiar form"


@pytest.mark.parametrize(("text", "fragment"), INVALID, ids=[t[:40] or "empty" for t, _ in INVALID])
def test_invalid(text: str, fragment: str) -> None:
    with pytest.raises(ComposerError) as info:
        parse_reference(text)
    assert fragment in info.value.message
    assert "\n" not in info.value.message


def test_default_tag_only_without_tag_or_digest() -> None:
    assert parse_reference("busybox").with_default_tag().tag == "latest"
    assert parse_reference("busybox").tagged() == "docker.io/library/busybox:latest"
    pinned = parse_reference(f"busybox@{DIGEST}").with_default_tag()
    assert (pinned.tag, pinned.digest) == (None, DIGEST)
    assert str(parse_reference("busybox:1").with_default_tag()) == "docker.io/library/busybox:1"


def test_names() -> None:
    ref = Reference("docker.io", "library/busybox", "1")
    assert ref.name == "docker.io/library/busybox"
    assert ref.familiar_name == "busybox"
    assert str(ref) == "docker.io/library/busybox:1"


@pytest.mark.parametrize(
    ("text", "expected"),
    [(HEX, DIGEST), (DIGEST, DIGEST), ("abc", None), ("sha256:abc", None), ("g" * 64, None)],
)
def test_image_ids(text: str, expected: str | None) -> None:
    assert parse_image_id(text) == expected


def test_check_digest() -> None:
    assert check_digest(DIGEST) == DIGEST
    assert check_digest("sha512:" + "0" * 128)
    for bad in ("sha256", "sha256:", ":" + HEX, "sha1:" + "0" * 40):
        with pytest.raises(ComposerError):
            check_digest(bad)
