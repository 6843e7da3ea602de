"""Create, batch, query, count, read, delete events and give feedback (SPEC §3.2-3.6, §4)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sightlog.server.deps import AppServices, JsonBody, ReadWorkspace, WriteWorkspace
from sightlog.server.responses import JSONResponse

router = APIRouter(prefix="/vision-events", tags=["events"])


@router.post("", status_code=201, summary="Create (or overwrite) one event")
async def create_event(workspace: WriteWorkspace, services: AppServices, body: JsonBody) -> Response:
    event_id, created = await run_in_threadpool(services.ingest.create, workspace, body)
    return JSONResponse({"eventId": event_id, "created": created}, status_code=201)


@router.post("/batch", status_code=201, summary="Create up to 100 events, all or nothing")
async def create_batch(workspace: WriteWorkspace, services: AppServices, body: JsonBody) -> Response:
    ids = await run_in_threadpool(services.ingest.create_batch, workspace, body)
    return JSONResponse({"created": len(ids), "eventIds": ids}, status_code=201)


@router.post("/query", summary="Filter events, newest first, with a keyset cursor")
async def query_events(workspace: ReadWorkspace, services: AppServices, body: JsonBody) -> Response:
    return JSONResponse(await run_in_threadpool(services.events.query, workspace, body))


@router.post("/count", summary="Count the events matching the query filters")
async def count_events(workspace: ReadWorkspace, services: AppServices, body: JsonBody) -> Response:
    return JSONResponse({"count": await run_in_threadpool(services.events.count, workspace, body)})


@router.post("/aggregate", summary="Counts per time bucket (in a time zone) and up to two group keys")
async def aggregate_events(workspace: ReadWorkspace, services: AppServices, body: JsonBody) -> Response:
    return JSONResponse(await run_in_threadpool(services.aggregates.aggregate, workspace, body))


@router.get("/events/{event_id:path}", summary="One event, as in query results")
async def get_event(event_id: str, workspace: ReadWorkspace, services: AppServices) -> Response:
    return JSONResponse(await run_in_threadpool(services.events.get, workspace, event_id))


@router.delete("/events/{event_id:path}", status_code=204, summary="Delete one event")
async def delete_event(event_id: str, workspace: WriteWorkspace, services: AppServices) -> Response:
    await run_in_threadpool(services.events.delete, workspace, event_id)
    return Response(status_code=204)


@router.post(
    "/events/{event_id:path}/feedback", status_code=201, summary="Store operator feedback on one event"
)
async def give_feedback(
    event_id: str, workspace: WriteWorkspace, services: AppServices, body: JsonBody
) -> Any:
    feedback_id = await run_in_threadpool(services.ingest.feedback, workspace, event_id, body)
    return JSONResponse({"eventId": feedback_id, "created": True}, status_code=201)
