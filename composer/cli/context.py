"""Global options, parsed once at the edge into a typed value (no click objects past here)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from composer.schema.loader import LoadedProject


@dataclass(frozen=True)
class GlobalOptions:
    files: tuple[str, ...] = ()
    project_name: str | None = None
    profiles: tuple[str, ...] = ()
    env_files: tuple[str, ...] = ()
    project_directory: str | None = None
    parallel: int | None = None
    dry_run: bool = False
    ansi: str = "auto"
    progress: str | None = None
    strict: bool = False
    """`--strict`: a Compose key composer ignores or only partly honours is an error, not a warning."""

    @classmethod
    def from_click(cls, options: dict[str, Any]) -> GlobalOptions:
        return cls(
            files=tuple(options.get("files") or ()),
            project_name=options.get("project_name"),
            profiles=tuple(options.get("profiles") or ()),
            env_files=tuple(options.get("env_files") or ()),
            project_directory=options.get("project_directory"),
            parallel=options.get("parallel"),
            dry_run=bool(options.get("dry_run")),
            ansi=options.get("ansi") or "auto",
            progress=options.get("progress"),
            strict=bool(options.get("strict")),
        )

    def _options(self, **kwargs: Any) -> Any:
        from composer.schema.options import STDIN, LoadOptions

        stdin = sys.stdin.buffer.read() if STDIN in self.files else None
        return LoadOptions(
            cwd=os.getcwd(), environ=dict(os.environ), files=self.files, project_name=self.project_name,
            project_directory=self.project_directory, env_files=self.env_files, profiles=self.profiles,
            stdin=stdin, **kwargs,
        )

    def load_name(self) -> str:
        """Only the project's name (the rules of `load`, without loading the model): for `ps` and the like."""
        from composer.hostfs import HostFS
        from composer.schema.loader import load_project_name

        return load_project_name(self._options(), HostFS())

    def load(self, *, services: tuple[str, ...] = (), interpolate: bool = True, normalize: bool = True,
             resolve_paths: bool = True) -> LoadedProject:
        """Load the project these options name, reading stdin when a file is `-`."""
        from composer.hostfs import HostFS
        from composer.schema.loader import load_project

        options = self._options(services=services, interpolate=interpolate, normalize=normalize,
                                resolve_paths=resolve_paths)
        loaded = load_project(options, HostFS())
        if self.strict and loaded.unsupported:
            from composer.errors import ComposerError, ConfigErrors, Span

            errors = sorted((ComposerError(text, span=span) for text, span in loaded.unsupported),
                            key=lambda e: (e.span is None, e.span or Span("", 0, 0), e.message))
            errors[-1].hint = "--strict makes these errors: remove the keys, or run without --strict"
            raise ConfigErrors(errors)
        return loaded
