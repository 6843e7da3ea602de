"""POST /vision-events/aggregate: time buckets in a time zone, group keys, filters, errors."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error
from tests.conftest import make_event


def crack(confidence: float) -> dict:
    return {"class": "crack", "x": 5, "y": 5, "width": 2, "height": 2, "confidence": confidence}


@pytest.fixture
def seeded(api):
    uc = api.use_case("Aggregates")
    events = [
        make_event("a", uc, timestamp="2026-11-20T18:29:00Z", deviceId="cam-1",
                   customMetadata={"line_id": 7, "shift": "b"},
                   images=[{"objectDetections": [crack(0.9), crack(0.8), crack(0.7)]}]),
        make_event("b", uc, timestamp="2026-11-20T18:31:00Z", deviceId="cam-1",
                   customMetadata={"line_id": 7, "shift": "a"}, eventData={"result": "fail"}),
        make_event("c", uc, timestamp="2026-11-20T19:05:00Z", deviceId="cam-2",
                   customMetadata={"line_id": 8, "shift": "b"},
                   images=[{"classifications": [{"class": "crack", "confidence": 0.5},
                                                {"class": "dent", "confidence": 0.6}]}]),
        make_event("d", uc, eventType="safety_alert", timestamp="2026-11-23T08:00:00Z",
                   eventData={"alertType": "no_helmet"}, customMetadata={"line_id": 7.0, "shift": "b"}),
    ]  # fmt: skip
    assert api.post("/vision-events/batch", {"events": events}).status_code == 201
    return uc


def aggregate(api, uc, **body):
    response = api.post("/vision-events/aggregate", {"useCaseId": uc, **body})
    assert response.status_code == 200, response.text
    return response.json()["buckets"]


def test_group_by_type_without_time(api, seeded):
    assert aggregate(api, seeded, groupBy=["eventType"]) == [
        {"time": None, "key": {"eventType": "quality_check"}, "count": 3},
        {"time": None, "key": {"eventType": "safety_alert"}, "count": 1},
    ]


def test_total_count_without_groups(api, seeded):
    assert aggregate(api, seeded) == [{"time": None, "key": {}, "count": 4}]


def test_hourly_buckets_in_utc(api, seeded):
    buckets = aggregate(api, seeded, interval="hour")
    assert [(b["time"], b["count"]) for b in buckets] == [
        ("2026-11-20T18:00:00Z", 2),
        ("2026-11-20T19:00:00Z", 1),
        ("2026-11-23T08:00:00Z", 1),
    ]


def test_day_buckets_follow_a_half_hour_time_zone(api, seeded):
    # Asia/Kolkata is UTC+05:30: 18:29Z is 23:59 on the 20th, 18:31Z is 00:01 on the 21st.
    buckets = aggregate(api, seeded, interval="day", timezone="Asia/Kolkata")
    assert [(b["time"], b["count"]) for b in buckets] == [
        ("2026-11-20T00:00:00+05:30", 1),
        ("2026-11-21T00:00:00+05:30", 2),
        ("2026-11-23T00:00:00+05:30", 1),
    ]


def test_week_buckets_start_on_monday(api, seeded):
    buckets = aggregate(api, seeded, interval="week", timezone="Europe/Berlin")
    assert [(b["time"], b["count"]) for b in buckets] == [
        ("2026-11-16T00:00:00+01:00", 3),
        ("2026-11-23T00:00:00+01:00", 1),
    ]


def test_minute_buckets(api, seeded):
    buckets = aggregate(api, seeded, interval="minute", eventType="quality_check")
    assert [b["time"] for b in buckets] == [
        "2026-11-20T18:29:00Z",
        "2026-11-20T18:31:00Z",
        "2026-11-20T19:05:00Z",
    ]


def test_class_counts_events_that_contain_it(api, seeded):
    buckets = aggregate(api, seeded, groupBy=["class"])
    assert {b["key"]["class"]: b["count"] for b in buckets} == {"crack": 2, "dent": 1}


def test_metadata_key_with_a_filter(api, seeded):
    buckets = aggregate(
        api,
        seeded,
        groupBy=["customMetadata.line_id"],
        customMetadataFilters=[{"field": "shift", "operator": "eq", "value": "b"}],
    )
    # 7 and 7.0 are the same number.
    assert [(b["key"], b["count"]) for b in buckets] == [
        ({"customMetadata.line_id": 7}, 2),
        ({"customMetadata.line_id": 8}, 1),
    ]


def test_two_keys_and_time(api, seeded):
    buckets = aggregate(api, seeded, groupBy=["deviceId", "eventData.result"], interval="day")
    assert {(b["time"], b["key"]["deviceId"], b["key"]["eventData.result"]): b["count"] for b in buckets} == {
        ("2026-11-20T00:00:00Z", "cam-1", "pass"): 1,
        ("2026-11-20T00:00:00Z", "cam-1", "fail"): 1,
        ("2026-11-20T00:00:00Z", "cam-2", "pass"): 1,
        ("2026-11-23T00:00:00Z", None, None): 1,
    }


def test_feedback_key(api, seeded):
    feedback = api.post("/vision-events/events/a/feedback", {"feedback": "incorrect"})
    assert feedback.status_code == 201
    buckets = aggregate(api, seeded, groupBy=["feedback"], eventType="quality_check")
    assert {b["key"]["feedback"]: b["count"] for b in buckets} == {"incorrect": 1, None: 2}


@pytest.mark.parametrize(
    "body",
    [
        {"groupBy": ["eventType", "deviceId", "streamId"]},
        {"groupBy": ["color"]},
        {"groupBy": ["customMetadata."]},
        {"groupBy": ["eventType", "eventType"]},
        {"interval": "fortnight"},
        {"timezone": "Mars/Olympus_Mons"},
        {"timezone": "../../etc/passwd"},
    ],
)
def test_bad_requests(api, seeded, body):
    assert_error(api.post("/vision-events/aggregate", {"useCaseId": seeded, **body}), 400, "validation_error")


def test_unknown_use_case(api):
    assert_error(api.post("/vision-events/aggregate", {"useCaseId": "nope"}), 404, "not_found")
