"""The FastAPI application factory."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from sightlog import __version__, heap
from sightlog.config import MIB, Settings
from sightlog.server import errors
from sightlog.server.limits import BodySizeLimit
from sightlog.server.routes import bundle, events, images, session, ui, use_cases
from sightlog.services import Services

# Writes wait on the group-commit writer from worker threads; allow enough of them to fill a group.
WORKER_THREADS = 64


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app; the store is opened at startup unless ``services`` is given (tests)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        to_thread.current_default_thread_limiter().total_tokens = WORKER_THREADS
        owned = services is None
        app.state.services = services or Services.open(settings)
        app.state.services.store.start_writer()
        try:
            yield
        finally:
            if owned:
                app.state.services.close()

    app = FastAPI(
        title="Sightlog",
        version=__version__,
        summary="Self-hosted datastore for vision events, wire-compatible with Roboflow Vision Events.",
        lifespan=lifespan,
    )
    errors.install(app)
    ui.install(app, settings)  # first: its GET / (redirect to the dashboard) wins over session's
    # Ordered so that /vision-events/... wins over the catch-all /{workspace} of the session router, and
    # .../events/{id}/images/{i}/annotated over .../events/{id} (event ids may hold slashes).
    for module in (images, events, use_cases, bundle, session):
        app.include_router(module.router)

    upload_limit = settings.max_image_bytes + MIB  # multipart framing and the small form fields

    def limit_for(path: str) -> int:
        if path == bundle.PATH:
            return settings.max_bundle_bytes
        return upload_limit if path == "/vision-events/upload" else settings.max_body_bytes

    app.add_middleware(BodySizeLimit, limit_for=limit_for)
    return app


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``sightlog serve --workers N``, configured by SIGHTLOG_* variables."""
    _exit_with_parent()
    app = create_app(Settings())
    heap.settle()
    return app


def _exit_with_parent() -> None:
    """Ask Linux to SIGTERM this worker when the supervising ``serve`` process dies, even by SIGKILL, so a
    killed server never leaves workers holding its port and data."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(None, use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)
    # The supervisor may have died while this worker was still starting, before the request above.
    supervisor = os.environ.get("SIGHTLOG_SUPERVISOR_PID")
    if supervisor and os.getppid() != int(supervisor):
        raise SystemExit("the sightlog serve process that started this worker is gone")
