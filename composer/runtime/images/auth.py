"""Registry credentials: composer's own file (`composer login`), then the Docker CLI's.

composer writes `${COMPOSER_CONFIG:-${XDG_CONFIG_HOME:-~/.config}/composer}/auth.json`, mode 0600,
in the Docker CLI's `config.json` shape (`{"auths": {"host": {"auth": base64(user:pass)}}}`), so
either file can be copied to the other. Lookups then fall back to Docker's
`${DOCKER_CONFIG:-~/.docker}/config.json`: `credHelpers[host]`, `credsStore`
(`docker-credential-<name> get`), and `auths`, so an existing `docker login` keeps working.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.runtime.fsutil import write_atomic
from composer.runtime.images.reference import DEFAULT_DOMAIN

DOCKER_HUB_KEY = "https://index.docker.io/v1/"
_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com"})


@dataclass(frozen=True, slots=True)
class Credentials:
    username: str
    password: str
    identity_token: str | None = None
    """An OAuth refresh token (`identitytoken` of config.json), sent to the token realm instead."""


def server_key(server: str | None) -> str:
    """The key credentials are stored under: Docker Hub's legacy URL, otherwise `host[:port]`."""
    if not server:
        return DOCKER_HUB_KEY
    host = server.strip()
    for prefix in ("https://", "http://"):
        host = host.removeprefix(prefix)
    host = host.split("/", 1)[0]
    if host in _HUB_ALIASES:
        return DOCKER_HUB_KEY
    return host


def composer_auth_path() -> Path:
    base = os.environ.get("COMPOSER_CONFIG")
    if not base:
        xdg = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
        base = os.path.join(xdg, "composer")
    return Path(base) / "auth.json"


def docker_config_path() -> Path:
    base = os.environ.get("DOCKER_CONFIG") or os.path.join(os.path.expanduser("~"), ".docker")
    return Path(base) / "config.json"


def read_json_object(path: Path, what: str = "credentials file") -> dict[str, Any]:
    """A JSON object from a settings file; {} when the file does not exist."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as err:
        raise ComposerError(f"cannot read {what} {path}: {err}") from None
    if not isinstance(data, dict):
        raise ComposerError(f"{what} {path} is not a JSON object")
    return data


def _same_server(key: str, wanted: str) -> bool:
    return server_key(key) == wanted


def _from_auths(auths: Any, wanted: str, path: Path) -> Credentials | None:
    if not isinstance(auths, dict):
        return None
    for key, entry in auths.items():
        if not isinstance(entry, dict) or not _same_server(str(key), wanted):
            continue
        user, password = entry.get("username"), entry.get("password")
        if entry.get("auth"):
            try:
                user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
            except (ValueError, UnicodeDecodeError):
                raise ComposerError(f"credentials file {path}: bad `auth` for {key}") from None
        token = entry.get("identitytoken") or None
        if user or token:
            return Credentials(str(user or ""), str(password or ""), token)
    return None


def _from_helper(helper: str, wanted: str) -> Credentials | None:
    program = shutil.which(f"docker-credential-{helper}")
    if program is None:
        return None
    try:
        done = subprocess.run([program, "get"], input=wanted.encode(), capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise ComposerError(f"credential helper docker-credential-{helper} failed: {err}") from None
    if done.returncode != 0:
        return None  # "credentials not found in native keychain": anonymous, as Docker does
    try:
        data = json.loads(done.stdout)
    except ValueError:
        raise ComposerError(f"credential helper docker-credential-{helper} printed no JSON") from None
    user, secret = str(data.get("Username", "")), str(data.get("Secret", ""))
    if user == "<token>":
        return Credentials("", "", secret)
    return Credentials(user, secret) if user or secret else None


def lookup(server: str) -> Credentials | None:
    """Credentials for a registry host (as in a reference's domain), or None for anonymous."""
    wanted = server_key(DEFAULT_DOMAIN if server == DEFAULT_DOMAIN else server)
    own = composer_auth_path()
    found = _from_auths(read_json_object(own).get("auths"), wanted, own)
    if found is not None:
        return found
    docker_path = docker_config_path()
    docker = read_json_object(docker_path)
    helpers = docker.get("credHelpers")
    if isinstance(helpers, dict):
        for key, helper in helpers.items():
            if _same_server(str(key), wanted) and isinstance(helper, str):
                return _from_helper(helper, wanted)
    store = docker.get("credsStore")
    if isinstance(store, str) and store:
        found = _from_helper(store, wanted)
        if found is not None:
            return found
    return _from_auths(docker.get("auths"), wanted, docker_path)


def store_credentials(server: str, creds: Credentials) -> Path:
    """Save for `composer login` (replacing what was there for the server); returns the file."""
    path = composer_auth_path()
    data = read_json_object(path)
    auths = data.get("auths") if isinstance(data.get("auths"), dict) else {}
    assert isinstance(auths, dict)
    key = server_key(server)
    for old in [k for k in auths if _same_server(str(k), key)]:
        del auths[old]
    encoded = base64.b64encode(f"{creds.username}:{creds.password}".encode()).decode()
    auths[key] = {"auth": encoded}
    data["auths"] = auths
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_atomic(path, json.dumps(data, indent=2).encode() + b"\n")
    os.chmod(path, 0o600)
    return path


def remove_credentials(server: str) -> bool:
    """`composer logout`: forget the server in composer's file; False when it was not there."""
    path = composer_auth_path()
    data = read_json_object(path)
    auths = data.get("auths")
    if not isinstance(auths, dict):
        return False
    key = server_key(server)
    doomed = [k for k in auths if _same_server(str(k), key)]
    for old in doomed:
        del auths[old]
    if doomed:
        write_atomic(path, json.dumps(data, indent=2).encode() + b"\n")
        os.chmod(path, 0o600)
    return bool(doomed)
