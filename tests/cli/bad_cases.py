"""The cases of test_bad_input: (files, expected place, expected message), grouped by kind of mistake.

`where` is relative to the case's directory: files are given by relative name and composer prints
absolute paths, so the harness runs with `-f` relative names where the place matters.
"""

from __future__ import annotations

from typing import Any

SVC = "services:\n  web:\n    image: busybox\n"


def case(id: str, text: str | bytes, where: str | None, message: str, **extra: Any) -> dict[str, Any]:
    files = {"compose.yaml": text, **extra.pop("files", {})}
    return {"id": id, "files": files, "where": where, "message": message,
            "args": ("-f", "compose.yaml", *extra.pop("args", ())), **extra}


YAML_CASES = [
    case("malformed-flow", "services: [\n", "compose.yaml:2:1", "invalid YAML"),
    case("tab-indent", "services:\n\tweb: {}\n", "compose.yaml:2:1", "found character '\\t'"),
    case("duplicate-service-key", SVC + "    image: other\n", "compose.yaml:4:5", 'duplicate key "image": already defined at line 3'),
    case("duplicate-top-key", SVC + "services: {}\n", "compose.yaml:4:1", 'duplicate key "services"'),
    case("unclosed-quote", 'services:\n  web:\n    image: "busybox\n', "compose.yaml:4:1", "invalid YAML"),
    case("top-level-list", "- a\n- b\n", "compose.yaml:1:1", "top level of a Compose file must be a mapping"),
    case("top-level-scalar", "hello\n", "compose.yaml:1:1", "top level of a Compose file must be a mapping"),
    case("unknown-tag", "services:\n  web: !weird {}\n", "compose.yaml:2:8", "unknown YAML tag !weird"),
    case("unknown-alias", "services:\n  web: *nothing\n", "compose.yaml:2:8", "unknown alias *nothing"),
    case("non-string-key", "services:\n  ? [a, b]\n  : {}\n", "compose.yaml:2:5", "mapping key must be a string"),
    case("bad-utf8", b"services:\n  web:\n    image: \xff\xfe\n", "compose.yaml:3:1", "not valid UTF-8"),
    case("control-char", "services:\n  web:\n    image: a\x07b\n", "compose.yaml:3:13", "unacceptable character"),
    case("alias-bomb", "a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{','.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(7)),
        "compose.yaml:6:11", "alias expansion limit"),
    case("deep-nesting", "x-deep: " + "[" * 300 + "]" * 300 + "\n", "compose.yaml:1:108", "nesting deeper than 100 levels"),
    case("oversized-file", "#" * (8 * 1024 * 1024 + 10) + "\n", "compose.yaml:1:1", "larger than the 8 MiB limit"),
    case("huge-scalar", "x-big: " + "a" * (1024 * 1024 + 1) + "\n" + SVC, "compose.yaml:1:8", "scalar longer than"),
    case("empty-file", "", "compose.yaml:1:1", "empty compose file"),
    case("comment-only-file", "# nothing\n", "compose.yaml:1:1", "empty compose file"),
]

FILE_CASES = [
    {"id": "no-compose-file", "files": {"README": "x"}, "where": None, "message": "no configuration file provided",
     "args": ()},
    case("missing-f-file", SVC, None, "open ", args=("-f", "nope.yaml")),
    case("f-is-directory", SVC, None, "is a directory", args=("-f", "sub"), files={"sub/x": ""}),
    case("missing-env-file-flag", SVC, None, "couldn't find env file", args=("--env-file", "nope.env")),
    case("bad-dotenv-key", SVC, ".env:1:1", 'variable name "BAD KEY" cannot contain whitespace', args=(),
         files={".env": "BAD KEY=1\n"}),
]

NAME_CASES = [
    case("bad-p-upper", SVC, None, 'invalid project name "Bad"', args=("-p", "Bad")),
    case("bad-p-leading-dash", SVC, None, "invalid project name", args=("-p", "-x")),
    case("bad-p-dot", SVC, None, "invalid project name", args=("-p", "a.b")),
    case("bad-env-project-name", SVC, None, "(from COMPOSE_PROJECT_NAME)", env={"COMPOSE_PROJECT_NAME": "No Good"}),
    case("empty-name-field", 'name: "!!!"\n' + SVC, "compose.yaml:1:7", "has no valid character"),
    case("name-not-string", "name: [a]\n" + SVC, "compose.yaml:1:7", "name must be a string"),
]

PROFILE_CASES = [
    case("depends-on-disabled-profile",
         "services:\n  a:\n    image: x\n    profiles: [dbg]\n  b:\n    image: y\n    depends_on: [a]\n",
         "compose.yaml:7:18", 'service "b" depends on service "a", which is disabled'),
    case("unknown-service-argument", SVC, None, 'no such service: "nope"', command=("config", "nope")),
]

REFERENCE_CASES = [
    case("undefined-network", SVC + "    networks: [front]\n", "compose.yaml:4:16", 'undefined network "front"'),
    case("undefined-network-near-miss", SVC + "    networks: [frontnet]\nnetworks:\n  frontend: {}\n",
         "compose.yaml:4:16", 'undefined network "frontnet"', hint='did you mean "frontend"?'),
    case("undefined-volume", SVC + "    volumes: ['data:/data']\n", "compose.yaml:4:15", 'undefined volume "data"'),
    case("undefined-secret", SVC + "    secrets: [token]\n", "compose.yaml:4:15", 'undefined secret "token"'),
    case("undefined-config", SVC + "    configs: [conf]\n", "compose.yaml:4:15", 'undefined config "conf"'),
    case("depends-on-undefined", SVC + "    depends_on: [db]\n", "compose.yaml:4:18", 'undefined service "db"'),
    case("links-undefined", SVC + "    links: ['db:database']\n", "compose.yaml:4:13", 'undefined service "db"'),
    case("volumes-from-undefined", SVC + "    volumes_from: [data]\n", "compose.yaml:4:20", 'undefined service "data"'),
    case("network-mode-service-undefined", SVC + "    network_mode: 'service:vpn'\n", "compose.yaml:4:19",
         'undefined service "vpn"'),
    case("ipc-service-undefined", SVC + "    ipc: 'service:shm'\n", "compose.yaml:4:10", 'undefined service "shm"'),
    case("network-mode-and-networks", SVC + "    network_mode: host\n    networks: [default]\n", "compose.yaml:4:5",
         "mutually exclusive `network_mode` and `networks`"),
    case("container-name-with-replicas", SVC + "    container_name: fixed\n    scale: 3\n", "compose.yaml:4:5",
         "asks for 3 replicas"),
    case("scale-disagrees-with-replicas", SVC + "    scale: 2\n    deploy: {replicas: 3}\n", "compose.yaml:4:5",
         "scale (2) and deploy.replicas (3) disagree"),
    case("ports-with-host-network", SVC + "    network_mode: host\n    ports: ['80:80']\n", "compose.yaml:5:13",
         "uses network_mode: host"),
]


def svc(id: str, body: str, where: str, message: str, **extra: Any) -> dict[str, Any]:
    """A case whose mistake is in the `web` service (lines from 4 on)."""
    return case(id, SVC + body, where, message, **extra)


KEY_CASES = [
    svc("unknown-service-key", "    restat: always\n", "compose.yaml:4:5", 'unknown key "restat"', hint='did you mean "restart"?'),
    case("unknown-top-key", "servics:\n  web: {image: x}\n", "compose.yaml:1:1", 'unknown key "servics"',
         hint='did you mean "services"?'),
    svc("unknown-nested-key", "    healthcheck: {intervall: 5s}\n", "compose.yaml:4:19", 'unknown key "intervall"',
        hint='did you mean "interval"?'),
    svc("unknown-port-key", "    ports: [{target: 80, publish: 8080}]\n", "compose.yaml:4:26", 'unknown key "publish"'),
    svc("unknown-build-key", "    build: {context: ., dockerfil: X}\n", "compose.yaml:4:25", 'unknown key "dockerfil"'),
    case("unknown-network-key", SVC + "networks:\n  n: {drivr: bridge}\n", "compose.yaml:5:7", 'unknown key "drivr"'),
    case("unknown-volume-key", SVC + "volumes:\n  v: {externall: true}\n", "compose.yaml:5:7", 'unknown key "externall"'),
    case("service-without-image", "services:\n  web: {}\n", "compose.yaml:2:8", 'needs "image" or "build"'),
    case("services-not-mapping", "services: [web]\n", "compose.yaml:1:11", "services"),
    case("service-not-mapping", "services:\n  web: busybox\n", "compose.yaml:2:8", "services.web"),
]

TYPE_CASES = [
    svc("environment-scalar", "    environment: 5\n", "compose.yaml:4:18", "must be a mapping"),
    svc("restart-bad-value", "    restart: sometimes\n", "compose.yaml:4:14", 'invalid value "sometimes"'),
    svc("privileged-not-bool", "    privileged: maybe\n", "compose.yaml:4:17", "services.web.privileged"),
    svc("cpus-not-number", "    cpus: lots\n", "compose.yaml:4:11", "must be a number"),
    svc("replicas-negative", "    deploy: {replicas: -1}\n", "compose.yaml:4:24", "must be at least 0"),
    svc("condition-bad", "    depends_on: {db: {condition: service_happy}}\n  db: {image: y}\n", "compose.yaml:4:34",
        'invalid value "service_happy"'),
    svc("healthcheck-test-bad-list", "    healthcheck: {test: [BOGUS, x]}\n", "compose.yaml:4:25", 'must start with "CMD", "CMD-SHELL" or "NONE"'),
    svc("port-target-not-int", "    ports: [{target: eighty}]\n", "compose.yaml:4:22", 'must be an integer, got "eighty"'),
    svc("pull-policy-bad", "    pull_policy: sometimes\n", "compose.yaml:4:18", "pull_policy"),
    svc("ulimit-bad", "    ulimits: {nofile: {soft: many}}\n", "compose.yaml:4:30", "ulimits.nofile.soft"),
    svc("labels-scalar", "    labels: 7\n", "compose.yaml:4:13", "must be a mapping"),
    svc("container-name-bad", "    container_name: '-bad name'\n", "compose.yaml:4:21", "container_name"),
    case("secret-without-source", SVC + "    secrets: [s]\nsecrets:\n  s: {}\n", "compose.yaml:6:6", 'secrets.s: needs "file" or "environment"'),
    case("external-volume-with-driver", SVC + "volumes:\n  v: {external: true, driver: local}\n", "compose.yaml:5:31",
         '"driver" cannot be set on an external resource'),
]

SYNTAX_CASES = [
    svc("port-bad-container", "    ports: ['80:abc']\n", "compose.yaml:4:13", 'invalid port "80:abc"'),
    svc("port-too-many-colons", "    ports: ['1:2:3:4']\n", "compose.yaml:4:13", 'invalid port "1:2:3:4"'),
    svc("port-out-of-range", "    ports: ['70000:80']\n", "compose.yaml:4:13", 'invalid port "70000:80"'),
    svc("port-bad-protocol", "    ports: ['80/icmp']\n", "compose.yaml:4:13", "invalid protocol"),
    svc("port-range-mismatch", "    ports: ['8000-8002:80-81']\n", "compose.yaml:4:13", "ranges differ in size"),
    svc("volume-too-many-colons", "    volumes: ['a:b:c:d']\n", "compose.yaml:4:15", 'invalid volume "a:b:c:d"'),
    svc("volume-bad-mode", "    volumes: ['./a:/b:sideways']\n", "compose.yaml:4:15", "invalid mode 'sideways'"),
    svc("volume-relative-anonymous", "    volumes: ['data']\n", "compose.yaml:4:15", "absolute container path"),
    svc("device-bad", "    devices: ['a:b:c:d']\n", "compose.yaml:4:15", 'invalid device "a:b:c:d"'),
    svc("duration-bad", "    healthcheck: {interval: 5 minutes}\n", "compose.yaml:4:29", "must be a duration"),
    svc("stop-grace-bad", "    stop_grace_period: soon\n", "compose.yaml:4:24", "must be a duration"),
    svc("size-bad", "    shm_size: 12zb\n", "compose.yaml:4:15", "must be a size in bytes"),
    svc("mem-limit-bad", "    mem_limit: lots\n", "compose.yaml:4:16", "must be a size in bytes"),
    svc("command-unclosed-quote", "    command: 'echo \"x'\n", "compose.yaml:4:14", "cannot split"),
    svc("extra-host-bad", "    extra_hosts: ['nohost']\n", "compose.yaml:4:19", 'invalid extra host "nohost"'),
]

VARIABLE_CASES = [
    case("required-variable", 'services:\n  web:\n    image: "${TAG:?set TAG}"\n', "compose.yaml:3:12",
         "required variable TAG is missing a value: set TAG"),
    case("required-variable-empty", 'services:\n  web:\n    image: "${TAG:?}"\n', "compose.yaml:3:12",
         "required variable TAG is missing a value", env={"TAG": ""}),
    case("unterminated-braces", 'services:\n  web:\n    image: "${TAG"\n', "compose.yaml:3:12",
         "invalid interpolation format", hint="escape a literal $ as $$"),
    case("bad-substitution-form", 'services:\n  web:\n    image: "${TAG/a/b}"\n', "compose.yaml:3:12",
         "invalid interpolation format"),
    case("empty-braces", 'services:\n  web:\n    image: "x${}"\n', "compose.yaml:3:12", "invalid interpolation format"),
    case("required-in-dotenv", SVC, ".env:1:3", "required variable B is missing a value", args=(),
         files={".env": "A=${B:?no B}\n"}),
]

CYCLE_CASES = [
    case("extends-cycle", "services:\n  a:\n    extends: b\n  b:\n    extends: a\n", "compose.yaml:5:5", "circular extends a -> b -> a"),
    case("extends-self", "services:\n  a:\n    extends: a\n", "compose.yaml:3:5", "circular extends a -> a"),
    case("extends-unknown-service", "services:\n  web:\n    extends: other\n", "compose.yaml:3:5", 'service "other" not found'),
    case("extends-missing-file", "services:\n  web:\n    extends: {file: nope.yaml, service: x}\n", "compose.yaml:3:21",
         "no such file or directory"),
    case("extends-cycle-across-files", "services:\n  a:\n    extends: {file: other.yaml, service: b}\n",
         "", "circular extends", files={"other.yaml": "services:\n  b:\n    extends: {file: compose.yaml, service: a}\n"}),
    case("include-missing", "include: [nope.yaml]\nservices: {}\n", "compose.yaml:1:11", "no such file or directory"),
    case("include-cycle", "include: [inc.yaml]\nservices: {}\n", "inc.yaml:1:11", "include cycle",
         files={"inc.yaml": "include: [compose.yaml]\nservices: {}\n"}),
    case("include-conflict", SVC + "include: [inc.yaml]\n", "compose.yaml:2:3", "conflicts",
         files={"inc.yaml": "services:\n  web:\n    image: other\n"}),
    case("depends-on-cycle", "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
         "compose.yaml:4:18", "dependency cycle: a -> b -> a"),
    case("depends-on-self", "services:\n  a:\n    image: x\n    depends_on: [a]\n", "compose.yaml:4:18",
         "dependency cycle: a -> a"),
    svc("env-file-missing", "    env_file: missing.env\n", "compose.yaml:4:15", "missing.env not found"),
    svc("label-file-missing", "    label_file: missing.labels\n", "compose.yaml:4:17", "label file"),
]

CASES: list[dict[str, Any]] = [*YAML_CASES, *FILE_CASES, *NAME_CASES, *PROFILE_CASES, *REFERENCE_CASES, *KEY_CASES,
                               *TYPE_CASES, *SYNTAX_CASES, *VARIABLE_CASES, *CYCLE_CASES]

USAGE_CASES = [
    {"id": "unknown-global-flag", "files": {"compose.yaml": SVC}, "where": None, "message": "No such option '--bogus'",
     "args": ("--bogus",)},
    {"id": "bad-format-choice", "files": {"compose.yaml": SVC}, "where": None, "message": "Invalid value for '--format'",
     "args": ("-f", "compose.yaml"), "command": ("config", "--format", "xml")},
    {"id": "unknown-command", "files": {"compose.yaml": SVC}, "where": None, "message": "No such command 'upp'",
     "args": (), "command": ("upp",)},
]
CASES += USAGE_CASES
