"""What the user asked for (flags and environment) and where the project's files are.

Docker Compose v2's rules, checked against its binary:
- files: `-f` (repeatable, `-` is stdin) > `COMPOSE_FILE` (split on `COMPOSE_PATH_SEPARATOR`, default
  `:`) > discovery of `compose.yaml`, `compose.yml`, `docker-compose.yml`, `docker-compose.yaml` in
  the working directory and then its parents; override files only with discovery;
- project directory: `--project-directory` > the first file's directory (the working directory for
  stdin);
- the working directory's `.env` is read first, as a lower layer of the shell environment, when no
  `-f`, `--project-directory` nor `--env-file` is given (so it can hold `COMPOSE_FILE`); then the
  `--env-file`s in order (later wins), else `COMPOSE_ENV_FILES`, else the project directory's
  `.env`; `COMPOSE_DISABLE_ENV_FILE` turns the default `.env` files off; the shell always wins.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass, field

from composer.errors import ComposerError, Span
from composer.schema.dotenv import parse_dotenv
from composer.schema.fs import SourceFS

DEFAULT_FILENAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_FILENAMES = ("compose.override.yaml", "compose.override.yml",
                      "docker-compose.override.yml", "docker-compose.override.yaml")
STDIN = "-"


@dataclass(frozen=True)
class LoadOptions:
    """Everything the loader needs to know, already parsed from flags; no I/O happens here."""

    cwd: str
    environ: Mapping[str, str] = field(default_factory=dict)
    files: tuple[str, ...] = ()
    project_name: str | None = None
    project_directory: str | None = None
    env_files: tuple[str, ...] = ()
    profiles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    interpolate: bool = True
    normalize: bool = True
    resolve_paths: bool = True
    stdin: bytes | None = None


@dataclass(frozen=True)
class ProjectSources:
    """The resolved inputs: which files, which directory, which variables."""

    files: tuple[str, ...]
    project_directory: str
    environment: Mapping[str, str]
    env_files: tuple[str, ...]
    discovered: bool


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "y", "on")


def _abs(path: str, base: str) -> str:
    return posixpath.normpath(posixpath.join(base, path))


def shown(path: str, cwd: str | None) -> str:
    """How a file is named in messages: relative to the working directory when inside it."""
    if cwd and path.startswith(cwd.rstrip("/") + "/"):
        return path[len(cwd.rstrip("/")) + 1:]
    return path


def read_env_file(fs: SourceFS, path: str, lookup: Mapping[str, str], cwd: str | None = None) -> dict[str, str]:
    """One `.env` file's variables (interpolated with the shell's and its own earlier ones)."""
    try:
        text = fs.read_bytes(path).decode("utf-8-sig")
    except FileNotFoundError:
        raise ComposerError(f"couldn't find env file: {path}")
    except IsADirectoryError:
        raise ComposerError(f"env file is a directory: {path}")
    except UnicodeDecodeError:
        raise ComposerError("env file is not valid UTF-8", span=Span(shown(path, cwd), 1, 1))
    values = parse_dotenv(text, filename=shown(path, cwd), lookup=lookup.get)
    return {key: value for key, value in values.items() if value is not None}


def discover(fs: SourceFS, start: str) -> list[str]:
    """The default file (and its override) in `start` or the nearest parent that has one."""
    directory = start
    while True:
        found = [name for name in DEFAULT_FILENAMES if fs.is_file(posixpath.join(directory, name))]
        if found:
            files = [posixpath.join(directory, found[0])]
            overrides = [name for name in OVERRIDE_FILENAMES if fs.is_file(posixpath.join(directory, name))]
            if overrides:
                files.append(posixpath.join(directory, overrides[0]))
            return files
        parent = posixpath.dirname(directory)
        if parent == directory:
            return []
        directory = parent


def resolve_sources(options: LoadOptions, fs: SourceFS) -> ProjectSources:
    """Apply Compose v2's rules for files, project directory and variables (see module doc)."""
    shell = dict(options.environ)
    disabled = _truthy(shell.get("COMPOSE_DISABLE_ENV_FILE"))
    cwd = options.cwd
    pre_env: dict[str, str] = {}
    cwd_dotenv = posixpath.join(cwd, ".env")
    explicit_env = options.env_files or shell.get("COMPOSE_ENV_FILES")
    if (not options.files and not options.project_directory and not explicit_env and not disabled
            and fs.is_file(cwd_dotenv)):
        pre_env = read_env_file(fs, cwd_dotenv, shell, cwd)
    early = {**pre_env, **shell}

    discovered = False
    if options.files:
        files = [STDIN if name == STDIN else _abs(name, cwd) for name in options.files]
    elif early.get("COMPOSE_FILE"):
        separator = early.get("COMPOSE_PATH_SEPARATOR") or ":"
        base = (options.project_directory and _abs(options.project_directory, cwd)) or cwd
        files = [_abs(name, base) for name in early["COMPOSE_FILE"].split(separator) if name]
    else:
        search_from = _abs(options.project_directory, cwd) if options.project_directory else cwd
        files = discover(fs, search_from)
        discovered = True
        if not files:
            raise ComposerError("no configuration file provided: not found",
                                hint=f"create compose.yaml in {search_from} or pass -f FILE")

    if options.project_directory:
        project_dir = _abs(options.project_directory, cwd)
    elif files[0] == STDIN:
        project_dir = cwd
    else:
        project_dir = posixpath.dirname(files[0])

    if options.env_files:
        env_paths = [_abs(name, cwd) for name in options.env_files]
    elif early.get("COMPOSE_ENV_FILES"):
        env_paths = [_abs(name, cwd) for name in early["COMPOSE_ENV_FILES"].split(",") if name]
    elif not disabled and fs.is_file(posixpath.join(project_dir, ".env")):
        env_paths = [posixpath.join(project_dir, ".env")]
    else:
        env_paths = []
    if pre_env and env_paths == [cwd_dotenv]:
        env_paths = []  # already read as the lower layer of the shell

    from_files: dict[str, str] = {}
    for path in env_paths:
        from_files.update(read_env_file(fs, path, {**from_files, **early}, cwd))
    environment = {**from_files, **pre_env, **shell}
    return ProjectSources(tuple(files), project_dir, environment, tuple(env_paths), discovered)
