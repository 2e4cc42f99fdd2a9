"""The native engine's images: references, the blob/layer store, archives, safe layer extraction.

Entry points for the CLI (all synchronous; trio code calls them via `trio.to_thread.run_sync`):
`ImageStore(root)` with `load`, `save`, `list`, `inspect`, `history`, `tag`, `remove`, `prune`,
`get`/`resolve`; `import_rootfs` for `image import`; `parse_reference` for names.
"""

from composer.runtime.images.reference import Reference, parse_reference
from composer.runtime.images.rootfs_import import import_rootfs
from composer.runtime.images.store import DEFAULT_ROOT, Image, ImageStore, ImageSummary, LoadedImage

__all__ = [
    "DEFAULT_ROOT",
    "Image",
    "ImageStore",
    "ImageSummary",
    "LoadedImage",
    "Reference",
    "import_rootfs",
    "parse_reference",
]
