"""A blob arriving from a registry, hashed, written and unpacked in one pass over its bytes.

The event loop receives the HTTP body and hands it over in chunks; a worker thread reads them
through `IncomingBlob`, a file object that hashes every byte, appends it to the download's
`.partial` file and serves it to whoever reads (the layer unpacker, or `drain`). So a layer is
unpacked while it downloads and is never read back from disk, which is where a pull used to spend
half its time. What an interrupted download left in the partial file is read first (hashed and
unpacked, not written again), then the network's bytes follow.

The partial file is written with O_DIRECT where the filesystem allows it: the blob is kept for
`push` and `save` but not read again soon, so it goes to disk without first filling (and paying to
fill) the page cache; that halves the memory a pull writes, since the unpacked files do need it.

Synchronous on purpose: only the `receive` callable knows about the event loop.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import mmap
import os
from collections.abc import Callable
from pathlib import Path

_CHUNK = 1 << 20
ALIGN = 4096
"""O_DIRECT wants buffers, lengths and file offsets aligned; a resumed download restarts here."""


class DirectAppender:
    """Appends to a file through a page-aligned buffer with O_DIRECT, falling back to plain writes
    where the filesystem refuses it (tmpfs on older kernels, some overlays)."""

    def __init__(self, path: Path, keep: int) -> None:
        """Opens `path` for appending after its first `keep` bytes (a multiple of ALIGN)."""
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC
        try:
            self.fd = os.open(path, flags | os.O_DIRECT, 0o600)
        except OSError as err:
            if err.errno != errno.EINVAL:
                raise
            self.fd = os.open(path, flags, 0o600)
        os.ftruncate(self.fd, keep)
        os.lseek(self.fd, keep, os.SEEK_SET)
        self._buf = mmap.mmap(-1, _CHUNK)
        self._view = memoryview(self._buf)
        self._fill = 0

    def write(self, data: bytes) -> None:
        view, pos = memoryview(data), 0
        while pos < len(view):
            take = min(_CHUNK - self._fill, len(view) - pos)
            self._view[self._fill:self._fill + take] = view[pos:pos + take]
            self._fill += take
            pos += take
            if self._fill == _CHUNK:
                self._write_out(self._view)
                self._fill = 0

    def _write_out(self, view: memoryview) -> None:
        while view:
            try:
                done = os.write(self.fd, view)
            except OSError as err:
                if err.errno != errno.EINVAL or not self._buffered():
                    raise
                continue
            view = view[done:]

    def _buffered(self) -> bool:
        """Turn O_DIRECT off (for the unaligned tail, or when the filesystem refuses it); False if it was off."""
        flags = fcntl.fcntl(self.fd, fcntl.F_GETFL)
        if not flags & os.O_DIRECT:
            return False
        fcntl.fcntl(self.fd, fcntl.F_SETFL, flags & ~os.O_DIRECT)
        return True

    def flush(self) -> None:
        """Write what is buffered (the unaligned tail without O_DIRECT)."""
        aligned = self._fill - self._fill % ALIGN
        self._write_out(self._view[:aligned])
        if aligned < self._fill:
            self._buffered()
            self._write_out(self._view[aligned:self._fill])
        self._fill = 0

    def sync(self) -> None:
        self.flush()
        os.fsync(self.fd)

    def close(self) -> None:
        """Keeps what arrived, even when the download was cut short: the next pull resumes from it."""
        with contextlib.suppress(OSError):
            self.flush()
        self._view.release()
        self._buf.close()
        os.close(self.fd)


class IncomingBlob:
    """Read-only file object over (partial file prefix, then received chunks); see the module."""

    def __init__(self, partial: Path, resume_from: int, receive: Callable[[], bytes]) -> None:
        """`resume_from` (a multiple of ALIGN) bytes of `partial` are kept and read first."""
        self._prefix = open(partial, "rb") if resume_from else None  # noqa: SIM115 - closed by close()
        self._prefix_left = resume_from
        self._out = DirectAppender(partial, resume_from)
        self._receive = receive
        self.hasher = hashlib.sha256()
        self.size = 0
        self._chunk = b""
        self._offset = 0

    def __enter__(self) -> IncomingBlob:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        if self._prefix is not None:
            self._prefix.close()
        self._out.close()

    def _next(self) -> bytes:
        """The next chunk of the blob, hashed (and written, when it came from the network); b"" at the end."""
        if self._prefix_left > 0:
            assert self._prefix is not None
            data = self._prefix.read(min(_CHUNK, self._prefix_left))
            if not data:
                raise OSError(errno.EIO, "the partial download shrank while it was being resumed")
            self._prefix_left -= len(data)
        else:
            data = self._receive()
            if data:
                self._out.write(data)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def read(self, size: int = -1) -> bytes:
        if self._offset >= len(self._chunk):
            self._chunk, self._offset = self._next(), 0
            if not self._chunk:
                return b""
        if size < 0:
            parts = [self._chunk[self._offset:]]
            self._chunk, self._offset = b"", 0
            while data := self._next():
                parts.append(data)
            return b"".join(parts)
        if self._offset == 0 and size >= len(self._chunk):
            data, self._chunk = self._chunk, b""
            return data
        data = self._chunk[self._offset:self._offset + size]
        self._offset += len(data)
        return data

    def drain(self) -> None:
        """Take in the rest of the blob (what the unpacker did not need, e.g. tar padding)."""
        self._chunk, self._offset = b"", 0
        while self._next():
            pass

    def seal(self) -> str:
        """After `drain`: the partial file flushed to disk; returns the blob's digest."""
        self._out.sync()
        return "sha256:" + self.hasher.hexdigest()
