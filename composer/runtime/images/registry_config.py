"""Registry settings: Docker Hub mirrors and insecure registries, under Docker's own key names.

There is no daemon to hold a `daemon.json`, so the same two keys live in composer's configuration
directory, `${COMPOSER_CONFIG:-~/.config/composer}/registries.json`:

    {"registry-mirrors": ["http://127.0.0.1:5000", "https://mirror.example"],
     "insecure-registries": ["myregistry.lan:5000"]}

and in the environment, which wins: `COMPOSER_REGISTRY_MIRRORS` and `COMPOSER_INSECURE_REGISTRIES`
(comma lists). As in Docker, mirrors serve Docker Hub images only, are tried in order before Docker
Hub, and a mirror's URL says its scheme (so `http://` is plain HTTP to it).
"""

from __future__ import annotations

import os
import urllib.parse
from pathlib import Path

from composer.errors import ComposerError
from composer.runtime.images.auth import composer_auth_path, read_json_object


def settings_path() -> Path:
    return composer_auth_path().with_name("registries.json")


def _listed(env: str, key: str) -> list[str]:
    raw = os.environ.get(env)
    if raw is not None:
        return [item.strip() for item in raw.split(",") if item.strip()]
    value = read_json_object(settings_path(), "registry settings").get(key, [])
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ComposerError(f"registry settings {settings_path()}: {key!r} must be a list of strings")
    return [item.strip() for item in value if item.strip()]


def hub_mirrors() -> list[str]:
    """Mirror base URLs (`scheme://host[:port]`), in the order to try them."""
    mirrors = []
    for item in _listed("COMPOSER_REGISTRY_MIRRORS", "registry-mirrors"):
        url = urllib.parse.urlsplit(item)
        if url.scheme not in ("http", "https") or not url.netloc or url.path not in ("", "/") or url.query:
            raise ComposerError(f"registry mirror {item!r} is not a URL like https://host[:port]")
        mirrors.append(f"{url.scheme}://{url.netloc}")
    return mirrors


def insecure_registries() -> set[str]:
    """Registries (`host[:port]`) allowed over plain HTTP and unchecked TLS, besides loopback ones."""
    return {item.removeprefix("http://").removeprefix("https://").rstrip("/")
            for item in _listed("COMPOSER_INSECURE_REGISTRIES", "insecure-registries")}
