"""Counting existing events into ``attr_rollup`` the way ingest would have (store/sql/attr_rollup.py).

Shared by the migrations that roll up a namespace of fields: 0004 custom metadata, 0005 eventData. What it
does is part of those migrations: change it only together with a new migration.

Per use case, the fields with at most MAX_VALUES values, all scalars no longer than MAX_VALUE_CHARS, the
MAX_FIELDS with the most events first, are rolled up; the others are registered as not rolled up.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

BUCKET_US = 900_000_000
MAX_FIELDS = 6
MAX_VALUES = 50
MAX_VALUE_CHARS = 100
MAX_NAME_CHARS = 100
_NAME_PREFIX = {"m": "", "d": "eventData."}
_EVENTS_PER_STEP = 1_000_000
# Floor, also before 1970 (SQL's % truncates toward zero).
_BUCKET = f"(a.ts - ((a.ts % {BUCKET_US}) + {BUCKET_US}) % {BUCKET_US})"
# A value as attr_rollup holds it: the type letter, then the string for strings; the number apart.
_VALUE = "(CASE WHEN {t}.value_type = 's' THEN 's' || {t}.str_value ELSE {t}.value_type END)"
_NUM = "(CASE WHEN {t}.value_type = 's' THEN 0.0 ELSE {t}.num_value + 0.0 END)"


def backfill(namespace: str) -> None:
    """Register the fields of ``namespace`` ("m" or "d") and count the events holding them."""
    prefix = _NAME_PREFIX[namespace]
    name = f"'{prefix}' || {{t}}.key" if prefix else "{t}.key"
    # Joined to a field that is rolled up.
    rolled = (
        f"JOIN rollup_fields {{f}} ON {{f}}.use_case_pk = {{t}}.use_case_pk AND {{f}}.field = {name} "
        "AND {f}.rolled_up"
    )
    _choose_fields(namespace, name.format(t="event_attrs"))
    value, num = _VALUE.format(t="a"), _NUM.format(t="a")
    op.execute(
        sa.text(
            "INSERT INTO rollup_values (use_case_pk, field, value, num) "
            f"SELECT DISTINCT a.use_case_pk, {name.format(t='a')}, {value}, {num} "
            f"FROM event_attrs a {rolled.format(f='f', t='a')} WHERE a.ns = :ns"
        ).bindparams(ns=namespace)
    )
    # Event types by event, read from the small type index instead of the events' large rows.
    bind = op.get_bind()
    postgres = bind.dialect.name == "postgresql"
    integer = "BIGINT" if postgres else "INTEGER"
    op.execute(f"CREATE TEMPORARY TABLE types_of_events (pk {integer} PRIMARY KEY, event_type VARCHAR(32))")
    op.execute("INSERT INTO types_of_events SELECT pk, event_type FROM events")
    # A pair is keyed by its fields in code point order, as Python sorts them at ingest (SQLite compares
    # text that way; PostgreSQL in the database's collation unless told).
    in_code_point_order = ' COLLATE "C"' if postgres else ""
    singles = (
        f"SELECT a.use_case_pk, {name.format(t='a')}, '', '', 0.0, {value}, {num}, {_BUCKET}, t.event_type, "
        f"count(*) FROM event_attrs a {rolled.format(f='f', t='a')} "
        "JOIN types_of_events t ON t.pk = a.event_pk "
    )
    pairs = (
        f"SELECT a.use_case_pk, {name.format(t='a')}, {name.format(t='b')}, {_VALUE.format(t='b')}, "
        f"{_NUM.format(t='b')}, {value}, {num}, {_BUCKET}, t.event_type, count(*) "
        f"FROM event_attrs a {rolled.format(f='f', t='a')} "
        "JOIN event_attrs b ON b.event_pk = a.event_pk AND b.ns = a.ns "
        f"AND b.key > a.key{in_code_point_order} "
        f"{rolled.format(f='g', t='b')} JOIN types_of_events t ON t.pk = a.event_pk "
    )
    # By ranges of events, so that the database sorts one range's rows at a time (SQLite keeps them in
    # memory here: 7.9 GB for the pairs of 10 M events at once); a quarter hour split between two ranges
    # is added up by the upsert.
    last = bind.execute(sa.text("SELECT max(pk) FROM events")).scalar() or 0
    for start in range(0, last + 1, _EVENTS_PER_STEP):
        for select in (singles, pairs):
            op.execute(
                sa.text(
                    f"INSERT INTO attr_rollup {select} "
                    "WHERE a.ns = :ns AND a.event_pk >= :start AND a.event_pk < :end "
                    "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 "
                    "ON CONFLICT (use_case_pk, field, field2, value2, num2, value, num, bucket, event_type) "
                    "DO UPDATE SET event_count = attr_rollup.event_count + excluded.event_count"
                ).bindparams(ns=namespace, start=start, end=start + _EVENTS_PER_STEP)
            )
    op.execute("DROP TABLE types_of_events")


def _choose_fields(namespace: str, name: str) -> None:
    """Register every field of the namespace; roll up the ones ingest would roll up, most used first."""
    stats = op.get_bind().execute(
        sa.text(
            "SELECT use_case_pk, name, count(*), sum(events), max(longest), max(unscalar) FROM ("
            f"  SELECT use_case_pk, {name} AS name, {_VALUE.format(t='event_attrs')}, "
            f"         {_NUM.format(t='event_attrs')}, count(*) AS events, "
            "          max(length(str_value)) AS longest, "
            "          max(CASE WHEN value_type = 'x' THEN 1 ELSE 0 END) AS unscalar "
            "  FROM event_attrs WHERE ns = :ns GROUP BY 1, 2, 3, 4"
            ") v GROUP BY 1, 2 ORDER BY 1, 4 DESC, 2"
        ).bindparams(ns=namespace)
    )
    rows, chosen = [], {}
    for use_case_pk, field, values, _events, longest, unscalar in stats:
        if len(field) > MAX_NAME_CHARS:
            continue  # never rolled up, never registered (as at ingest)
        fits = values <= MAX_VALUES and (longest or 0) <= MAX_VALUE_CHARS and not unscalar
        rolled = fits and chosen.get(use_case_pk, 0) < MAX_FIELDS
        chosen[use_case_pk] = chosen.get(use_case_pk, 0) + rolled
        rows.append({"use_case_pk": use_case_pk, "field": field, "rolled_up": rolled})
    if rows:
        table = sa.table(
            "rollup_fields", sa.column("use_case_pk"), sa.column("field"), sa.column("rolled_up")
        )
        op.bulk_insert(table, rows)
