"""Consoles for the CLI. When output is captured (scripts, logs), rich would lay it out at 80 columns and
cut table cells short; a wide fixed width keeps every row and message whole."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager

import typer
from rich.console import Console

from sightlog.errors import SightlogError

CAPTURED_WIDTH = 400


def _console(stream_is_tty: bool, *, stderr: bool) -> Console:
    return Console(
        stderr=stderr, width=None if stream_is_tty else CAPTURED_WIDTH, soft_wrap=not stream_is_tty
    )


out = _console(sys.stdout.isatty(), stderr=False)
err = _console(sys.stderr.isatty(), stderr=True)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn a Sightlog error into one line on stderr and exit status 1, never a traceback."""
    try:
        yield
    except SightlogError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
