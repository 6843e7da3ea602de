"""Image upload, bytes and thumbnails (SPEC §3.1, §4)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.responses import FileResponse, Response, StreamingResponse

from sightlog.errors import BadRequest
from sightlog.server.deps import AppServices, ReadWorkspace, WriteWorkspace
from sightlog.server.responses import JSONResponse

router = APIRouter(prefix="/vision-events", tags=["images"])
# Blobs are content-addressed and never change, so clients may cache them for good.
CACHE_FOREVER = "private, max-age=31536000, immutable"


@router.post("/upload", status_code=201, summary="Upload an image (multipart field 'file')")
async def upload_image(request: Request, workspace: WriteWorkspace, services: AppServices) -> Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise BadRequest("Send the image as multipart/form-data with the bytes in the 'file' field.")
    async with request.form(max_files=1, max_fields=10) as form:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise BadRequest("The multipart body has no 'file' field with the image bytes.")
        name = form.get("name")
        metadata = form.get("metadata")
        result = await run_in_threadpool(
            services.images.upload,
            workspace,
            upload.file,
            name if isinstance(name, str) else upload.filename,
            metadata if isinstance(metadata, str) else None,
        )
    return JSONResponse(result, status_code=201)


def _blob_response(request: Request, services: AppServices, sha256: str, mime: str) -> Response:
    etag = f'"{sha256}"'
    headers = {"ETag": etag, "Cache-Control": CACHE_FOREVER}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    path = services.images.local_path(sha256)
    if path is not None:
        return FileResponse(path, media_type=mime, headers=headers)
    return StreamingResponse(
        iterate_in_threadpool(services.images.iter_bytes(sha256)), media_type=mime, headers=headers
    )


@router.get("/images/{source_id}", summary="The original image bytes")
async def image_bytes(
    source_id: str, request: Request, workspace: ReadWorkspace, services: AppServices
) -> Response:
    record = await run_in_threadpool(services.images.get, workspace, source_id)
    return _blob_response(request, services, record.sha256, record.mime)


@router.get("/images/{source_id}/thumbnail", summary="A thumbnail, longest side ≤ 320 px")
async def image_thumbnail(
    source_id: str, request: Request, workspace: ReadWorkspace, services: AppServices
) -> Response:
    sha256, mime = await run_in_threadpool(services.images.thumbnail, workspace, source_id)
    return _blob_response(request, services, sha256, mime)


@router.get(
    "/events/{event_id:path}/images/{index}/annotated", summary="An event image with predictions drawn"
)
async def annotated_image(
    event_id: str, index: int, workspace: ReadWorkspace, services: AppServices
) -> Response:
    data = await run_in_threadpool(services.images.annotated, workspace, event_id, index)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, no-cache"})
