"""Writing and deleting events together with their side tables, counters and feedback links.

Everything here runs inside one transaction opened by the writer, so the side tables (``event_attrs``,
``detections``), the per-use-case counters and the feedback status are never out of step with the events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Row, Table, and_, delete, select, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.sql import func

from sightlog.models.records import EventRow
from sightlog.store.sql.schema import (
    detections,
    event_attrs,
    event_keys,
    events,
    metadata_fields,
    use_case_stats,
)
from sightlog.store.sql.use_cases import recompute_last_ts

# Stay far below SQLite's bound-parameter limit in IN (...) lists.
CHUNK = 500


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def _dialect_insert(conn: Connection):  # noqa: ANN202 - returns a dialect-specific Insert factory
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


# Feedback columns are left out: they are filled by _refresh_feedback.
_EVENT_COLUMNS = (
    "pk", "workspace_pk", "event_id", "use_case_pk", "event_type", "ts", "device_id", "stream_id",
    "workflow_id", "external_id", "related_event_id", "feedback_value", "has_warnings", "received_at", "body",
)  # fmt: skip


def _bulk_insert(
    conn: Connection,
    table: Table,
    rows: list[tuple[Any, ...]],
    columns: Sequence[str] | None = None,
    jsonb: int = 0,
) -> None:
    """``executemany`` straight on the driver (values in ``columns`` order, default all of the table's).
    SQLAlchemy's per-row parameter processing costs more than SQLite's own work on the hottest inserts."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    names = columns or [c.name for c in table.columns]
    marks = [mark] * (len(names) - jsonb) + [
        f"{mark}::jsonb"
    ] * jsonb  # the last ``jsonb`` values are JSON text
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join(marks)})", rows)


def _reserve_pks(conn: Connection, n: int) -> int:
    """First of ``n`` fresh event primary keys, so side rows can reference events without RETURNING.

    SQLite: the writer holds the database write lock (BEGIN IMMEDIATE), so nobody allocates meanwhile, and
    AUTOINCREMENT's ``sqlite_sequence`` guarantees keys of deleted events are never reused.
    PostgreSQL: draw from the column's sequence.
    """
    if conn.dialect.name == "postgresql":
        sql = "SELECT nextval(pg_get_serial_sequence('events', 'pk')) FROM generate_series(1, %s)"
        keys = [r[0] for r in conn.exec_driver_sql(sql, (n,))]
        if keys != list(range(keys[0], keys[0] + n)):  # a concurrent writer interleaved; ask again
            return _reserve_pks(conn, n)
        return keys[0]
    row = conn.exec_driver_sql("SELECT seq FROM sqlite_sequence WHERE name = 'events'").first()
    return (row[0] if row else 0) + 1


def write_events(conn: Connection, workspace_pk: int, rows: Sequence[EventRow], now: int) -> list[bool]:
    """Insert or replace ``rows`` (unique event ids); returns, per row, whether it was new."""
    postgres = conn.dialect.name == "postgresql"
    ids = [r.event_id for r in rows]
    replaced = _find(conn, workspace_pk, ids)
    stale_targets = {old.related_event_id for old in replaced.values() if old.related_event_id}
    _remove(conn, workspace_pk, list(replaced.values()))

    first_pk = _reserve_pks(conn, len(rows))
    pairs = list(zip(range(first_pk, first_pk + len(rows)), rows, strict=True))
    event_rows = [
        (pk, workspace_pk, r.event_id, r.use_case_pk, r.event_type, r.ts, r.device_id, r.stream_id,
         r.workflow_id, r.external_id, r.related_event_id, r.feedback_value, r.has_warnings, now, r.body)
        for pk, r in pairs
    ]  # fmt: skip
    if postgres:  # JSONB copies of metadata and eventData serve the GIN-indexed filters
        event_rows = [
            (*row, _json(r.custom_metadata), _json(r.event_data))
            for row, (_, r) in zip(event_rows, pairs, strict=True)
        ]
        _bulk_insert(conn, events, event_rows, (*_EVENT_COLUMNS, "custom_metadata", "event_data"), jsonb=2)
    else:
        _bulk_insert(conn, events, event_rows, _EVENT_COLUMNS)
        _bulk_insert(conn, event_attrs, [(pk, *attr) for pk, r in pairs for attr in r.attrs])
    _bulk_insert(conn, event_keys, [(workspace_pk, r.event_id, pk, r.ts) for pk, r in pairs])
    _bulk_insert(conn, detections, [(pk, *det) for pk, r in pairs for det in r.detections])

    _add_stats(conn, rows)
    _add_metadata_fields(conn, rows)
    feedback_targets = {r.related_event_id for r in rows if r.related_event_id} | stale_targets
    _refresh_feedback(conn, workspace_pk, set(ids), feedback_targets)
    return [r.event_id not in replaced for r in rows]


def _json(value: dict[str, Any] | None) -> str:
    return orjson.dumps(value or {}).decode()


def delete_event(conn: Connection, workspace_pk: int, event_id: str) -> bool:
    old = _find(conn, workspace_pk, [event_id]).get(event_id)
    if old is None:
        return False
    _remove(conn, workspace_pk, [old])
    if old.related_event_id:
        _refresh_feedback(conn, workspace_pk, set(), {old.related_event_id})
    return True


def _find(conn: Connection, workspace_pk: int, ids: Sequence[str]) -> dict[str, Row]:
    """Existing events by id, located through ``event_keys`` (one index probe, whatever the partitions)."""
    found: dict[str, Row] = {}
    for chunk in _chunks(ids):
        rows = conn.execute(
            select(
                events.c.pk,
                events.c.ts,
                events.c.event_id,
                events.c.use_case_pk,
                events.c.event_type,
                events.c.related_event_id,
            )
            .select_from(
                event_keys.join(events, and_(events.c.pk == event_keys.c.pk, events.c.ts == event_keys.c.ts))
            )
            .where(event_keys.c.workspace_pk == workspace_pk, event_keys.c.event_id.in_(chunk))
        )
        found.update((r.event_id, r) for r in rows)
    return found


def _remove(conn: Connection, workspace_pk: int, old: list[Row]) -> None:
    """Delete replaced or deleted events, their side rows, and take them out of the counters."""
    if not old:
        return
    pks = [r.pk for r in old]
    side_tables = (detections,) if conn.dialect.name == "postgresql" else (event_attrs, detections)
    for table in side_tables:
        conn.execute(delete(table).where(table.c.event_pk.in_(pks)))
    # With ts in the condition PostgreSQL prunes to the partitions that hold the rows.
    conn.execute(delete(events).where(tuple_(events.c.pk, events.c.ts).in_([(r.pk, r.ts) for r in old])))
    conn.execute(
        delete(event_keys).where(
            event_keys.c.workspace_pk == workspace_pk, event_keys.c.event_id.in_([r.event_id for r in old])
        )
    )
    groups = Counter((r.use_case_pk, r.event_type) for r in old)
    for (use_case_pk, event_type), n in sorted(groups.items()):  # one lock order for every writer
        conn.execute(
            update(use_case_stats)
            .where(use_case_stats.c.use_case_pk == use_case_pk, use_case_stats.c.event_type == event_type)
            .values(event_count=use_case_stats.c.event_count - n)
        )
    recompute_last_ts(conn, sorted(groups))


def _add_stats(conn: Connection, rows: Sequence[EventRow]) -> None:
    totals: dict[tuple[int, str], tuple[int, int]] = {}
    for r in rows:
        count, last = totals.get((r.use_case_pk, r.event_type), (0, r.ts))
        totals[(r.use_case_pk, r.event_type)] = (count + 1, max(last, r.ts))
    greatest = func.greatest if conn.dialect.name == "postgresql" else func.max
    stmt = _dialect_insert(conn)(use_case_stats)
    stmt = stmt.on_conflict_do_update(
        index_elements=[use_case_stats.c.use_case_pk, use_case_stats.c.event_type],
        set_={
            "event_count": use_case_stats.c.event_count + stmt.excluded.event_count,
            "last_ts": greatest(
                func.coalesce(use_case_stats.c.last_ts, stmt.excluded.last_ts), stmt.excluded.last_ts
            ),
        },
    )
    conn.execute(
        stmt,
        [
            {"use_case_pk": uc, "event_type": et, "event_count": n, "last_ts": last}
            for (uc, et), (n, last) in sorted(totals.items())  # one lock order for every writer
        ],
    )


def _add_metadata_fields(conn: Connection, rows: Sequence[EventRow]) -> None:
    seen = {(r.use_case_pk, f, t) for r in rows for f, t in r.metadata_types}
    if seen:
        stmt = _dialect_insert(conn)(metadata_fields).on_conflict_do_nothing()
        conn.execute(stmt, [{"use_case_pk": uc, "field": f, "value_type": t} for uc, f, t in sorted(seen)])


def _refresh_feedback(
    conn: Connection, workspace_pk: int, written: set[str], targets: Collection[str]
) -> None:
    """Set each event's feedback to its latest operator_feedback (by timestamp, then receive order).

    ``written`` events pick up feedback that arrived before them; ``targets`` are events whose feedback
    may have changed because a feedback event was written, replaced or deleted.
    """
    wanted = sorted(written | set(targets))
    latest: dict[str, Row] = {}
    for chunk in _chunks(wanted):
        rows = conn.execute(
            select(
                events.c.related_event_id,
                events.c.event_id,
                events.c.feedback_value,
                events.c.ts,
                events.c.pk,
            ).where(events.c.workspace_pk == workspace_pk, events.c.related_event_id.in_(chunk))
        )
        for r in rows:
            best = latest.get(r.related_event_id)
            if best is None or (r.ts, r.pk) > (best.ts, best.pk):
                latest[r.related_event_id] = r
    for event_id in wanted:
        best = latest.get(event_id)
        if best is None and event_id not in targets:
            continue  # newly written, no feedback: already NULL
        conn.execute(
            update(events)
            .where(events.c.workspace_pk == workspace_pk, events.c.event_id == event_id)
            .values(
                feedback_status=best.feedback_value if best else None,
                feedback_event_id=best.event_id if best else None,
            )
        )
