"""Consoles for the CLI, and the one way it reports a failure. When output is captured (scripts, logs),
rich would lay it out at 80 columns and cut table cells short; a wide fixed width keeps every row and
message whole."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from sightlog.errors import SightlogError
from sightlog.sdk.errors import SightlogError as ClientError

CAPTURED_WIDTH = 400


def _console(stream_is_tty: bool, *, stderr: bool) -> Console:
    return Console(
        stderr=stderr, width=None if stream_is_tty else CAPTURED_WIDTH, soft_wrap=not stream_is_tty
    )


out = _console(sys.stdout.isatty(), stderr=False)
err = _console(sys.stderr.isatty(), stderr=True)


def fail(message: str) -> typer.Exit:
    """Print ``error: message`` on stderr; raise the returned exit (status 1)."""
    err.print(f"[red]error:[/red] {escape(message)}")
    return typer.Exit(1)


def one_line(exc: SightlogError | ClientError) -> str:
    """An error with its per-field details folded into one line, as scripts and logs want it."""
    details = "; ".join(f"{d.loc}: {d.message}" if d.loc else d.message for d in exc.details)
    return f"{exc.message} ({details})" if details else exc.message


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a Sightlog error (of a local store or of a server the SDK talks to) into one line on stderr
    and exit status 1, never a traceback."""
    try:
        yield
    except (SightlogError, ClientError) as exc:
        raise fail(one_line(exc)) from None


def print_json(value: object) -> None:
    """JSON on stdout, indented, without rich's highlighting or wrapping, so that it pipes into ``jq``."""
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def short_time(moment: datetime | None) -> str:
    """An instant as table cells show it: UTC, to the second."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def progress_bar() -> Progress:
    """A progress bar on stderr; drawn only on a terminal, so that logs and captured output stay clean."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
