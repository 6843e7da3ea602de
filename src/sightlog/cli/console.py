"""Consoles for the CLI. When output is captured (scripts, logs), rich would lay it out at 80 columns and
cut table cells short; a wide fixed width keeps every row and message whole."""

from __future__ import annotations

import sys

from rich.console import Console

CAPTURED_WIDTH = 400


def _console(stream_is_tty: bool, *, stderr: bool) -> Console:
    return Console(
        stderr=stderr, width=None if stream_is_tty else CAPTURED_WIDTH, soft_wrap=not stream_is_tty
    )


out = _console(sys.stdout.isatty(), stderr=False)
err = _console(sys.stderr.isatty(), stderr=True)
