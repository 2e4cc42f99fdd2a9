"""The container record: what composer knows about a container that runc and conmon do not.

One JSON file per container, `<state root>/containers/<id>/container.json`, replaced atomically.
`phase` doubles as the intent record: a container is written as `creating` before anything else
exists and as `removing` before anything is torn down, so a command killed half-way leaves a
record that says what to finish (see `Engine.repair`).
"""

from __future__ import annotations

import json
import secrets
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from composer.runtime.fsutil import write_atomic

Phase = Literal["creating", "ready", "removing"]
RECORD = "container.json"


@dataclass(slots=True)
class ContainerRecord:
    """A container as created: its name, image, the Compose-shaped settings it was made from, its labels."""

    id: str
    name: str
    image_id: str
    image_ref: str
    created: str
    service: dict[str, Any]
    labels: dict[str, str] = field(default_factory=dict)
    phase: Phase = "creating"
    cgroups_path: str = ""
    hostname: str = ""
    stop_signal: str = "SIGTERM"
    stop_timeout: float = 10.0
    auto_remove: bool = False
    leave_stdin_open: bool = False
    networks: dict[str, dict[str, str]] = field(default_factory=dict)
    ports: list[dict[str, str]] = field(default_factory=list)
    """Published ports as set up: HostIp, HostPort, Protocol, ContainerPort, ContainerIp (what `port` prints)."""
    path: str = ""
    args: list[str] = field(default_factory=list)
    mounts: list[dict[str, Any]] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    """Names of the volumes the container mounts (what `volume rm` checks and `rm -v` removes if anonymous)."""

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def tty(self) -> bool:
        return bool(self.service.get("tty"))

    @property
    def stdin_open(self) -> bool:
        return bool(self.service.get("stdin_open"))

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ContainerRecord:
        raw = json.loads(data)
        known = {k: v for k, v in raw.items() if k in cls.__dataclass_fields__}
        return cls(**known)


def new_id() -> str:
    """A 64-hex-digit container ID, as Docker makes them (never all digits, so it is not taken for a number)."""
    while True:
        cid = secrets.token_hex(32)
        if not cid[:12].isdigit():
            return cid


def save(directory: Path, record: ContainerRecord) -> None:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(directory / RECORD, record.to_json(), fsync=False)


def load(directory: Path) -> ContainerRecord | None:
    try:
        return ContainerRecord.from_json((directory / RECORD).read_bytes())
    except (OSError, ValueError, TypeError):
        return None


_LEFT = [
    "brave",
    "calm",
    "clever",
    "dazzling",
    "eager",
    "elastic",
    "fervent",
    "gallant",
    "happy",
    "jolly",
    "keen",
    "lucid",
    "merry",
    "nimble",
    "optimistic",
    "plucky",
    "quiet",
    "relaxed",
    "serene",
    "sharp",
    "stoic",
    "tender",
    "upbeat",
    "vibrant",
    "witty",
    "zealous",
]
_RIGHT = [
    "ada",
    "babbage",
    "curie",
    "darwin",
    "euler",
    "faraday",
    "galois",
    "hopper",
    "hypatia",
    "kepler",
    "lamarr",
    "lovelace",
    "maxwell",
    "noether",
    "pascal",
    "ramanujan",
    "ritchie",
    "shannon",
    "tesla",
    "thompson",
    "turing",
    "volta",
    "wozniak",
    "yalow",
]


def random_name() -> str:
    """A readable name for an unnamed container, in Docker's `adjective_surname` shape."""
    return f"{secrets.choice(_LEFT)}_{secrets.choice(_RIGHT)}"


def images_in_use(containers_dir: Path) -> set[str]:
    """Image IDs some container was made from: `image rm` refuses those without `--force`."""
    used = set()
    try:
        entries = list(containers_dir.iterdir())
    except FileNotFoundError:
        return set()
    for entry in entries:
        record = load(entry)
        if record is not None and record.image_id:
            used.add(record.image_id)
    return used
