"""POST /vision-events/batch: all or nothing, 1-100 events, last duplicate wins (SPEC §3.5)."""

from __future__ import annotations

import pytest

from tests.api.helpers import assert_error, batch, create, event_count, get_event, locs, query_ids
from tests.conftest import make_event


def events(uc: str, n: int, prefix: str = "e") -> list[dict]:
    return [
        make_event(f"{prefix}{i:03d}", uc, timestamp=f"2026-11-20T10:{i // 60:02d}:{i % 60:02d}Z")
        for i in range(n)
    ]


def test_batch_creates_every_event(api):
    uc = api.use_case()
    body = batch(api, events(uc, 3))
    assert body == {"created": 3, "eventIds": ["e000", "e001", "e002"]}
    assert sorted(query_ids(api, uc)) == ["e000", "e001", "e002"]
    assert event_count(api, uc) == 3


def test_batch_of_the_maximum_size(api):
    uc = api.use_case()
    body = batch(api, events(uc, 100))
    assert body["created"] == 100 and len(body["eventIds"]) == 100
    assert event_count(api, uc) == 100


@pytest.mark.parametrize("n", [0, 101])
def test_batch_size_out_of_range(api, n):
    uc = api.use_case()
    response = api.post("/vision-events/batch", {"events": events(uc, n)})
    assert_error(response, 400)
    assert event_count(api, uc) == 0


def test_one_invalid_event_rejects_the_whole_batch(api):
    uc = api.use_case()
    body = events(uc, 100)
    body[37]["eventData"] = {"result": "maybe"}
    response = api.post("/vision-events/batch", {"events": body})
    assert_error(response, 400, "validation_error")
    assert locs(response) == ["events[37].eventData.result"]
    assert query_ids(api, uc) == []
    assert event_count(api, uc) == 0


def test_every_invalid_event_is_listed_with_its_index(api):
    uc = api.use_case()
    body = events(uc, 10)
    body[2]["eventType"] = "nope"
    body[5]["timestamp"] = "not-a-time"
    body[9]["customMetadata"] = {"k": {"nested": True}}
    del body[7]["eventId"]
    response = api.post("/vision-events/batch", {"events": body})
    assert_error(response, 400, "validation_error")
    found = locs(response)
    assert [loc.split(".")[0] for loc in found] == ["events[2]", "events[5]", "events[7]", "events[9]"]
    assert found[:3] == ["events[2].eventType", "events[5].timestamp", "events[7].eventId"]
    assert found[3].startswith("events[9].customMetadata")
    assert event_count(api, uc) == 0


def test_unknown_use_case_in_a_batch_is_located(api):
    uc = api.use_case()
    body = events(uc, 6)
    body[4]["useCaseId"] = "missing"
    response = api.post("/vision-events/batch", {"events": body})
    assert_error(response, 400, "validation_error")
    assert locs(response) == ["events[4].useCaseId"]
    assert event_count(api, uc) == 0


def test_non_object_event_in_a_batch(api):
    uc = api.use_case()
    response = api.post("/vision-events/batch", {"events": [make_event("a", uc), "oops", 3]})
    assert_error(response, 400, "validation_error")
    assert [loc.split(".")[0] for loc in locs(response)] == ["events[1]", "events[2]"]
    assert event_count(api, uc) == 0


def test_duplicate_event_ids_last_one_wins(api):
    uc = api.use_case()
    body = [
        make_event("dup", uc, eventData={"result": "pass"}, customMetadata={"n": 1}),
        make_event("solo", uc),
        make_event("dup", uc, eventData={"result": "fail"}, customMetadata={"n": 2}),
    ]
    result = batch(api, body)
    assert result["eventIds"] == ["dup", "solo", "dup"]
    assert result["created"] == len(result["eventIds"])
    stored = get_event(api, "dup")
    assert stored["eventData"] == {"result": "fail"} and stored["customMetadata"] == {"n": 2}
    assert sorted(query_ids(api, uc)) == ["dup", "solo"]
    assert event_count(api, uc) == 2
    n_filter = {"field": "n", "operator": "eq", "value": 1, "type": "number"}
    assert query_ids(api, uc, customMetadataFilters=[n_filter]) == []


def test_batch_overwrites_existing_events(api):
    uc = api.use_case()
    create(api, make_event("e000", uc, eventData={"result": "fail"}))
    batch(api, events(uc, 2))
    assert get_event(api, "e000")["eventData"] == {"result": "pass"}
    assert event_count(api, uc) == 2


def test_batch_events_keep_their_warnings(api):
    uc = api.use_case()
    body = events(uc, 2)
    body[1]["extra"] = 1
    batch(api, body)
    assert get_event(api, "e000")["warnings"] == []
    assert get_event(api, "e001")["warnings"]


@pytest.mark.parametrize(
    "body",
    [[], ["events"], "events", 3, None, {}, {"event": []}, {"events": {"0": {}}}, {"events": None}],
    ids=["list", "list-of-str", "string", "number", "null", "empty", "misspelt", "dict", "null-events"],
)
def test_batch_body_must_be_an_object_with_events(api, body):
    response = api.post("/vision-events/batch", body)
    assert_error(response, 400)


def test_configurable_batch_limit(make_api):
    big = make_api(max_batch_events=150)
    uc = big.use_case()
    assert batch(big, events(uc, 150))["created"] == 150
    assert_error(big.post("/vision-events/batch", {"events": events(uc, 151, "x")}), 400)
