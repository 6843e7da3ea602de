"""The events before and after one event in a filtered, sorted list: the detail view's previous / next."""

from __future__ import annotations

from typing import Any

from sightlog.errors import BadRequest, NotFound
from sightlog.models.records import Workspace
from sightlog.services import Services
from sightlog.services.events import encode_cursor


def neighbours(services: Services, workspace: Workspace, body: Any) -> dict[str, str | None]:
    """``{"previous", "next"}`` event ids around ``body["eventId"]`` under the query filters of ``body``.

    A keyset cursor built from the event itself pages one step each way, so the answer is right whether
    or not the event matches the filters (it may no longer, e.g. after feedback changed its status).
    """
    if not isinstance(body, dict) or not isinstance(body.get("eventId"), str):
        raise BadRequest("Send the query filters and the 'eventId' to look around.")
    stored = services.store.get_event(workspace.pk, body["eventId"])
    if stored is None:
        raise NotFound(f"No event '{body['eventId']}' in this workspace.")
    filters = {k: v for k, v in body.items() if k not in ("eventId", "cursor", "limit", "sort")}
    cursor = encode_cursor(stored.ts, stored.event_id)
    order = "asc" if body.get("sort") == "asc" else "desc"
    reverse = "desc" if order == "asc" else "asc"

    def step(sort: str) -> str | None:
        page = services.events.query(workspace, {**filters, "sort": sort, "limit": 1, "cursor": cursor})
        return page["events"][0]["eventId"] if page["events"] else None

    return {"previous": step(reverse), "next": step(order)}
