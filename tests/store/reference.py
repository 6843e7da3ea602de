"""A plain-Python model of Sightlog's event store, read literally from SPEC §1, §3.2-3.7.

It deliberately shares no code with ``sightlog``: events are kept as the JSON bodies a client sent, and
every filter of ``POST /vision-events/query`` is evaluated over those bodies. The property tests in
``test_query_properties.py`` compare the real server (both backends) against it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

EVENT_FIELDS = frozenset(
    {
        "eventId",
        "eventType",
        "useCaseId",
        "timestamp",
        "eventData",
        "deviceId",
        "streamId",
        "workflowId",
        "customMetadata",
        "images",
        "videos",
        "displayImagePosition",
    }
)
# §3.3: the fields of each type; unknown eventData keys of the first three types earn a warning.
TYPE_FIELDS = {
    "quality_check": {"result", "confidence", "externalId"},
    "inventory_count": {"itemCount", "location", "itemType", "externalId"},
    "safety_alert": {"alertType", "severity", "description", "externalId"},
}
PREDICTION_KINDS = ("objectDetections", "classifications", "instanceSegmentations", "keypoints")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def parse_instant(text: str) -> tuple[int, bool]:
    """ISO 8601 → (microseconds since the epoch, had an offset); no offset reads as UTC (§3.2)."""
    parsed = datetime.fromisoformat(text)
    had_offset = parsed.tzinfo is not None
    if not had_offset:
        parsed = parsed.replace(tzinfo=UTC)
    delta = parsed - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, had_offset


def value_type(value: Any) -> str | None:
    """The JSON type a filter's ``type`` names, or None for null, lists and objects."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    return None


def expected_warnings(body: dict[str, Any], known_images: set[str]) -> bool:
    """Whether §3.2-3.4 say this event earns at least one warning."""
    if any(key not in EVENT_FIELDS for key in body):
        return True
    if not parse_instant(body["timestamp"])[1]:
        return True
    fields = TYPE_FIELDS.get(body["eventType"])
    if fields is not None and any(key not in fields for key in body.get("eventData") or {}):
        return True
    return any(
        image.get(key) is not None and image[key] not in known_images
        for image in body.get("images") or ()
        for key in ("sourceId", "inputSourceId")
    )


@dataclass
class RefEvent:
    body: dict[str, Any]
    ts: int
    received: int  # receive order of the write that stored this version
    warned: bool

    @property
    def event_id(self) -> str:
        return self.body["eventId"]

    @property
    def data(self) -> dict[str, Any]:
        return self.body.get("eventData") or {}


class Reference:
    def __init__(self) -> None:
        self.events: dict[str, RefEvent] = {}
        self._received = 0

    # -- writes --------------------------------------------------------------------------------------------

    def exists(self, event_id: str) -> bool:
        return event_id in self.events

    def write(self, body: dict[str, Any], known_images: set[str]) -> bool:
        """Create or overwrite (upsert); returns whether the event is new."""
        self._received += 1
        created = body["eventId"] not in self.events
        self.events[body["eventId"]] = RefEvent(
            body=body,
            ts=parse_instant(body["timestamp"])[0],
            received=self._received,
            warned=expected_warnings(body, known_images),
        )
        return created

    def write_batch(self, bodies: list[dict[str, Any]], known_images: set[str]) -> None:
        """§3.5: duplicate eventIds inside one batch, the last one wins (received in batch order)."""
        for body in bodies:
            self.write(body, known_images)

    def delete(self, event_id: str) -> bool:
        return self.events.pop(event_id, None) is not None

    # -- derived state -------------------------------------------------------------------------------------

    def feedback(self, event_id: str) -> dict[str, Any]:
        """§1: the latest operator_feedback naming the event (by timestamp; ties → received last)."""
        latest: RefEvent | None = None
        for ev in self.events.values():
            if ev.body["eventType"] != "operator_feedback" or ev.data.get("relatedEventId") != event_id:
                continue
            if latest is None or (ev.ts, ev.received) > (latest.ts, latest.received):
                latest = ev
        if latest is None:
            return {"status": None, "eventId": None}
        return {"status": latest.data["feedback"], "eventId": latest.event_id}

    def use_case(self, use_case_id: str) -> dict[str, Any]:
        """§3.7 counters: eventCount, lastEventAt (µs or None), eventTypes (types of the stored events)."""
        mine = [ev for ev in self.events.values() if ev.body["useCaseId"] == use_case_id]
        return {
            "eventCount": len(mine),
            "lastEventAt": max((ev.ts for ev in mine), default=None),
            "eventTypes": sorted({ev.body["eventType"] for ev in mine}),
        }

    # -- queries -------------------------------------------------------------------------------------------

    def select(self, query: dict[str, Any]) -> list[RefEvent]:
        """Every matching event in result order: (timestamp, eventId byte-wise), asc or desc."""
        found = [ev for ev in self.events.values() if self.matches(ev, query)]
        found.sort(key=lambda ev: (ev.ts, ev.event_id.encode()), reverse=query.get("sort", "desc") == "desc")
        return found

    def matches(self, ev: RefEvent, q: dict[str, Any]) -> bool:
        body = ev.body
        if body["useCaseId"] != q["useCaseId"]:
            return False
        if "startTime" in q and ev.ts < parse_instant(q["startTime"])[0]:
            return False
        if "endTime" in q and ev.ts >= parse_instant(q["endTime"])[0]:
            return False
        if "eventType" in q and body["eventType"] != q["eventType"]:
            return False
        if "eventTypes" in q and body["eventType"] not in q["eventTypes"]:
            return False
        external = ev.data.get("externalId")
        sources = {
            "deviceId": body.get("deviceId"),
            "streamId": body.get("streamId"),
            "workflowId": body.get("workflowId"),
            "externalId": external if isinstance(external, str) else None,
        }
        for name, actual in sources.items():
            if name in q and not source_matches(actual, q[name]):
                return False
        metadata = body.get("customMetadata") or {}
        if not all(value_matches(metadata, f) for f in q.get("customMetadataFilters", ())):
            return False
        if not all(value_matches(ev.data, f) for f in q.get("eventFieldFilters", ())):
            return False
        if not all(detection_matches(body, f) for f in q.get("detectionFilters", ())):
            return False
        if "feedback" in q:
            status = self.feedback(ev.event_id)["status"]
            if (status or "none") not in q["feedback"]:
                return False
        return not ("hasWarnings" in q and ev.warned != q["hasWarnings"])


def source_matches(actual: str | None, flt: dict[str, Any]) -> bool:
    """deviceId / streamId / workflowId / externalId: comparisons need the field present (§3.6)."""
    if actual is None:
        return False
    op, value = flt["operator"], flt["value"]
    if op == "eq":
        return actual == value
    if op == "neq":
        return actual != value
    if op == "in":
        return actual in value
    if op == "nin":
        return actual not in value
    assert op == "contains"
    return value.lower() in actual.lower()


def _equal(a: Any, b: Any) -> bool:
    return a == b  # numbers compare as numbers (7 == 7.0); only called on values of one JSON type


def value_matches(fields: dict[str, Any], flt: dict[str, Any]) -> bool:
    """customMetadataFilters / eventFieldFilters, per the matching rules of §3.6."""
    op, name = flt["operator"], flt["field"]
    if op == "exists":
        return name in fields
    if op == "not_exists":
        return name not in fields
    values = flt["value"] if isinstance(flt["value"], list) else [flt["value"]]
    wanted = flt.get("type") or value_type(values[0])
    if name not in fields or value_type(fields[name]) != wanted:
        return False  # present AND of the filter's type, for every comparison operator
    actual = fields[name]
    if op == "eq":
        return _equal(actual, values[0])
    if op == "neq":
        return not _equal(actual, values[0])
    if op == "in":
        return any(_equal(actual, v) for v in values)
    if op == "nin":
        return not any(_equal(actual, v) for v in values)
    if op == "contains":
        return values[0].lower() in actual.lower()
    bound = values[0]
    # Numbers numerically; strings by code point, which is UTF-8 byte order.
    return {"gt": actual > bound, "gte": actual >= bound, "lt": actual < bound, "lte": actual <= bound}[op]


def detection_matches(body: dict[str, Any], flt: dict[str, Any]) -> bool:
    """Count predictions of the class, all images and kinds, with confidence in [min, max]."""
    low, high = flt.get("minConfidence", 0), flt.get("maxConfidence", 1)
    count = sum(
        1
        for image in body.get("images") or ()
        for kind in PREDICTION_KINDS
        for prediction in image.get(kind) or ()
        if prediction["class"] == flt["class"] and low <= prediction["confidence"] <= high
    )
    max_count = flt.get("maxCount")
    # "maxCount: 0 means has no such prediction": alone, it is not contradicted by minCount's default of 1.
    min_count = flt.get("minCount", 0 if max_count == 0 else 1)
    return count >= min_count and (max_count is None or count <= max_count)
