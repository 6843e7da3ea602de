"""Planning and running queries: pages, counts and single events.

Every filter can be checked event by event while walking a use case newest first (``ix_events_page`` and
friends), and most can also list their candidates from a side-table index. Which is cheaper depends on how
many events match, which no SQLite statistic tells. So the plan asks the rollup or the indexes: how many
candidates each filter has (capped). A page reads a filter's candidates when some filter has fewer than
walking would visit; otherwise it walks — the candidates of an equality or short IN list, which its index
holds in time order value by value (a chunk at a time), or else the events. A count starts from the filter
with the fewest candidates.
"""

from __future__ import annotations

import math
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from sightlog.models.query import QueryPlan
from sightlog.models.records import StoredEvent
from sightlog.store.sql import attr_rollup
from sightlog.store.sql.filters import CompiledFilters, SideFilter, compile_filters, unindexed
from sightlog.store.sql.schema import event_keys, events, use_case_stats

_STORED = (
    events.c.event_id,
    events.c.ts,
    events.c.body,
    events.c.received_at,
    events.c.feedback_status,
    events.c.feedback_event_id,
)
# A count reads at most this many candidates of each filter to find the smallest.
COUNT_PROBE_CAP = 50_000


def _capped_count(conn: Connection, candidates: Select, cap: int) -> int:
    return conn.execute(select(func.count()).select_from(candidates.limit(cap).subquery())).scalar_one()


def _candidates(conn: Connection, plan: QueryPlan, side: SideFilter, cap: int) -> int:
    """How many candidates a filter has (at most ``cap``): from the field rollup where it counts them
    (a few hundred counters instead of up to ``cap`` index entries), else from the index."""
    if side.value is not None:
        counted = attr_rollup.count_of(conn, plan, *side.value)
        if counted is not None:
            return counted
    assert side.candidates is not None
    return _capped_count(conn, side.candidates, cap)


def _fewest_candidates(
    conn: Connection, plan: QueryPlan, filters: CompiledFilters, cap: int, *, any_: bool
) -> tuple[int | None, dict[int, int]]:
    """Position of the indexed filter with the fewest candidates, if any has fewer than ``cap`` (with
    ``any_``, the first indexed filter when none has), and the candidates counted by position. Each count
    stops at the best so far."""
    best, best_count, counts = None, cap, {}
    for position, side in enumerate(filters.side):
        if side.candidates is not None:
            if best is None and any_:
                best = position
            n = counts[position] = _candidates(conn, plan, side, best_count)
            if n < best_count:
                best, best_count = position, n
    return best, counts


def _use_case_size(conn: Connection, use_case_pk: int) -> int:
    total = conn.execute(
        select(func.sum(use_case_stats.c.event_count)).where(use_case_stats.c.use_case_pk == use_case_pk)
    ).scalar_one()
    return int(total or 0)


def _plan(
    conn: Connection, plan: QueryPlan, cap: int, *, any_: bool = False
) -> tuple[CompiledFilters, SideFilter | None, SideFilter | None]:
    """The filters; the one the plan starts from, reading all its candidates (None: it walks); and, when
    it walks, the equality or short IN list with the fewest candidates, whose index lists each value's
    in time order, to walk instead of the events (None: walk the events)."""
    filters = compile_filters(plan, conn.dialect.name)
    position, counts = _fewest_candidates(conn, plan, filters, cap, any_=any_)
    walked = None
    if position is None:
        walkable = [p for p in counts if filters.side[p].in_time_order is not None]
        if not walkable:
            return filters, None, None
        walked = min(walkable, key=counts.__getitem__)
    if conn.dialect.name == "sqlite":
        filters = compile_filters(plan, conn.dialect.name, start_elsewhere=True)
    if walked is not None:
        return filters, None, filters.side[walked]
    assert position is not None
    return filters, filters.side[position], None


def run_page(
    conn: Connection, plan: QueryPlan, *, descending: bool, limit: int, after: tuple[int, str] | None
) -> list[StoredEvent]:
    # Walking visits about limit * size / matches events; starting from a filter reads its candidates.
    # Starting from the filter wins when its candidates are fewer than sqrt(limit * size).
    cap = max(1000, math.isqrt(limit * _use_case_size(conn, plan.use_case_pk)))
    filters, driver, walked = _plan(conn, plan, cap)
    if walked is not None:
        return _walk_candidates(conn, filters, walked, descending=descending, limit=limit, after=after)
    where = filters.conditions(driver)
    ts = unindexed(events.c.ts) if filters.start_elsewhere else events.c.ts
    where += _after(ts, after, descending)
    order = (ts.desc(), events.c.event_id.desc()) if descending else (ts, events.c.event_id)
    query = select(*_STORED).where(*where).order_by(*order).limit(limit)
    if conn.dialect.name == "postgresql":
        # Choose the page's events from ix_events_page (which carries their keys and types) and the side
        # tables' indexes, then read the table for those alone: a walk past thousands of events that miss
        # a filter would otherwise fetch each one's row from the heap, at random over the whole history.
        page = select(events.c.pk, events.c.ts).where(*where).order_by(*order).limit(limit).subquery()
        chosen = and_(events.c.pk == page.c.pk, events.c.ts == page.c.ts)
        query = select(*_STORED).select_from(events.join(page, chosen)).order_by(*order)
    return [StoredEvent(**r._mapping) for r in conn.execute(query)]


# A walk reads its candidates in chunks: the first FIRST_CHUNK_PAGES pages long; the next as many as the
# matches so far say the page needs (with a margin), at least GROWTH times the last while none matched, and
# at most MAX_CHUNK. Few round trips for a rare match, little over-reading for a common one.
FIRST_CHUNK_PAGES = 4
GROWTH = 4
MARGIN = 1.25
MAX_CHUNK = 16_384


def _walk_candidates(
    conn: Connection,
    filters: CompiledFilters,
    walked: SideFilter,
    *,
    descending: bool,
    limit: int,
    after: tuple[int, str] | None,
) -> list[StoredEvent]:
    """A page that walks one filter's candidates in time order, checking the other filters on each:
    "line 7 in shift b" visits line 7's events until it has the page, a twentieth of what walking every
    event would visit.

    The candidates come from the index a chunk at a time, in (ts, key) order, each chunk checked in one
    statement. A single statement ordered by (ts, eventId) would leave PostgreSQL to guess how far the
    walk goes; guessing a few rows, it reads and sorts them all (10 M events, line 7: 3 s). Matches newer
    than a chunk's last candidate are final (older ones may yet tie with the next chunk's): once they
    fill the page, it is done."""
    checks = [*filters.scope, *filters.own, *(s.probe for s in filters.side if s is not walked)]
    checks += _after(events.c.ts, after, descending)
    found: list[StoredEvent] = []
    size, seen, last = FIRST_CHUNK_PAGES * limit, 0, None
    while True:
        chunk = _chunk(walked, size, descending, after[0] if after else None, last)
        matches = and_(events.c.pk == chunk.c.event_pk, events.c.ts == chunk.c.ts, *checks)
        query = select(chunk.c.ts, chunk.c.event_pk, *_STORED).select_from(chunk.outerjoin(events, matches))
        rows = conn.execute(query).all()
        found += [StoredEvent(*row[2:]) for row in rows if row.event_id is not None]
        if len(rows) < size:
            break  # every candidate seen
        seen += size
        last = (min if descending else max)((row[0], row[1]) for row in rows)
        final = sum(1 for e in found if (e.ts > last[0] if descending else e.ts < last[0]))
        if final >= limit:
            break
        # One match more than seen: a chunk with one match in it says little of the rate.
        needed = math.ceil((limit - final) * seen / (final + 1) * MARGIN) if final else size * GROWTH
        size = max(limit, min(needed, MAX_CHUNK))
    found.sort(key=lambda e: (e.ts, e.event_id), reverse=descending)
    return found[:limit]


def _chunk(
    walked: SideFilter, size: int, descending: bool, cursor_ts: int | None, last: tuple[int, int] | None
) -> Subquery:
    """The next ``size`` candidates of a walk in (ts, key) order, after ``last`` (or from the cursor's
    instant, ties included): of each value the next ``size``, merged."""
    assert walked.in_time_order is not None
    parts = []
    for candidates in walked.in_time_order:
        keys = candidates.selected_columns
        if last is not None:
            key = tuple_(keys.ts, keys.event_pk)
            candidates = candidates.where(key < last if descending else key > last)
        elif cursor_ts is not None:
            candidates = candidates.where(keys.ts <= cursor_ts if descending else keys.ts >= cursor_ts)
        parts.append(candidates.order_by(*_in_key_order(keys, descending)).limit(size).subquery())
    if len(parts) == 1:
        return parts[0]
    merged = union_all(*(select(part.c.event_pk, part.c.ts) for part in parts)).subquery()
    in_order = _in_key_order(merged.c, descending)
    return select(merged.c.event_pk, merged.c.ts).order_by(*in_order).limit(size).subquery()


def _in_key_order(keys: ReadOnlyColumnCollection[str, Any], descending: bool) -> tuple[Any, Any]:
    return (keys.ts.desc(), keys.event_pk.desc()) if descending else (keys.ts, keys.event_pk)


def _after(
    ts: ColumnElement[int], after: tuple[int, str] | None, descending: bool
) -> list[ColumnElement[bool]]:
    """The keyset condition of the page after a cursor's (timestamp, eventId)."""
    if after is None:
        return []
    after_ts, after_id = after
    if descending:
        return [or_(ts < after_ts, and_(ts == after_ts, events.c.event_id < after_id))]
    return [or_(ts > after_ts, and_(ts == after_ts, events.c.event_id > after_id))]


def plan_scan(conn: Connection, plan: QueryPlan) -> tuple[CompiledFilters, SideFilter | None]:
    """The plan for reading every match (counts, aggregates): reading a filter's candidates from its index
    costs less than walking every event of the use case, so start from the smallest, if any."""
    filters, driver, _ = _plan(conn, plan, COUNT_PROBE_CAP, any_=True)
    return filters, driver


def count(conn: Connection, plan: QueryPlan) -> int:
    filters, driver = plan_scan(conn, plan)
    sqlite = conn.dialect.name == "sqlite"
    if driver is not None and (sqlite or not filters.own):
        # Count the driver's candidates, checking the other filters on the side tables; the events
        # themselves (large rows, read at random) are never read.
        assert driver.candidates is not None
        keys = driver.candidates.subquery()
        others = [s.check(keys.c.event_pk) for s in filters.side if s is not driver or not s.exact]
        if filters.own:
            others.append(_own_probe(plan, keys.c.event_pk, keys.c.ts))
        counted = func.count() if driver.unique else func.count(keys.c.event_pk.distinct())
        return conn.execute(select(counted).select_from(keys).where(*others)).scalar_one()
    matching = select(func.count()).select_from(events).where(*filters.conditions(driver))
    return conn.execute(matching).scalar_one()


# Events' own filters each of which has an index (use case, column, ts) holding the event's rowid.
_INDEXED_SOURCES = frozenset({"deviceId", "streamId", "workflowId"})


def _own_probe(plan: QueryPlan, pk: ColumnElement[int], ts: ColumnElement[int]) -> ColumnElement[bool]:
    """SQLite: the events' own filters, checked for one candidate.

    When they name a single column with its own index (the type, a device, stream or workflow), the probe
    is answered from that index — (use case, column, ts, rowid): a small dense B-tree — instead of reading
    each large event row at random; the rowid is compared, not looked up, which keeps SQLite from
    preferring the table (10 M events, "type + result=fail": 551 → ~200 ms). Otherwise the row is read.
    """
    plain = compile_filters(plan, "sqlite")
    from_index = (
        plan.feedback is None
        and plan.has_warnings is None
        and set(plan.sources) <= _INDEXED_SOURCES
        and (plan.event_types is not None) + len(plan.sources) == 1
    )
    key = unindexed(events.c.pk) if from_index else events.c.pk
    probe = select(literal(1)).where(key == pk, events.c.ts == ts, *plain.scope, *plain.own)
    return probe.exists()


def get_event(conn: Connection, workspace_pk: int, event_id: str) -> StoredEvent | None:
    row = conn.execute(
        select(*_STORED)
        .select_from(
            event_keys.join(events, and_(events.c.pk == event_keys.c.pk, events.c.ts == event_keys.c.ts))
        )
        .where(event_keys.c.workspace_pk == workspace_pk, event_keys.c.event_id == event_id)
    ).first()
    return StoredEvent(**row._mapping) if row else None
