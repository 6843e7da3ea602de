"""Query edge cases found by property testing: Unicode case folding, empty confidence ranges."""

from tests.conftest import make_event


def test_contains_folds_non_ascii_case(api):
    uc = api.use_case("Unicode")
    events = [
        make_event("e1", uc, deviceId="Caméra-ÉST", customMetadata={"operator": "ÉLODIE"}),
        make_event("e2", uc, deviceId="camera-west", customMetadata={"operator": "anne"}),
    ]
    assert api.post("/vision-events/batch", {"events": events}).status_code == 201
    by_device = api.post(
        "/vision-events/query", {"useCaseId": uc, "deviceId": {"operator": "contains", "value": "éSt"}}
    )
    assert [e["eventId"] for e in by_device.json()["events"]] == ["e1"]
    by_metadata = api.post(
        "/vision-events/query",
        {
            "useCaseId": uc,
            "customMetadataFilters": [{"field": "operator", "operator": "contains", "value": "élo"}],
        },
    )
    assert [e["eventId"] for e in by_metadata.json()["events"]] == ["e1"]


def test_an_empty_confidence_range_with_max_count_zero_matches_every_event(api):
    uc = api.use_case("Empty range")
    assert api.post("/vision-events", make_event("plain", uc)).status_code == 201
    body = {
        "useCaseId": uc,
        "detectionFilters": [{"class": "cat", "minConfidence": 0.75, "maxConfidence": 0.25}],
    }
    assert api.post("/vision-events/query", body).json()["events"] == []
    body["detectionFilters"][0]["maxCount"] = 0
    assert [e["eventId"] for e in api.post("/vision-events/query", body).json()["events"]] == ["plain"]


def test_strings_that_share_the_indexed_prefix_are_still_told_apart(api):
    # PostgreSQL indexes the first 200 characters of a string (schema.STR_PREFIX); longer values that share
    # them must not match each other, and a value of exactly 200 characters is not a prefix of them.
    uc = api.use_case("Long strings")
    shared = "x" * 200
    notes = {"long-a": shared + "A", "long-b": shared + "B", "exact": shared, "short": "x" * 199}
    events = [make_event(i, uc, customMetadata={"note": note}) for i, note in notes.items()]
    assert api.post("/vision-events/batch", {"events": events}).status_code == 201

    def matching(operator, value):
        body = {
            "useCaseId": uc,
            "customMetadataFilters": [{"field": "note", "operator": operator, "value": value}],
        }
        found = sorted(e["eventId"] for e in api.post("/vision-events/query", body).json()["events"])
        count = api.post("/vision-events/count", body).json()["count"]
        assert count == len(found)
        return found

    for event_id, note in notes.items():
        assert matching("eq", note) == [event_id]
    assert matching("in", [notes["long-a"], notes["short"]]) == ["long-a", "short"]
    assert matching("in", [shared + "C", "x" * 198]) == []
    assert matching("neq", notes["exact"]) == ["long-a", "long-b", "short"]
