"""SQLite query plans of counts that start from a side table and check an event column: the check must be
answered from that column's index, not by reading each (large) event row at random."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from sightlog.config import Settings
from sightlog.services import Services
from tests.conftest import make_event
from tests.support.statements import recorded_statements


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Services]:
    opened = Services.open(Settings(data_dir=tmp_path))
    opened.store.start_writer()
    yield opened
    opened.close()


def plan_of_count(services: Services, tmp_path: Path, filters: dict[str, Any]) -> tuple[int, str]:
    workspace = services.auth.create_workspace("plans")
    use_case = services.use_cases.create(workspace, {"name": "Line"}).slug
    events = [
        make_event(
            f"e{n}",
            use_case,
            eventType=("quality_check", "inventory_count")[n % 2],
            deviceId=f"cam-{n % 3}",
            eventData={"result": ("pass", "fail")[n % 4 == 0]} | ({"itemCount": 3} if n % 2 else {}),
            customMetadata={"shift": "abc"[n % 3]},
        )
        for n in range(200)
    ]
    for first in range(0, len(events), 100):
        services.ingest.create_batch(workspace, {"events": events[first : first + 100]})
    engine = services.store._read_engine  # the engine counts run on
    with recorded_statements(engine) as statements:
        counted = services.events.count(workspace, {"useCaseId": use_case, **filters})
    statement, params = statements[-1]
    with sqlite3.connect(tmp_path / "sightlog.db") as db:
        plan = " | ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {statement}", params))
    return counted, plan


# "fail" as a range, not an equality: the field rollup would answer an equality without these plans.
FAILED = {"eventFieldFilters": [{"field": "result", "operator": "lt", "value": "g", "type": "string"}]}


@pytest.mark.parametrize(
    ("own", "expected", "index"),
    [
        ({"eventType": "quality_check"}, 50, "COVERING INDEX ix_events_type"),  # n % 4 == 0: 50 fail
        ({"deviceId": {"operator": "eq", "value": "cam-1"}}, 17, "COVERING INDEX ix_events_device"),
    ],
)
def test_a_count_checks_one_event_column_in_its_index(services, tmp_path, own, expected, index):
    counted, plan = plan_of_count(services, tmp_path, {**FAILED, **own})
    assert counted == expected
    assert "ix_attrs_value" in plan and index in plan, plan
    assert "INTEGER PRIMARY KEY" not in plan, plan


def test_a_count_with_two_event_columns_reads_the_row(services, tmp_path):
    own = {"eventType": "quality_check", "deviceId": {"operator": "eq", "value": "cam-1"}}
    counted, plan = plan_of_count(services, tmp_path, {**FAILED, **own})
    assert counted == 17  # the failed ones (n % 4 == 0) are all quality checks; n % 3 == 1 of them: 17
    assert "INTEGER PRIMARY KEY" in plan, plan
