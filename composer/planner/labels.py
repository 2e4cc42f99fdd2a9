"""The `com.docker.compose.*` label names, as Docker Compose v2 writes them (no imports: cheap for `ps`)."""

from __future__ import annotations

LABEL = "com.docker.compose"
PROJECT = f"{LABEL}.project"
SERVICE = f"{LABEL}.service"
NUMBER = f"{LABEL}.container-number"
ONEOFF = f"{LABEL}.oneoff"
HASH = f"{LABEL}.config-hash"
DEPENDS = f"{LABEL}.depends_on"
IMAGE = f"{LABEL}.image"
WORKING_DIR = f"{LABEL}.project.working_dir"
CONFIG_FILES = f"{LABEL}.project.config_files"
ENV_FILE = f"{LABEL}.project.environment_file"
VERSION = f"{LABEL}.version"
NETWORK = f"{LABEL}.network"
VOLUME = f"{LABEL}.volume"
