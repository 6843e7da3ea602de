"""Creating events: validate every event, resolve use cases and images, write them in one transaction."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from sightlog.errors import BadRequest, ErrorDetail, NotFound, ValidationFailed
from sightlog.models.records import EventRow, Workspace
from sightlog.services.timeutil import format_instant, now_us
from sightlog.services.validation import ValidEvent, predictions_of, validate_event
from sightlog.store.base import EventStore

_VALUE_TYPE_NAMES = {"s": "string", "n": "number", "b": "boolean"}


def _attr(ns: str, key: str, value: Any) -> tuple[str, str, str, str | None, float | None] | None:
    if isinstance(value, bool):
        return (ns, key, "b", None, float(value))
    if isinstance(value, int | float):
        return (ns, key, "n", None, float(value))
    if isinstance(value, str):
        return (ns, key, "s", value, None)
    return (ns, key, "x", None, None)  # null, list or object: only its presence is filterable


def to_row(event: ValidEvent, use_case_pk: int) -> EventRow:
    body = event.body
    data = body.get("eventData") or {}
    metadata = body.get("customMetadata") or {}
    attrs = [a for k, v in metadata.items() if (a := _attr("m", k, v))]
    metadata_types = [(a[1], _VALUE_TYPE_NAMES[a[2]]) for a in attrs]
    attrs += [a for k, v in data.items() if (a := _attr("d", k, v))]
    is_feedback = event.event_type == "operator_feedback"
    external_id = data.get("externalId")
    stored = dict(body, warnings=event.warnings)
    return EventRow(
        event_id=event.event_id,
        use_case_pk=use_case_pk,
        event_type=event.event_type,
        ts=event.ts,
        device_id=body.get("deviceId"),
        stream_id=body.get("streamId"),
        workflow_id=body.get("workflowId"),
        external_id=external_id if isinstance(external_id, str) else None,
        related_event_id=data.get("relatedEventId") if is_feedback else None,
        feedback_value=data.get("feedback") if is_feedback else None,
        has_warnings=bool(event.warnings),
        body=orjson.dumps(stored).decode(),
        attrs=attrs,
        detections=list(predictions_of(body)),
        metadata_types=metadata_types,
    )


class IngestService:
    def __init__(self, store: EventStore, max_batch: int) -> None:
        self.store = store
        self.max_batch = max_batch

    def create(self, workspace: Workspace, raw: Any) -> tuple[str, bool]:
        """``POST /vision-events``: returns (eventId, created)."""
        (event_id,), (created,) = self._write(workspace, [raw], batch=False)
        return event_id, created

    def create_batch(self, workspace: Workspace, raw: Any) -> list[str]:
        """``POST /vision-events/batch``: all or nothing; returns the event ids in request order."""
        if not isinstance(raw, dict) or not isinstance(raw.get("events"), list):
            raise BadRequest('The body must be a JSON object with an "events" list.')
        events = raw["events"]
        if not 1 <= len(events) <= self.max_batch:
            raise ValidationFailed(
                f"A batch holds 1 to {self.max_batch} events; this one has {len(events)}.",
                [ErrorDetail("events", f"must hold 1 to {self.max_batch} events")],
            )
        ids, _ = self._write(workspace, events, batch=True)
        return ids

    def feedback(self, workspace: Workspace, event_id: str, raw: Any) -> str:
        """Store an ``operator_feedback`` event about ``event_id``; returns the feedback event's id."""
        target = self.store.get_event(workspace.pk, event_id)
        if target is None:
            raise NotFound(f"No event '{event_id}' in this workspace.")
        if not isinstance(raw, dict):
            raise BadRequest('The body must be a JSON object such as {"feedback": "correct"}.')
        data = {"relatedEventId": event_id, "feedback": raw.get("feedback")}
        if "comment" in raw:
            data["comment"] = raw["comment"]
        feedback_event = {
            "eventId": f"feedback-{uuid.uuid4().hex}",
            "eventType": "operator_feedback",
            "useCaseId": orjson.loads(target.body)["useCaseId"],
            "timestamp": format_instant(now_us()),
            "eventData": data,
        }
        feedback_id, _ = self.create(workspace, feedback_event)
        return feedback_id

    def _write(
        self, workspace: Workspace, raw_events: list[Any], *, batch: bool
    ) -> tuple[list[str], list[bool]]:
        now = now_us()
        valid: list[ValidEvent] = []
        errors: list[ErrorDetail] = []
        named = {
            r["useCaseId"] for r in raw_events if isinstance(r, dict) and isinstance(r.get("useCaseId"), str)
        }
        use_cases = self.store.resolve_use_cases(workspace.pk, named)
        for i, raw in enumerate(raw_events):
            at = f"events[{i}]" if batch else ""
            result = validate_event(raw, at, now)
            if isinstance(result, list):
                errors.extend(result)
            else:
                valid.append(result)
            use_case = raw.get("useCaseId") if isinstance(raw, dict) else None
            if isinstance(use_case, str) and use_case not in use_cases:
                loc = f"{at}.useCaseId" if at else "useCaseId"
                errors.append(
                    ErrorDetail(loc, f"no use case '{use_case}' in this workspace; create it first")
                )
        if errors:
            raise _failed(errors)
        self._warn_missing_images(workspace, valid)

        # Duplicate ids inside one batch: the last one wins.
        # (Re-inserted so that dict order is the position of the copy that wins: receive order breaks ties.)
        last: dict[str, ValidEvent] = {}
        for e in valid:
            last.pop(e.event_id, None)
            last[e.event_id] = e
        rows = [to_row(e, use_cases[e.use_case_id]) for e in last.values()]
        created = dict(zip(last, self.store.write_events(workspace.pk, rows), strict=True))
        ids = [e.event_id for e in valid]
        return ids, [created[i] for i in ids]

    def _warn_missing_images(self, workspace: Workspace, events: list[ValidEvent]) -> None:
        referenced = {
            img[key]
            for e in events
            for img in e.body.get("images") or ()
            for key in ("sourceId", "inputSourceId")
            if img.get(key)
        }
        if not referenced:
            return
        known = self.store.find_images(workspace.pk, referenced)
        for e in events:
            for i, img in enumerate(e.body.get("images") or ()):
                for key in ("sourceId", "inputSourceId"):
                    if img.get(key) and img[key] not in known:
                        e.warnings.append(f"images[{i}].{key} '{img[key]}' is not an image of this workspace")


def _failed(errors: list[ErrorDetail]) -> ValidationFailed:
    first = errors[0]
    more = f" (and {len(errors) - 1} more problems)" if len(errors) > 1 else ""
    return ValidationFailed(f"The event is invalid: {first.loc} {first.message}{more}.", errors)
