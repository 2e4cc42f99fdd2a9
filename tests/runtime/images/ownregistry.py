"""A plain-HTTP registry on 127.0.0.1 in ports 29400-29449 (the manifest and issue-6 tests' own range).

Same setup as `registryfix.open_registry` (Debian's docker-registry), on a range no other test uses.
Import with `from tests.runtime.images.ownregistry import own_registry`.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.images.registryfix import REGISTRY, Registry, _wait, _write_config

PORTS = range(29400, 29450)


def free_port() -> int:
    start = secrets.randbelow(len(PORTS))
    for i in range(len(PORTS)):
        port = PORTS[(start + i) % len(PORTS)]
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 29400-29449")


def start_registry(root: Path) -> Iterator[Registry]:
    if not Path(REGISTRY).is_file():
        pytest.skip("docker-registry is not installed (apt-get install -y docker-registry)")
    port = free_port()
    config = _write_config(root, port, "")
    log = root / "registry.log"
    with open(log, "wb") as out:
        process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=out, stderr=subprocess.STDOUT)
    try:
        _wait(f"http://127.0.0.1:{port}/v2/", None, process, log)
        yield Registry(port, log, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="session")
def own_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    yield from start_registry(tmp_path_factory.mktemp("registry-own"))
