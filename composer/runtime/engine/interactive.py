"""Attaching the caller's terminal or pipes to a container: the glue between the engine and `oci.attach`."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable

from composer.errors import ComposerError
from composer.runtime.engine.engine import Engine
from composer.runtime.oci.attach import DEFAULT_DETACH_KEYS, AttachResult, attach


def parse_detach_keys(text: str) -> bytes:
    """Docker's `--detach-keys` syntax: comma-separated `ctrl-<letter>`, `ctrl-[`, ... or single characters."""
    out = bytearray()
    for key in text.split(","):
        key = key.strip()
        if key.startswith("ctrl-") and len(key) == 6:
            char = key[5].lower()
            special = {"@": 0, "[": 27, "\\": 28, "]": 29, "^": 30, "_": 31}
            if "a" <= char <= "z":
                out.append(ord(char) - ord("a") + 1)
            elif char in special:
                out.append(special[char])
            else:
                raise ComposerError(f"invalid detach keys {text!r}: unknown key {key!r}")
        elif len(key) == 1:
            out.append(ord(key))
        else:
            raise ComposerError(f"invalid detach keys {text!r}: use ctrl-<letter> or single characters")
    return bytes(out) or DEFAULT_DETACH_KEYS


def attach_container(
    eng: Engine,
    container_id: str,
    *,
    stdin: bool,
    tty: bool,
    sig_proxy: bool,
    detach_keys: bytes = DEFAULT_DETACH_KEYS,
    on_attached: Callable[[], object] | None = None,
) -> AttachResult | None:
    """Copy the container's output to ours (and our input to it) until it exits; None if the user detached.

    `on_attached` runs once the attach socket is connected and before any output is read: `run` starts
    the container there, so nothing the container prints early is lost.
    """
    c = eng.get(container_id)

    def forward(signum: int) -> None:
        with contextlib.suppress(ComposerError):
            eng.kill(c.id, str(signum))

    def attached() -> None:
        if on_attached is not None:
            on_attached()

    result = attach(
        eng.oci.cfg,
        c.paths,
        stdin=sys.stdin if stdin else None,
        stdout=sys.stdout,
        stderr=sys.stderr,
        tty=tty,
        detach_keys=detach_keys,
        sig_proxy=sig_proxy,
        on_signal=forward,
        on_attached=attached,
    )
    return None if result.detached else result
