"""``sightlog agent``: run the edge store-and-forward agent in front of a Sightlog server."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path
from typing import Annotated

import typer

from sightlog.agent.config import AgentConfig
from sightlog.cli.console import err as console
from sightlog.cli.console import fail, reported_errors
from sightlog.cli.remote import ApiKey
from sightlog.cli.serve import _bind, _uvicorn_options
from sightlog.sdk._transport import API_KEY_ENV

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)(?:I?B)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def parse_size(text: str) -> int:
    """``"20GB"`` → bytes (units are powers of 1024; ``"500MB"``, ``"1.5G"``, ``"1048576"`` all work)."""
    match = _SIZE.match(text)
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a size such as 500MB or 20GB.", param_hint="--max-bytes")
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def agent(
    upstream: Annotated[
        str,
        typer.Option(
            "--upstream",
            envvar="SIGHTLOG_UPSTREAM",
            metavar="URL",
            help="Base URL of the server to forward to.",
        ),
    ],
    api_key: ApiKey = None,
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8401,
    data_dir: Annotated[Path, typer.Option("--data-dir", help="Where the outbox is kept.")] = Path(
        "sightlog-agent"
    ),
    device_id: Annotated[
        str | None,
        typer.Option(help="deviceId given to forwarded events that name none [default: the host name]."),
    ] = None,
    max_bytes: Annotated[
        str,
        typer.Option(
            metavar="SIZE", help="Disk quota of the outbox (event bodies and images): 500MB, 20GB..."
        ),
    ] = "10GB",
    max_events: Annotated[
        int, typer.Option(min=1, help="Events the outbox holds, delivered or not.")
    ] = 1_000_000,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per request upstream.")] = 100,
    max_backoff: Annotated[
        float,
        typer.Option(
            min=0.1, metavar="SECONDS", help="Longest wait between attempts while upstream is away."
        ),
    ] = 30.0,
    local_keys: Annotated[
        list[str] | None,
        typer.Option(
            "--local-key", metavar="KEY", help="Another key clients may use with the agent (repeatable)."
        ),
    ] = None,
    allow_anonymous: Annotated[
        bool, typer.Option("--allow-anonymous", help="Accept requests that carry no key at all.")
    ] = False,
) -> None:
    """Run the edge agent: accept events and images durably, and forward them to a Sightlog server.

    The agent speaks the server's write API (upload, create, batch, bundle, and the key check of the
    `roboflow` SDK) and `POST /v2/events` of Roboflow `inference`'s local event store, so cameras and
    pipelines point at it instead of the server. It answers only once the data is on its disk, and
    delivers everything upstream (images first, then events in batches) when upstream is reachable,
    resuming after restarts. Clients use `--api-key` (the upstream key) or a `--local-key`;
    `--allow-anonymous` suits `inference`, which sends a key only when `EVENT_INGESTION_API_KEY` is set.

    When the outbox reaches `--max-bytes` or `--max-events`, delivered data is pruned, oldest first; when
    it is full of undelivered data, writes are answered 529 until upstream catches up. `GET /health` and
    `GET /metrics` (Prometheus) report the queue, the delivery rate and the last upstream error.

    ```
    sightlog agent --upstream http://sightlog.example.com:8400 --api-key $KEY --max-bytes 20GB
    ```
    """
    if not api_key:
        raise fail(f"no API key: pass --api-key (the upstream server's key) or set {API_KEY_ENV}.")
    config = AgentConfig(
        upstream=upstream,
        api_key=api_key,
        data_dir=data_dir,
        device_id=device_id or socket.gethostname(),
        max_bytes=parse_size(max_bytes),
        max_events=max_events,
        batch_size=batch_size,
        max_backoff=max_backoff,
        local_keys=frozenset(local_keys or ()),
        allow_anonymous=allow_anonymous,
    )
    sock = _bind(host, port)
    _run(config, sock, f"http://{host}:{port}")


def _run(config: AgentConfig, sock: socket.socket, url: str) -> None:
    import uvicorn  # imported here, as by `sightlog serve`, so that other commands start fast

    from sightlog import heap
    from sightlog.agent.app import create_agent_app
    from sightlog.agent.runtime import Runtime

    with reported_errors():
        runtime = Runtime(config)
    console.print(f"Sightlog agent on [bold]{url}[/bold], outbox in [bold]{config.data_dir.resolve()}[/bold]")
    console.print(f"Forwarding to {config.upstream} as device '{config.device_id}'; health at {url}/health")
    # As in `sightlog serve`: uvicorn re-raises the stop signal after its shutdown; with these handlers in
    # place that is harmless, and the outbox is closed below.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    app = create_agent_app(runtime)
    heap.settle()
    try:
        uvicorn.Server(uvicorn.Config(app, **_uvicorn_options())).run(sockets=[sock])
    finally:
        runtime.close()
        console.print("Sightlog agent stopped.")
