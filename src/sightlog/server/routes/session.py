"""Health, and the two endpoints the ``roboflow`` SDK calls to validate a key (SPEC §3 rows 12-13, §4)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sightlog import __version__
from sightlog.errors import Forbidden, Unavailable
from sightlog.server.deps import AppServices, presented_key
from sightlog.server.errors import error_response
from sightlog.server.responses import JSONResponse

router = APIRouter(tags=["session"])


@router.get("/health", summary="Liveness and readiness; no key needed")
async def health(services: AppServices) -> Response:
    try:
        await run_in_threadpool(services.check)
    except Unavailable as exc:
        return error_response(503, exc.message, exc.code)
    return JSONResponse(
        {
            "status": "ok",
            "version": __version__,
            "store": services.store.backend,
            "blobs": services.blobs.backend,
        }
    )


@router.post("/", summary="Validate a key; answers its workspace slug (roboflow SDK)")
async def validate_key(request: Request, services: AppServices) -> Response:
    key = await run_in_threadpool(services.auth.authenticate, presented_key(request))
    return JSONResponse({"workspace": key.workspace.slug})


@router.get("/{workspace_slug}", summary="Workspace info for the roboflow SDK's Roboflow.workspace()")
async def workspace_info(workspace_slug: str, request: Request, services: AppServices) -> Response:
    key = await run_in_threadpool(services.auth.authenticate, presented_key(request))
    if key.workspace.slug != workspace_slug:
        raise Forbidden("This API key belongs to another workspace.")
    workspace = key.workspace
    return JSONResponse(
        {"workspace": {"name": workspace.name, "url": workspace.slug, "projects": [], "members": []}}
    )
