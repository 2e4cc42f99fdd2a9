"""Platforms (`linux/arm64/v8`) and picking one image out of a manifest list or OCI index.

Docker's matcher, simplified: os and architecture must be equal; a variant asked for must be equal
(arm64's `v8` is its default, so a missing variant matches it); among several matches the one with
the asked-for variant wins, else the first.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from composer.errors import ComposerError
from composer.runtime.images.archive import host_platform
from composer.runtime.images.model import Descriptor

_DEFAULT_VARIANT = {"arm64": "v8"}


@dataclass(frozen=True, slots=True)
class PlatformSpec:
    os: str
    architecture: str
    variant: str | None = None

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def parse_platform(text: str | None) -> PlatformSpec:
    """`os/arch[/variant]` (`arch` alone means linux); None or empty is the host."""
    if not text:
        host_os, host_arch = host_platform()
        return PlatformSpec(host_os, host_arch)
    parts = text.strip().lower().split("/")
    if len(parts) == 1:
        parts = ["linux", *parts]
    if len(parts) > 3 or not all(parts):
        raise ComposerError(f"invalid platform {text!r}: use os/arch[/variant], e.g. linux/amd64")
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(parts[1], parts[1])
    return PlatformSpec(parts[0], arch, parts[2] if len(parts) == 3 else None)


def _variant(arch: str, variant: str | None) -> str | None:
    return variant or _DEFAULT_VARIANT.get(arch)


def pick_manifest(manifests: Sequence[Descriptor], want: PlatformSpec) -> Descriptor | None:
    """The descriptor of an index that best fits `want`, or None."""
    fits: list[Descriptor] = []
    for desc in manifests:
        plat = desc.platform
        if plat is None or plat.os != want.os or plat.architecture != want.architecture:
            continue
        if want.variant and _variant(plat.architecture, plat.variant) != _variant(want.architecture, want.variant):
            continue
        fits.append(desc)
    if not fits:
        return None
    wanted = _variant(want.architecture, want.variant)
    exact = [d for d in fits if d.platform is not None and _variant(d.platform.architecture, d.platform.variant)
             == wanted]
    return (exact or fits)[0]


def available(manifests: Sequence[Descriptor]) -> str:
    """The platforms an index offers, for an error message."""
    names = []
    for desc in manifests:
        if desc.platform is not None:
            p = desc.platform
            names.append(str(PlatformSpec(p.os, p.architecture, p.variant)))
    return ", ".join(sorted(set(names))) or "none"
