"""The agent's ASGI app: the server's own write routes over the outbox, ``/v2/events``, health, metrics."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.responses import PlainTextResponse, Response

from sightlog import __version__
from sightlog.agent import report, v2
from sightlog.agent.runtime import Runtime
from sightlog.config import MIB, Settings
from sightlog.server import errors
from sightlog.server.limits import BodySizeLimit
from sightlog.server.responses import JSONResponse
from sightlog.server.routes import bundle, events, images, session

UPLOAD_PATH = "/vision-events/upload"
# The server's handlers, reused as they are: the write API (SPEC §3 rows 1-3 and 11) and the two calls
# the roboflow SDK makes to check a key (rows 12-13). The catch-all GET /{workspace_slug} goes last.
SERVER_ROUTES = [
    ("POST", UPLOAD_PATH),
    ("POST", "/vision-events"),
    ("POST", "/vision-events/batch"),
    ("POST", bundle.PATH),
    ("POST", "/"),
    ("GET", "/{workspace_slug}"),
]


def create_agent_app(runtime: Runtime) -> FastAPI:
    app = FastAPI(
        title="Sightlog edge agent",
        version=__version__,
        summary="Accepts vision events and images durably, and forwards them to a Sightlog server.",
    )
    app.state.services = runtime.services
    app.state.runtime = runtime
    errors.install(app)

    @app.get("/health", tags=["agent"], summary="Queue depth, bytes, delivery rate, last upstream error")
    async def health() -> Response:
        return JSONResponse(await run_in_threadpool(runtime.health))

    @app.get("/metrics", tags=["agent"], summary="The /health figures in the Prometheus text format")
    async def metrics() -> Response:
        body = report.prometheus(await run_in_threadpool(runtime.health))
        return PlainTextResponse(body, media_type="text/plain; version=0.0.4")

    app.include_router(v2.router)
    app.router.routes.extend(_server_routes())
    app.add_middleware(BodySizeLimit, limit_for=_limits(runtime.config.limits))
    return app


def _server_routes() -> list[APIRoute]:
    available = {
        (method, route.path): route
        for module in (images, events, bundle, session)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    }
    return [available[wanted] for wanted in SERVER_ROUTES]


def _limits(settings: Settings) -> Callable[[str], int]:
    upload = settings.max_image_bytes + MIB  # multipart framing and the small form fields

    def limit_for(path: str) -> int:
        if path == UPLOAD_PATH:
            return upload
        if path in (bundle.PATH, v2.PATH):  # an event with its images inside
            return settings.max_bundle_bytes
        return settings.max_body_bytes

    return limit_for
