"""``client.events``: every method against a real server, including cursor iteration."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from sightlog import Client
from sightlog.sdk import DetectionFilter, Event, NewEvent, NotFound, SourceFilter, ValueFilter

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def test_create_generates_a_uuid4_event_id_and_reads_back(client: Client, use_case: str) -> None:
    created = client.events.create(
        use_case,
        "quality_check",
        timestamp=T0,
        event_data={"result": "fail", "confidence": 0.7},
        device_id="cam-1",
        stream_id="s-1",
        workflow_id="wf",
        custom_metadata={"line": "A", "shift": 2},
        images=[
            {
                "objectDetections": [
                    {"class": "dent", "x": 10, "y": 20, "width": 4, "height": 6, "confidence": 0.9}
                ]
            }
        ],
    )
    assert created.created is True
    assert uuid.UUID(created.event_id).version == 4

    event = client.events.get(created.event_id)
    assert isinstance(event, Event)
    assert (event.event_id, event.event_type, event.use_case_id) == (
        created.event_id,
        "quality_check",
        use_case,
    )
    assert event.timestamp == T0
    assert event.event_data == {"result": "fail", "confidence": 0.7}
    assert (event.device_id, event.stream_id, event.workflow_id) == ("cam-1", "s-1", "wf")
    assert event.custom_metadata == {"line": "A", "shift": 2}
    detection = event.images[0].object_detections[0]
    assert (detection.class_name, detection.x, detection.width, detection.confidence) == ("dent", 10, 4, 0.9)
    assert event.received_at is not None
    assert event.warnings == []
    assert event.feedback.status is None


def test_create_with_an_existing_id_overwrites(client: Client, use_case: str) -> None:
    first = client.events.create(
        use_case, "custom", event_id="fixed-id-" + use_case, event_data={"value": "1"}
    )
    again = client.events.create(use_case, "custom", event_id=first.event_id, event_data={"value": "2"})
    assert (first.created, again.created) == (True, False)
    assert client.events.get(first.event_id).event_data == {"value": "2"}
    assert client.events.count(use_case) == 1


def test_naive_timestamps_are_local_time_and_default_is_now(client: Client, use_case: str) -> None:
    naive = datetime(2026, 1, 2, 3, 4, 5)
    event_id = client.events.create(use_case, "custom", timestamp=naive).event_id
    assert client.events.get(event_id).timestamp == naive.astimezone()

    before = datetime.now(UTC)
    event_id = client.events.create(use_case, "custom").event_id
    stamped = client.events.get(event_id)
    assert before - timedelta(seconds=1) <= stamped.timestamp <= datetime.now(UTC)
    assert stamped.warnings == []  # sent with an offset: no "read as UTC" warning


def test_batch_accepts_models_and_camel_or_snake_dicts(client: Client, use_case: str) -> None:
    result = client.events.batch(
        [
            NewEvent(use_case_id=use_case, event_type="custom", timestamp=T0),
            {"useCaseId": use_case, "eventType": "inventory_count", "eventData": {"itemCount": 3}},
            {"use_case_id": use_case, "event_type": "safety_alert", "event_data": {"alertType": "no_helmet"}},
            {"useCaseId": use_case, "eventType": "custom", "eventId": "batch-given-" + use_case},
        ]
    )
    assert result.created == 4
    assert len(set(result.event_ids)) == 4
    assert all(uuid.UUID(i).version == 4 for i in result.event_ids[:3])
    assert result.event_ids[3] == "batch-given-" + use_case
    assert client.events.get(result.event_ids[1]).event_data == {"itemCount": 3}
    assert client.events.count(use_case) == 4


def _seed(client: Client, use_case: str, count: int = 7) -> list[str]:
    events = [
        NewEvent(
            use_case_id=use_case,
            event_type="quality_check" if i % 2 else "safety_alert",
            event_id=f"{use_case}-{i:02d}",
            timestamp=T0 + timedelta(minutes=i),
            event_data={"result": "fail" if i % 3 == 0 else "pass"} if i % 2 else {"alertType": "fire"},
            device_id=f"cam-{i % 3}",
            custom_metadata={"line": "A" if i < 4 else "B", "n": i},
            images=[
                {
                    "classifications": [
                        {"class": "scratch" if i % 2 else "ok", "confidence": 0.5 + (i % 10) / 20}
                    ]
                }
            ],
        )
        for i in range(count)
    ]
    client.events.batch(events)
    return [e.event_id for e in events]


def test_query_filters_sort_and_pages(client: Client, use_case: str) -> None:
    ids = _seed(client, use_case)
    page = client.events.query(use_case, sort="asc", limit=3)
    assert [e.event_id for e in page.events] == ids[:3]
    assert page.has_more and page.next_cursor
    second = client.events.query(use_case, sort="asc", limit=3, cursor=page.next_cursor)
    assert [e.event_id for e in second.events] == ids[3:6]

    newest_first = client.events.query(use_case, limit=100)
    assert [e.event_id for e in newest_first.events] == ids[::-1]
    assert newest_first.has_more is False and newest_first.next_cursor is None

    def found(**filters) -> list[str]:
        return sorted(e.event_id for e in client.events.query(use_case, limit=100, **filters).events)

    assert found(event_type="quality_check") == ids[1::2]
    assert found(event_types=["safety_alert"]) == ids[0::2]
    assert (
        found(start_time=T0 + timedelta(minutes=2), end_time=(T0 + timedelta(minutes=4)).isoformat())
        == ids[2:4]
    )
    assert found(device_id="cam-1") == [ids[1], ids[4]]
    assert found(device_id=["cam-1", "cam-2"]) == sorted(ids[1:3] + ids[4:6])
    assert found(device_id=SourceFilter(operator="neq", value="cam-0")) == sorted(ids[1:3] + ids[4:6])
    assert found(custom_metadata_filters=[ValueFilter(field="line", operator="eq", value="B")]) == ids[4:]
    assert found(custom_metadata_filters=[{"field": "n", "operator": "gte", "value": 5}]) == ids[5:]
    assert found(event_field_filters=[ValueFilter(field="result", operator="eq", value="fail")]) == [ids[3]]
    assert found(detection_filters=[DetectionFilter(class_name="scratch", min_confidence=0.7)]) == [ids[5]]
    assert found(detection_filters=[{"class": "ok", "maxConfidence": 0.6}]) == [ids[0], ids[2]]
    assert found(feedback=["none"]) == ids
    assert found(has_warnings=False) == ids


def test_unknown_filter_names_are_rejected_locally(client: Client, use_case: str) -> None:
    with pytest.raises(TypeError, match="device"):
        client.events.query(use_case, device="cam-1")  # type: ignore[call-arg]


def test_iter_follows_cursors_across_pages(client: Client, use_case: str) -> None:
    ids = _seed(client, use_case, count=23)
    assert [e.event_id for e in client.events.iter(use_case, page_size=5)] == ids[::-1]
    assert [e.event_id for e in client.events.iter(use_case, sort="asc", page_size=10)] == ids
    assert [e.event_id for e in client.events.iter(use_case, page_size=4, device_id="cam-0")] == ids[::3][
        ::-1
    ]
    assert list(client.events.iter(use_case, event_type="custom")) == []


def test_count_and_aggregate(client: Client, use_case: str) -> None:
    _seed(client, use_case)
    assert client.events.count(use_case) == 7
    assert client.events.count(use_case, event_type="quality_check", device_id="cam-0") == 1

    by_type = client.events.aggregate(use_case, group_by=["eventType"])
    assert {b.key["eventType"]: b.count for b in by_type} == {"quality_check": 3, "safety_alert": 4}
    assert all(b.time is None for b in by_type)

    hourly = client.events.aggregate(use_case, interval="hour", group_by=["customMetadata.line"])
    assert {(b.time, b.key["customMetadata.line"]): b.count for b in hourly} == {(T0, "A"): 4, (T0, "B"): 3}

    local = client.events.aggregate(use_case, interval="day", timezone="America/New_York", device_id="cam-1")
    assert [(b.time.utcoffset(), b.count) for b in local] == [(timedelta(hours=-5), 2)]


def test_feedback_links_the_latest_review(client: Client, use_case: str) -> None:
    event_id = client.events.create(use_case, "quality_check", event_data={"result": "pass"}).event_id
    review = client.events.feedback(event_id, "incorrect", comment="it was a scratch")
    assert review.created is True
    reviewed = client.events.get(event_id)
    assert reviewed.feedback.status == "incorrect"
    assert reviewed.feedback.event_id == review.event_id
    stored = client.events.get(review.event_id)
    assert stored.event_type == "operator_feedback"
    assert stored.event_data == {
        "relatedEventId": event_id,
        "feedback": "incorrect",
        "comment": "it was a scratch",
    }
    assert [e.event_id for e in client.events.iter(use_case, feedback=["incorrect"])] == [event_id]


def test_delete(client: Client, use_case: str) -> None:
    event_id = client.events.create(use_case, "custom").event_id
    client.events.delete(event_id)
    with pytest.raises(NotFound):
        client.events.get(event_id)
    with pytest.raises(NotFound):
        client.events.delete(event_id)


def test_ids_with_url_characters_are_escaped(client: Client, use_case: str) -> None:
    event_id = f"cam 1?frame=7#{uuid.uuid4().hex[:6]}"
    client.events.create(use_case, "custom", event_id=event_id)
    assert client.events.get(event_id).event_id == event_id
    client.events.delete(event_id)
    assert client.events.count(use_case) == 0
