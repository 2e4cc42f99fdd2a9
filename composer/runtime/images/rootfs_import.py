"""`image import`: a root filesystem tar becomes a one-layer image, as `docker import` does.

The tar (plain or compressed) is stored uncompressed, so its digest is the layer's diff_id, and
unpacked through the same confined applier as any layer. `--change` takes the Dockerfile
instructions Docker accepts there (CMD, ENTRYPOINT, ENV, EXPOSE, HEALTHCHECK, LABEL, ONBUILD,
STOPSIGNAL, USER, VOLUME, WORKDIR), in JSON or shell form.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import posixpath
import re
import shlex
from collections.abc import Callable, Sequence
from typing import IO, Any, BinaryIO

from composer.errors import ComposerError
from composer.runtime.images import model
from composer.runtime.images.archive import host_platform
from composer.runtime.images.extract import DECOMPRESS_ERRORS, open_decompressed
from composer.runtime.images.reference import parse_reference
from composer.runtime.images.store import ImageStore, LoadedImage

_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}
_PORT = re.compile(r"(\d+)(?:-(\d+))?(?:/(tcp|udp|sctp))?")


def parse_duration(text: str) -> int:
    """A Go duration (`30s`, `1m30s`, `500ms`) in nanoseconds."""
    pos, total = 0, 0
    if text == "0":
        return 0
    while pos < len(text):
        match = _DURATION.match(text, pos)
        if match is None:
            raise ComposerError(f"invalid duration {text!r}")
        total += int(float(match.group(1)) * _UNITS[match.group(2)])
        pos = match.end()
    if not text:
        raise ComposerError("invalid duration ''")
    return total


def _args(rest: str, what: str) -> list[str] | None:
    """JSON form of an instruction's arguments, or None for shell form."""
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None  # Docker falls back to shell form on bad JSON
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ComposerError(f"{what}: JSON form must be a list of strings")
    return value


def _pairs(rest: str, what: str) -> list[tuple[str, str]]:
    try:
        words = shlex.split(rest)
    except ValueError as err:
        raise ComposerError(f"{what}: {err}") from None
    if words and "=" not in words[0]:
        if what.startswith("ENV") and len(words) >= 1:
            key, _, value = rest.strip().partition(" ")
            return [(key, value.strip())]
        raise ComposerError(f"{what}: expected KEY=VALUE")
    out = []
    for word in words:
        key, sep, value = word.partition("=")
        if not sep or not key:
            raise ComposerError(f"{what}: expected KEY=VALUE, got {word!r}")
        out.append((key, value))
    return out


def _command(rest: str, what: str) -> list[str]:
    args = _args(rest, what)
    return args if args is not None else ["/bin/sh", "-c", rest]


def _healthcheck(rest: str, what: str) -> dict[str, Any]:
    words = rest.split()
    check: dict[str, Any] = {}
    options = {"--interval": "Interval", "--timeout": "Timeout", "--start-period": "StartPeriod",
               "--start-interval": "StartInterval", "--retries": "Retries"}
    while words and words[0].startswith("--"):
        flag, _, value = words.pop(0).partition("=")
        key = options.get(flag)
        if key is None:
            raise ComposerError(f"{what}: unknown flag {flag}")
        check[key] = int(value) if key == "Retries" and value.isdigit() else parse_duration(value)
    kind = words[0].upper() if words else ""
    if kind == "NONE":
        return {"Test": ["NONE"]}
    if kind != "CMD":
        raise ComposerError(f"{what}: expected CMD or NONE")
    body = rest[rest.upper().index("CMD") + 3 :].strip()
    args = _args(body, what)
    check["Test"] = ["CMD", *args] if args is not None else ["CMD-SHELL", body]
    return check


def apply_changes(config: dict[str, Any], changes: Sequence[str]) -> dict[str, Any]:
    """Apply `--change` instructions to a container config (the `config` of an image config)."""
    cfg = dict(config)

    def env(rest: str, what: str) -> None:
        current = list(cfg.get("Env") or [])
        for key, value in _pairs(rest, what):
            current = [e for e in current if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        cfg["Env"] = current

    def label(rest: str, what: str) -> None:
        cfg["Labels"] = {**(cfg.get("Labels") or {}), **dict(_pairs(rest, what))}

    def expose(rest: str, what: str) -> None:
        ports = dict(cfg.get("ExposedPorts") or {})
        for word in rest.split():
            match = _PORT.fullmatch(word)
            if match is None:
                raise ComposerError(f"{what}: invalid port {word!r}")
            low = int(match.group(1))
            high = int(match.group(2) or low)
            for port in range(low, high + 1):
                ports[f"{port}/{match.group(3) or 'tcp'}"] = {}
        cfg["ExposedPorts"] = ports

    def volume(rest: str, what: str) -> None:
        paths = _args(rest, what) or rest.split()
        cfg["Volumes"] = {**(cfg.get("Volumes") or {}), **{p: {} for p in paths}}

    def workdir(rest: str, _what: str) -> None:
        cfg["WorkingDir"] = posixpath.join(cfg.get("WorkingDir") or "/", rest)

    handlers: dict[str, Callable[[str, str], None]] = {
        "CMD": lambda rest, what: cfg.__setitem__("Cmd", _command(rest, what)),
        "ENTRYPOINT": lambda rest, what: cfg.__setitem__("Entrypoint", _command(rest, what)),
        "ENV": env,
        "LABEL": label,
        "EXPOSE": expose,
        "VOLUME": volume,
        "WORKDIR": workdir,
        "USER": lambda rest, _w: cfg.__setitem__("User", rest),
        "STOPSIGNAL": lambda rest, _w: cfg.__setitem__("StopSignal", rest),
        "ONBUILD": lambda rest, _w: cfg.__setitem__("OnBuild", [*(cfg.get("OnBuild") or []), rest]),
        "HEALTHCHECK": lambda rest, what: cfg.__setitem__("Healthcheck", _healthcheck(rest, what)),
    }
    for change in changes:
        word, _, rest = change.strip().partition(" ")
        handler = handlers.get(word.upper())
        if handler is None:
            raise ComposerError(f"{word} is not a valid change command", hint=f"one of {', '.join(handlers)}")
        rest = rest.strip()
        if not rest:
            raise ComposerError(f"{word.upper()} requires at least one argument")
        handler(rest, f"{word.upper()} {rest}")
    return cfg


def import_rootfs(
    store: ImageStore,
    source: str | os.PathLike[str] | IO[bytes] | BinaryIO,
    *,
    reference: str | None = None,
    changes: Sequence[str] = (),
    message: str = "",
    source_name: str | None = None,
) -> LoadedImage:
    """Turn a rootfs tar (path or stream, maybe compressed) into a one-layer image."""
    names = []
    if reference:
        ref = parse_reference(reference)
        if ref.digest is not None:
            raise ComposerError(f"refusing to create a tag with a digest reference: {reference}")
        names.append(ref)
    container_config = apply_changes({}, changes)
    if isinstance(source, str | os.PathLike):
        try:
            with open(source, "rb") as stream:
                return import_rootfs(store, stream, reference=reference, changes=changes, message=message,
                                     source_name=source_name or os.fspath(source))
        except OSError as err:
            raise ComposerError(f"cannot read {os.fspath(source)!r}: {err.strerror}") from None
    with store.locked():
        try:
            plain, _ = open_decompressed(source)
            try:
                diff_id, _ = store.put_blob(plain)
            except DECOMPRESS_ERRORS as err:
                raise ComposerError(f"image import: corrupt compressed input ({err})") from None
            now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
            os_name, arch = host_platform()
            config = {
                "architecture": arch,
                "os": os_name,
                "created": now,
                "config": container_config,
                "rootfs": {"type": "layers", "diff_ids": [diff_id]},
                "history": [{"created": now, "comment": message or f"Imported from {source_name or '-'}"}],
            }
            config_digest = store.put_blob_bytes(model.dump_json(config))
            size = store.blob_path(diff_id).stat().st_size
            manifest = {
                "schemaVersion": 2,
                "mediaType": model.MT_OCI_MANIFEST,
                "config": {"mediaType": model.MT_OCI_CONFIG, "digest": config_digest,
                           "size": store.blob_path(config_digest).stat().st_size},
                "layers": [{"mediaType": model.MT_OCI_LAYER, "digest": diff_id, "size": size}],
            }
            manifest_digest = store.put_blob_bytes(model.dump_json(manifest))
            try:
                loaded = store.add_image(manifest_digest, names)
            except ComposerError as err:
                raise ComposerError(f"image import: {err.message}") from None
        except BaseException:
            with contextlib.suppress(Exception):
                store.gc()  # drop what this import wrote; never hide the real error
            raise
        store.gc()
        return loaded
