"""PostgreSQL plans of pages that walk a use case's events newest first, probing the side tables for each:
the walk reads the page index alone (``ix_events_page`` carries each event's key and type) and the table
only for the events the page returns, not for the thousands it passes over."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from sightlog.config import Settings
from sightlog.services import Services
from tests.conftest import make_event, postgres_schema
from tests.support.statements import recorded_statements


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    with postgres_schema() as url:
        opened = Services.open(Settings(data_dir=tmp_path / "data", database_url=url))
        opened.store.start_writer()
        yield opened
        opened.close()


def test_a_walking_page_reads_the_index_alone_and_the_table_for_its_events(services):
    workspace = services.auth.create_workspace("plans")
    use_case = services.use_cases.create(workspace, {"name": "Line"}).slug
    events = [
        make_event(
            f"e{n:03d}",
            use_case,
            **({"eventType": "inventory_count", "eventData": {"itemCount": n}} if n % 2 else {}),
            timestamp=f"2026-11-20T10:{n // 60:02d}:{n % 60:02d}Z",
            customMetadata={"shift": "abc"[n % 3]},
        )
        for n in range(300)
    ]
    for first in range(0, len(events), 100):
        services.ingest.create_batch(workspace, {"events": events[first : first + 100]})
    engine = services.store._read_engine
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM events")  # marks the pages all-visible, as autovacuum does
    # neq has no index to start from: the page walks the events, checking each.
    request = {
        "useCaseId": use_case,
        "eventType": "quality_check",
        "customMetadataFilters": [{"field": "shift", "operator": "neq", "value": "a"}],
        "limit": 5,
    }
    with recorded_statements(engine) as statements:
        page = services.events.query(workspace, request)
    expected = [f"e{n:03d}" for n in range(299, -1, -1) if n % 2 == 0 and n % 3 != 0][:5]
    assert [e["eventId"] for e in page["events"]] == expected

    statement, params = statements[-1]
    with engine.connect() as conn:
        # A few hundred rows: without these the planner would rightly read them all and sort.
        conn.exec_driver_sql("SET enable_seqscan = off")
        conn.exec_driver_sql("SET enable_bitmapscan = off")
        plan = "\n".join(row[0] for row in conn.exec_driver_sql(f"EXPLAIN ANALYZE {statement}", params))
    walk = plan[plan.index("Index Only Scan Backward") :]
    assert "Heap Fetches: 0" in walk, plan
    assert "event_type" in walk.split("\n")[0], plan  # the index the walk reads carries the type
