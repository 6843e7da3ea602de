"""Use cases and their inferred metadata schema (SPEC §3 rows 5-10)."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sightlog.server.deps import AppServices, JsonBody, ReadWorkspace, WriteWorkspace
from sightlog.server.responses import JSONResponse
from sightlog.services.use_cases import as_json

router = APIRouter(prefix="/vision-events", tags=["use cases"])


@router.get("/use-cases", summary="List use cases with their counters")
async def list_use_cases(
    workspace: ReadWorkspace, services: AppServices, status: str | None = None
) -> Response:
    use_cases = await run_in_threadpool(services.use_cases.list, workspace, status)
    return JSONResponse({"useCases": use_cases, "lookbackDays": None})


@router.post("/use-cases", status_code=201, summary="Create a use case")
async def create_use_case(workspace: WriteWorkspace, services: AppServices, body: JsonBody) -> Response:
    use_case = await run_in_threadpool(services.use_cases.create, workspace, body)
    return JSONResponse({"id": use_case.slug, "name": use_case.name}, status_code=201)


@router.put("/use-cases/{use_case_id}", summary="Rename a use case (its id never changes)")
async def rename_use_case(
    use_case_id: str, workspace: WriteWorkspace, services: AppServices, body: JsonBody
) -> Response:
    use_case = await run_in_threadpool(services.use_cases.rename, workspace, use_case_id, body)
    return JSONResponse({"id": use_case.slug, "name": use_case.name})


@router.patch("/use-cases/{use_case_id}", summary="Change a use case's settings (retentionDays)")
async def configure_use_case(
    use_case_id: str, workspace: WriteWorkspace, services: AppServices, body: JsonBody
) -> Response:
    use_case = await run_in_threadpool(services.use_cases.configure, workspace, use_case_id, body)
    return JSONResponse(as_json(use_case))


@router.post("/use-cases/{use_case_id}/archive", summary="Archive a use case")
async def archive_use_case(use_case_id: str, workspace: WriteWorkspace, services: AppServices) -> Response:
    await run_in_threadpool(services.use_cases.archive, workspace, use_case_id)
    return JSONResponse({"success": True})


@router.post("/use-cases/{use_case_id}/unarchive", summary="Make an archived use case active again")
async def unarchive_use_case(use_case_id: str, workspace: WriteWorkspace, services: AppServices) -> Response:
    await run_in_threadpool(services.use_cases.unarchive, workspace, use_case_id)
    return JSONResponse({"success": True})


@router.get("/custom-metadata-schema/{use_case_id}", summary="Custom-metadata fields seen, with their types")
async def metadata_schema(use_case_id: str, workspace: ReadWorkspace, services: AppServices) -> Response:
    return JSONResponse(await run_in_threadpool(services.use_cases.schema, workspace, use_case_id))
