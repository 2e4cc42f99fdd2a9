"""How errors and warnings reach the terminal: one line each, never a traceback for a user mistake."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from composer.errors import ComposerError

PREFIX = "composer"


def error_lines(err: ComposerError) -> list[str]:
    """`composer: error: FILE:LINE:COL: message`, each hint on its own `hint:` line."""
    return [line if line.startswith("hint: ") else f"{PREFIX}: error: {line}" for line in err.lines()]


def warn(messages: Iterable[str]) -> None:
    for message in messages:
        click.echo(f"{PREFIX}: warning: {message}", err=True)


def run_guarded(fn: Callable[[], Any]) -> None:
    """Run the CLI; map user errors to exit 1 and click's usage errors to Compose's exit code 1."""
    try:
        result = fn()
    except ComposerError as err:
        for line in error_lines(err):
            click.echo(line, err=True)
        sys.exit(1)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.NoArgsIsHelpError as exc:
        click.echo(exc.format_message())  # `composer` alone: the help, as `docker compose` does
        sys.exit(0)
    except click.UsageError as exc:
        click.echo(f"{PREFIX}: error: {exc.format_message()}", err=True)
        command = exc.ctx.command_path if exc.ctx is not None else PREFIX
        click.echo(f"hint: see '{command} --help'", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        click.echo(f"{PREFIX}: error: {exc.format_message()}", err=True)
        sys.exit(1)
    except click.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(0)
    sys.exit(result if isinstance(result, int) else 0)


def for_each_ref(
    refs: Iterable[str], action: Callable[[str], Any], *, skip: Callable[[ComposerError], bool] | None = None
) -> int:
    """Apply `action` to each ref, echoing each one done and each error, as `docker rm a b c` does: 1 if any failed.

    `skip` says which errors are not failures (`network rm -f` of a missing network)."""
    failed = 0
    for ref in refs:
        try:
            action(ref)
        except ComposerError as err:
            if skip is not None and skip(err):
                continue
            failed += 1
            for line in error_lines(err):
                click.echo(line, err=True)
            continue
        click.echo(ref)
    return 1 if failed else 0
