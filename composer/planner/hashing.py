"""The config hash that decides whether a container must be recreated.

As Docker Compose v2 (`pkg/compose/hash.go`): a SHA-256 over the service's canonical model without
the fields that never require a new container: build, pull_policy, scale, deploy.replicas,
depends_on and profiles. Our canonical JSON (sorted keys) is the input, so the value is stable
across runs and machines but not equal to Docker's own hash values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

IGNORED = ("build", "pull_policy", "scale", "depends_on", "profiles")


def config_hash(service: Mapping[str, Any]) -> str:
    trimmed = {key: value for key, value in service.items() if key not in IGNORED}
    deploy = trimmed.get("deploy")
    if isinstance(deploy, Mapping) and "replicas" in deploy:
        deploy = {key: value for key, value in deploy.items() if key != "replicas"}
        if deploy:
            trimmed["deploy"] = deploy
        else:
            del trimmed["deploy"]
    text = json.dumps(trimmed, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()
