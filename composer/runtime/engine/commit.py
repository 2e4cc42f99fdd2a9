"""`docker commit`: a container's upper dir becomes one more layer on top of its image.

The layer is an ordinary OCI layer tar (overlay whiteouts become `.wh.` entries), stored uncompressed
so its digest is its diff_id, and the image goes in through `ImageStore.add_image` like any loaded
image: the store unpacks the new layer through its confined applier, so what a commit produces is
read back exactly like a pulled layer. The runtime's empty mount targets (fsdiff.INIT_PATHS) stay out of
the layer, as Docker's init layer stays out of its commits.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import os
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from composer.errors import ComposerError
from composer.runtime.engine.export import piped, write_tree
from composer.runtime.engine.fsdiff import INIT_PATHS
from composer.runtime.images import model
from composer.runtime.images.reference import Reference, parse_reference
from composer.runtime.images.rootfs_import import apply_changes
from composer.runtime.images.store import ImageStore


def layer_tar(upper: Path, out: BinaryIO, *, ignore: Collection[str] = INIT_PATHS) -> None:
    """The overlay upper dir `upper` as an OCI layer tar on `out`, without placeholders at `ignore` paths."""
    write_tree(upper, out, layer=True, ignore=ignore)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")


def _names(reference: str | None) -> list[Reference]:
    if not reference:
        return []
    ref = parse_reference(reference)
    if ref.digest is not None:
        raise ComposerError(f"refusing to create a tag with a digest reference: {reference}")
    return [ref]


def commit(
    store: ImageStore,
    base_image_id: str,
    upper: Path,
    *,
    container_config: dict[str, Any] | None,
    changes: Sequence[str] = (),
    comment: str = "",
    author: str = "",
    reference: str | None = None,
) -> str:
    """Add the image `base_image_id` + the layer made of `upper`; returns the new image ID.

    `container_config` is the image config's `config` to record (the container's settings); None keeps
    the base image's. `changes` are Dockerfile-like `--change` instructions applied on top of it.
    """
    names = _names(reference)
    with store.locked():
        base = store.get(base_image_id)
        config_doc: dict[str, Any] = dict(base.config_json)
        start = container_config if container_config is not None else dict(config_doc.get("config") or {})
        try:
            with piped(functools.partial(layer_tar, upper)) as stream:
                diff_id, size = store.put_blob(stream)
            now = _now()
            history = [dict(h) for h in config_doc.get("history") or []]
            layered = sum(1 for h in history if not h.get("empty_layer"))
            history += [{"created": now} for _ in range(len(base.diff_ids) - layered)]
            entry: dict[str, Any] = {"created": now}
            cmd = (container_config or {}).get("Cmd")
            if isinstance(cmd, list) and cmd:
                entry["created_by"] = " ".join(str(c) for c in cmd)  # Docker records the container's command
            if author:
                entry["author"] = author
            if comment:
                entry["comment"] = comment
            history.append(entry)
            config_doc.update(
                created=now,
                config=apply_changes(start, changes),
                rootfs={"type": "layers", "diff_ids": [*base.diff_ids, diff_id]},
                history=history,
            )
            if author:
                config_doc["author"] = author
            else:
                config_doc.pop("author", None)
            config_digest = store.put_blob_bytes(model.dump_json(config_doc))
            layers = [layer.to_json() for layer in base.manifest.layers]
            layers.append({"mediaType": model.MT_OCI_LAYER, "digest": diff_id, "size": size})
            manifest = {
                "schemaVersion": 2,
                "mediaType": model.MT_OCI_MANIFEST,
                "config": {"mediaType": model.MT_OCI_CONFIG, "digest": config_digest,
                           "size": os.stat(store.blob_path(config_digest)).st_size},
                "layers": layers,
            }
            manifest_digest = store.put_blob_bytes(model.dump_json(manifest))
            loaded = store.add_image(manifest_digest, names)
        except BaseException:
            with contextlib.suppress(Exception):
                store.gc()  # drop what this commit wrote; never hide the real error
            raise
        return loaded.id
