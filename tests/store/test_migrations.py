"""Migrations create what the query layer expects, on each backend, and old schemas are refused."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import create_engine, inspect, text

from sightlog.config import Settings
from sightlog.errors import Unavailable
from sightlog.services import Services
from sightlog.store.sql import SqlStore
from sightlog.store.sql.migrate import head_revision
from sightlog.store.sql.schema import metadata

SQLITE_ONLY = {"event_attrs"}


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
            if postgres and table.name in SQLITE_ONLY:
                assert table.name not in tables
                continue
            assert table.name in tables, table.name
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
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
