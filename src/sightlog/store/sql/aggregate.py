"""Grouped counts over the same filters as queries: per fine UTC time bucket and up to two keys.

Buckets in a client's time zone are made by the service from these fine buckets (15 minutes, or one minute
for minute intervals): every UTC offset in the tz database is a whole number of quarter hours, so a fine
bucket never straddles a local hour, day or week boundary, even across daylight-saving changes.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, FromClause, and_, func, literal, select

from sightlog.models.query import Grid, QueryPlan
from sightlog.store.sql import attr_rollup, rollups
from sightlog.store.sql import query as query_sql
from sightlog.store.sql.schema import detections, event_attrs, events

_COLUMNS = {
    "eventType": events.c.event_type,
    "deviceId": events.c.device_id,
    "streamId": events.c.stream_id,
    "workflowId": events.c.workflow_id,
    "feedback": events.c.feedback_status,
}


def aggregate(
    conn: Connection, plan: QueryPlan, group_by: list[str], grid: Grid | None
) -> list[tuple[int | None, tuple[Any, ...], int]]:
    """Rows of (fine bucket start in µs or None, key values, event count); a (bucket, key) may come in
    several rows, whose counts add up."""
    read = _rollup_reader(conn, plan, group_by, grid)
    if read is None:
        return _from_events(conn, plan, group_by, grid)
    return _from_rollup(conn, plan, group_by, grid, read)


def count(conn: Connection, plan: QueryPlan) -> int:
    """The number of matching events: from a rollup where one covers the filters, else from the events."""
    read = _rollup_reader(conn, plan, [], None)
    if read is None:
        return query_sql.count(conn, plan)
    return sum(n for _, _, n in _from_rollup(conn, plan, [], None, read))


def _from_rollup(
    conn: Connection,
    plan: QueryPlan,
    group_by: list[str],
    grid: Grid | None,
    read: attr_rollup.Reader,
) -> list[tuple[int | None, tuple[Any, ...], int]]:
    """The whole quarter hours of the range from the rollup, the partial ones at its edges from the events."""
    start, end = rollups.aligned_range(plan)
    rows = read(start, end)
    # The partial quarter hours at the edges of the range, from the events.
    if plan.start_ts is not None and start is not None and plan.start_ts < start:
        edge_end = start if plan.end_ts is None else min(start, plan.end_ts)
        rows += _from_events(conn, replace(plan, end_ts=edge_end), group_by, grid)
    if plan.end_ts is not None and end is not None and end < plan.end_ts:
        edge_start = end if plan.start_ts is None else max(end, plan.start_ts)
        if edge_start < plan.end_ts:
            rows += _from_events(conn, replace(plan, start_ts=edge_start), group_by, grid)
    return rows


def _rollup_reader(
    conn: Connection, plan: QueryPlan, group_by: list[str], grid: Grid | None
) -> attr_rollup.Reader | None:
    """How to read the aggregate from a rollup between two quarter hours (None: only from the events)."""
    if rollups.covers(plan, group_by, grid):
        return lambda start, end: rollups.read(conn, plan, group_by, grid, start, end)
    return attr_rollup.reader(conn, plan, group_by, grid)


def _from_events(
    conn: Connection, plan: QueryPlan, group_by: list[str], grid: Grid | None
) -> list[tuple[int | None, tuple[Any, ...], int]]:
    filters, driver = query_sql.plan_scan(conn, plan)
    source: FromClause
    if (
        driver is not None
        and driver.candidates is not None
        and not filters.own
        and _COLUMNS.keys().isdisjoint(group_by)
    ):
        # Only side-table filters and keys: group the driver's candidates, never reading the events.
        candidates = driver.candidates if driver.unique else driver.candidates.distinct()
        source = candidates.subquery()
        key, ts = source.c.event_pk, source.c.ts
        where = [s.check(key) for s in filters.side if s is not driver or not s.exact]
    else:
        source, key, ts = events, events.c.pk, events.c.ts
        where = filters.conditions(driver)
    selected: list[ColumnElement[Any]] = []
    decoders: list[Any] = []
    for n, group_key in enumerate(group_by):
        if group_key in _COLUMNS:
            selected.append(_COLUMNS[group_key])
            decoders.append(None)
        elif group_key == "class":
            source = source.join(detections, detections.c.event_pk == key)
            selected.append(detections.c.class_name)
            decoders.append(None)
        else:
            namespace, field = group_key.split(".", 1)
            attr = event_attrs.alias(f"g{n}")
            ns = "m" if namespace == "customMetadata" else "d"
            source = source.outerjoin(
                attr, and_(attr.c.event_pk == key, attr.c.ns == ns, attr.c.key == field)
            )
            selected += [attr.c.value_type, attr.c.str_value, attr.c.num_value]
            decoders.append("attr")
    bucket = rollups.floor(ts, grid) if grid else literal(None)
    # With class, an event with three cracks counts once for "crack".
    counted = func.count(key.distinct()) if "class" in group_by else func.count()
    query = (
        select(bucket.label("bucket"), *selected, counted)
        .select_from(source)
        .where(*where)
        .group_by(bucket, *selected)
    )
    results = []
    for row in conn.execute(query):
        values, position = [], 1
        for decoder in decoders:
            if decoder == "attr":
                value_type, text, number = row[position : position + 3]
                values.append(_attr_value(value_type, text, number))
                position += 3
            else:
                values.append(row[position])
                position += 1
        results.append((row[0], tuple(values), row[-1]))
    return results


def _attr_value(value_type: str | None, text: str | None, number: float | None) -> Any:
    if value_type is None:
        return None
    if value_type == "s":
        return text
    if value_type == "b":
        return bool(number)
    return number
