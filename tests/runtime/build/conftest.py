"""Fixtures of the build tests: the engine on per-test roots, with the fixture images loaded."""

from tests.runtime.engine.enginefix import eng, image_archive  # noqa: F401
