"""Shared fixtures: the test images (built by `fixtures/images/build.py`) and a fresh store."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from composer.runtime.images import ImageStore

REPO = Path(__file__).resolve().parents[3]
BUILD = REPO / "fixtures" / "images" / "build.py"


@pytest.fixture(scope="session")
def fixture_images(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Run the fixture script once per session; the archives are read-only inputs."""
    if not Path("/bin/busybox").is_file():
        pytest.skip("busybox-static is not installed (apt-get install -y busybox-static)")
    out = tmp_path_factory.mktemp("fixture-images")
    subprocess.run([sys.executable, str(BUILD), str(out)], check=True, capture_output=True)
    summary: dict[str, Any] = json.loads((out / "fixture-images.json").read_text())
    return summary


@pytest.fixture
def store(tmp_path: Path) -> ImageStore:
    return ImageStore(tmp_path / "store")
