"""Compose's `build:`: build a service's image on the native engine, named `image:` or `<project>-<service>`.

Called by `composer build`, and by `up --build` and for services with `build:` whose image is missing.
The service's `build` section is read from the canonical model (`context` is an absolute path there).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from composer.errors import ComposerError

BUILT_LABEL = "com.docker.compose.project"
"""Label set on images built for a project, so that `down --rmi local` can find them."""


def build_sections(ctx: Any) -> dict[str, dict[str, Any]]:
    """Each service's `build` section from the loaded project (services without one left out)."""
    from composer.cli.config_views import model_document

    if ctx.loaded is None:
        return {}
    document = model_document(ctx.loaded)
    out = {}
    for name, service in (document.get("services") or {}).items():
        build = service.get("build")
        if isinstance(build, Mapping):
            out[name] = dict(build)
        elif isinstance(build, str):
            out[name] = {"context": build}
    return out


def _args(value: Any) -> dict[str, str | None]:
    if isinstance(value, Mapping):
        return {str(k): None if v is None else str(v) for k, v in value.items()}
    out: dict[str, str | None] = {}
    for item in value or ():
        key, sep, val = str(item).partition("=")
        out[key] = val if sep else None
    return out


def _secrets(service: str, build: Mapping[str, Any], contents: Mapping[tuple[str, str], bytes]) -> dict[str, bytes]:
    """`build.secrets` (`- name`, or `{source, target}` where target is the id the Dockerfile uses), from the
    top-level `secrets:` as the project read them."""
    out: dict[str, bytes] = {}
    for entry in build.get("secrets") or ():
        entry = {"source": entry} if isinstance(entry, str) else dict(entry)
        name = str(entry.get("source") or "")
        data = contents.get(("secret", name))
        if data is None:
            raise ComposerError(f"service {service!r}: build secret {name!r} is not defined under the top-level "
                                "secrets:")
        out[str(entry.get("target") or name)] = data
    return out


def build_options(ctx: Any, service: str, build: Mapping[str, Any], *, no_cache: bool,
                  build_args: Mapping[str, str | None] | None = None, pull: bool = False) -> Any:
    """The builder's options for one service's `build` section."""
    from composer.runtime.build.builder import BuildOptions

    want = ctx.require_model()
    image = want.services[service].image
    base_dir = Path(getattr(ctx.loaded, "working_dir", "") or ".")
    context = Path(str(build.get("context") or "."))
    if not context.is_absolute():
        context = base_dir / context
    if "://" in str(build.get("context") or "") or str(build.get("context") or "").startswith("git@"):
        raise ComposerError(f"service {service!r}: build context {build.get('context')} is remote: "
                            "only local directories can be built")
    dockerfile = build.get("dockerfile")
    args = {**_args(build.get("args")), **dict(build_args or {})}
    labels = build.get("labels") or {}
    if isinstance(labels, list):
        labels = dict(str(item).partition("=")[::2] for item in labels)
    return BuildOptions(
        context=context,
        dockerfile=Path(str(dockerfile)) if dockerfile else None,
        dockerfile_inline=build.get("dockerfile_inline"),
        tags=[image, *[str(t) for t in build.get("tags") or ()]],
        build_args=args,
        target=build.get("target"),
        no_cache=no_cache or bool(build.get("no_cache")),
        labels={**{str(k): str(v) for k, v in labels.items()}, BUILT_LABEL: want.project},
        network=build.get("network"),
        extra_hosts=build.get("extra_hosts"),
        shm_size=build.get("shm_size"),
        pull=pull or bool(build.get("pull")),
        secrets=_secrets(service, build, want.contents),
    )


def build_services(
    engine: Any,
    ctx: Any,
    services: Sequence[str],
    *,
    no_cache: bool = False,
    progress: Any = None,
    build_args: Mapping[str, str | None] | None = None,
    pull: bool = False,
) -> None:
    """Build the images of `services` that have a `build:` section (others are skipped), in the given order.

    `progress` is the Compose progress (its stream and quiet mode are used) or None for stderr.
    """
    from composer.runtime.build.builder import Builder
    from composer.runtime.build.progress import Progress

    sections = build_sections(ctx)
    stream = getattr(progress, "stream", None) or sys.stderr
    quiet = bool(getattr(progress, "quiet", False))
    for service in services:
        build = sections.get(service)
        if build is None:
            continue
        options = build_options(ctx, service, build, no_cache=no_cache, build_args=build_args, pull=pull)
        out = Progress(stream, quiet=quiet)
        out.note(f"Building {service} -> {options.tags[0]}")
        try:
            result = Builder(engine, out).build(options)
        except ComposerError as err:
            raise ComposerError(f"service {service!r} failed to build: {err.message}") from None
        out.note(f"Built {options.tags[0]} ({result.image_id[:19]}, {result.cached}/{result.steps} steps cached)")


__all__ = ["BUILT_LABEL", "build_options", "build_sections", "build_services"]
