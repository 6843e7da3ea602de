"""Pages that walk one filter's candidates in time order (query.py ``_walk_candidates``), on both backends:
the walk reads the index a chunk at a time, in order, never sorting a value's rows, and its pages are the
reference's, ties of one instant across chunks and pages included."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sightlog.config import Settings
from sightlog.models.query import EventQuery
from sightlog.services import Services
from sightlog.store.sql import query as sql_query
from sightlog.store.sql.filters import compile_filters
from sightlog.store.sql.query import FIRST_CHUNK_PAGES
from tests.conftest import make_event
from tests.support.statements import recorded_statements

EVENTS = 240


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    opened = Services.open(settings)
    opened.store.start_writer()
    yield opened
    opened.close()


@pytest.fixture
def use_case(services: Services) -> tuple[Any, str]:
    """240 events, ten to an instant; shift a/b/c in turn, line 1-5, device cam-0 to cam-6. Within an
    instant, eventIds run against the order of arrival (and of keys): the walk's order is not the page's."""
    workspace = services.auth.create_workspace("walks")
    slug = services.use_cases.create(workspace, {"name": "Line"}).slug
    events = [
        make_event(
            event_id(n),
            slug,
            timestamp=f"2026-11-20T10:00:{n // 10:02d}Z",
            deviceId=f"cam-{n % 7}",
            customMetadata={"shift": "abc"[n % 3], "line_id": n % 5 + 1},
        )
        for n in range(EVENTS)
    ]
    for first in range(0, EVENTS, 100):
        services.ingest.create_batch(workspace, {"events": events[first : first + 100]})
    return workspace, slug


def event_id(n: int) -> str:
    return f"e{n // 10 * 10 + 9 - n % 10:03d}"


def walk(
    services: Services, workspace: Any, request: dict[str, Any], *, descending: bool, limit: int, after: Any
) -> list[Any]:
    """One page, walking the first metadata filter's candidates (the plan would start from so few)."""
    plan, _ = services.events.plan(workspace, EventQuery.model_validate(request))
    engine = services.store._read_engine
    with engine.connect() as conn:
        filters = compile_filters(plan, conn.dialect.name, start_elsewhere=conn.dialect.name == "sqlite")
        return sql_query._walk_candidates(
            conn, filters, filters.side[0], descending=descending, limit=limit, after=after
        )


SHIFT_B = {"customMetadataFilters": [{"field": "shift", "operator": "eq", "value": "b"}]}
WALKS = [
    # shift=b alone: every candidate matches, three or four to an instant
    (SHIFT_B, {}, lambda n: n % 3 == 1),
    # shift=b and device cam-3: one candidate in 7 matches, so pages take several chunks
    (SHIFT_B, {"deviceId": "cam-3"}, lambda n: n % 3 == 1 and n % 7 == 3),
    # one value twice: merged once
    ({"customMetadataFilters": [{"field": "shift", "operator": "in", "value": ["b", "b"]}]}, {},
     lambda n: n % 3 == 1),
    # line 2 or 4 (two values' rows merged) in shift c
    ({"customMetadataFilters": [{"field": "line_id", "operator": "in", "value": [2, 4]},
                                {"field": "shift", "operator": "eq", "value": "c"}]}, {},
     lambda n: n % 5 + 1 in (2, 4) and n % 3 == 2),
]  # fmt: skip


@pytest.mark.parametrize("first_chunk_pages", [FIRST_CHUNK_PAGES, 1], ids=["chunks", "small chunks"])
@pytest.mark.parametrize("descending", [True, False], ids=["desc", "asc"])
@pytest.mark.parametrize(("filters", "source", "matches"), WALKS, ids=["eq", "eq and more", "in twice", "in"])
def test_pages_of_a_walk_are_the_references(
    services, use_case, monkeypatch, filters, source, matches, descending, first_chunk_pages
):
    # Small first chunks end inside an instant, whose other candidates come with the next chunk.
    monkeypatch.setattr(sql_query, "FIRST_CHUNK_PAGES", first_chunk_pages)
    workspace, slug = use_case
    request = {"useCaseId": slug, **filters}
    if source:
        request["deviceId"] = {"operator": "eq", "value": source["deviceId"]}
    # Newest first: later instants first, and within one instant the larger eventId first.
    expected = sorted((event_id(n) for n in range(EVENTS) if matches(n)), key=lambda e: (int(e[1:]) // 10, e))
    if descending:
        expected.reverse()
    seen: list[str] = []
    after = None
    while True:
        page = walk(services, workspace, request, descending=descending, limit=3, after=after)
        seen += [e.event_id for e in page]
        if len(page) < 3:
            break
        after = (page[-1].ts, page[-1].event_id)
    assert seen == expected


@pytest.mark.parametrize(
    ("filters", "values"),
    [
        ({"eventFieldFilters": [{"field": "result", "operator": "eq", "value": "pass"}]}, 1),
        ({"customMetadataFilters": [{"field": "shift", "operator": "eq", "value": "b"}]}, 1),
        ({"customMetadataFilters": [{"field": "line_id", "operator": "eq", "value": 3}]}, 1),
        ({"customMetadataFilters": [{"field": "line_id", "operator": "in", "value": [2, 4]}]}, 2),
    ],
    ids=["eventData string", "string", "number", "two numbers"],
)
def test_a_chunk_reads_each_values_rows_in_time_order(services, use_case, filters, values):
    """Each value's index rows are read in order up to the chunk's size, not all read and sorted: on
    PostgreSQL that needs the index to hold no NULL before ts (``IS NULL`` is a range to its planner)."""
    workspace, slug = use_case
    engine = services.store._read_engine
    with recorded_statements(engine) as statements:
        walk(services, workspace, {"useCaseId": slug, **filters}, descending=True, limit=2, after=None)
    statement, params = next(s for s in statements if "LEFT OUTER JOIN" in s[0])  # the first chunk
    size = FIRST_CHUNK_PAGES * 2
    if engine.dialect.name == "sqlite":
        with engine.connect() as conn:
            steps = [row[-1] for row in conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", params)]
        reads = [n for n, step in enumerate(steps) if "INDEX ix_attrs_value" in step]
        assert len(reads) == values, steps
        # What reads the index is not sorted (merging several values' chunks sorts their size rows each).
        assert not any("TEMP B-TREE" in steps[n + 1] for n in reads), "\n".join(steps)
        return
    with engine.connect() as conn:
        for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
            conn.exec_driver_sql(f"SET {setting} = off")  # as at scale, where they cost the most
        plan = [row[0] for row in conn.exec_driver_sql(f"EXPLAIN ANALYZE {statement}", params)]
    scans = [line for line in plan if "Scan Backward using ix_attrs_value_pg" in line]
    assert len(scans) == values, plan
    assert all(int(line.split("rows=")[2].split()[0]) <= size for line in scans), plan
