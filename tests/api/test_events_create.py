"""POST /vision-events: creation, upsert, and every validation rule of SPEC §3.2-3.4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.api.helpers import assert_error, create, event_count, get_event, locs, query, query_ids
from tests.conftest import make_event

IMAGE = {"sourceId": "missing"}


def box(cls: str = "defect", confidence: float = 0.9) -> dict[str, Any]:
    return {"class": cls, "x": 10, "y": 10, "width": 4, "height": 4, "confidence": confidence}


def test_create_returns_201_and_created_true(api):
    uc = api.use_case()
    response = api.post("/vision-events", make_event("e1", uc))
    assert response.status_code == 201
    assert response.json() == {"eventId": "e1", "created": True}
    assert get_event(api, "e1")["eventData"] == {"result": "pass"}


def test_upsert_replaces_the_event(api):
    uc = api.use_case()
    first = make_event(
        "e1", uc, deviceId="cam-1", customMetadata={"line": "L1"}, eventData={"result": "pass"}
    )
    assert create(api, first) == {"eventId": "e1", "created": True}
    create(api, make_event("other", uc))
    second = make_event(
        "e1",
        uc,
        timestamp="2026-11-21T08:00:00Z",
        eventData={"result": "fail"},
        customMetadata={"line": "L2"},
    )
    assert create(api, second) == {"eventId": "e1", "created": False}

    stored = get_event(api, "e1")
    assert stored["eventData"] == {"result": "fail"}
    assert stored["customMetadata"] == {"line": "L2"}
    assert stored["timestamp"] == "2026-11-21T08:00:00Z"
    assert "deviceId" not in stored or stored["deviceId"] is None  # replaced, not merged
    assert sorted(query_ids(api, uc)) == ["e1", "other"]
    assert event_count(api, uc) == 2
    line = {"field": "line", "operator": "eq", "type": "string"}
    assert query_ids(api, uc, customMetadataFilters=[{**line, "value": "L1"}]) == []
    assert query_ids(api, uc, customMetadataFilters=[{**line, "value": "L2"}]) == ["e1"]


VALID_DATA = [
    ("quality_check", {"result": "fail", "confidence": 0, "externalId": "x" * 1000}),
    ("quality_check", {"result": "pass", "confidence": 1}),
    ("inventory_count", {"itemCount": 0, "location": "Dock", "itemType": "box"}),
    ("safety_alert", {"alertType": "A" * 100, "severity": "low", "description": "d" * 10_000}),
    ("safety_alert", {"alertType": "no_helmet-2", "severity": "high"}),
    ("custom", {"value": "v" * 10_000, "score": 5, "ok": True, "label": "x"}),
    ("custom", None),
    ("operator_feedback", {"relatedEventId": "nowhere", "feedback": "inconclusive", "comment": "c" * 10_000}),
]


@pytest.mark.parametrize(("event_type", "data"), VALID_DATA)
def test_valid_event_data_is_stored(api, event_type, data):
    uc = api.use_case()
    event = make_event("e1", uc, eventType=event_type, eventData=data)
    if data is None:
        del event["eventData"]
    create(api, event)
    stored = get_event(api, "e1")
    assert stored["eventType"] == event_type
    assert (stored.get("eventData") or None) == data
    assert stored["warnings"] == []


INVALID_DATA = [
    ("quality_check", {}, "eventData.result"),
    ("quality_check", None, "eventData.result"),
    ("quality_check", {"result": "maybe"}, "eventData.result"),
    ("quality_check", {"result": True}, "eventData.result"),
    ("quality_check", {"result": "pass", "confidence": 1.01}, "eventData.confidence"),
    ("quality_check", {"result": "pass", "confidence": -0.1}, "eventData.confidence"),
    ("quality_check", {"result": "pass", "confidence": "0.5"}, "eventData.confidence"),
    ("quality_check", {"result": "pass", "externalId": "x" * 1001}, "eventData.externalId"),
    ("inventory_count", {"location": "Dock"}, "eventData.itemCount"),
    ("inventory_count", {"itemCount": -1}, "eventData.itemCount"),
    ("inventory_count", {"itemCount": 2.5}, "eventData.itemCount"),
    ("inventory_count", {"itemCount": "3"}, "eventData.itemCount"),
    ("inventory_count", {"itemCount": True}, "eventData.itemCount"),
    ("inventory_count", {"itemCount": 1, "location": "l" * 1001}, "eventData.location"),
    ("inventory_count", {"itemCount": 1, "itemType": "t" * 1001}, "eventData.itemType"),
    ("safety_alert", {"severity": "high"}, "eventData.alertType"),
    ("safety_alert", {"alertType": "no helmet"}, "eventData.alertType"),
    ("safety_alert", {"alertType": "alert!"}, "eventData.alertType"),
    ("safety_alert", {"alertType": ""}, "eventData.alertType"),
    ("safety_alert", {"alertType": "A" * 101}, "eventData.alertType"),
    ("safety_alert", {"alertType": "fire", "severity": "critical"}, "eventData.severity"),
    ("safety_alert", {"alertType": "fire", "description": "d" * 10_001}, "eventData.description"),
    ("custom", {"value": "v" * 10_001}, "eventData.value"),
    ("custom", {"externalId": "x" * 1001}, "eventData.externalId"),
    ("custom", {"nested": {"a": 1}}, "eventData.nested"),
    ("operator_feedback", {"feedback": "correct"}, "eventData.relatedEventId"),
    ("operator_feedback", {"relatedEventId": "e0"}, "eventData.feedback"),
    ("operator_feedback", {"relatedEventId": "e0", "feedback": "wrong"}, "eventData.feedback"),
    (
        "operator_feedback",
        {"relatedEventId": "e0", "feedback": "correct", "comment": "c" * 10_001},
        "eventData.comment",
    ),
]


@pytest.mark.parametrize(("event_type", "data", "loc"), INVALID_DATA)
def test_invalid_event_data_is_rejected(api, event_type, data, loc):
    uc = api.use_case()
    event = make_event("e1", uc, eventType=event_type, eventData=data)
    if data is None:
        del event["eventData"]
    response = api.post("/vision-events", event)
    assert_error(response, 400, "validation_error")
    assert locs(response) == [loc]
    assert api.get("/vision-events/events/e1").status_code == 404


INVALID_TOP_LEVEL = [
    ({"eventId": ""}, "eventId"),
    ({"eventId": "e" * 257}, "eventId"),
    ({"eventId": 5}, "eventId"),
    ({"eventType": "weird"}, "eventType"),
    ({"useCaseId": "u" * 257}, "useCaseId"),
    ({"timestamp": "yesterday"}, "timestamp"),
    ({"timestamp": 1700000000}, "timestamp"),
    ({"deviceId": "d" * 257}, "deviceId"),
    ({"streamId": ""}, "streamId"),
    ({"workflowId": 7}, "workflowId"),
    ({"eventData": ["result", "pass"]}, "eventData"),
    ({"images": {"sourceId": "x"}}, "images"),
    ({"videos": [{}] * 5}, "videos"),
]


@pytest.mark.parametrize(("override", "loc"), INVALID_TOP_LEVEL)
def test_invalid_top_level_field(api, override, loc):
    uc = api.use_case()
    response = api.post("/vision-events", make_event("e1", uc, **override))
    assert_error(response, 400, "validation_error")
    assert loc in locs(response)


@pytest.mark.parametrize("field", ["eventId", "eventType", "useCaseId", "timestamp"])
def test_required_top_level_field_missing(api, field):
    event = make_event("e1", api.use_case())
    del event[field]
    response = api.post("/vision-events", event)
    assert_error(response, 400, "validation_error")
    assert locs(response) == [field]


def test_unknown_fields_are_kept_or_ignored_with_warnings(api):
    uc = api.use_case()
    event = make_event("e1", uc, colour="red", eventData={"result": "pass", "operator": "ann"})
    create(api, event)
    stored = get_event(api, "e1")
    assert "colour" not in stored
    assert stored["eventData"] == {"result": "pass", "operator": "ann"}
    assert len(stored["warnings"]) == 2
    assert any("colour" in w for w in stored["warnings"])
    assert any("operator" in w for w in stored["warnings"])
    assert query_ids(api, uc, hasWarnings=True) == ["e1"]


def test_custom_event_extra_keys_earn_no_warning(api):
    create(api, make_event("e1", api.use_case(), eventType="custom", eventData={"speed": 3.5}))
    assert get_event(api, "e1")["warnings"] == []


@pytest.mark.parametrize(
    ("sent", "stored", "warned"),
    [
        ("2026-11-20T10:00:00", "2026-11-20T10:00:00Z", True),
        ("2026-11-20T10:00:00+02:00", "2026-11-20T08:00:00Z", False),
        ("2026-11-20T10:00:00-05:30", "2026-11-20T15:30:00Z", False),
        ("2026-11-20T10:00:00.250Z", "2026-11-20T10:00:00.250Z", False),
    ],
)
def test_timestamps_are_returned_in_utc(api, sent, stored, warned):
    uc = api.use_case()
    create(api, make_event("e1", uc, timestamp=sent))
    event = query(api, uc)["events"][0]
    assert event["timestamp"] == stored
    assert bool(event["warnings"]) is warned
    assert query_ids(api, uc, startTime=stored, endTime="2026-11-21T00:00:00Z") == ["e1"]


def test_timestamp_more_than_a_day_ahead_is_rejected(api):
    uc = api.use_case()
    now = datetime.now(UTC)
    ahead = (now + timedelta(days=1, minutes=5)).isoformat()
    response = api.post("/vision-events", make_event("e1", uc, timestamp=ahead))
    assert_error(response, 400, "validation_error")
    assert locs(response) == ["timestamp"]
    near = (now + timedelta(hours=23)).isoformat()
    create(api, make_event("e2", uc, timestamp=near))


INVALID_METADATA = [
    {f"k{i}": i for i in range(101)},
    {"bad.key": 1},
    {"": 1},
    {"k" * 101: 1},
    {"key": "v" * 1001},
    {"key": {"nested": 1}},
    {"key": None},
    {"key": [1, 2]},
]


@pytest.mark.parametrize("metadata", INVALID_METADATA)
def test_invalid_custom_metadata(api, metadata):
    response = api.post("/vision-events", make_event("e1", api.use_case(), customMetadata=metadata))
    assert_error(response, 400, "validation_error")
    assert locs(response) and all(loc.startswith("customMetadata") for loc in locs(response))


def test_valid_custom_metadata_limits(api):
    uc = api.use_case()
    metadata = {f"key_{i}": i for i in range(97)}
    metadata |= {"Line 1-a": "v" * 1000, "k" * 100: True, "ratio": 0.5}
    create(api, make_event("e1", uc, customMetadata=metadata))
    assert get_event(api, "e1")["customMetadata"] == metadata


INVALID_IMAGES = [
    ([IMAGE] * 11, "images"),
    ([{"objectDetections": [box()] * 1001}], "images[0].objectDetections"),
    ([{"classifications": [{"class": "c", "confidence": 0.5}] * 1001}], "images[0].classifications"),
    ([{"objectDetections": [box(confidence=1.2)]}], "images[0].objectDetections[0].confidence"),
    ([{"classifications": [{"class": "c", "confidence": -0.01}]}], "images[0].classifications[0].confidence"),
    (
        [{"instanceSegmentations": [{**box(), "points": [[0, 0], [1, 1]]}]}],
        "images[0].instanceSegmentations[0].points",
    ),
    (
        [IMAGE, {"keypoints": [{**box(), "keypoints": [{"x": 1, "y": 2, "confidence": 1.5}]}]}],
        "images[1].keypoints[0].keypoints[0].confidence",
    ),
    ([{"objectDetections": [{"class": "c", "confidence": 0.5}]}], "images[0].objectDetections[0].x"),
    ([{"label": "l" * 257}], "images[0].label"),
]


@pytest.mark.parametrize(("images", "loc"), INVALID_IMAGES)
def test_invalid_images_and_predictions(api, images, loc):
    response = api.post("/vision-events", make_event("e1", api.use_case(), images=images))
    assert_error(response, 400, "validation_error")
    assert any(found.startswith(loc) for found in locs(response)), locs(response)


def test_valid_images_at_the_limits(api):
    uc = api.use_case()
    seg = {**box("dent"), "points": [[6, 17], [14, 17], [14, 23]], "trackerId": 12}
    images = [{"sourceId": f"s{i}", "objectDetections": [box()] * 1000} for i in range(9)]
    images.append({"instanceSegmentations": [seg], "classifications": [{"class": "c", "confidence": 1}]})
    create(api, make_event("e1", uc, images=images))
    stored = get_event(api, "e1")["images"]
    assert len(stored) == 10 and len(stored[0]["objectDetections"]) == 1000
    assert stored[9]["instanceSegmentations"][0]["trackerId"] == 12
    assert stored[9]["instanceSegmentations"][0]["points"] == [[6, 17], [14, 17], [14, 23]]


def test_unknown_use_case_is_rejected(api):
    api.use_case()
    response = api.post("/vision-events", make_event("e1", "no-such-use-case"))
    assert_error(response, 400, "validation_error")
    assert locs(response) == ["useCaseId"]


@pytest.mark.parametrize("owner", ["nobody", "acme"])
def test_unresolved_source_ids_are_warnings(api, acme, owner):
    uc = api.use_case()
    foreign = acme.upload() if owner == "acme" else "never-uploaded"
    own = api.upload()
    images = [{"sourceId": foreign, "inputSourceId": foreign}, {"sourceId": own}]
    assert create(api, make_event("e1", uc, images=images))["created"] is True
    stored = get_event(api, "e1")
    assert len(stored["warnings"]) == 2 and all(foreign in w for w in stored["warnings"])
    missing, present = stored["images"]
    assert missing["sourceId"] == foreign
    for name in ("url", "inputUrl", "thumbnailUrl", "width", "height"):
        assert missing[name] is None, name
    assert present["url"] == f"/vision-events/images/{own}" and present["width"] == 64


@pytest.mark.parametrize(("position", "ok"), [(0, True), (1, True), (2, False), (-1, False), ("1", False)])
def test_display_image_position(api, position, ok):
    event = make_event("e1", api.use_case(), images=[IMAGE, IMAGE], displayImagePosition=position)
    response = api.post("/vision-events", event)
    if ok:
        assert response.status_code == 201, response.text
        assert get_event(api, "e1")["displayImagePosition"] == position
    else:
        assert_error(response, 400, "validation_error")
        assert locs(response) == ["displayImagePosition"]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        (  # three structural problems
            {"eventId": "", "deviceId": "d" * 257, "customMetadata": {"bad.key": 1}},
            {"eventId", "deviceId", "customMetadata"},
        ),
        (  # three eventData problems
            {"eventType": "safety_alert", "eventData": {"severity": "x", "description": "d" * 10_001}},
            {"eventData.alertType", "eventData.severity", "eventData.description"},
        ),
        (  # one of each kind: structure, eventData, time
            {"eventId": "", "eventData": {"result": "maybe"}, "timestamp": "2099-01-01T00:00:00Z"},
            {"eventId", "eventData.result", "timestamp"},
        ),
        (  # an unknown use case is reported with the other problems
            {"useCaseId": "nope", "eventData": {"result": "maybe"}, "displayImagePosition": 3},
            {"useCaseId", "eventData.result", "displayImagePosition"},
        ),
    ],
)
def test_every_problem_is_listed(api, overrides, expected):
    uc = api.use_case()
    response = api.post("/vision-events", make_event("e1", uc, **overrides))
    assert_error(response, 400, "validation_error")
    found = locs(response)
    assert len(found) == 3, found
    assert {next((e for e in expected if loc.startswith(e)), loc) for loc in found} == expected


def test_nothing_is_stored_after_a_400(api):
    uc = api.use_case()
    bad = make_event("e1", uc, customMetadata={"line": "L1"}, eventData={"result": "maybe"})
    assert api.post("/vision-events", bad).status_code == 400
    assert api.get("/vision-events/events/e1").status_code == 404
    assert query(api, uc)["events"] == []
    assert event_count(api, uc) == 0
    schema = api.get(f"/vision-events/custom-metadata-schema/{uc}").json()
    assert schema["fields"] == {}
