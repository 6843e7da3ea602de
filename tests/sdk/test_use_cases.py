"""``client.use_cases`` and ``client.health`` / ``client.workspace`` against a real server."""

from __future__ import annotations

import uuid

import pytest

from sightlog import Client
from sightlog.sdk import BadRequest, Conflict, NotFound, UseCase


def test_health_needs_no_key(server) -> None:
    with Client(server.url, api_key="") as anonymous:
        health = anonymous.health()
    assert health.status == "ok"
    assert health.version
    assert health.store == "sqlite"


def test_workspace_names_the_key_s_workspace(client: Client) -> None:
    assert client.workspace() == "default"


def test_create_list_rename_keeps_the_id(client: Client) -> None:
    name = f"Assembly Line {uuid.uuid4().hex[:6]}"
    created = client.use_cases.create(name)
    assert created.id == name.lower().replace(" ", "-")
    assert created.name == name

    listed = {u.id: u for u in client.use_cases.list()}
    assert isinstance(listed[created.id], UseCase)
    assert listed[created.id].status == "active"
    assert listed[created.id].event_count == 0
    assert listed[created.id].last_event_at is None
    assert listed[created.id].created_at is not None

    renamed = client.use_cases.rename(created.id, "Renamed line")
    assert (renamed.id, renamed.name) == (created.id, "Renamed line")
    assert {u.id: u.name for u in client.use_cases.list()}[created.id] == "Renamed line"


def test_duplicate_name_is_a_conflict(client: Client) -> None:
    name = f"Dup {uuid.uuid4().hex[:6]}"
    client.use_cases.create(name)
    with pytest.raises(Conflict) as caught:
        client.use_cases.create(name)
    assert caught.value.status == 409
    assert caught.value.code == "conflict"


def test_archive_and_unarchive(client: Client, use_case: str) -> None:
    client.use_cases.archive(use_case)
    assert use_case not in {u.id for u in client.use_cases.list()}
    assert {u.id: u.status for u in client.use_cases.list("inactive")}[use_case] == "inactive"
    assert use_case in {u.id for u in client.use_cases.list("all")}

    client.use_cases.unarchive(use_case)
    assert {u.id: u.status for u in client.use_cases.list()}[use_case] == "active"
    with pytest.raises(BadRequest, match="already active"):
        client.use_cases.unarchive(use_case)


def test_schema_lists_metadata_types(client: Client, use_case: str) -> None:
    client.events.create(use_case, "custom", custom_metadata={"line": "A", "shift": 2, "ok": True})
    client.events.create(use_case, "custom", custom_metadata={"shift": "night"})
    schema = client.use_cases.schema(use_case)
    assert schema.use_case_id == use_case
    assert {name: sorted(f.types) for name, f in schema.fields.items()} == {
        "line": ["string"],
        "shift": ["number", "string"],
        "ok": ["boolean"],
    }


def test_update_sets_and_clears_retention(client: Client, use_case: str) -> None:
    updated = client.use_cases.update(use_case, retention_days=30)
    assert (updated.id, updated.retention_days) == (use_case, 30)
    assert client.events.query(use_case).lookback_days == 30
    assert client.use_cases.update(use_case, retention_days=None).retention_days is None


def test_unknown_use_case_is_not_found(client: Client) -> None:
    with pytest.raises(NotFound):
        client.use_cases.rename("no-such-use-case", "x")
    with pytest.raises(NotFound):
        client.use_cases.schema("no-such-use-case")
