"""Build layer tars in memory, entry by entry, including entries no honest tool would write."""

from __future__ import annotations

import io
import tarfile
from dataclasses import dataclass, field

MTIME = 1_600_000_000


@dataclass
class Entry:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    linkname: str = ""
    uid: int = 0
    gid: int = 0
    major: int = 0
    minor: int = 0
    mtime: int = MTIME
    pax: dict[str, str] = field(default_factory=dict)


def reg(name: str, data: bytes = b"x", mode: int = 0o644, **kw: object) -> Entry:
    return Entry(name, tarfile.REGTYPE, data, mode, **kw)  # type: ignore[arg-type]


def dir_(name: str, mode: int = 0o755, **kw: object) -> Entry:
    return Entry(name, tarfile.DIRTYPE, b"", mode, **kw)  # type: ignore[arg-type]


def sym(name: str, target: str, **kw: object) -> Entry:
    return Entry(name, tarfile.SYMTYPE, b"", 0o777, target, **kw)  # type: ignore[arg-type]


def hard(name: str, target: str) -> Entry:
    return Entry(name, tarfile.LNKTYPE, b"", 0o644, target)


def chr_(name: str, major: int, minor: int, mode: int = 0o666) -> Entry:
    return Entry(name, tarfile.CHRTYPE, b"", mode, major=major, minor=minor)


def blk(name: str, major: int, minor: int) -> Entry:
    return Entry(name, tarfile.BLKTYPE, b"", 0o660, major=major, minor=minor)


def fifo(name: str) -> Entry:
    return Entry(name, tarfile.FIFOTYPE, b"", 0o644)


def tar_bytes(*entries: Entry, fmt: int = tarfile.PAX_FORMAT) -> bytes:
    """A tar with exactly these entries, names untouched (tarfile does not sanitize on write)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type = e.kind
            info.mode = e.mode
            info.uid, info.gid = e.uid, e.gid
            info.mtime = e.mtime
            info.linkname = e.linkname
            info.devmajor, info.devminor = e.major, e.minor
            info.pax_headers = dict(e.pax)
            if e.kind == tarfile.REGTYPE:
                info.size = len(e.data)
                tar.addfile(info, io.BytesIO(e.data))
            else:
                tar.addfile(info)
    return buf.getvalue()
