"""Use cases (SPEC §3 rows 5-10, §3.7): slugs, rename, archive, listing, counters and the metadata schema."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.api.helpers import assert_error, batch, create, query_ids, use_case_item
from tests.conftest import make_event

UC = "/vision-events/use-cases"


def listed(api, status: str | None = None) -> list[dict]:
    response = api.get(UC, params={"status": status} if status else None)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["lookbackDays"] is None
    return body["useCases"]


def test_create_returns_slug_and_name(api):
    response = api.post(UC, {"name": "Assembly Line QA"})
    assert response.status_code == 201
    assert response.json() == {"id": "assembly-line-qa", "name": "Assembly Line QA"}


def test_slug_clashes_get_numbered_suffixes(api):
    names = ["Line QA", "line-qa", "LINE  qa!", "Line"]
    assert [api.use_case(n) for n in names] == ["line-qa", "line-qa-2", "line-qa-3", "line"]
    assert {u["id"]: u["name"] for u in listed(api)} == dict(
        zip(["line-qa", "line-qa-2", "line-qa-3", "line"], names, strict=True)
    )


def test_duplicate_name_is_409(api):
    api.use_case("Dock")
    assert_error(api.post(UC, {"name": "Dock"}), 409, "conflict")
    assert [u["id"] for u in listed(api)] == ["dock"]


@pytest.mark.parametrize(
    "body", [{}, {"name": ""}, {"name": "   "}, {"name": 5}, {"name": "n" * 257}, [], "Dock"]
)
def test_create_needs_a_name(api, body):
    assert_error(api.post(UC, body), 400)
    assert listed(api, "all") == []


def test_list_item_shape(api):
    before = datetime.now(UTC) - timedelta(seconds=5)
    api.use_case("Dock")
    (item,) = listed(api)
    assert {k: item[k] for k in ("id", "name", "status", "eventCount", "lastEventAt", "eventTypes")} == {
        "id": "dock",
        "name": "Dock",
        "status": "active",
        "eventCount": 0,
        "lastEventAt": None,
        "eventTypes": [],
    }
    created = datetime.fromisoformat(item["createdAt"].replace("Z", "+00:00"))
    assert item["createdAt"].endswith("Z") and before <= created <= datetime.now(UTC) + timedelta(seconds=5)


def test_rename_keeps_the_id(api):
    uc = api.use_case("Dock")
    create(api, make_event("e1", uc))
    response = api.put(f"{UC}/{uc}", {"name": "Loading Dock"})
    assert response.status_code == 200
    assert response.json() == {"id": "dock", "name": "Loading Dock"}
    assert [(u["id"], u["name"]) for u in listed(api)] == [("dock", "Loading Dock")]
    assert query_ids(api, uc) == ["e1"]
    create(api, make_event("e2", uc))
    assert api.post(UC, {"name": "Dock"}).json()["id"] == "dock-2"  # the old name is free again


def test_rename_to_its_own_name_is_allowed(api):
    uc = api.use_case("Dock")
    assert api.put(f"{UC}/{uc}", {"name": "Dock"}).status_code == 200


def test_rename_unknown_is_404(api):
    assert_error(api.put(f"{UC}/ghost", {"name": "x"}), 404, "not_found")


def test_rename_onto_an_existing_name_is_409(api):
    api.use_case("Dock")
    uc = api.use_case("Gate")
    assert_error(api.put(f"{UC}/{uc}", {"name": "Dock"}), 409, "conflict")
    assert use_case_item(api, uc)["name"] == "Gate"


def test_rename_needs_a_name(api):
    uc = api.use_case("Dock")
    assert_error(api.put(f"{UC}/{uc}", {"title": "x"}), 400)


def test_archive_and_unarchive(api):
    active = api.use_case("Active")
    archived = api.use_case("Old")
    create(api, make_event("e1", archived))
    response = api.post(f"{UC}/{archived}/archive")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert [u["id"] for u in listed(api)] == [active]
    assert [u["id"] for u in listed(api, "active")] == [active]
    assert [(u["id"], u["status"]) for u in listed(api, "inactive")] == [(archived, "inactive")]
    assert sorted(u["id"] for u in listed(api, "all")) == sorted([active, archived])
    assert query_ids(api, archived) == ["e1"]  # archived events stay queryable
    assert api.get("/vision-events/events/e1").status_code == 200

    response = api.post(f"{UC}/{archived}/unarchive")
    assert response.status_code == 200 and response.json() == {"success": True}
    assert sorted(u["id"] for u in listed(api)) == sorted([active, archived])
    assert listed(api, "inactive") == []


def test_unarchive_of_an_active_use_case_is_400(api):
    uc = api.use_case()
    assert_error(api.post(f"{UC}/{uc}/unarchive"), 400)
    assert use_case_item(api, uc)["status"] == "active"


@pytest.mark.parametrize("action", ["archive", "unarchive"])
def test_archive_unknown_is_404(api, action):
    assert_error(api.post(f"{UC}/ghost/{action}"), 404, "not_found")


@pytest.mark.parametrize("status", ["archived", "ALL", "none"])
def test_bad_status_filter(api, status):
    api.use_case()
    assert_error(api.get(UC, params={"status": status}), 400)


def ts(hour: int) -> str:
    return f"2026-11-20T{hour:02d}:00:00Z"


def test_counters_follow_create_upsert_and_delete(api):
    uc = api.use_case("One")
    other = api.use_case("Two")
    batch(
        api,
        [
            make_event("a", uc, timestamp=ts(9)),
            make_event("b", uc, timestamp=ts(12)),
            make_event("c", uc, eventType="inventory_count", eventData={"itemCount": 1}, timestamp=ts(10)),
        ],
    )
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["lastEventAt"], sorted(item["eventTypes"])) == (
        3,
        ts(12),
        ["inventory_count", "quality_check"],
    )

    # Upsert: type change, and an older timestamp for the newest event.
    create(
        api, make_event("c", uc, eventType="safety_alert", eventData={"alertType": "fire"}, timestamp=ts(8))
    )
    create(api, make_event("b", uc, timestamp=ts(7)))
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["lastEventAt"], sorted(item["eventTypes"])) == (
        3,
        ts(9),
        ["quality_check", "safety_alert"],
    )

    # Upsert into another use case moves the event.
    create(api, make_event("a", other, timestamp=ts(11)))
    item, moved = use_case_item(api, uc), use_case_item(api, other)
    assert (item["eventCount"], item["lastEventAt"]) == (2, ts(8))
    assert (moved["eventCount"], moved["lastEventAt"], moved["eventTypes"]) == (1, ts(11), ["quality_check"])
    assert sorted(query_ids(api, uc)) == ["b", "c"] and query_ids(api, other) == ["a"]

    # Deletes.
    assert api.delete("/vision-events/events/c").status_code == 204
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["lastEventAt"], item["eventTypes"]) == (1, ts(7), ["quality_check"])
    assert api.delete("/vision-events/events/b").status_code == 204
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["lastEventAt"], item["eventTypes"]) == (0, None, [])


def test_failed_writes_leave_counters_alone(api):
    uc = api.use_case()
    create(api, make_event("a", uc))
    assert api.post("/vision-events", make_event("a", uc, eventData={})).status_code == 400
    assert (
        api.post("/vision-events/batch", {"events": [make_event("b", uc), {"eventId": "x"}]}).status_code
        == 400
    )
    item = use_case_item(api, uc)
    assert (item["eventCount"], item["eventTypes"]) == (1, ["quality_check"])


def test_custom_metadata_schema(api):
    uc = api.use_case()
    batch(
        api,
        [
            make_event("a", uc, customMetadata={"line": "L1", "count": 3, "rush": True}),
            make_event("b", uc, customMetadata={"count": "three", "ratio": 0.5}),
            make_event("c", uc),
        ],
    )
    response = api.get(f"/vision-events/custom-metadata-schema/{uc}")
    assert response.status_code == 200
    body = response.json()
    assert body["useCaseId"] == uc
    fields = {name: sorted(v["types"]) for name, v in body["fields"].items()}
    assert fields == {
        "line": ["string"],
        "count": ["number", "string"],
        "rush": ["boolean"],
        "ratio": ["number"],
    }


def test_custom_metadata_schema_is_per_use_case(api):
    one, two = api.use_case("One"), api.use_case("Two")
    create(api, make_event("a", one, customMetadata={"line": "L1"}))
    assert api.get(f"/vision-events/custom-metadata-schema/{two}").json() == {"useCaseId": two, "fields": {}}


def test_custom_metadata_schema_unknown_is_404(api):
    assert_error(api.get("/vision-events/custom-metadata-schema/ghost"), 404, "not_found")
