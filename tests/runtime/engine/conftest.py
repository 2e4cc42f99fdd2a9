"""Fixtures of the engine tests: the engine on per-test roots (enginefix.py) and the bare runc + conmon
fixtures of the OCI tests."""

from tests.runtime.engine.enginefix import eng, image_archive  # noqa: F401
from tests.runtime.oci.conftest import busybox_layer, oci  # noqa: F401
