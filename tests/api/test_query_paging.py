"""POST /vision-events/query: limit, keyset cursors, malformed queries, and the fields every event echoes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.helpers import assert_error, batch, create, image_bytes, query
from tests.conftest import jpeg_bytes, make_event

BASE = datetime(2026, 11, 10, tzinfo=UTC)


def at(seconds: float) -> str:
    return (BASE + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


def seed(api, uc: str, n: int, prefix: str = "e") -> list[str]:
    """``n`` events, three per timestamp so that the eventId tie-break matters; returns ids, newest first."""
    events = [make_event(f"{prefix}{i:03d}", uc, timestamp=at(i // 3)) for i in range(n)]
    for start in range(0, n, 100):
        batch(api, events[start : start + 100])
    return [e["eventId"] for e in sorted(events, key=lambda e: (e["timestamp"], e["eventId"]), reverse=True)]


@pytest.fixture(scope="module")
def paged(module_api):
    uc = module_api.use_case("Paged")
    return module_api, uc, seed(module_api, uc, 120)


def walk(api, uc: str, **body: Any) -> list[list[str]]:
    pages, cursor = [], None
    while True:
        page = query(api, uc, **body, **({"cursor": cursor} if cursor else {}))
        pages.append([e["eventId"] for e in page["events"]])
        assert page["hasMore"] is (page["nextCursor"] is not None)
        cursor = page["nextCursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100


def test_limit_defaults_to_50(paged):
    api, uc, newest_first = paged
    page = query(api, uc)
    assert [e["eventId"] for e in page["events"]] == newest_first[:50]
    assert page["hasMore"] is True and isinstance(page["nextCursor"], str)
    assert page["lookbackDays"] is None


def test_limit_may_reach_1000(paged):
    api, uc, _ = paged
    page = query(api, uc, limit=1000)
    assert len(page["events"]) == 120
    assert page["hasMore"] is False and page["nextCursor"] is None


@pytest.mark.parametrize("limit", [1001, 0, -1, 2.5, "10"])
def test_bad_limit(paged, limit):
    api, uc, _ = paged
    assert_error(api.post("/vision-events/query", {"useCaseId": uc, "limit": limit}), 400, "validation_error")


@pytest.mark.parametrize("sort", ["desc", "asc"])
def test_cursor_pages_through_everything_once_in_order(paged, sort):
    api, uc, newest_first = paged
    pages = walk(api, uc, limit=7, sort=sort)
    assert [len(p) for p in pages] == [7] * 17 + [1]
    expected = newest_first if sort == "desc" else newest_first[::-1]
    assert [i for p in pages for i in p] == expected


def test_exact_multiple_has_no_empty_last_page(paged):
    api, uc, _ = paged
    pages = walk(api, uc, limit=40)
    assert [len(p) for p in pages] == [40, 40, 40]


def test_cursor_keeps_the_filters(paged):
    api, uc, newest_first = paged
    body = {"limit": 4, "startTime": at(10), "endTime": at(20)}
    seen = [i for p in walk(api, uc, **body) for i in p]
    assert seen == [i for i in newest_first if 30 <= int(i[1:]) < 60]


@pytest.mark.parametrize("sort", ["desc", "asc"])
def test_new_events_between_pages_never_repeat_or_skip(api, sort):
    uc = api.use_case()
    original = seed(api, uc, 120)
    seen: list[str] = []
    cursor = None
    step = 0
    while True:
        page = query(api, uc, limit=7, sort=sort, **({"cursor": cursor} if cursor else {}))
        seen += [e["eventId"] for e in page["events"]]
        step += 1
        # Between pages: newer, older and same-instant events arrive (ids sort on both sides of the page).
        batch(
            api,
            [
                make_event(f"new-{step}", uc, timestamp=at(1000 + step)),
                make_event(f"old-{step}", uc, timestamp=at(-1000 - step)),
                make_event(f"e{step:03d}-mid", uc, timestamp=at(step)),
                make_event(f"a-{step}", uc, timestamp=at(20)),
            ],
        )
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "an event was returned twice"
    kept = [i for i in seen if i in set(original)]
    assert kept == (original if sort == "desc" else original[::-1])


def test_upsert_between_pages_does_not_repeat(api):
    uc = api.use_case()
    original = seed(api, uc, 30)
    first = query(api, uc, limit=10)
    # Re-sending an already-seen event (same timestamp) must not make it reappear.
    create(api, make_event(original[0], uc, timestamp=at(9)))
    second = query(api, uc, limit=100, cursor=first["nextCursor"])
    assert [e["eventId"] for e in second["events"]] == original[10:]


def parse(text: str) -> datetime:
    assert text.endswith("Z"), text
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    ["not a cursor!!", "abc", _b64(b"[1]"), _b64(b'{"ts": 1}'), _b64(b'["x", 1]'), _b64(b"\xff\xfe"), 12],
)
def test_malformed_cursor(paged, cursor):
    api, uc, _ = paged
    assert_error(api.post("/vision-events/query", {"useCaseId": uc, "cursor": cursor}), 400)


def test_unknown_use_case_is_404(paged):
    api, _, _ = paged
    assert_error(api.post("/vision-events/query", {"useCaseId": "no-such"}), 404, "not_found")


def src(operator: str, value: Any) -> dict[str, Any]:
    return {"operator": operator, "value": value}


def vf(operator: str, value: Any = None, type_: str | None = None) -> list[dict[str, Any]]:
    flt: dict[str, Any] = {"field": "f", "operator": operator, "value": value}
    if type_:
        flt["type"] = type_
    return [flt]


MALFORMED = [
    ("no-use-case", {"useCaseId": None}),
    ("source-in-empty", {"deviceId": src("in", [])}),
    ("source-in-101", {"deviceId": src("in", [f"d{i}" for i in range(101)])}),
    ("source-nin-not-list", {"streamId": src("nin", "s1")}),
    ("source-eq-list", {"workflowId": src("eq", ["a"])}),
    ("source-gt", {"deviceId": src("gt", "a")}),
    ("source-unknown-op", {"externalId": src("like", "a")}),
    ("source-number", {"deviceId": src("eq", 5)}),
    ("meta-in-empty", {"customMetadataFilters": vf("in", [], "string")}),
    ("meta-nin-101", {"customMetadataFilters": vf("nin", list(range(101)), "number")}),
    ("meta-contains-number", {"customMetadataFilters": vf("contains", 1, "number")}),
    ("meta-gt-boolean", {"customMetadataFilters": vf("gt", True, "boolean")}),
    ("meta-lte-boolean", {"customMetadataFilters": vf("lte", False, "boolean")}),
    ("meta-unknown-op", {"customMetadataFilters": vf("like", "x", "string")}),
    ("meta-type-mismatch", {"customMetadataFilters": vf("eq", "x", "number")}),
    ("meta-unknown-type", {"customMetadataFilters": vf("eq", "x", "date")}),
    ("meta-no-value", {"customMetadataFilters": vf("eq")}),
    ("meta-no-field", {"customMetadataFilters": [{"operator": "exists"}]}),
    ("field-in-empty", {"eventFieldFilters": vf("in", [], "number")}),
    ("field-contains-boolean", {"eventFieldFilters": vf("contains", True, "boolean")}),
    ("field-unknown-op", {"eventFieldFilters": vf("between", 1, "number")}),
    ("filters-not-list", {"customMetadataFilters": {"field": "f", "operator": "exists"}}),
    ("event-type", {"eventType": "bogus"}),
    ("event-types-21", {"eventTypes": ["custom"] * 21}),
    ("event-types-bad", {"eventTypes": ["custom", "bogus"]}),
    ("start-time", {"startTime": "yesterday"}),
    ("end-time", {"endTime": 1700000000}),
    ("feedback-value", {"feedback": ["maybe"]}),
    ("feedback-not-list", {"feedback": "correct"}),
    ("sort", {"sort": "sideways"}),
    ("det-confidence", {"detectionFilters": [{"class": "a", "minConfidence": 2}]}),
    ("det-count", {"detectionFilters": [{"class": "a", "minCount": -1}]}),
    ("det-no-class", {"detectionFilters": [{"minCount": 1}]}),
    ("has-warnings", {"hasWarnings": "yes"}),
]


@pytest.mark.parametrize("body", [m[1] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_filters(paged, body):
    api, uc, _ = paged
    response = api.post("/vision-events/query", {"useCaseId": uc, **body})
    details = assert_error(response, 400, "validation_error")["details"]
    assert details


def test_returned_event_echoes_every_field(api):
    uc = api.use_case()
    display = api.upload(jpeg_bytes(80, 60))
    source = api.upload(image_bytes("PNG", 80, 60))
    only_display = api.upload(jpeg_bytes(30, 20))
    det = {"class": "defect", "x": 40, "y": 30, "width": 10, "height": 8, "confidence": 0.9, "trackerId": 4}
    images = [
        {"sourceId": display, "inputSourceId": source, "label": "cam", "objectDetections": [det]},
        {"sourceId": only_display},
        {"sourceId": "missing"},
    ]
    sent = make_event(
        "e1",
        uc,
        deviceId="d",
        streamId="s",
        workflowId="w",
        customMetadata={"line": "L1", "n": 2, "ok": True},
        images=images,
        videos=[{"sourceId": "v1"}],
        displayImagePosition=1,
    )
    before = datetime.now(UTC) - timedelta(seconds=5)
    create(api, sent)
    (event,) = query(api, uc)["events"]
    for name, value in sent.items():
        if name != "images":
            assert event[name] == value, name
    received = parse(event["receivedAt"])
    assert before <= received <= datetime.now(UTC) + timedelta(seconds=5)
    assert event["feedback"] == {"status": None, "eventId": None}
    assert len(event["warnings"]) == 1 and "missing" in event["warnings"][0]
    first, second, third = event["images"]
    assert first["objectDetections"] == [det] and first["label"] == "cam"
    assert first["url"] == f"/vision-events/images/{display}"
    assert first["inputUrl"] == f"/vision-events/images/{source}"
    assert first["thumbnailUrl"].startswith("/vision-events/images/")
    assert (first["width"], first["height"]) == (80, 60)
    assert second["url"] == f"/vision-events/images/{only_display}"
    assert second["inputUrl"] is None
    assert (second["width"], second["height"]) == (30, 20)
    assert second["thumbnailUrl"] == f"/vision-events/images/{only_display}/thumbnail"
    assert all(third[k] is None for k in ("url", "inputUrl", "thumbnailUrl", "width", "height"))
    for url in (first["url"], first["inputUrl"], first["thumbnailUrl"], second["thumbnailUrl"]):
        assert api.get(url).status_code == 200, url


def test_received_at_is_the_last_write(api):
    uc = api.use_case()
    create(api, make_event("e1", uc))
    first = query(api, uc)["events"][0]["receivedAt"]
    create(api, make_event("e1", uc, eventData={"result": "fail"}))
    second = query(api, uc)["events"][0]["receivedAt"]
    assert parse(second) > parse(first)


def test_client_cannot_set_server_fields(api):
    uc = api.use_case()
    source = api.upload()
    fake = {"sourceId": source, "url": "http://evil/x.jpg", "width": 1, "height": 1, "thumbnailUrl": "x"}
    create(api, make_event("e1", uc, images=[fake], receivedAt="2000-01-01T00:00:00Z"))
    (event,) = query(api, uc)["events"]
    assert event["images"][0]["url"] == f"/vision-events/images/{source}"
    assert (event["images"][0]["width"], event["images"][0]["height"]) == (64, 48)
    assert event["receivedAt"] != "2000-01-01T00:00:00Z"
