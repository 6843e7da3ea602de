"""The rollup of custom metadata and eventData values (store/sql/attr_rollup.py): which fields it counts,
that queries on the others are still answered from the events, that the migrations' backfill counts what
ingest counts, and that a question reads one range of it. The property test (test_query_properties.py)
checks its answers."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from sightlog.config import Settings
from sightlog.models.query import EventAggregate
from sightlog.models.records import Workspace
from sightlog.services import Services
from sightlog.store.sql import attr_rollup
from sightlog.store.sql.migrate import MIGRATIONS
from tests.conftest import make_event
from tests.support.statements import recorded_statements


@pytest.fixture
def services(tmp_path: Path, database_url: str) -> Iterator[Services]:
    opened = Services.open(Settings(data_dir=tmp_path / "data", database_url=database_url))
    opened.store.start_writer()
    yield opened
    opened.close()


@pytest.fixture
def sqlite_services(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(Settings(data_dir=tmp_path / "data"))
    opened.store.start_writer()
    yield opened
    opened.close()


def _store(
    services: Services,
    metadata: list[dict[str, Any]],
    data: list[dict[str, Any]] | None = None,
    **event_fields: Any,
) -> tuple[Workspace, str]:
    """Events with the given custom metadata (and eventData, if given), in batches of 50."""
    workspace = services.auth.create_workspace("rollup")
    use_case = services.use_cases.create(workspace, {"name": "Line"}).slug
    events = [
        make_event(f"e{n}", use_case, customMetadata=custom, **event_fields)
        | ({"eventData": data[n]} if data else {})
        for n, custom in enumerate(metadata)
    ]
    for first in range(0, len(events), 50):
        services.ingest.create_batch(workspace, {"events": events[first : first + 50]})
    return workspace, use_case


def _rolled_up(services: Services) -> dict[str, bool]:
    with services.store._read_engine.connect() as conn:
        return {
            field: bool(rolled)
            for field, rolled in conn.execute(text("SELECT field, rolled_up FROM rollup_fields"))
        }


def _served_by_rollup(services: Services, workspace: Workspace, request: dict[str, Any]) -> bool:
    plan, _ = services.events.plan(workspace, EventAggregate.model_validate(request))
    with services.store._read_engine.connect() as conn:
        return attr_rollup.reader(conn, plan, request.get("groupBy", []), None) is not None


def _by(services: Services, workspace: Workspace, request: dict[str, Any]) -> dict[Any, int]:
    buckets = services.aggregates.aggregate(workspace, request)["buckets"]
    return {tuple(b["key"].values()): b["count"] for b in buckets}


def test_a_field_with_too_many_or_too_long_values_is_dropped_and_answered_from_the_events(services):
    many = attr_rollup.MAX_VALUES + 10
    long_text = "x" * (attr_rollup.MAX_VALUE_CHARS + 1)
    metadata = [
        {"serial": f"S{n}", "shift": "ab"[n % 2], "note": long_text if n == 30 else "short"}
        for n in range(many)
    ]
    workspace, use_case = _store(services, metadata)
    assert _rolled_up(services) == {"serial": False, "note": False, "shift": True, "eventData.result": True}

    by_serial = {"useCaseId": use_case, "groupBy": ["customMetadata.serial"]}
    assert not _served_by_rollup(services, workspace, by_serial)
    assert _by(services, workspace, by_serial) == {(f"S{n}",): 1 for n in range(many)}
    by_note = {"useCaseId": use_case, "groupBy": ["customMetadata.note"]}
    assert _by(services, workspace, by_note) == {("short",): many - 1, (long_text,): 1}

    shift_b = {"field": "shift", "operator": "eq", "value": "b", "type": "string"}
    by_shift = {"useCaseId": use_case, "groupBy": ["customMetadata.shift"]}
    assert _served_by_rollup(services, workspace, by_shift)
    assert _by(services, workspace, by_shift) == {("a",): many // 2, ("b",): many // 2}
    assert (
        services.events.count(workspace, {"useCaseId": use_case, "customMetadataFilters": [shift_b]})
        == many // 2
    )


def test_the_first_fields_of_a_use_case_are_rolled_up_and_the_rest_are_not(services):
    names = [f"f{n}" for n in range(attr_rollup.MAX_FIELDS + 2)]
    workspace, use_case = _store(services, [{name: n % 3 for name in names} for n in range(9)])
    rolled = _rolled_up(services)
    # eventData fields have places of their own.
    assert rolled == {name: name in names[: attr_rollup.MAX_FIELDS] for name in names} | {
        "eventData.result": True
    }

    last = f"customMetadata.{names[-1]}"
    request = {"useCaseId": use_case, "groupBy": [last, "customMetadata.f0"]}
    assert not _served_by_rollup(services, workspace, request)
    assert _by(services, workspace, request) == {(v, v): 3 for v in range(3)}


def test_fields_arriving_together_take_places_most_used_first_and_unfit_ones_take_none(services):
    long_text = "x" * (attr_rollup.MAX_VALUE_CHARS + 1)
    names = [f"f{n}" for n in range(attr_rollup.MAX_FIELDS)]
    metadata = [{name: n % 2 for name in names} | {"a_long": long_text} for n in range(50)]
    metadata[0]["a_rare"] = "once"
    _store(services, metadata)  # one batch
    assert _rolled_up(services) == dict.fromkeys(names, True) | {
        "a_long": False,
        "a_rare": False,
        "eventData.result": True,
    }


def test_event_data_fields_are_counted_apart_from_custom_metadata(services):
    alerts = [("no_helmet", "high"), ("no_helmet", "low"), ("restricted_zone", "high")]
    data = [{"alertType": alerts[n % 3][0], "severity": alerts[n % 3][1]} for n in range(30)]
    workspace, use_case = _store(
        services, [{"line": n % 2} for n in range(30)], data, eventType="safety_alert"
    )
    services.ingest.create_batch(workspace, {"events": [make_event("check", use_case)]})  # result: pass
    high = {"field": "severity", "operator": "eq", "value": "high"}

    by_alert = {"useCaseId": use_case, "groupBy": ["eventData.alertType", "eventType"]}
    assert _served_by_rollup(services, workspace, by_alert)
    assert _by(services, workspace, by_alert) == {
        ("no_helmet", "safety_alert"): 20,
        ("restricted_zone", "safety_alert"): 10,
        (None, "quality_check"): 1,
    }
    high_by_alert = {"useCaseId": use_case, "groupBy": ["eventData.alertType"], "eventFieldFilters": [high]}
    assert _served_by_rollup(services, workspace, high_by_alert)
    assert _by(services, workspace, high_by_alert) == {("no_helmet",): 10, ("restricted_zone",): 10}
    high_alerts = {"useCaseId": use_case, "eventTypes": ["safety_alert"], "eventFieldFilters": [high]}
    assert _served_by_rollup(services, workspace, high_alerts)
    assert services.events.count(workspace, high_alerts) == 20

    # Pairs are counted within a namespace only: a custom metadata field with an eventData field is
    # answered from the events.
    high_by_line = {"useCaseId": use_case, "groupBy": ["customMetadata.line"], "eventFieldFilters": [high]}
    assert not _served_by_rollup(services, workspace, high_by_line)
    assert _by(services, workspace, high_by_line) == {(0,): 10, (1,): 10}


def test_values_python_holds_equal_are_counted_apart(services):
    # False == 0 == -0.0 and True == 1 in Python; in JSON (and to the user) they are different values.
    metadata = [{"k": False}, {"k": 0}, {"k": -0.0}, {"k": True}, {"k": 1}, {"k": 1}, {}]
    workspace, use_case = _store(services, metadata)
    request = {"useCaseId": use_case, "groupBy": ["customMetadata.k"]}
    assert _served_by_rollup(services, workspace, request)
    buckets = services.aggregates.aggregate(workspace, request)["buckets"]
    counts = sorted((repr(b["key"]["customMetadata.k"]), b["count"]) for b in buckets)
    assert counts == [("0", 2), ("1", 2), ("False", 1), ("None", 1), ("True", 1)]


def test_a_page_weighs_a_rolled_up_filter_by_its_counts_not_its_index(services):
    metadata = [{"line": n % 4, "shift": "ab"[n % 2]} for n in range(80)]
    workspace, use_case = _store(services, metadata)
    shift_a = {"field": "shift", "operator": "eq", "value": "a", "type": "string"}
    with recorded_statements(services.store._read_engine) as statements:
        page = services.events.query(workspace, {"useCaseId": use_case, "customMetadataFilters": [shift_a]})
    assert len(page["events"]) == 40
    assert any("FROM attr_rollup" in s for s, _ in statements)
    assert not any("count(*)" in s and "event_attrs" in s for s, _ in statements)  # no capped index count


def test_events_lacking_a_grouped_field_are_counted_under_none(services):
    metadata = [{"line": 1, "shift": "a"}, {"line": 1}, {"shift": "a"}, {"other": True}, {}]
    workspace, use_case = _store(services, metadata)
    request = {"useCaseId": use_case, "groupBy": ["customMetadata.line", "customMetadata.shift"]}
    assert _served_by_rollup(services, workspace, request)
    assert _by(services, workspace, request) == {(1, "a"): 1, (1, None): 1, (None, "a"): 1, (None, None): 2}


@pytest.mark.parametrize(
    ("grouped", "filtered", "value", "kind", "searched"),
    [
        # A pair's row is keyed by line_id's value, then shift's ("line_id" < "shift").
        ("line_id", "shift", "b", "string", "field2=? AND value2=? AND num2=?"),
        ("shift", "line_id", 7, "number", "value2=? AND num2=? AND value=? AND num=?"),
    ],
)
def test_a_grouped_field_under_a_filter_on_another_seeks_in_the_rollup(
    sqlite_services, tmp_path, grouped, filtered, value, kind, searched
):
    services = sqlite_services
    workspace, use_case = _store(services, [{"line_id": n % 20, "shift": "abc"[n % 3]} for n in range(120)])
    request = {
        "useCaseId": use_case,
        "groupBy": [f"customMetadata.{grouped}"],
        "customMetadataFilters": [{"field": filtered, "operator": "eq", "value": value, "type": kind}],
    }
    engine = services.store._read_engine
    with recorded_statements(engine) as statements:
        counts = _by(services, workspace, request)
    expected = [
        m for m in ({"line_id": n % 20, "shift": "abc"[n % 3]} for n in range(120)) if m[filtered] == value
    ]
    assert sum(counts.values()) == len(expected) == 6 if filtered == "line_id" else 40
    assert (None,) not in counts
    pair = next((s, p) for s, p in statements if "FROM attr_rollup" in s and "field2 = ?" in s)
    with sqlite3.connect(tmp_path / "data" / "sightlog.db") as db:
        plan = " | ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {pair[0]}", pair[1]))
    assert searched in plan, plan


def _rollup_contents(url: str) -> dict[str, set[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            rolled = "SELECT field FROM rollup_fields WHERE rolled_up"
            return {
                "fields": set(conn.execute(text("SELECT use_case_pk, field, rolled_up FROM rollup_fields"))),
                "values": set(conn.execute(text(f"SELECT * FROM rollup_values WHERE field IN ({rolled})"))),
                "counts": set(
                    conn.execute(
                        text(
                            f"SELECT * FROM attr_rollup WHERE event_count > 0 AND field IN ({rolled}) "
                            f"AND (field2 = '' OR field2 IN ({rolled}))"
                        )
                    )
                ),
            }
    finally:
        engine.dispose()


@pytest.mark.parametrize("base", ["0003", "0004"])  # both namespaces; eventData (0005) alone
def test_the_migrations_count_existing_events_as_ingest_does(services, database_url, base):
    metadata = [
        {"line_id": n % 7, "shift": "abc"[n % 3], "ok": n % 2 == 0, "temp": 20.5 + n % 4, "note": "same"}
        | ({"serial": f"S{n}"} if n % 4 else {})
        for n in range(attr_rollup.MAX_VALUES + 30)
    ]
    # "confidence" fits in the first batch and is dropped in the second; "blob" (a list) never fits.
    data = [
        {"result": ("pass", "fail")[n % 2], "confidence": n / 100, "zone": f"z{n % 3}"}
        | ({"blob": [n]} if n % 5 else {})
        for n in range(len(metadata))
    ]
    # Event keys from just below 1,000,000 on: the backfill counts a million events at a time, so these
    # events (all in one quarter hour) are counted in two steps that must add up.
    with services.store._write_engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT setval(pg_get_serial_sequence('events', 'pk'), 999960)"))
        else:
            conn.execute(text("INSERT INTO sqlite_sequence (name, seq) VALUES ('events', 999960)"))
    workspace, use_case = _store(services, metadata, data, eventType="quality_check")
    # Upserts and deletes leave rows at zero, which the backfill never writes: compared without them.
    services.ingest.create_batch(
        workspace,
        {
            "events": [
                make_event(
                    "e1", use_case, customMetadata={"line_id": 99, "shift": "z"}, eventData={"result": "fail"}
                )
            ]
        },
    )
    services.events.delete(workspace, "e2")
    by_ingest = _rollup_contents(database_url)
    with services.store._read_engine.connect() as conn:
        assert conn.execute(text("SELECT min(pk) < 1000000 AND max(pk) >= 1000000 FROM events")).scalar()
    rolled = {field for _, field, rolled in by_ingest["fields"] if rolled}
    assert rolled == {"line_id", "shift", "ok", "temp", "note", "eventData.result", "eventData.zone"}

    engine = create_engine(database_url)
    try:
        with engine.begin() as conn:
            config = Config()
            config.set_main_option("script_location", str(MIGRATIONS))
            config.attributes["connection"] = conn
            command.downgrade(config, base)
            command.upgrade(config, "head")
    finally:
        engine.dispose()
    by_backfill = _rollup_contents(database_url)
    assert by_backfill == by_ingest
    assert len({row for row in by_ingest["counts"] if row[1].startswith("eventData.")}) > 10
