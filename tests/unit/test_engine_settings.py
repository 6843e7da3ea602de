"""Process and database settings that ingest speed rests on (bench/ingest.py, generate.py measured them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from sightlog import heap
from sightlog.store.sql.engine import (
    STATEMENT_TIMEOUT_MS,
    WAL_AUTOCHECKPOINT_PAGES,
    WAL_SIZE_LIMIT,
    make_engine,
)
from tests.conftest import postgres_schema


def test_sqlite_connections_checkpoint_the_wal_in_large_steps(tmp_path: Path) -> None:
    for for_writes in (True, False):
        engine = make_engine(f"sqlite:///{tmp_path / 'db.sqlite'}", for_writes=for_writes)
        with engine.connect() as conn:
            assert conn.execute(text("PRAGMA wal_autocheckpoint")).scalar() == WAL_AUTOCHECKPOINT_PAGES
            assert conn.execute(text("PRAGMA journal_size_limit")).scalar() == WAL_SIZE_LIMIT
            assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL: durability comes first
        engine.dispose()


@pytest.mark.postgres
def test_postgresql_plans_every_statement_with_its_values() -> None:
    """No statement is kept prepared on the server: a generic plan made while a table was empty (the id
    lookup of ingest as a scan) would outlive the table's growth where autovacuum is off (2,300 -> 650
    events/s within 2 minutes of generate.py)."""
    with postgres_schema() as url:
        engine = make_engine(url, for_writes=True)
        with engine.connect() as conn:
            for n in range(10):
                conn.execute(text("SELECT count(*) FROM pg_class WHERE relname = :name"), {"name": f"t{n}"})
            assert conn.execute(text("SELECT count(*) FROM pg_prepared_statements")).scalar() == 0
            timeout = "SELECT setting::int FROM pg_settings WHERE name = 'statement_timeout'"
            assert conn.execute(text(timeout)).scalar() == STATEMENT_TIMEOUT_MS  # the other setting
        engine.dispose()


def test_a_settled_heap_is_frozen_and_collected_less_often() -> None:
    # In a fresh interpreter: freezing this test process's heap would outlive the test.
    probe = "\n".join(
        [
            "import gc",
            "from sightlog import heap",
            "heap.settle()",
            "print(gc.get_threshold(), gc.get_freeze_count())",
        ]
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    threshold, frozen = out.rsplit(" ", 1)
    assert threshold == str((heap.YOUNG_THRESHOLD, *heap.OLDER_THRESHOLDS))
    assert int(frozen) > 1000  # the modules and objects of startup
