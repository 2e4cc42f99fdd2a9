"""Image references parsed and normalized the way Docker does.

The grammar is the one of the distribution project's `reference` package (what `docker run`,
`docker tag` and Compose's `image:` accept)::

    reference := name [ ":" tag ] [ "@" digest ]
    name      := [ domain "/" ] path-component [ "/" path-component ]*
    domain    := host [ ":" port ]

and normalization is Docker's `ParseNormalizedNamed`: a first component is a registry only if
it has a `.` or `:`, is `localhost`, or has uppercase letters; otherwise the name lives on
`docker.io`, and single-component names there get `library/`. Messages match Docker's so users
can search them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from composer.errors import ComposerError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DEFAULT_DOMAIN = "index.docker.io"
OFFICIAL_PREFIX = "library/"
DEFAULT_TAG = "latest"
NAME_TOTAL_LENGTH_MAX = 255

_ALNUM = r"[a-z0-9]+"
_SEPARATOR = r"(?:[._]|__|[-]+)"
_PATH_COMPONENT = rf"{_ALNUM}(?:{_SEPARATOR}{_ALNUM})*"
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_IPV6 = r"\[(?:[a-fA-F0-9:]+)\]"
_HOST = rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*|{_IPV6})"
_DOMAIN = rf"{_HOST}(?::[0-9]+)?"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"

_REFERENCE_RE = re.compile(rf"({_NAME})(?::({_TAG}))?(?:@({_DIGEST}))?", re.ASCII)
_NAME_SPLIT_RE = re.compile(rf"(?:({_DOMAIN})/)?({_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*)", re.ASCII)
_TAG_RE = re.compile(_TAG, re.ASCII)
_IDENTIFIER_RE = re.compile(r"[a-f0-9]{64}")
_ID_RE = re.compile(r"(?:sha256:)?([a-f0-9]{64})")
_DIGEST_LENGTHS = {"sha256": 64, "sha384": 96, "sha512": 128}


def _invalid(text: str, why: str | None = None) -> ComposerError:
    message = "invalid reference format" + (f": {why}" if why else "")
    return ComposerError(f"{message} in {text!r}")


def check_digest(digest: str) -> str:
    """Validate `algorithm:hex` as go-digest does (known algorithm, exact length, lowercase hex)."""
    algorithm, sep, encoded = digest.partition(":")
    if not sep or not algorithm:
        raise ComposerError(f"invalid checksum digest format: {digest!r}")
    length = _DIGEST_LENGTHS.get(algorithm)
    if length is None:
        raise ComposerError(f"unsupported digest algorithm: {digest!r}")
    if len(encoded) != length:
        raise ComposerError(f"invalid checksum digest length: {digest!r}")
    if not re.fullmatch(r"[a-f0-9]+", encoded):
        raise ComposerError(f"invalid checksum digest format: {digest!r}")
    return digest


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalized reference: `domain` and `path` always set, `tag`/`digest` only when given."""

    domain: str
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The full repository name, e.g. `docker.io/library/busybox`."""
        return f"{self.domain}/{self.path}"

    @property
    def familiar_name(self) -> str:
        """The short name Docker prints, e.g. `busybox` or `ghcr.io/x/y`."""
        if self.domain != DEFAULT_DOMAIN:
            return self.name
        path = self.path
        if path.startswith(OFFICIAL_PREFIX) and "/" not in path[len(OFFICIAL_PREFIX) :]:
            return path[len(OFFICIAL_PREFIX) :]
        return path

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def __str__(self) -> str:
        return self.name + self._suffix()

    def familiar(self) -> str:
        """`busybox:latest`, `ghcr.io/x/y@sha256:...`: the form shown in RepoTags and `image ls`."""
        return self.familiar_name + self._suffix()

    def with_default_tag(self) -> Reference:
        """Add `latest` when neither tag nor digest was given (Docker's `TagNameOnly`)."""
        if self.tag is None and self.digest is None:
            return Reference(self.domain, self.path, DEFAULT_TAG, None)
        return self

    def tagged(self) -> str:
        """The canonical `name:tag` key of the tag index (tag defaults to `latest`)."""
        return f"{self.name}:{self.tag or DEFAULT_TAG}"


def _split_domain(name: str) -> tuple[str, str]:
    """Docker's `splitDockerDomain`: decide whether the first component names a registry."""
    first, slash, rest = name.partition("/")
    if not slash:
        return DEFAULT_DOMAIN, OFFICIAL_PREFIX + name
    if first == LEGACY_DEFAULT_DOMAIN:
        domain, remote = DEFAULT_DOMAIN, rest
    elif first == "localhost" or any(c in first for c in ".:") or first.lower() != first:
        domain, remote = first, rest
    else:
        domain, remote = DEFAULT_DOMAIN, name
    if domain == DEFAULT_DOMAIN and "/" not in remote:
        remote = OFFICIAL_PREFIX + remote
    return domain, remote


def parse_reference(text: str) -> Reference:
    """Parse and normalize a reference; a bad one is a ComposerError with Docker's wording."""
    if text == "":
        raise ComposerError("invalid reference format: repository name must have at least one component")
    if _IDENTIFIER_RE.fullmatch(text):
        raise ComposerError(
            f"invalid repository name ({text}), cannot specify 64-byte hexadecimal strings"
        )
    domain, remainder = _split_domain(text)
    remote = remainder.split("@", 1)[0].split(":", 1)[0]
    if remote.lower() != remote:
        raise _invalid(text, f"repository name ({remote}) must be lowercase")
    full = f"{domain}/{remainder}"
    match = _REFERENCE_RE.fullmatch(full)
    if match is None:
        if _REFERENCE_RE.fullmatch(full.lower()):
            raise _invalid(text, "repository name must be lowercase")
        raise _invalid(text)
    name, tag, digest = match.group(1), match.group(2), match.group(3)
    if len(name) > NAME_TOTAL_LENGTH_MAX:
        raise _invalid(text, f"repository name must not be more than {NAME_TOTAL_LENGTH_MAX} characters")
    split = _NAME_SPLIT_RE.fullmatch(name)
    assert split is not None  # the domain was put there above
    if digest is not None:
        check_digest(digest)
    return Reference(split.group(1), split.group(2), tag, digest)


def check_tag(tag: str) -> str:
    """A tag on its own (e.g. from an OCI `ref.name` annotation)."""
    if not _TAG_RE.fullmatch(tag):
        raise ComposerError(f"invalid tag format: {tag!r}")
    return tag


def parse_image_id(text: str) -> str | None:
    """`sha256:<64 hex>` or bare `<64 hex>` as a full image ID, else None."""
    match = _ID_RE.fullmatch(text)
    return f"sha256:{match.group(1)}" if match else None


def short_id(image_id: str) -> str:
    """The 12-character ID `docker images` shows."""
    return image_id.removeprefix("sha256:")[:12]
