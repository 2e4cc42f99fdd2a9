"""Failpoints: named places where a test can have composer killed with SIGKILL, to prove crash safety.

`COMPOSER_FAILPOINTS=create.after-mount,rm.after-delete composer ...` kills the process the first
time it reaches one of those names. Costs one environment lookup per point when unset.
"""

from __future__ import annotations

import os
import signal

ENV = "COMPOSER_FAILPOINTS"


def hit(name: str) -> None:
    """Die right here, as a power cut or `kill -9` would, if the test asked for it."""
    wanted = os.environ.get(ENV)
    if wanted and name in wanted.split(","):
        os.kill(os.getpid(), signal.SIGKILL)
