"""Keep the help of positional arguments visible.

Typer (up to at least 0.25) stores an argument's ``help`` on the object and then calls
``click.Argument.__init__``, which since Click 8.5 takes a ``help`` of its own and resets the attribute to
``None``: every argument would show up in ``--help`` (and in docs/cli.md) without its description.
"""

from __future__ import annotations

import functools
from typing import Any

from typer.core import TyperArgument

_original_init = TyperArgument.__init__


@functools.wraps(_original_init)
def _init_keeping_help(self: TyperArgument, *args: Any, help: str | None = None, **kwargs: Any) -> None:
    _original_init(self, *args, help=help, **kwargs)
    self.help = help


def keep_argument_help() -> None:
    """Install the fix; harmless where Typer and Click already agree."""
    TyperArgument.__init__ = _init_keeping_help  # type: ignore[method-assign]
