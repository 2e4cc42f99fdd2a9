"""Dockerfile builds on the native engine: one image per layer step, a layer cache, multi-stage.

Each stage starts from its base image's config document; config instructions (ENV, LABEL, CMD...) change
it in memory, and layer instructions make a layer (COPY/ADD through an overlay mount, RUN in a container
of the engine whose upper dir becomes the layer) and store an image, which is also the cache entry.

The cache key of a step chains the previous key (the base image ID at FROM), the instruction after
substitution, and what else it reads: the checksums of copied files (and of the files `ADD <url>`
downloads, which it does on every build), the image of `COPY --from`, the build args a RUN sees. A key
maps to an image ID (`<state root>/build/cache.json`); an entry whose image is gone (pruned) is a miss.
So a rebuild of an unchanged context only computes keys and finds images, and a changed file misses
from the first step that reads it.
"""

from __future__ import annotations

import contextlib
import copy as copy_mod
import fcntl
import functools
import hashlib
import json
import os
import posixpath
import re
import tarfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from composer.errors import ComposerError
from composer.planner import dockerfile as df
from composer.runtime.build import layers as lay
from composer.runtime.build import mounts as mnt
from composer.runtime.build import remote
from composer.runtime.build.context import Context, checksum
from composer.runtime.build.progress import Progress
from composer.runtime.engine.export import piped
from composer.runtime.fsutil import write_atomic
from composer.runtime.images.archive import host_platform
from composer.runtime.images.reference import parse_reference
from composer.runtime.images.rootfs_import import apply_changes

DEFAULT_SHELL = ["/bin/sh", "-c"]
BUILD_LABEL = "io.composer.build"
BUILD_OWNER_LABEL = "io.composer.build.owner"
"""`<pid>:<start time>` of the building process: a build container whose builder is gone is swept."""
_HEREDOC_ONLY = re.compile(r"<<-?(['\"]?)([A-Za-z_][A-Za-z0-9_]*)\1")


@dataclass(frozen=True, slots=True)
class BuildOptions:
    context: Path
    dockerfile: Path | None = None
    dockerfile_inline: str | None = None
    tags: Sequence[str] = ()
    build_args: Mapping[str, str | None] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    network: str | None = None
    extra_hosts: Any = None
    """`extra_hosts` as a service has it (a mapping, or `name:address` items)."""
    shm_size: Any = None
    pull: bool = False
    """Pull every base image (FROM) before using it, even one already in the store."""
    secrets: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    """Build secrets by id, for `RUN --mount=type=secret` (never in a cache key, a layer or the image)."""


@dataclass(frozen=True, slots=True)
class BuildResult:
    image_id: str
    steps: int
    """Layer steps (RUN, COPY, ADD) run or found in the cache."""
    cached: int


@dataclass(slots=True)
class _State:
    doc: dict[str, Any]
    layers: list[dict[str, Any]]
    image_id: str | None
    key: str
    args: dict[str, str] = field(default_factory=dict)
    cmd_set: bool = False
    pending: bool = False

    @property
    def cfg(self) -> dict[str, Any]:
        cfg: dict[str, Any] = self.doc.setdefault("config", {})
        return cfg

    def env(self) -> dict[str, str]:
        out = dict(self.args)
        for item in self.cfg.get("Env") or ():
            key, _, value = str(item).partition("=")
            out[key] = value
        return out


def _key(*parts: Any) -> str:
    return "sha256:" + hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


class Cache:
    """Step key -> image ID, in one JSON file; written under a lock, read once per build."""

    def __init__(self, root: Path) -> None:
        self.path = root / "cache.json"
        self.lock_path = root / "cache.lock"
        self.root = root
        try:
            self.entries: dict[str, str] = json.loads(self.path.read_bytes())
        except (OSError, ValueError):
            self.entries = {}

    def get(self, key: str) -> str | None:
        return self.entries.get(key)

    def put(self, key: str, image_id: str) -> None:
        self.entries[key] = image_id
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                current: dict[str, str] = json.loads(self.path.read_bytes())
            except (OSError, ValueError):
                current = {}
            current[key] = image_id
            write_atomic(self.path, json.dumps(current, sort_keys=True).encode(), fsync=False)
        finally:
            os.close(fd)


class Builder:
    """Builds Dockerfiles with one engine (its image store, its containers for RUN)."""

    def __init__(self, engine: Any, progress: Progress | None = None) -> None:
        self.engine = engine
        self.store = engine.images
        self.progress = progress or Progress(quiet=True)
        self.build_root = Path(engine.roots.state_root) / "build"
        self.cache = Cache(self.build_root)
        self.steps = 0
        self.cached = 0

    # -- entry ------------------------------------------------------------------------------------

    def build(self, opts: BuildOptions) -> BuildResult:
        self.downloads: dict[str, remote.Download] = {}
        self._resources = contextlib.ExitStack()
        self._download_dir: Path | None = None
        try:
            return self._build(opts)
        finally:
            self.downloads = {}
            self._download_dir = None
            self._resources.close()  # the downloads of ADD <url> go with their scratch directory

    def _sweep_orphans(self) -> None:
        """Remove the RUN containers of builds that were killed (their builder process is gone): a killed
        build leaves nothing behind once another build runs, secrets passed to a RUN included."""
        for container in self.engine.list(all=True):
            labels = container.record.labels
            if labels.get(BUILD_LABEL) != "true" or _process_alive(labels.get(BUILD_OWNER_LABEL, "")):
                continue
            with contextlib.suppress(ComposerError, OSError):
                self.engine.remove(container.id, force=True)

    def _build(self, opts: BuildOptions) -> BuildResult:
        self._sweep_orphans()
        self.steps = self.cached = 0
        self.opts = opts
        self.pulled: dict[str, str] = {}
        if opts.dockerfile_inline is not None:
            text, self.name = opts.dockerfile_inline, "Dockerfile"
        else:
            path = opts.dockerfile or opts.context / "Dockerfile"
            if not path.is_absolute():
                path = opts.context / path
            try:
                text = path.read_text()
            except OSError as err:
                raise ComposerError(f"cannot read the Dockerfile {path}: {err.strerror}") from None
            self.name = path.name
        self.file = df.parse(text, self.name)
        self.context = Context.open(opts.context, self.name)
        for ref in opts.tags:
            parse_reference(ref)  # a bad name fails before any work
        os_name, arch = host_platform()
        self.platform = f"{os_name}/{arch}"
        self.auto_args = {"TARGETPLATFORM": self.platform, "TARGETOS": os_name, "TARGETARCH": arch,
                          "TARGETVARIANT": "", "BUILDPLATFORM": self.platform, "BUILDOS": os_name,
                          "BUILDARCH": arch, "BUILDVARIANT": ""}
        self.meta: dict[str, str] = dict(self.auto_args)
        self.consumed: set[str] = set()
        for ins in self.file.meta_args:
            for name, value in self._arg_pairs(ins, self.meta):
                self.consumed.add(name)
                given = opts.build_args.get(name)
                self.meta[name] = given if given is not None else (value if value is not None else "")
        target = self._target_index(opts.target)
        self.results: dict[int, str] = {}
        for index in self._needed(target):
            self.results[index] = self._stage(self.file.stages[index], final=index == target)
        image_id = self.results[target]
        unused = sorted(set(opts.build_args) - self.consumed)
        if unused:
            self.progress.note(f"warning: build args not consumed by any ARG: {', '.join(unused)}")
        for ref in opts.tags:
            self.store.tag(image_id, ref)
        return BuildResult(image_id, self.steps, self.cached)

    def fail(self, line: int, message: str) -> ComposerError:
        """An error at a Dockerfile line; a URL's credentials (ADD https://user:token@...) are not shown."""
        return df.error(line, remote.redact(message), self.name)

    def _target_index(self, target: str | None) -> int:
        if target is None:
            return len(self.file.stages) - 1
        for stage in self.file.stages:
            if stage.name == target.lower():
                return stage.index
        raise ComposerError(f"target stage {target!r} could not be found in {self.name}")

    def _stage_ref(self, name: str) -> int | None:
        for stage in self.file.stages:
            if stage.name == name.lower():
                return stage.index
        if name.isdigit() and int(name) < len(self.file.stages):
            return int(name)
        return None

    def _needed(self, target: int) -> list[int]:
        """The stages the target depends on (FROM a stage, COPY --from a stage), in order."""
        need: set[int] = set()

        def visit(index: int) -> None:
            if index in need:
                return
            need.add(index)
            stage = self.file.stages[index]
            refs = [df.expand_word(stage.base, self.meta, escape=self.file.escape)]
            refs += [ins.flag("from") or "" for ins in stage.instructions if ins.cmd in ("COPY", "ADD")]
            refs += [mnt.raw_from(v) or "" for ins in stage.instructions if ins.cmd == "RUN"
                     for k, v in ins.flags if k == "mount"]
            for ref in refs:
                dep = self._stage_ref(ref) if ref else None
                if dep is not None and dep < index:
                    visit(dep)
                elif dep is not None and ref.isdigit() is False and dep >= index:
                    raise self.fail(stage.line, f"stage {ref!r} is used before it is defined")

        visit(target)
        return sorted(need)

    # -- stages -----------------------------------------------------------------------------------

    def _stage(self, stage: df.Stage, *, final: bool) -> str:
        total = len(stage.instructions) + 1
        label = f"{stage.name or f'stage-{stage.index}'} " if len(self.file.stages) > 1 else ""
        base = df.expand_word(stage.base, self.meta, escape=self.file.escape, line=stage.line, name=self.name)
        self.progress.step(f"{label}1/{total}", f"FROM {base}" + (f" AS {stage.name}" if stage.name else ""))
        if stage.platform:
            wanted = df.expand_word(stage.platform, self.meta, escape=self.file.escape)
            if wanted.split("/")[:2] != self.platform.split("/")[:2]:
                raise self.fail(stage.line, f"FROM --platform={wanted}: only the host platform "
                                            f"{self.platform} can be built here")
        state = self._from(stage, base)
        self.progress.done()
        triggers = list(state.cfg.get("OnBuild") or ())
        if triggers:
            state.cfg.pop("OnBuild", None)
            state.pending = True
        for trigger in triggers:
            ins = df.parse_trigger(str(trigger), stage.line, self.name)
            self.progress.step(f"{label}ONBUILD", ins.text)
            self._step(state, ins)
            self.progress.done()
        for number, ins in enumerate(stage.instructions, start=2):
            self.progress.step(f"{label}{number}/{total}", remote.redact(ins.text))
            self._step(state, ins)
            self.progress.done()
        if final and self.opts.labels:
            state.cfg["Labels"] = {**(state.cfg.get("Labels") or {}), **self.opts.labels}
            state.key = _key(state.key, "labels", dict(self.opts.labels))
            state.pending = True
        return self._materialize(state)

    def _from(self, stage: df.Stage, base: str) -> _State:
        os_name, arch = host_platform()
        if base.lower() == "scratch":
            doc: dict[str, Any] = {"architecture": arch, "os": os_name, "config": {},
                                   "rootfs": {"type": "layers", "diff_ids": []}, "history": []}
            return _State(doc, [], None, _key("scratch", self.platform), pending=True)
        dep = self._stage_ref(base)
        if dep is not None and dep < stage.index:
            image_id = self.results[dep]
        elif self.opts.pull:
            image_id = self.pulled.get(base) or self._pull_base(stage, base)
            self.pulled[base] = image_id
        else:
            try:
                image_id = self.store.resolve(base)
            except ComposerError:
                image_id = self._pull_base(stage, base)
        image = self.store.get(image_id)
        doc = copy_mod.deepcopy(image.config_json)
        layers = [d.to_json() for d in image.manifest.layers]
        return _State(doc, layers, image_id, _key("from", image_id))

    def _pull_base(self, stage: df.Stage, base: str) -> str:
        """A base image missing from the store is pulled, as `docker build` does."""
        what = f"FROM {base}: pulling it (--pull)" if self.opts.pull else \
            f"FROM {base}: no such image in the local store, and pulling it"
        try:
            return self._pull_image(base, what)
        except ComposerError as err:
            raise self.fail(stage.line, err.message) from None

    def _pull_image(self, ref: str, what: str) -> str:
        """Pull `ref` into the store (progress on the build's output); `what` starts the error: "<what> failed: ..."."""
        from composer.runtime.images.registry import pull
        from composer.runtime.images.transfer_progress import TransferProgress

        shown = TransferProgress(None if self.progress.quiet else self.progress.out, "plain")
        try:
            return pull(self.store, ref, progress=shown).image_id
        except ComposerError as err:
            raise ComposerError(f"{what} failed: {err.message}") from None

    def _materialize(self, state: _State) -> str:
        """The state as a stored image (found in the cache by its key when it was made before)."""
        if not state.pending and state.image_id is not None:
            return state.image_id
        found = self._cached(state.key)
        if found is not None:
            return found
        state.doc["created"] = lay.now()
        state.doc["rootfs"] = {"type": "layers", "diff_ids": [d["digest"] for d in state.layers]}
        image_id = lay.new_image(self.store, state.doc, state.layers)
        self.cache.put(state.key, image_id)
        state.image_id, state.pending = image_id, False
        return image_id

    def _cached(self, key: str) -> str | None:
        if self.opts.no_cache:
            return None
        found = self.cache.get(key)
        if found is None:
            return None
        try:
            return str(self.store.resolve(found))
        except ComposerError:
            return None

    # -- instructions -----------------------------------------------------------------------------

    def _history(self, state: _State, created_by: str, *, empty: bool) -> None:
        entry: dict[str, Any] = {"created": lay.now(), "created_by": remote.redact(created_by),
                                 "comment": "composer build"}
        if empty:
            entry["empty_layer"] = True
        state.doc.setdefault("history", []).append(entry)

    def _word(self, ins: df.Instruction, text: str, state: _State) -> str:
        return df.expand_word(text, state.env(), escape=self.file.escape, line=ins.line, name=self.name)

    def _words(self, ins: df.Instruction, state: _State) -> list[str]:
        if ins.json_args is not None:
            return [self._word(ins, a, state) for a in ins.json_args]
        return df.expand_words(ins.args, state.env(), escape=self.file.escape, line=ins.line, name=self.name)

    def _step(self, state: _State, ins: df.Instruction) -> None:
        handler = getattr(self, f"_do_{ins.cmd.lower()}", None)
        if handler is None:
            raise self.fail(ins.line, f"{ins.cmd} is not supported")
        try:
            handler(state, ins)
        except df.DockerfileError:
            raise
        except ComposerError as err:
            raise self.fail(ins.line, f"{ins.cmd}: {err.message}") from None

    def _config_step(self, state: _State, ins: df.Instruction, shown: str) -> None:
        state.key = _key(state.key, shown)
        self._history(state, shown, empty=True)
        state.pending = True

    def _arg_pairs(self, ins: df.Instruction, env: Mapping[str, str]) -> list[tuple[str, str | None]]:
        out: list[tuple[str, str | None]] = []
        for word in df.expand_words(ins.args, env, escape=self.file.escape, line=ins.line, name=self.name):
            name, sep, value = word.partition("=")
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise self.fail(ins.line, f"ARG: invalid name {name!r}")
            out.append((name, value if sep else None))
        if not out:
            raise self.fail(ins.line, "ARG requires a name")
        return out

    def _do_arg(self, state: _State, ins: df.Instruction) -> None:
        for name, default in self._arg_pairs(ins, state.env()):
            self.consumed.add(name)
            given = self.opts.build_args.get(name)
            if given is not None:
                value = given
            elif default is not None:
                value = default
            else:
                value = self.meta.get(name, "")
            state.args[name] = value
            state.key = _key(state.key, "ARG", name)  # the value counts only where it is used (RUN, expansions)

    def _do_env(self, state: _State, ins: df.Instruction) -> None:
        pairs = df.key_values(ins, state.env(), escape=self.file.escape, name=self.name)
        env = list(state.cfg.get("Env") or [])
        for key, value in pairs:
            env = [e for e in env if e.split("=", 1)[0] != key] + [f"{key}={value}"]
        state.cfg["Env"] = env
        self._config_step(state, ins, "ENV " + " ".join(f"{k}={v}" for k, v in pairs))

    def _do_label(self, state: _State, ins: df.Instruction) -> None:
        pairs = df.key_values(ins, state.env(), escape=self.file.escape, name=self.name)
        state.cfg["Labels"] = {**(state.cfg.get("Labels") or {}), **dict(pairs)}
        self._config_step(state, ins, "LABEL " + " ".join(f"{k}={v}" for k, v in pairs))

    def _do_maintainer(self, state: _State, ins: df.Instruction) -> None:
        state.doc["author"] = self._word(ins, ins.args, state)
        self._config_step(state, ins, f"MAINTAINER {state.doc['author']}")

    def _do_workdir(self, state: _State, ins: df.Instruction) -> None:
        value = self._word(ins, ins.args, state)
        if not value:
            raise self.fail(ins.line, "WORKDIR requires a path")
        state.cfg["WorkingDir"] = posixpath.normpath(posixpath.join(state.cfg.get("WorkingDir") or "/", value))
        self._config_step(state, ins, f"WORKDIR {state.cfg['WorkingDir']}")

    def _do_user(self, state: _State, ins: df.Instruction) -> None:
        state.cfg["User"] = self._word(ins, ins.args, state)
        self._config_step(state, ins, f"USER {state.cfg['User']}")

    def _do_expose(self, state: _State, ins: df.Instruction) -> None:
        words = self._words(ins, state)
        state.doc["config"] = apply_changes(state.cfg, ["EXPOSE " + " ".join(words)])
        self._config_step(state, ins, "EXPOSE " + " ".join(words))

    def _do_volume(self, state: _State, ins: df.Instruction) -> None:
        words = self._words(ins, state)
        if not words:
            raise self.fail(ins.line, "VOLUME requires at least one path")
        state.cfg["Volumes"] = {**(state.cfg.get("Volumes") or {}), **{w: {} for w in words}}
        self._config_step(state, ins, f"VOLUME {words}")

    def _do_stopsignal(self, state: _State, ins: df.Instruction) -> None:
        state.cfg["StopSignal"] = self._word(ins, ins.args, state)
        self._config_step(state, ins, f"STOPSIGNAL {state.cfg['StopSignal']}")

    def _shell_form(self, state: _State, ins: df.Instruction) -> list[str]:
        if ins.json_args is not None:
            return list(ins.json_args)
        return [*(state.cfg.get("Shell") or DEFAULT_SHELL), ins.args]

    def _do_cmd(self, state: _State, ins: df.Instruction) -> None:
        state.cfg["Cmd"] = self._shell_form(state, ins)
        state.cmd_set = True
        self._config_step(state, ins, f"CMD {json.dumps(state.cfg['Cmd'])}")

    def _do_entrypoint(self, state: _State, ins: df.Instruction) -> None:
        state.cfg["Entrypoint"] = self._shell_form(state, ins)
        if not state.cmd_set:
            state.cfg["Cmd"] = None  # an inherited CMD is reset by ENTRYPOINT, as Docker does
        self._config_step(state, ins, f"ENTRYPOINT {json.dumps(state.cfg['Entrypoint'])}")

    def _do_shell(self, state: _State, ins: df.Instruction) -> None:
        if ins.json_args is None or not ins.json_args:
            raise self.fail(ins.line, "SHELL requires the JSON form, such as SHELL [\"/bin/bash\", \"-c\"]")
        state.cfg["Shell"] = list(ins.json_args)
        self._config_step(state, ins, f"SHELL {json.dumps(state.cfg['Shell'])}")

    def _do_healthcheck(self, state: _State, ins: df.Instruction) -> None:
        flags = " ".join(f"--{k}={v}" for k, v in ins.flags)
        state.doc["config"] = apply_changes(state.cfg, [f"HEALTHCHECK {flags} {ins.args}".replace("  ", " ")])
        self._config_step(state, ins, f"HEALTHCHECK {json.dumps(state.cfg.get('Healthcheck'))}")

    def _do_onbuild(self, state: _State, ins: df.Instruction) -> None:
        trigger = df.parse_onbuild(ins, self.name)
        state.cfg["OnBuild"] = [*(state.cfg.get("OnBuild") or []), trigger.text]
        self._config_step(state, ins, f"ONBUILD {trigger.text}")

    # -- layer steps ------------------------------------------------------------------------------

    def _layer_step(self, state: _State, key: str, created_by: str, make: Any) -> None:
        """A step that makes a layer: a cache hit adopts the stored image, a miss runs `make(work)`."""
        self.steps += 1
        found = self._cached(key)
        if found is not None:
            self.cached += 1
            self.progress.cached()
            image = self.store.get(found)
            state.doc = copy_mod.deepcopy(image.config_json)
            state.layers = [d.to_json() for d in image.manifest.layers]
            state.image_id, state.key, state.pending = found, key, False
            return
        with lay.scratch(self.build_root / "work") as work:
            layer: lay.Layer = make(work)
        state.layers.append(lay.layer_descriptor(layer))
        self._history(state, created_by, empty=False)
        state.key, state.pending = key, True
        self._materialize(state)

    def _layer_dirs(self, state: _State) -> list[Path]:
        return [self.store.layer_path(d["digest"]) for d in state.layers]

    def _do_run(self, state: _State, ins: df.Instruction) -> None:
        if ins.json_args is not None:
            argv = list(ins.json_args)
        elif ins.heredocs:
            shell = list(state.cfg.get("Shell") or DEFAULT_SHELL)
            if _HEREDOC_ONLY.fullmatch(ins.args.strip()):
                argv = [*shell, ins.heredocs[0].content]
            else:
                body = "".join(f"{h.content}{h.name}\n" for h in ins.heredocs)
                argv = [*shell, f"{ins.args}\n{body}"]
        else:
            argv = self._shell_form(state, ins)
        for key, _ in ins.flags:
            if key not in ("network", "mount"):
                raise self.fail(ins.line, f"RUN --{key} is not supported by this builder")
        mounts, mount_keys = self._run_mounts(state, ins)
        network = ins.flag("network") or self.opts.network
        env = state.env()
        key = _key(state.key, "RUN", argv, sorted(state.args.items()), network, state.cfg.get("User"),
                   state.cfg.get("WorkingDir"))
        if mounts:
            key = _key(key, "mounts", mount_keys)
        shown = "RUN " + " ".join(argv)
        self._layer_step(state, key, shown, functools.partial(self._run, state, ins, argv, env, network, mounts))

    def _run_mounts(self, state: _State, ins: df.Instruction) -> tuple[list[mnt.Mount], list[Any]]:
        """The RUN's `--mount`s, parsed (a bind's `from` resolved to an image), and what the key sees of them."""
        mounts: list[mnt.Mount] = []
        keys: list[Any] = []
        for flag, value in ins.flags:
            if flag != "mount":
                continue
            shown = f"RUN --mount={value or ''}"
            try:
                mount = mnt.parse(self._word(ins, value, state) if value else value,
                                  state.cfg.get("WorkingDir") or "/")
                digest = None
                if mount.type == "bind" and mount.from_ref:
                    dep = self._stage_ref(mount.from_ref)
                    if dep is not None and dep in self.results:
                        mount = mnt.with_image(mount, self.results[dep])
                    else:
                        try:
                            image_id = self.store.resolve(mount.from_ref)
                        except ComposerError:
                            ref = str(mount.from_ref)
                            image_id = self._pull_image(ref, f"from={ref}: no such stage or image in the local "
                                                             "store, and pulling it")
                        mount = mnt.with_image(mount, image_id)
                    digest = mount.image
                elif mount.type == "bind":
                    _, digest = mnt.context_source(self.context, mount)
                elif mount.from_ref:
                    raise ComposerError(f"from= is not supported for a {mount.type} mount")
            except df.DockerfileError:
                raise
            except ComposerError as err:
                raise self.fail(ins.line, f"{shown}: {err.message}") from None
            if any(m.target and m.target == mount.target for m in mounts):
                raise self.fail(ins.line, f"{shown}: another mount has the same target {mount.target}")
            mounts.append(mount)
            keys.append(mount.key(digest))
        return mounts, keys

    def _run(self, state: _State, ins: df.Instruction, argv: list[str], env: dict[str, str],
             network: str | None, mounts: Sequence[mnt.Mount], work: Path) -> lay.Layer:
        if not state.layers:
            raise self.fail(ins.line, "RUN: the image has no file system yet (FROM scratch): nothing can run")
        self._materialize(state)
        assert state.image_id is not None
        service: dict[str, Any] = {
            "entrypoint": argv,
            "command": [],
            "environment": env,
            "working_dir": state.cfg.get("WorkingDir") or "/",
            "user": state.cfg.get("User") or "",
        }
        if network in ("host", "none"):
            service["network_mode"] = network
        elif network not in (None, "", "default"):
            service["networks"] = {network: None}
        if self.opts.extra_hosts:
            service["extra_hosts"] = self.opts.extra_hosts
        if self.opts.shm_size:
            service["shm_size"] = self.opts.shm_size
        with contextlib.ExitStack() as held:  # the mounts' locks and overlays, released after the container goes
            stubs: dict[str, Any] = {}
            secret_env: Mapping[str, str] = {}
            if mounts:
                stubs = mnt.probe(self._layer_dirs(state), [m.target for m in mounts if m.target], work / "probe")
                preparer = mnt.Preparer(store=self.store, context=self.context, build_root=self.build_root,
                                        secrets=self.opts.secrets, work=work, stack=held)
                try:
                    service["volumes"], extra = preparer.prepare(mounts)
                except ComposerError as err:
                    raise self.fail(ins.line, f"RUN --mount: {err.message}") from None
                secret_env = extra  # never in the container's record: see CreateRequest.secret_env
            return self._run_container(state, ins, argv, service, stubs, secret_env)
        raise AssertionError("unreachable")

    def _run_container(self, state: _State, ins: df.Instruction, argv: list[str], service: dict[str, Any],
                       stubs: Mapping[str, Any], secret_env: Mapping[str, str]) -> lay.Layer:
        from composer.runtime.engine.engine import CreateRequest
        from composer.runtime.engine.logstream import stream_log

        assert state.image_id is not None
        record = self.engine.create(CreateRequest(image=state.image_id, service=service, secret_env=secret_env,
                                                  labels={BUILD_LABEL: "true", BUILD_OWNER_LABEL: _process_token()}))
        output: list[str] = []
        try:
            self.engine.start(record.id)
            paths = self.engine.roots.container(record.id)
            for entry in stream_log(paths.log, follow=True, running=lambda: not paths.exit_file.exists()):
                output.append(entry.text)
                self.progress.output(entry.text)
            code = self.engine.wait(record.id)
            if code != 0:
                if self.progress.quiet:
                    for line in output[-20:]:
                        self.progress.out.write(line + "\n")
                raise self.fail(ins.line, f"RUN {' '.join(argv[len(argv) - 1:])!s}: "
                                          f"the command returned a non-zero code: {code}")
            _, _, upper = self.engine.layers(record.id)
            if stubs:
                mnt.remove_stubs(upper, stubs)
            return lay.store_layer(self.store, upper)
        finally:
            with contextlib.suppress(Exception):
                self.engine.remove(record.id, force=True, volumes=True)

    def _do_copy(self, state: _State, ins: df.Instruction) -> None:
        self._copy(state, ins, add=False)

    def _do_add(self, state: _State, ins: df.Instruction) -> None:
        self._copy(state, ins, add=True)

    def _copy(self, state: _State, ins: df.Instruction, *, add: bool) -> None:
        for flag, _ in ins.flags:
            if flag == "checksum" and not add:
                raise self.fail(ins.line, "COPY --checksum: the flag is only for ADD of a URL")
            if flag not in ("from", "chown", "chmod", "link", "checksum"):
                raise self.fail(ins.line, f"{ins.cmd} --{flag} is not supported by this builder")
        words = self._words(ins, state)
        if len(words) < 2:
            raise self.fail(ins.line, f"{ins.cmd} requires at least one source and a destination")
        *sources, dest = words
        workdir = state.cfg.get("WorkingDir") or "/"
        dest_abs = posixpath.normpath(posixpath.join(workdir, dest))
        if dest.endswith(("/", "/.", "/..")) or dest in (".", ".."):
            dest = dest_abs.rstrip("/") + "/"  # a directory, said so by its spelling
        chmod = ins.flag("chmod")
        mode = None
        if chmod is not None:
            if not re.fullmatch(r"[0-7]{3,4}", chmod):
                raise self.fail(ins.line, f"{ins.cmd} --chmod={chmod}: only octal modes are supported")
            mode = int(chmod, 8)
        chown = ins.flag("chown")
        heredocs = {h.name: h for h in ins.heredocs}
        from_ref = ins.flag("from")
        if from_ref:
            from_ref = self._word(ins, from_ref, state)
            dep = self._stage_ref(from_ref)
            if dep is not None and dep in self.results:
                src_image = self.results[dep]
            else:
                try:
                    src_image = self.store.resolve(from_ref)
                except ComposerError:
                    raise self.fail(ins.line, f"{ins.cmd} --from={from_ref}: no such stage or image") from None
            digest = src_image
            if ins.flag("checksum") is not None:
                raise self.fail(ins.line, "ADD --checksum works only with http:// and https:// sources")
            if any(remote.is_url(s) for s in sources):
                raise self.fail(ins.line, f"{ins.cmd} --from={from_ref}: a URL cannot be a source with --from")
        else:
            digest = self._context_digest(ins, state, sources, heredocs, add)
        downloads = {s: self.downloads[s] for s in sources if add and not from_ref and s in self.downloads}
        if dest.endswith("/") or len(sources) > 1:
            for got in downloads.values():
                if got.name is None:
                    raise self.fail(ins.line, f"ADD {got.url}: the URL names no file, so the destination "
                                              f"{dest} cannot be a directory: give the file's path")
        key = _key(state.key, ins.cmd, words, chown, chmod, from_ref, digest)
        shown = f"{ins.cmd} " + " ".join(words)
        make = functools.partial(self._apply_copy, state, ins, sources, dest, dest_abs, add, mode, chown,
                                 heredocs, src_image if from_ref else None, downloads)
        self._layer_step(state, key, shown, make)

    def _context_digest(self, ins: df.Instruction, state: _State, sources: list[str],
                        heredocs: Mapping[str, df.Heredoc], add: bool) -> str:
        entries: list[tuple[str, Path]] = []
        digests: list[str] = []
        checksum_flag = ins.flag("checksum")
        wanted = self._word(ins, checksum_flag, state) if checksum_flag is not None else None
        if wanted is not None:
            try:
                remote.parse_checksum(wanted)
            except ComposerError as err:
                raise self.fail(ins.line, f"ADD {err.message}") from None
        for pattern in sources:
            doc = _heredoc_source(pattern, heredocs)
            if doc is not None:
                if wanted is not None:
                    raise self.fail(ins.line, "ADD --checksum works only with http:// and https:// sources")
                digests.append(hashlib.sha256(doc.content.encode()).hexdigest())
                continue
            if remote.is_url(pattern):
                if not add:
                    raise self.fail(ins.line, f"COPY {pattern}: a source cannot be a URL for COPY (use ADD)")
                got = self._download(ins, pattern)
                if wanted is not None:
                    actual = got.matches(wanted)
                    if actual is not None:
                        raise self.fail(ins.line, f"ADD {pattern}: checksum mismatch: expected {wanted}, "
                                                  f"the download has {actual}")
                digests.append(f"url {got.name} {got.digest}")
                continue
            if wanted is not None:
                raise self.fail(ins.line, "ADD --checksum works only with http:// and https:// sources")
            for src in self._sources(ins, self.context, pattern):
                entries.append((src.rel, src.path))
                if src.is_dir:
                    entries.extend((f"{src.rel}/{below}", path) for below, path in self.context.members(src))
        return _key(checksum(entries), digests)

    def _download(self, ins: df.Instruction, url: str) -> remote.Download:
        """The file at `url`, fetched once per build into a scratch directory removed when the build ends."""
        if remote.is_git(url):
            raise self.fail(ins.line, f"ADD from a git repository is not supported by composer's builder ({url}): "
                                      "clone it in a RUN step, or place it in the build context")
        if not remote.is_http(url):
            raise self.fail(ins.line, f"ADD {url}: only http:// and https:// URLs can be added")
        got = self.downloads.get(url)
        if got is not None:
            return got
        if self._download_dir is None:
            self._download_dir = self._resources.enter_context(lay.scratch(self.build_root / "work"))
        self.progress.output(f"downloading {remote.redact(url)}")
        try:
            got = remote.download(url, self._download_dir / str(len(self.downloads)),
                                  on_progress=self.progress.output)
        except ComposerError as err:
            raise self.fail(ins.line, err.message) from None
        self.downloads[url] = got
        return got

    def _sources(self, ins: df.Instruction, ctx: Context, pattern: str) -> list[Any]:
        try:
            return ctx.sources(pattern)
        except ComposerError as err:
            raise self.fail(ins.line, f"{ins.cmd} failed: {err.message}") from None

    def _apply_copy(self, state: _State, ins: df.Instruction, sources: list[str], dest: str, dest_abs: str,
                    add: bool, mode: int | None, chown: str | None, heredocs: Mapping[str, df.Heredoc],
                    from_image: str | None, downloads: Mapping[str, remote.Download], work: Path) -> lay.Layer:
        with contextlib.ExitStack() as stack:
            if from_image is not None:
                src_work = work / "source"
                src_work.mkdir()
                src_root, _ = stack.enter_context(lay.mounted(self.store.layer_dirs(from_image), src_work))
                ctx = Context(src_root, what=f"the image of --from={ins.flag('from')}")
            else:
                ctx = self.context
            root, upper = stack.enter_context(lay.mounted(self._layer_dirs(state), work / "target"))
            uid, gid = self._owner(root, chown, keep=from_image is not None)
            found: list[tuple[Any, Any]] = []
            for pattern in sources:
                doc = _heredoc_source(pattern, heredocs)
                if doc is not None:
                    found.append((doc, None))
                elif pattern in downloads:
                    found.append((downloads[pattern], pattern))
                else:
                    found.extend((src, pattern) for src in self._sources(ins, ctx, pattern))
            globs = is_glob([s for s in sources if s not in downloads])  # a URL's `?` is no wildcard
            dest_dir = dest.endswith("/") or len(found) > 1 or globs or lay.is_dir_in(root, dest_abs)
            if len(found) > 1 and not dest.endswith("/") and not lay.is_dir_in(root, dest_abs):
                raise self.fail(ins.line, f"When using {ins.cmd} with more than one source file, the "
                                          "destination must be a directory and end with a /")
            entries: list[lay.Entry] = []
            archives: list[Path] = []
            base = dest_abs.lstrip("/")
            if dest_dir and not lay.is_dir_in(root, dest_abs):
                entries.append(lay.Entry(base, None))
            for src, _pattern in found:
                if isinstance(src, df.Heredoc):
                    name = posixpath.join(base, src.name) if dest_dir else base
                    entries.append(lay.Entry(name, None, src.content.encode()))
                elif isinstance(src, remote.Download):  # never unpacked, even an archive (as Docker does)
                    if dest_dir and src.name is None:
                        raise self.fail(ins.line, f"ADD {src.url}: the URL names no file, and the destination "
                                                  f"{dest_abs} is a directory: give the file's path")
                    name = posixpath.join(base, src.name) if dest_dir and src.name else base
                    entries.append(lay.Entry(name, src.path))  # mode 0600 and mtime as downloaded
                elif src.is_dir:
                    entries.extend(lay.Entry(posixpath.join(base, below), path) for below, path in ctx.members(src))
                elif add and from_image is None and _is_archive(src.path):
                    archives.append(src.path)
                else:
                    name = posixpath.join(base, posixpath.basename(src.rel)) if dest_dir else base
                    entries.append(lay.Entry(name, src.path))
            if entries:
                produce = functools.partial(lay.write_entries, entries=entries, uid=uid, gid=gid, mode=mode)
                with piped(produce) as stream:
                    lay.apply_tar(root, stream, [])
            for archive in archives:
                with open(archive, "rb") as stream:
                    lay.apply_tar(root, stream, [p for p in base.split("/") if p])
            stack.close()
            return lay.store_layer(self.store, upper)
        raise AssertionError("unreachable")

    def _owner(self, root: Path, chown: str | None, *, keep: bool) -> tuple[int | None, int | None]:
        if not chown:
            return (None, None) if keep else (0, 0)
        from composer.planner.userdb import resolve_user
        from composer.runtime.confined import read_text_in_root

        user, sep, group = chown.partition(":")
        spec = f"{user}:{group or user}" if user.isdigit() and not sep else chown
        if not sep and not user.isdigit():
            spec = user
        found = resolve_user(spec, read_text_in_root(root, "/etc/passwd"), read_text_in_root(root, "/etc/group"))
        return found.uid, found.gid


def _start_time(pid: int) -> str | None:
    """A process's start time in clock ticks (/proc/PID/stat field 22): with the pid, it names one process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    return fields[19] if len(fields) > 19 and fields[0] not in ("Z", "X") else None


def _process_token() -> str:
    return f"{os.getpid()}:{_start_time(os.getpid())}"


def _process_alive(token: str) -> bool:
    pid, _, start = token.partition(":")
    return pid.isdigit() and start != "None" and _start_time(int(pid)) == start


def _heredoc_source(pattern: str, heredocs: Mapping[str, df.Heredoc]) -> df.Heredoc | None:
    match = _HEREDOC_ONLY.fullmatch(pattern)
    return heredocs.get(match.group(2)) if match else None


def is_glob(sources: Sequence[str]) -> bool:
    return any(c in s for s in sources for c in "*?[")


def _is_archive(path: Path) -> bool:
    try:
        if not path.is_file():
            return False
        with open(path, "rb") as src:
            head = src.read(262)
    except OSError:
        return False
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00" or head[:4] == b"\x28\xb5\x2f\xfd":
        return True
    return (len(head) >= 262 and head[257:262] == b"ustar") or _plain_tar(path)


def _plain_tar(path: Path) -> bool:
    with contextlib.suppress(Exception):
        return tarfile.is_tarfile(path)
    return False


__all__ = ["BuildOptions", "BuildResult", "Builder", "Cache"]
