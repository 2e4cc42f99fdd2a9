"""The C library, for the few calls the os module lacks (mount, umount2, setns, unshare).

Loaded by its soname: `ctypes.util.find_library("c")` runs `ldconfig -p` in a child process (5-10 ms, and
every container command paid it once per module that wanted libc).
"""

from __future__ import annotations

import ctypes
import ctypes.util


def load() -> ctypes.CDLL:
    """A handle of its own for each caller (argtypes set on one do not leak into another), errno kept."""
    try:
        return ctypes.CDLL("libc.so.6", use_errno=True)
    except OSError:  # not glibc: ask the slow way
        return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
