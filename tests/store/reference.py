"""A plain-Python model of Sightlog's event store, read literally from SPEC §1, §3.2-3.7.

It deliberately shares no code with ``sightlog``: events are kept as the JSON bodies a client sent, and
every filter of ``POST /vision-events/query`` is evaluated over those bodies. The property tests in
``test_query_properties.py`` compare the real server (both backends) against it.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

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

    def aggregate(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """SPEC §4 ``POST /vision-events/aggregate``: the matching events counted per time bucket and key.

        Where the SPEC leaves it open, as the implementation chose: no bucket with a count of 0; a key's
        value is None where the event lacks the field or it holds null, a list or an object; numbers that
        are integral show as ints; buckets ordered by time, then by key (None first, then by the text
        ``<python type>:<value>``). A bucket starts where the zone's clock last showed the local start of
        the minute/hour/day/week (Monday) holding the event, and shows that instant in the zone."""
        zone = ZoneInfo(request.get("timezone", "UTC"))
        interval, group_by = request.get("interval"), request.get("groupBy", [])
        counts: dict[tuple[int | None, tuple[tuple[str, Any], ...]], int] = {}
        for ev in self.select(request):
            start = bucket_start(ev.ts, interval, zone) if interval else None
            for key in itertools.product(*(self.group_values(ev, name) for name in group_by)):
                counts[(start, key)] = counts.get((start, key), 0) + 1
        buckets = [(start, [_shown(v) for v in key], n) for (start, key), n in counts.items()]
        buckets.sort(key=lambda b: (-1 if b[0] is None else b[0], [_key_order(v) for v in b[1]]))
        return [
            {
                "time": None if start is None else show_instant(start, zone),
                "key": dict(zip(group_by, values, strict=True)),
                "count": n,
            }
            for start, values, n in buckets
        ]

    def group_values(self, ev: RefEvent, name: str) -> list[tuple[str, Any]]:
        """The (JSON type, value) keys an event counts under for one ``groupBy`` entry: one each, but with
        ``class`` one per distinct class of its predictions (all images and kinds), none without any."""
        if name == "class":
            classes = {
                prediction["class"]
                for image in ev.body.get("images") or ()
                for kind in PREDICTION_KINDS
                for prediction in image.get(kind) or ()
            }
            return [("string", c) for c in sorted(classes)]
        if name == "feedback":
            value = self.feedback(ev.event_id)["status"]
        elif name in ("eventType", "deviceId", "streamId", "workflowId"):
            value = ev.body.get(name)
        else:
            namespace, field = name.split(".", 1)
            fields = (ev.body.get("customMetadata") or {}) if namespace == "customMetadata" else ev.data
            value = fields.get(field)
        kind = value_type(value)
        if kind is None:
            return [("null", None)]
        return [(kind, float(value) if kind == "number" else value)]  # 7 and 7.0 alike, True is not 1

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


# -- aggregates --------------------------------------------------------------------------------------------


def _instant(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=us)


def _us(moment: datetime) -> int:
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def _wall(us: int, zone: ZoneInfo) -> datetime:
    """What the zone's clock shows at instant ``us`` (naive)."""
    return _instant(us).astimezone(zone).replace(tzinfo=None)


def bucket_start(us: int, interval: str, zone: ZoneInfo) -> int:
    """The instant (µs) at which the zone's clock last showed the local start of the minute, hour, day or
    week (weeks start on Monday) that holds instant ``us``: where a clock turned back shows a start twice,
    the later one not after ``us``; where it skipped the start, the instant it jumped past it."""
    wall = _wall(us, zone)
    if interval == "minute":
        start = wall.replace(second=0, microsecond=0)
    elif interval == "hour":
        start = wall.replace(minute=0, second=0, microsecond=0)
    else:
        start = wall.replace(hour=0, minute=0, second=0, microsecond=0)
        if interval == "week":
            start -= timedelta(days=start.weekday())
    # Every instant the clock shows ``start`` at: one, two (turned back) or none (skipped).
    shown = {_us(start.replace(tzinfo=zone, fold=fold)) for fold in (0, 1)}
    shown = {t for t in shown if t <= us and _wall(t, zone) == start}
    if shown:
        return max(shown)
    # Skipped: the first instant at which the clock shows a time after ``start`` (a bisection).
    low, high = us - 8 * 86_400_000_000, us  # the clock shows before ``start`` at low, not at high
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (middle, high) if _wall(middle, zone) < start else (low, middle)
    return high


def show_instant(us: int, zone: ZoneInfo) -> str:
    """ISO 8601 in the zone, with the offset the zone has then; ``Z`` where that offset is 0."""
    local = _instant(us).astimezone(zone)
    if local.utcoffset() == timedelta(0):
        return local.strftime("%Y-%m-%dT%H:%M:%SZ")
    return local.isoformat()


def _shown(value: tuple[str, Any]) -> Any:
    """A key value as JSON shows it: integral numbers as ints."""
    kind, v = value
    if kind == "number" and v.is_integer() and abs(v) < 2**53:
        return int(v)
    return v


def _key_order(value: Any) -> tuple[int, str]:
    return (0, "") if value is None else (1, f"{type(value).__name__}:{value}")
