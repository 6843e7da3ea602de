"""GET and DELETE /vision-events/events/{eventId} (SPEC §4)."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from tests.api.helpers import assert_error, create, event_count, get_event, query, query_ids, use_case_item
from tests.conftest import make_event

DET = {"class": "defect", "x": 1, "y": 1, "width": 2, "height": 2, "confidence": 0.9}


def test_get_has_the_same_shape_as_query(api):
    uc = api.use_case()
    source = api.upload()
    event = make_event(
        "e1",
        uc,
        deviceId="cam",
        customMetadata={"line": "L1"},
        images=[{"sourceId": source, "objectDetections": [DET]}, {"sourceId": "missing"}],
        extra=True,
    )
    create(api, event)
    create(
        api,
        make_event(
            "fb", uc, eventType="operator_feedback", eventData={"relatedEventId": "e1", "feedback": "correct"}
        ),
    )
    from_query = next(e for e in query(api, uc)["events"] if e["eventId"] == "e1")
    assert get_event(api, "e1") == from_query
    assert from_query["feedback"] == {"status": "correct", "eventId": "fb"}
    assert from_query["images"][0]["width"] == 64


@pytest.mark.parametrize("event_id", ["cam 1 evt", "évènement-ü", "a+b=c&d", "x" * 256, "cam/1/frame 7"])
def test_get_event_ids_with_special_characters(api, event_id):
    uc = api.use_case()
    create(api, make_event(event_id, uc, images=[{"sourceId": api.upload(), "objectDetections": [DET]}]))
    path = f"/vision-events/events/{quote(event_id, safe='')}"
    assert get_event(api, quote(event_id, safe=""))["eventId"] == event_id
    annotated = api.get(f"{path}/images/0/annotated")
    assert annotated.status_code == 200 and annotated.headers["content-type"] == "image/jpeg"
    assert api.post(f"{path}/feedback", {"feedback": "correct"}).status_code == 201
    assert get_event(api, quote(event_id, safe=""))["feedback"]["status"] == "correct"
    assert api.delete(path).status_code == 204
    assert event_id not in query_ids(api, uc)  # (its feedback event stays)


def test_get_unknown_is_404(api):
    api.use_case()
    assert_error(api.get("/vision-events/events/ghost"), 404, "not_found")


def test_delete(api):
    uc = api.use_case()
    create(api, make_event("keep", uc, timestamp="2026-11-20T09:00:00Z"))
    create(api, make_event("gone", uc, timestamp="2026-11-20T11:00:00Z"))
    assert use_case_item(api, uc)["lastEventAt"] == "2026-11-20T11:00:00Z"
    response = api.delete("/vision-events/events/gone")
    assert response.status_code == 204 and response.content == b""
    assert_error(api.get("/vision-events/events/gone"), 404, "not_found")
    assert query_ids(api, uc) == ["keep"]
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["lastEventAt"]) == (1, "2026-11-20T09:00:00Z")
    assert_error(api.delete("/vision-events/events/gone"), 404, "not_found")


def test_delete_unknown_is_404(api):
    api.use_case()
    assert_error(api.delete("/vision-events/events/ghost"), 404, "not_found")


def test_deleted_events_side_rows_are_gone(api):
    uc = api.use_case()
    create(
        api,
        make_event(
            "gone",
            uc,
            eventData={"result": "fail", "externalId": "X1"},
            customMetadata={"line": "L1"},
            images=[{"objectDetections": [DET]}],
        ),
    )
    assert api.delete("/vision-events/events/gone").status_code == 204
    # New events (which may reuse storage slots) must not inherit the deleted event's side rows.
    for i in range(3):
        create(api, make_event(f"new{i}", uc))
    filters = [
        {"customMetadataFilters": [{"field": "line", "operator": "eq", "value": "L1", "type": "string"}]},
        {"customMetadataFilters": [{"field": "line", "operator": "exists"}]},
        {"eventFieldFilters": [{"field": "result", "operator": "eq", "value": "fail", "type": "string"}]},
        {"eventFieldFilters": [{"field": "externalId", "operator": "exists"}]},
        {"externalId": {"operator": "eq", "value": "X1"}},
        {"detectionFilters": [{"class": "defect"}]},
    ]
    for body in filters:
        assert query_ids(api, uc, **body) == [], body
    assert event_count(api, uc) == 3


def test_recreate_after_delete_is_created_again(api):
    uc = api.use_case()
    create(api, make_event("e1", uc))
    assert api.delete("/vision-events/events/e1").status_code == 204
    assert create(api, make_event("e1", uc, eventData={"result": "fail"})) == {
        "eventId": "e1",
        "created": True,
    }
    assert get_event(api, "e1")["eventData"] == {"result": "fail"}
    assert event_count(api, uc) == 1


def test_deleting_a_reviewed_event_keeps_its_feedback_event(api):
    uc = api.use_case()
    create(api, make_event("t", uc))
    create(
        api,
        make_event(
            "fb", uc, eventType="operator_feedback", eventData={"relatedEventId": "t", "feedback": "correct"}
        ),
    )
    assert api.delete("/vision-events/events/t").status_code == 204
    assert get_event(api, "fb")["eventData"]["relatedEventId"] == "t"
    assert query_ids(api, uc) == ["fb"]
