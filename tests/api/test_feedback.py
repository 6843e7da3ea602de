"""Operator feedback (SPEC §1, §3.3, §4): the reviewed event carries its latest feedback status."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, create, get_event, locs, query_ids
from tests.conftest import make_event


def feedback(event_id: str, uc: str, target: str, value: str, ts: str = "2026-11-20T11:00:00Z", **data):
    return make_event(
        event_id,
        uc,
        eventType="operator_feedback",
        timestamp=ts,
        eventData={"relatedEventId": target, "feedback": value, **data},
    )


def status(api, event_id: str) -> dict:
    return get_event(api, event_id)["feedback"]


@pytest.fixture
def uc(api):
    return api.use_case()


def test_feedback_sets_the_reviewed_events_status(api, uc):
    create(api, make_event("t", uc))
    assert status(api, "t") == {"status": None, "eventId": None}
    create(api, feedback("fb", uc, "t", "incorrect", comment="not a defect"))
    assert status(api, "t") == {"status": "incorrect", "eventId": "fb"}
    assert status(api, "fb") == {"status": None, "eventId": None}
    assert query_ids(api, uc, feedback=["incorrect"]) == ["t"]


def test_latest_by_feedback_timestamp_not_arrival(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("late", uc, "t", "correct", ts="2026-11-20T12:00:00Z"))
    create(api, feedback("early", uc, "t", "incorrect", ts="2026-11-20T11:59:59Z"))
    assert status(api, "t") == {"status": "correct", "eventId": "late"}


def test_latest_compares_instants_across_offsets(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("utc", uc, "t", "correct", ts="2026-11-20T11:00:00Z"))
    create(api, feedback("cet", uc, "t", "incorrect", ts="2026-11-20T12:30:00+02:00"))  # 10:30Z: older
    assert status(api, "t")["eventId"] == "utc"


def test_equal_timestamps_the_one_received_last_wins(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("fb-b", uc, "t", "correct"))
    create(api, feedback("fb-a", uc, "t", "inconclusive"))
    assert status(api, "t") == {"status": "inconclusive", "eventId": "fb-a"}
    create(api, feedback("fb-b", uc, "t", "correct"))  # received again: now the last one
    assert status(api, "t") == {"status": "correct", "eventId": "fb-b"}


def test_feedback_before_its_event_resolves_on_arrival(api, uc):
    create(api, feedback("fb", uc, "later", "correct"))
    create(api, make_event("later", uc))
    assert status(api, "later") == {"status": "correct", "eventId": "fb"}
    assert query_ids(api, uc, feedback=["correct"]) == ["later"]


def test_feedback_survives_an_upsert_of_the_reviewed_event(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("fb", uc, "t", "incorrect"))
    create(api, make_event("t", uc, eventData={"result": "fail"}))
    assert status(api, "t") == {"status": "incorrect", "eventId": "fb"}


def test_feedback_from_a_batch(api, uc):
    response = api.post(
        "/vision-events/batch",
        {"events": [feedback("fb", uc, "t", "correct"), make_event("t", uc)]},
    )
    assert response.status_code == 201, response.text
    assert status(api, "t") == {"status": "correct", "eventId": "fb"}


def test_upserting_feedback_to_point_elsewhere_updates_both(api, uc):
    create(api, make_event("one", uc))
    create(api, make_event("two", uc))
    create(api, feedback("fb", uc, "one", "correct"))
    create(api, feedback("fb", uc, "two", "incorrect"))
    assert status(api, "one") == {"status": None, "eventId": None}
    assert status(api, "two") == {"status": "incorrect", "eventId": "fb"}
    assert sorted(query_ids(api, uc, feedback=["none"])) == ["fb", "one"]


def test_upserting_feedback_to_another_type_clears_it(api, uc):
    create(api, make_event("one", uc))
    create(api, feedback("fb", uc, "one", "correct"))
    create(api, make_event("fb", uc))  # the same id, now a plain quality_check
    assert status(api, "one") == {"status": None, "eventId": None}


def test_upserting_feedback_value_updates_the_target(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("fb", uc, "t", "correct"))
    create(api, feedback("fb", uc, "t", "inconclusive"))
    assert status(api, "t") == {"status": "inconclusive", "eventId": "fb"}


def test_upserting_feedback_to_an_older_timestamp_lets_another_win(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("a", uc, "t", "correct", ts="2026-11-20T11:00:00Z"))
    create(api, feedback("b", uc, "t", "incorrect", ts="2026-11-20T12:00:00Z"))
    create(api, feedback("b", uc, "t", "incorrect", ts="2026-11-20T10:00:00Z"))
    assert status(api, "t") == {"status": "correct", "eventId": "a"}


def test_deleting_feedback_falls_back_then_clears(api, uc):
    create(api, make_event("t", uc))
    create(api, feedback("old", uc, "t", "correct", ts="2026-11-20T11:00:00Z"))
    create(api, feedback("new", uc, "t", "incorrect", ts="2026-11-20T12:00:00Z"))
    assert status(api, "t")["eventId"] == "new"
    assert api.delete("/vision-events/events/new").status_code == 204
    assert status(api, "t") == {"status": "correct", "eventId": "old"}
    assert api.delete("/vision-events/events/old").status_code == 204
    assert status(api, "t") == {"status": None, "eventId": None}
    assert query_ids(api, uc, feedback=["none"]) == ["t"]


def test_feedback_endpoint_stores_an_operator_feedback_event(api, uc):
    create(api, make_event("t", uc))
    response = api.post(
        "/vision-events/events/t/feedback", {"feedback": "incorrect", "comment": "scratch, not dent"}
    )
    assert response.status_code == 201, response.text
    state = status(api, "t")
    assert state["status"] == "incorrect"
    stored = get_event(api, state["eventId"])
    assert stored["eventType"] == "operator_feedback"
    assert stored["eventData"]["relatedEventId"] == "t"
    assert stored["eventData"]["feedback"] == "incorrect"
    assert stored["eventData"]["comment"] == "scratch, not dent"
    assert query_ids(api, uc, feedback=["incorrect"]) == ["t"]


def test_feedback_endpoint_latest_wins(api, uc):
    create(api, make_event("t", uc))
    for value in ("correct", "inconclusive"):
        assert api.post("/vision-events/events/t/feedback", {"feedback": value}).status_code == 201
    assert status(api, "t")["status"] == "inconclusive"


def test_feedback_endpoint_unknown_event(api, uc):
    response = api.post("/vision-events/events/ghost/feedback", {"feedback": "correct"})
    assert_error(response, 404, "not_found")
    assert query_ids(api, uc) == []


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"feedback": "wrong"}, "feedback"),
        ({}, "feedback"),
        ({"feedback": True}, "feedback"),
        ({"feedback": "correct", "comment": "c" * 10_001}, "comment"),
        ({"feedback": "correct", "comment": 5}, "comment"),
    ],
)
def test_feedback_endpoint_bad_body(api, uc, body, loc):
    create(api, make_event("t", uc))
    response = api.post("/vision-events/events/t/feedback", body)
    assert_error(response, 400)
    assert any(found.endswith(loc) for found in locs(response)), locs(response)
    assert status(api, "t") == {"status": None, "eventId": None}
    assert query_ids(api, uc) == ["t"]


@pytest.mark.parametrize("body", [None, [], "correct"])
def test_feedback_endpoint_body_not_an_object(api, uc, body):
    create(api, make_event("t", uc))
    assert_error(api.post("/vision-events/events/t/feedback", body), 400)
