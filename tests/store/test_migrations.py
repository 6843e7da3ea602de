"""Migrations create what the query layer expects, on each backend, and old schemas are refused."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, inspect, text

from sightlog.config import Settings
from sightlog.errors import Unavailable
from sightlog.models.query import DetectionFilter, Grid, QueryPlan, ValueFilter
from sightlog.services import Services
from sightlog.store.sql import SqlStore
from sightlog.store.sql import engine as sql_engine
from sightlog.store.sql.migrate import head_revision, upgrade
from sightlog.store.sql.schema import metadata
from tests.conftest import POSTGRES_URL, _schema_url


def test_migrated_schema_matches_the_table_definitions(database_url):
    store = SqlStore(database_url)
    store.prepare()
    store.close()
    engine = create_engine(database_url)
    try:
        inspector = inspect(engine)
        tables = set(inspector.get_table_names())
        postgres = engine.dialect.name == "postgresql"
        for table in metadata.sorted_tables:
            assert table.name in tables, table.name
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
            key = inspector.get_pk_constraint(table.name)["constrained_columns"]
            expected = [c.name for c in table.primary_key.columns]
            if postgres and table.name == "events":
                expected.append("ts")  # a partitioned table's key holds the partition column
            assert key == expected, table.name  # in order: the order rows are stored and found in
        if postgres:
            with engine.connect() as conn:
                kind = conn.execute(
                    text("SELECT relkind FROM pg_class WHERE oid = 'events'::regclass")
                ).scalar()
                partitions = conn.execute(
                    text("SELECT count(*) FROM pg_inherits WHERE inhparent = 'events'::regclass")
                ).scalar()
            assert kind == "p"  # partitioned
            assert partitions >= 3  # this month and the next two, created ahead
    finally:
        engine.dispose()


def test_an_out_of_date_schema_is_refused_with_the_command_to_run(tmp_path, database_url):
    settings = Settings(data_dir=tmp_path, database_url=database_url)
    Services.open(settings).close()
    engine = create_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '0000'"))
    engine.dispose()
    with pytest.raises(Unavailable, match="sightlog db upgrade"):
        Services.open(settings)


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sightlog", *args], capture_output=True, text=True, timeout=60, env=env
    )


def test_db_upgrade_creates_then_reports_up_to_date(tmp_path):
    data = str(tmp_path / "data")
    assert "current: none" in run_cli("db", "revision", "--data-dir", data).stdout
    first = run_cli("db", "upgrade", "--data-dir", data)
    assert first.returncode == 0 and f"to revision {head_revision()}" in first.stderr
    again = run_cli("db", "upgrade", "--data-dir", data)
    assert again.returncode == 0 and "up to date" in again.stderr
    assert f"current: {head_revision()}" in run_cli("db", "revision", "--data-dir", data).stdout


def test_db_commands_name_an_unreachable_database(tmp_path):
    result = run_cli("db", "upgrade", "--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/test")
    assert result.returncode == 1
    assert "unavailable" in result.stderr and "Traceback" not in result.stderr


@pytest.fixture
def empty_database_url(backend: str, tmp_path) -> Iterator[str]:
    """A database with nothing in it (the shared PostgreSQL schemas come migrated to the newest revision)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
        return
    name = f"m_{uuid.uuid4().hex[:16]}"
    admin = create_engine(POSTGRES_URL)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {name}")
    try:
        yield _schema_url(name)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA {name} CASCADE")
        admin.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_db_upgrade_runs_without_the_statement_timeout_of_requests(empty_database_url, monkeypatch):
    """Migrations rebuild indexes and fill tables: minutes on a large store, which the timeout that guards
    requests (30 s) would cancel."""
    monkeypatch.setattr(sql_engine, "STATEMENT_TIMEOUT_MS", 1)
    store = SqlStore(empty_database_url)
    try:
        assert store.upgrade() == (None, head_revision())
        with pytest.raises(Unavailable, match="statement timeout"):  # while requests still have it
            store._read(lambda conn: conn.execute(text("SELECT pg_sleep(0.1)")).scalar())
    finally:
        store.close()


JAN_2001_US = 978_307_200_000_000


def _store_events_the_0001_way(conn: Connection) -> None:
    """Two events as revision 0001 stored them: metadata in event_attrs (SQLite) or JSONB (PostgreSQL)."""
    postgres = conn.dialect.name == "postgresql"
    conn.execute(
        text("INSERT INTO workspaces (pk, slug, name, created_at) VALUES (1, 'default', 'Default', 0)")
    )
    conn.execute(
        text(
            "INSERT INTO use_cases (pk, workspace_pk, slug, name, status, created_at) "
            "VALUES (1, 1, 'qa', 'QA', 'active', 0)"
        )
    )
    conn.execute(
        text(
            "INSERT INTO use_case_stats (use_case_pk, event_type, event_count, last_ts) "
            "VALUES (1, 'quality_check', 2, :ts)"
        ),
        {"ts": JAN_2001_US + 1},
    )
    if postgres:
        conn.execute(
            text(
                "CREATE TABLE events_y2001m01 PARTITION OF events "
                f"FOR VALUES FROM ({JAN_2001_US}) TO ({JAN_2001_US + 31 * 86_400_000_000})"
            )
        )
    documents = {
        1: ({"line_id": 7, "shift": "b", "ok": True}, {"result": "fail"}),
        2: ({"line_id": 8, "shift": "b"}, {"result": "pass"}),
    }
    for pk, (custom, data) in documents.items():
        conn.execute(
            text(
                "INSERT INTO events (pk, workspace_pk, event_id, use_case_pk, event_type, ts, "
                "has_warnings, received_at, body, custom_metadata, event_data) "
                "VALUES (:pk, 1, :id, 1, 'quality_check', :ts, false, 0, :body, :metadata, :data)"
            ),
            {
                "pk": pk,
                "id": f"e{pk}",
                "ts": JAN_2001_US + pk,
                "body": json.dumps({"eventId": f"e{pk}", "customMetadata": custom, "eventData": data}),
                "metadata": json.dumps(custom) if postgres else None,
                "data": json.dumps(data) if postgres else None,
            },
        )
        conn.execute(
            text("INSERT INTO event_keys (workspace_pk, event_id, pk, ts) VALUES (1, :id, :pk, :ts)"),
            {"id": f"e{pk}", "pk": pk, "ts": JAN_2001_US + pk},
        )
        conn.execute(
            text("INSERT INTO detections (event_pk, class_name, confidence) VALUES (:pk, 'crack', 0.95)"),
            {"pk": pk},
        )
        if not postgres:
            attrs = [("m", k, v) for k, v in custom.items()] + [("d", k, v) for k, v in data.items()]
            for ns, key, value in attrs:
                kind = "b" if isinstance(value, bool) else "n" if isinstance(value, int) else "s"
                conn.execute(
                    text("INSERT INTO event_attrs VALUES (:pk, :ns, :key, :kind, :text, :number)"),
                    {
                        "pk": pk,
                        "ns": ns,
                        "key": key,
                        "kind": kind,
                        "text": value if kind == "s" else None,
                        "number": None if kind == "s" else float(value),
                    },
                )


def test_upgrading_from_0001_keeps_every_event_filterable(empty_database_url):
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        upgrade(conn, "0001")
        _store_events_the_0001_way(conn)
    engine.dispose()

    store = SqlStore(empty_database_url)
    try:
        assert store.upgrade() == ("0001", head_revision())
        store.prepare()

        def metadata_filter(field: str, operator: str, value: Any, kind: str) -> ValueFilter:
            return ValueFilter.model_validate(
                {"field": field, "operator": operator, "value": value, "type": kind}
            )

        def matching(**filters: Any) -> list[str]:
            plan = QueryPlan(use_case_pk=1, **filters)
            return [e.event_id for e in store.query_page(plan, descending=False, limit=10, after=None)]

        assert matching(metadata_filters=[metadata_filter("line_id", "eq", 7, "number")]) == ["e1"]
        assert matching(metadata_filters=[metadata_filter("ok", "eq", True, "boolean")]) == ["e1"]
        assert matching(metadata_filters=[metadata_filter("shift", "eq", "b", "string")]) == ["e1", "e2"]
        assert matching(field_filters=[metadata_filter("result", "eq", "pass", "string")]) == ["e2"]
        crack = DetectionFilter.model_validate({"class": "crack", "minConfidence": 0.9})
        assert store.count(QueryPlan(use_case_pk=1, detection_filters=[crack])) == 2
        by_line = store.aggregate(QueryPlan(use_case_pk=1), ["customMetadata.line_id"], None)
        assert sorted(by_line) == [(None, (7.0,), 1), (None, (8.0,), 1)]
        # The rollup of 0003 was built from the old events: whole quarter hours come from it.
        by_class = store.aggregate(QueryPlan(use_case_pk=1), ["class", "eventType"], Grid(900_000_000))
        assert by_class == [(JAN_2001_US, ("crack", "quality_check"), 2)]
    finally:
        store.close()
