"""Writing and deleting events together with their side tables, counters and feedback links.

Everything here runs inside one transaction opened by the writer, so the side tables (``event_attrs``,
``detections``), the per-use-case counters and the feedback status are never out of step with the events.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, Row, Table, delete, select, tuple_, update

from sightlog.models.records import EventRow
from sightlog.store.sql import attr_rollup, rollups
from sightlog.store.sql.schema import (
    detections,
    event_attrs,
    event_keys,
    events,
    use_case_stats,
)
from sightlog.store.sql.use_cases import recompute_last_ts

# Feedback columns are left out: they are filled by _refresh_feedback.
_EVENT_COLUMNS = (
    "pk", "workspace_pk", "event_id", "use_case_pk", "event_type", "ts", "device_id", "stream_id",
    "workflow_id", "external_id", "related_event_id", "feedback_value", "has_warnings", "received_at", "body",
)  # fmt: skip


def _bulk_insert(
    conn: Connection, table: Table, rows: list[tuple[Any, ...]], columns: Sequence[str] | None = None
) -> None:
    """Insert ``rows`` (values in ``columns`` order, default all of the table's) the fastest way each driver
    offers: ``COPY`` on PostgreSQL (one stream, routed to the right partitions), ``executemany`` straight
    on sqlite3. SQLAlchemy's per-row parameter processing would cost more than the database's own work."""
    if not rows:
        return
    names = ", ".join(columns or [c.name for c in table.columns])
    if conn.dialect.name == "postgresql":
        cursor = conn.connection.driver_connection.cursor()  # same connection, same transaction
        with cursor, cursor.copy(f"COPY {table.name} ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        return
    marks = ", ".join("?" * len(rows[0]))
    conn.exec_driver_sql(f"INSERT INTO {table.name} ({names}) VALUES ({marks})", rows)


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
    _bulk_insert(conn, events, event_rows, _EVENT_COLUMNS)
    _bulk_insert(conn, event_keys, [(workspace_pk, r.event_id, pk, r.ts) for pk, r in pairs])
    _bulk_insert(conn, event_attrs, [(pk, *attr, r.use_case_pk, r.ts) for pk, r in pairs for attr in r.attrs])
    _bulk_insert(
        conn, detections, [(pk, *det, r.use_case_pk, r.ts) for pk, r in pairs for det in r.detections]
    )

    _add_stats(conn, rows)
    rollups.adjust(conn, [(r.use_case_pk, r.ts, r.event_type, (c for c, _ in r.detections)) for r in rows], 1)
    attr_rollup.adjust(conn, [(r.use_case_pk, r.ts, r.event_type, r.attrs) for r in rows], 1)
    _add_metadata_fields(conn, rows)
    feedback_targets = {r.related_event_id for r in rows if r.related_event_id} | stale_targets
    written = {r.event_id: (pk, r.ts) for pk, r in pairs}
    _refresh_feedback(conn, workspace_pk, written, feedback_targets)
    return [r.event_id not in replaced for r in rows]


def delete_event(conn: Connection, workspace_pk: int, event_id: str) -> bool:
    old = _find(conn, workspace_pk, [event_id]).get(event_id)
    if old is None:
        return False
    _remove(conn, workspace_pk, [old])
    if old.related_event_id:
        _refresh_feedback(conn, workspace_pk, {}, {old.related_event_id})
    return True


def _find(conn: Connection, workspace_pk: int, ids: Sequence[str]) -> dict[str, Row]:
    """Existing events by id, located through ``event_keys`` (one index probe, whatever the partitions).

    Most writes are of new ids, so the key lookup alone usually answers; the events themselves are read
    only for ids that exist.
    """
    located = _locate(conn, workspace_pk, ids)
    if not located:
        return {}
    pairs = list(located.values())
    rows = conn.execute(
        select(
            events.c.pk,
            events.c.ts,
            events.c.event_id,
            events.c.use_case_pk,
            events.c.event_type,
            events.c.related_event_id,
        ).where(tuple_(events.c.pk, events.c.ts).in_(pairs), events.c.workspace_pk == workspace_pk)
    )
    return {r.event_id: r for r in rows}


def _remove(conn: Connection, workspace_pk: int, old: list[Row]) -> None:
    """Delete replaced or deleted events, their side rows, and take them out of the counters."""
    if not old:
        return
    pks = [r.pk for r in old]
    classes: dict[int, set[str]] = {pk: set() for pk in pks}
    for pk, class_name in conn.execute(
        select(detections.c.event_pk, detections.c.class_name)
        .where(detections.c.event_pk.in_(pks))
        .distinct()
    ):
        classes[pk].add(class_name)
    rollups.adjust(conn, [(r.use_case_pk, r.ts, r.event_type, classes[r.pk]) for r in old], -1)
    attrs: dict[int, list[attr_rollup.Attr]] = {pk: [] for pk in pks}
    a = event_attrs.c
    for pk, *attr in conn.execute(
        select(a.event_pk, a.ns, a.key, a.value_type, a.str_value, a.num_value).where(a.event_pk.in_(pks))
    ):
        attrs[pk].append(tuple(attr))
    attr_rollup.adjust(conn, [(r.use_case_pk, r.ts, r.event_type, attrs[r.pk]) for r in old], -1)
    for table in (event_attrs, detections):
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
    greatest = "greatest" if conn.dialect.name == "postgresql" else "max"
    _execute(
        conn,
        "INSERT INTO use_case_stats (use_case_pk, event_type, event_count, last_ts) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (use_case_pk, event_type) DO UPDATE SET "
        "event_count = use_case_stats.event_count + excluded.event_count, "
        f"last_ts = {greatest}(coalesce(use_case_stats.last_ts, excluded.last_ts), excluded.last_ts)",
        [(uc, et, n, last) for (uc, et), (n, last) in sorted(totals.items())],  # one lock order for all
    )


def _add_metadata_fields(conn: Connection, rows: Sequence[EventRow]) -> None:
    seen = {(r.use_case_pk, f, t) for r in rows for f, t in r.metadata_types}
    _execute(
        conn,
        "INSERT INTO metadata_fields (use_case_pk, field, value_type) VALUES (?, ?, ?) "
        "ON CONFLICT DO NOTHING",
        sorted(seen),
    )


def _refresh_feedback(
    conn: Connection, workspace_pk: int, written: dict[str, tuple[int, int]], targets: Collection[str]
) -> None:
    """Set each event's feedback to its latest operator_feedback (by timestamp, then receive order).

    ``written`` events (id → (pk, ts)) pick up feedback that arrived before them; ``targets`` are events
    whose feedback may have changed because a feedback event was written, replaced or deleted.
    """
    if not targets and not _has_feedback(conn, workspace_pk):
        return  # the common case: nothing was ever reviewed, so no written event can have feedback
    wanted = sorted(set(written) | set(targets))
    in_list, values = _in_list(conn, wanted)
    latest: dict[str, tuple[int, int, str, str]] = {}
    for related, event_id, value, ts, pk in conn.exec_driver_sql(
        _sql(
            conn,
            "SELECT related_event_id, event_id, feedback_value, ts, pk FROM events "
            f"WHERE workspace_pk = ? AND related_event_id {in_list}",
        ),
        (workspace_pk, values),
    ):
        if related not in latest or (ts, pk) > latest[related][:2]:
            latest[related] = (ts, pk, event_id, value)
    changed = [t for t in targets if t not in written] + [e for e in written if e in latest]
    if not changed:
        return
    located = {**_locate(conn, workspace_pk, [t for t in changed if t not in written]), **written}
    _execute(
        conn,
        "UPDATE events SET feedback_status = ?, feedback_event_id = ? WHERE pk = ? AND ts = ?",
        [
            (latest[e][3], latest[e][2], *located[e]) if e in latest else (None, None, *located[e])
            for e in sorted(set(changed))
            if e in located  # feedback about an event that does not exist (yet) waits for it
        ],
    )


def _has_feedback(conn: Connection, workspace_pk: int) -> bool:
    """Whether the workspace holds any operator_feedback event, read from the maintained counters.

    Safe against a feedback event being written concurrently: both writers hold the advisory lock of the
    reviewed event's id, so one of them sees the other's commit and makes the link.
    """
    row = conn.exec_driver_sql(
        _sql(
            conn,
            "SELECT 1 FROM use_case_stats s JOIN use_cases u ON u.pk = s.use_case_pk "
            "WHERE u.workspace_pk = ? AND s.event_type = 'operator_feedback' AND s.event_count > 0 LIMIT 1",
        ),
        (workspace_pk,),
    )
    return row.first() is not None


def _locate(conn: Connection, workspace_pk: int, ids: Sequence[str]) -> dict[str, tuple[int, int]]:
    if not ids:
        return {}
    in_list, values = _in_list(conn, ids)
    rows = conn.exec_driver_sql(
        _sql(conn, f"SELECT event_id, pk, ts FROM event_keys WHERE workspace_pk = ? AND event_id {in_list}"),
        (workspace_pk, values),
    )
    return {event_id: (pk, ts) for event_id, pk, ts in rows}


# -- raw SQL on the hot path ------------------------------------------------------------------------------
# Statements here are fixed strings run straight on the driver: building them with SQLAlchemy on every
# write cost more than executing them. Written with "?" marks, turned into "%s" for psycopg.


def _sql(conn: Connection, statement: str) -> str:
    return statement if conn.dialect.paramstyle == "qmark" else statement.replace("?", "%s")


def _execute(conn: Connection, statement: str, rows: Sequence[tuple[Any, ...]]) -> None:
    if rows:
        conn.exec_driver_sql(_sql(conn, statement), list(rows))


def _in_list(conn: Connection, values: Sequence[str]) -> tuple[str, Any]:
    """``IN`` over a list bound as ONE parameter (a JSON array on SQLite, an array on PostgreSQL), so the
    statement text, and the database's cached plan for it, does not change with the list's length."""
    if conn.dialect.name == "postgresql":
        return "= ANY(?)", list(values)
    return "IN (SELECT value FROM json_each(?))", orjson.dumps(list(values)).decode()
