"""``POST /v2/events``: the local event-store API that Roboflow ``inference`` workflows write to.

A workflow's vision-events block in event-store mode posts one event per request, in snake_case, with its
images inline as base64, and expects ``201 {"id": ...}``. The agent maps it onto a Sightlog event::

    solution              → useCaseId          event_data        → eventData
    event_schema          → eventType          custom_metadata   → customMetadata
    inference_timestamp   → timestamp          device_id, stream_id, workflow_id → deviceId, streamId,
      (ISO 8601, or seconds since the epoch;     workflowId
       now when absent)                        display_image_position → displayImagePosition
    event_id              → eventId (a new UUID when absent; it is the "id" answered)
    images[i].base64Image       → an upload, whose sourceId goes to images[i].sourceId
    images[i].inputBase64Image  → an upload, whose sourceId goes to images[i].inputSourceId

Everything else passes as is (camelCase keys such as ``displayImagePosition``, ``label`` and the
prediction lists of image entries are already Sightlog's). Validation is the server's; problems are
reported under the names the client sent.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from typing import Any

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from sightlog.errors import BadRequest, ErrorDetail, ValidationFailed
from sightlog.server.deps import AppServices, JsonBody, WriteWorkspace
from sightlog.server.responses import JSONResponse
from sightlog.services.bundles import Attachments, ImageFile, ingest_with_files
from sightlog.services.ingest import _failed
from sightlog.services.timeutil import format_instant, now_us

PATH = "/v2/events"
RENAMED = {
    "event_id": "eventId",
    "solution": "useCaseId",
    "event_schema": "eventType",
    "inference_timestamp": "timestamp",
    "event_data": "eventData",
    "custom_metadata": "customMetadata",
    "device_id": "deviceId",
    "stream_id": "streamId",
    "workflow_id": "workflowId",
    "display_image_position": "displayImagePosition",
}
_CLIENT_NAMES = {camel: snake for snake, camel in RENAMED.items()}
IMAGE_BYTES = {"base64Image": "sourceId", "inputBase64Image": "inputSourceId"}

router = APIRouter(tags=["inference event store"])


@router.post(PATH, status_code=201, summary="Store one event of Roboflow inference's local event-store API")
async def post_v2_event(workspace: WriteWorkspace, services: AppServices, body: JsonBody) -> Response:
    def store() -> str:
        event, files = from_v2(body)
        try:
            event_id, _ = ingest_with_files(services.images, services.ingest, workspace, event, files)
        except ValidationFailed as exc:
            raise _in_client_terms(exc) from None
        return event_id

    return JSONResponse({"id": await run_in_threadpool(store)}, status_code=201)


def from_v2(payload: Any) -> tuple[dict[str, Any], Attachments]:
    """The Sightlog event of a ``/v2/events`` body, and the decoded images its entries carried."""
    if not isinstance(payload, dict):
        raise BadRequest("The body must be a JSON object: one event of the inference event-store API.")
    event = {RENAMED.get(key, key): value for key, value in payload.items()}
    event.setdefault("eventId", str(uuid.uuid4()))
    stamp = event.get("timestamp")
    if stamp is None:
        event["timestamp"] = format_instant(now_us())
    elif isinstance(stamp, int | float) and not isinstance(stamp, bool):
        event["timestamp"] = format_instant(int(stamp * 1_000_000))
    files: Attachments = {}
    if isinstance(event.get("images"), list):
        entries: list[Any] = []
        for index, entry in enumerate(event["images"]):
            if isinstance(entry, dict):
                entry = dict(entry)
                for field, key in IMAGE_BYTES.items():
                    encoded = entry.pop(field, None)
                    if encoded is not None:
                        where = f"images[{index}].{field}"
                        files[(index, key)] = ImageFile(where, _decoded(encoded, where))
            entries.append(entry)
        event["images"] = entries
    return event, files


def _decoded(encoded: Any, where: str) -> bytes:
    if isinstance(encoded, str):
        # Accept data URLs ("data:image/jpeg;base64,...") and line-wrapped base64 too.
        text = "".join(encoded.partition(",")[2].split() if encoded.startswith("data:") else encoded.split())
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            pass
    raise _failed([ErrorDetail(where, "must be base64-encoded image bytes")])


def _in_client_terms(exc: ValidationFailed) -> ValidationFailed:
    """The same problems, located by the snake_case names the client used (``solution``, not useCaseId)."""
    details = []
    for detail in exc.details:
        head, dot, rest = detail.loc.partition(".")
        details.append(ErrorDetail(_CLIENT_NAMES.get(head, head) + dot + rest, detail.message))
    return _failed(details)
