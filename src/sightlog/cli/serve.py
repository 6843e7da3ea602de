"""``sightlog serve``: check the address and data directory, bootstrap, then run uvicorn."""

from __future__ import annotations

import errno
import os
import signal
import socket
import uuid
from pathlib import Path
from typing import Annotated

import typer

from sightlog.cli.console import err as console
from sightlog.cli.options import DatabaseUrl, DataDir, settings_from
from sightlog.config import Settings
from sightlog.errors import SightlogError
from sightlog.services import Services


def _fail(message: str) -> typer.Exit:
    console.print(f"[red]error:[/red] {message}")
    return typer.Exit(2)


def _check_data_dir(path: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise _fail(
            f"The data directory {path} is not writable ({exc.strerror}). Choose another with --data-dir."
        ) from None


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise _fail(
                f"Port {port} on {host} is already in use. Stop the other process or pick --port."
            ) from None
        raise _fail(f"Cannot listen on {host}:{port} ({exc.strerror}).") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def serve(
    host: Annotated[
        str | None, typer.Option(help="Interface to listen on [env: SIGHTLOG_HOST; default 127.0.0.1].")
    ] = None,
    port: Annotated[int | None, typer.Option(help="Port [env: SIGHTLOG_PORT; default 8400].")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Server processes sharing the port, to use more cores [env: SIGHTLOG_WORKERS; default 1].",
        ),
    ] = None,
) -> None:
    """Run the Sightlog server (SQLite and a local image folder unless told otherwise).

    ```
    sightlog serve --host 0.0.0.0 --port 8400 --data-dir /var/lib/sightlog
    ```
    """
    settings: Settings = settings_from(data_dir, database_url, host=host, port=port, workers=workers)
    _check_data_dir(settings.data_dir)
    sock = _bind(settings.host, settings.port)
    try:
        services = Services.open(settings)
        boot = services.auth.bootstrap(settings.data_dir, settings.bootstrap_key)
    except SightlogError as exc:
        raise _fail(exc.message) from None

    url = f"http://{settings.host}:{settings.port}"
    console.print(f"Sightlog {services.store.backend} store in [bold]{settings.data_dir.resolve()}[/bold]")
    if boot is not None:
        console.print("First start: created workspace [bold]default[/bold] with an admin API key:")
        console.print(f"    [bold green]{boot.key}[/bold green]")
        console.print(f"  (also saved to {boot.key_file}, mode 0600; it is not shown again)")
    console.print(f"Serving on [bold]{url}[/bold]  — API reference at {url}/docs")
    console.print(f"Authenticate with:  curl -H 'Authorization: Bearer <key>' {url}/vision-events/use-cases")

    # uvicorn re-raises the stop signal once it has shut down, which would kill the process before the
    # store is closed; with these no-op handlers in place, that re-raise is harmless and `finally` runs.
    for stop_signal in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop_signal, lambda *_: None)
    try:
        if settings.workers > 1:
            services.close()  # each worker opens its own
            _run_workers(settings, sock)
        else:
            _run_single(settings, services, sock)
    finally:
        services.close()
        console.print("Sightlog stopped.")


def _uvicorn_options() -> dict[str, object]:
    return {"log_level": os.environ.get("SIGHTLOG_LOG_LEVEL", "warning"), "access_log": False}


def _run_single(settings: Settings, services: Services, sock: socket.socket) -> None:
    import uvicorn  # imported here so that admin commands start fast

    from sightlog import heap
    from sightlog.server.app import create_app

    app = create_app(settings, services)
    heap.settle()
    uvicorn.Server(uvicorn.Config(app, **_uvicorn_options())).run(sockets=[sock])


def _run_workers(settings: Settings, sock: socket.socket) -> None:
    """Several processes on one socket, to use every core; each builds its app from the environment."""
    import uvicorn
    from uvicorn.supervisors import Multiprocess

    os.environ.update(
        SIGHTLOG_DATA_DIR=str(settings.data_dir.resolve()),
        SIGHTLOG_DATABASE_URL=settings.resolved_database_url(),
        SIGHTLOG_HOST=settings.host,
        SIGHTLOG_PORT=str(settings.port),
        SIGHTLOG_SUPERVISOR_PID=str(os.getpid()),
    )
    app = "sightlog.server.app:app_from_environment"
    config = uvicorn.Config(app, factory=True, workers=settings.workers, **_uvicorn_options())
    Multiprocess(config, sockets=[sock]).run()
