"""`contains` is case-insensitive for every script, on every backend."""

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
