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
        "compose.yaml", "alias expansion limit"),
    case("deep-nesting", "x-deep: " + "[" * 300 + "]" * 300 + "\n", "compose.yaml:1", "nesting deeper than 100 levels"),
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
    case("bad-dotenv-key", SVC, ".env:1", "", files={".env": "BAD KEY=1\n"}),
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
         "compose.yaml:4:16", 'did you mean "frontend"'),
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

CASES: list[dict[str, Any]] = [*YAML_CASES, *FILE_CASES, *NAME_CASES, *PROFILE_CASES, *REFERENCE_CASES]
