"""The connection options of the commands that talk to a Sightlog server over HTTP, through the SDK."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from sightlog.cli.console import fail, reported_errors
from sightlog.sdk import Client
from sightlog.sdk._transport import API_KEY_ENV, DEFAULT_SERVER, SERVER_ENV

__all__ = ["DEFAULT_SERVER", "ApiKey", "ServerUrl", "connected"]

ServerUrl = Annotated[
    str,
    typer.Option("--server", envvar=SERVER_ENV, metavar="URL", help="Base URL of the Sightlog server."),
]
ApiKey = Annotated[
    str | None,
    typer.Option(
        "--api-key", envvar=API_KEY_ENV, metavar="KEY", show_default=False, help="API key of the workspace."
    ),
]


@contextmanager
def connected(server: str, api_key: str | None) -> Iterator[Client]:
    """A client for the server; any SDK error inside the block becomes one line on stderr and exit 1."""
    if not api_key:
        raise fail(f"no API key: pass --api-key or set {API_KEY_ENV}.")
    with reported_errors(), Client(server, api_key) as client:
        yield client
