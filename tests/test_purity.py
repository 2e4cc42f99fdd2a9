"""`schema/` and `planner/` are pure: importing them must not pull in trio, pyroute2 or subprocess."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import composer.planner
import composer.schema

ROOT = Path(__file__).resolve().parents[1]
FORBIDDEN = ("trio", "pyroute2", "subprocess", "httpx", "composer.runtime", "composer.hostfs")


def pure_modules() -> list[str]:
    names = []
    for package in (composer.schema, composer.planner):
        names += [f"{package.__name__}.{m.name}" for m in pkgutil.iter_modules(package.__path__)]
    return sorted(names)


def test_pure_layers_import_no_effectful_module() -> None:
    probe = (
        "import sys, importlib\n"
        f"forbidden = {FORBIDDEN!r}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name in forbidden or name.startswith(tuple(f + '.' for f in forbidden)):\n"
        "            raise ImportError(f'pure code imported {name}')\n"
        "sys.meta_path.insert(0, Block())\n"
        f"for name in {pure_modules()!r}:\n"
        "    importlib.import_module(name)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
