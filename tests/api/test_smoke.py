from tests.conftest import make_event


def test_create_and_query_round_trip(api):
    use_case = api.use_case()
    source = api.upload()
    event = make_event("e1", use_case, images=[{"sourceId": source}])
    assert api.post("/vision-events", event).json() == {"eventId": "e1", "created": True}
    page = api.post("/vision-events/query", {"useCaseId": use_case}).json()
    assert [e["eventId"] for e in page["events"]] == ["e1"]
    assert page["events"][0]["images"][0]["width"] == 64
