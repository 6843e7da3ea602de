"""Reading events: queries with keyset cursors, single events, deletion, and the JSON they are shown as."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

import orjson
from pydantic import ValidationError

from sightlog.errors import BadRequest, ErrorDetail, NotFound, ValidationFailed
from sightlog.models.query import EventFilters, EventQuery, QueryPlan
from sightlog.models.records import ImageRecord, StoredEvent, UseCase, Workspace
from sightlog.services.timeutil import format_instant, parse_instant
from sightlog.services.validation import pydantic_details
from sightlog.store.base import EventStore

IMAGES_PATH = "/vision-events/images"
F = TypeVar("F", bound=EventFilters)


def encode_cursor(ts: int, event_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ts, event_id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        ts, event_id = orjson.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if isinstance(ts, int) and isinstance(event_id, str):
            return ts, event_id
    except (binascii.Error, orjson.JSONDecodeError, ValueError, TypeError):
        pass
    raise BadRequest("The cursor is not one this server returned; start again without it.")


def parse_model(model: type[F], raw: Any) -> F:
    if not isinstance(raw, dict):
        raise BadRequest("The body must be a JSON object.")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        details = pydantic_details(exc)
        first = details[0]
        raise ValidationFailed(f"The query is invalid: {first.loc} {first.message}.", details) from None


def image_urls(image: dict[str, Any], known: dict[str, ImageRecord]) -> dict[str, Any]:
    """Add ``url``, ``inputUrl``, ``thumbnailUrl``, ``width``, ``height`` to one stored image entry."""
    display = known.get(image.get("sourceId") or "")
    source = known.get(image.get("inputSourceId") or "")
    sized = source or display
    thumb_of = display or source
    return {
        **image,
        "url": f"{IMAGES_PATH}/{display.source_id}" if display else None,
        "inputUrl": f"{IMAGES_PATH}/{source.source_id}" if source else None,
        "thumbnailUrl": f"{IMAGES_PATH}/{thumb_of.source_id}/thumbnail" if thumb_of else None,
        "width": sized.width if sized else None,
        "height": sized.height if sized else None,
    }


class EventService:
    def __init__(self, store: EventStore, max_limit: int) -> None:
        self.store = store
        self.max_limit = max_limit

    def plan(self, workspace: Workspace, filters: EventFilters) -> tuple[QueryPlan, UseCase]:
        use_case = self._use_case(workspace, filters.useCaseId)
        types: set[str] | None = None
        if filters.eventType is not None:
            types = {filters.eventType}
        if filters.eventTypes is not None:
            types = set(filters.eventTypes) if types is None else types & set(filters.eventTypes)
        plan = QueryPlan(
            use_case_pk=use_case.pk,
            start_ts=_instant(filters.startTime, "startTime"),
            end_ts=_instant(filters.endTime, "endTime"),
            event_types=sorted(types) if types is not None else None,
            sources={
                name: flt
                for name in ("deviceId", "streamId", "workflowId", "externalId")
                if (flt := getattr(filters, name)) is not None
            },
            metadata_filters=filters.customMetadataFilters,
            field_filters=filters.eventFieldFilters,
            detection_filters=filters.detectionFilters,
            feedback=filters.feedback,
            has_warnings=filters.hasWarnings,
        )
        return plan, use_case

    def query(self, workspace: Workspace, raw: Any) -> dict[str, Any]:
        query = parse_model(EventQuery, raw)
        if query.limit > self.max_limit:
            raise ValidationFailed(
                f"limit may be at most {self.max_limit}.",
                [ErrorDetail("limit", f"must be ≤ {self.max_limit}")],
            )
        plan, use_case = self.plan(workspace, query)
        after = decode_cursor(query.cursor) if query.cursor else None
        stored = self.store.query_page(
            plan, descending=query.sort == "desc", limit=query.limit + 1, after=after
        )
        has_more = len(stored) > query.limit
        page = stored[: query.limit]
        return {
            "events": self.render(workspace, page),
            "nextCursor": encode_cursor(page[-1].ts, page[-1].event_id) if has_more else None,
            "hasMore": has_more,
            "lookbackDays": use_case.retention_days,
        }

    def count(self, workspace: Workspace, raw: Any) -> int:
        plan, _ = self.plan(workspace, parse_model(EventFilters, raw))
        return self.store.count(plan)

    def get(self, workspace: Workspace, event_id: str) -> dict[str, Any]:
        stored = self.store.get_event(workspace.pk, event_id)
        if stored is None:
            raise NotFound(f"No event '{event_id}' in this workspace.")
        return self.render(workspace, [stored])[0]

    def delete(self, workspace: Workspace, event_id: str) -> None:
        if not self.store.delete_event(workspace.pk, event_id):
            raise NotFound(f"No event '{event_id}' in this workspace.")

    def render(self, workspace: Workspace, stored: list[StoredEvent]) -> list[dict[str, Any]]:
        bodies = [orjson.loads(s.body) for s in stored]
        referenced = {
            img[key]
            for body in bodies
            for img in body.get("images") or ()
            for key in ("sourceId", "inputSourceId")
            if img.get(key)
        }
        known = self.store.find_images(workspace.pk, referenced)
        for body, s in zip(bodies, stored, strict=True):
            body["receivedAt"] = format_instant(s.received_at)
            body["feedback"] = {"status": s.feedback_status, "eventId": s.feedback_event_id}
            if body.get("images"):
                body["images"] = [image_urls(img, known) for img in body["images"]]
        return bodies

    def _use_case(self, workspace: Workspace, slug: str) -> UseCase:
        use_case = self.store.get_use_case(workspace.pk, slug)
        if use_case is None:
            raise NotFound(f"No use case '{slug}' in this workspace.")
        return use_case


def _instant(text: str | None, loc: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_instant(text)[0]
    except ValueError as exc:
        raise ValidationFailed(f"{loc}: {exc}.", [ErrorDetail(loc, str(exc))]) from None
