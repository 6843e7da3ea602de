"""One event with its images in a tar or tar.gz body, for air-gapped sites (SPEC §3.8)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sightlog.server.deps import AppServices, WriteWorkspace
from sightlog.server.responses import JSONResponse
from sightlog.services.bundles import BundleLimits, ingest_bundle

PATH = "/vision-events/bundle"
router = APIRouter(tags=["events"])
_ARCHIVE = {"schema": {"type": "string", "format": "binary"}}


@router.post(
    PATH,
    status_code=201,
    summary="Create one event from a bundle: payload.json and its image files in a tar or tar.gz",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-tar": _ARCHIVE, "application/gzip": _ARCHIVE},
        }
    },
)
async def post_bundle(
    request: Request,
    workspace: WriteWorkspace,
    services: AppServices,
    use_case: Annotated[
        str | None, Query(alias="useCaseId", description="Overrides the useCaseId of payload.json")
    ] = None,
) -> Response:
    data = await request.body()
    limits = BundleLimits.from_settings(services.settings)
    event_id, created = await run_in_threadpool(
        ingest_bundle, services.images, services.ingest, limits, workspace, data, use_case
    )
    return JSONResponse({"eventId": event_id, "created": created}, status_code=201)
