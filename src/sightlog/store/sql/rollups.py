"""Event counts per use case, quarter hour, event type and class, kept in step with the events.

Dashboards chart "events per hour by type" and "per day by class" over weeks; counting millions of rows for
each view would take seconds. ``event_rollup`` holds, per (use case, 15-minute bucket, event type), the
number of events (``class_name`` '') and of events containing each class, adjusted in the transaction that
writes or removes the events. Aggregates whose filters and keys it covers read it instead of the events;
the partial quarter hours at the edges of a time range are counted from the events themselves.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ColumnElement, Connection, Table, func, select

from sightlog.models.query import Grid, QueryPlan
from sightlog.store.sql.schema import event_rollup

BUCKET_US = 900_000_000  # 15 minutes: every UTC offset of the tz database is whole quarter hours
ALL_EVENTS = ""  # class_name of the rows that count every event
ROLLUP_KEYS = {"eventType", "class"}
_PARAMETERS_PER_STATEMENT = 5000


def bucket_of(ts: int) -> int:
    return ts - ts % BUCKET_US  # Python's % floors, so instants before 1970 land right too


def adjust(conn: Connection, events: Iterable[tuple[int, int, str, Iterable[str]]], sign: int) -> None:
    """Add (sign 1) or take away (-1) events given as (use case, ts, event type, classes)."""
    deltas: Counter[tuple[int, int, str, str]] = Counter()
    for use_case_pk, ts, event_type, classes in events:
        bucket = bucket_of(ts)
        deltas[(use_case_pk, bucket, event_type, ALL_EVENTS)] += sign
        for class_name in set(classes):
            deltas[(use_case_pk, bucket, event_type, class_name)] += sign
    add_counts(conn, "event_rollup", ("use_case_pk", "bucket", "event_type", "class_name"), deltas)


def add_counts(conn: Connection, table: str, key: tuple[str, ...], deltas: Counter[tuple[Any, ...]]) -> None:
    """Add each delta to ``event_count`` of the row with that key in ``table``, creating rows as needed."""
    rows = [(*values, n) for values, n in sorted(deltas.items()) if n]  # one lock order for every writer
    # Multi-row statements (not executemany): few round trips to PostgreSQL; chunks stay under SQLite's
    # limit of bound parameters.
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    per_statement = _PARAMETERS_PER_STATEMENT // (len(key) + 1)
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        values = ", ".join([f"({', '.join([mark] * (len(key) + 1))})"] * len(chunk))
        conn.exec_driver_sql(
            f"INSERT INTO {table} ({', '.join(key)}, event_count) VALUES {values} "
            f"ON CONFLICT ({', '.join(key)}) "
            f"DO UPDATE SET event_count = {table}.event_count + excluded.event_count",
            tuple(value for row in chunk for value in row),
        )


def fits(grid: Grid | None) -> bool:
    """Whether every quarter hour of the rollups lies in one cell of the grid."""
    return grid is None or (grid.size_us % BUCKET_US == 0 and grid.origin_us % BUCKET_US == 0)


def floor(column: ColumnElement[int], grid: Grid) -> ColumnElement[int]:
    """The start of the grid cell holding each value of ``column`` (also before the origin: SQL's %
    truncates toward zero)."""
    return column - ((column - grid.origin_us) % grid.size_us + grid.size_us) % grid.size_us


def covers(plan: QueryPlan, group_by: list[str], grid: Grid | None) -> bool:
    """Whether the rollup alone can answer this aggregate (away from the edges of its time range)."""
    filtered = (
        plan.sources
        or plan.metadata_filters
        or plan.field_filters
        or plan.detection_filters
        or plan.feedback is not None
        or plan.has_warnings is not None
    )
    return not filtered and set(group_by) <= ROLLUP_KEYS and fits(grid)


def aligned_range(plan: QueryPlan) -> tuple[int | None, int | None]:
    """The whole quarter hours inside the plan's time range (None: unbounded on that side)."""
    start = None if plan.start_ts is None else -(-plan.start_ts // BUCKET_US) * BUCKET_US
    end = None if plan.end_ts is None else bucket_of(plan.end_ts)
    if start is not None and end is not None and end < start:
        end = start
    return start, end


def read(
    conn: Connection,
    plan: QueryPlan,
    group_by: list[str],
    grid: Grid | None,
    start: int | None,
    end: int | None,
) -> list[tuple[int | None, tuple[Any, ...], int]]:
    """Rows of (bucket or None, key values, count) for buckets in [start, end), like ``aggregate``'s."""
    r = event_rollup.c
    columns = {"eventType": r.event_type, "class": r.class_name}
    keys = [columns[k] for k in group_by]
    bucket = floor(r.bucket, grid) if grid else None
    grouped = [c for c in (bucket, *keys) if c is not None]
    where = [r.use_case_pk == plan.use_case_pk, *window(event_rollup, plan, start, end)]
    where.append(r.class_name != ALL_EVENTS if "class" in group_by else r.class_name == ALL_EVENTS)
    total = func.sum(r.event_count)
    query = select(*grouped, total).where(*where).having(total > 0)
    if grouped:
        query = query.group_by(*grouped)
    offset = 1 if grid else 0
    return [(row[0] if grid else None, tuple(row[offset:-1]), int(row[-1])) for row in conn.execute(query)]


def window(rollup: Table, plan: QueryPlan, start: int | None, end: int | None) -> list[ColumnElement[bool]]:
    """A rollup's rows in the buckets [start, end) (None: unbounded) of the plan's event types."""
    where = []
    if start is not None:
        where.append(rollup.c.bucket >= start)
    if end is not None:
        where.append(rollup.c.bucket < end)
    if plan.event_types is not None:
        where.append(rollup.c.event_type.in_(plan.event_types))
    return where
