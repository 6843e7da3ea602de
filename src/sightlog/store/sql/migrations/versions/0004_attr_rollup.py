"""Rollup of event counts per custom metadata value and pair of values (see store/sql/metadata_rollup.py).

Existing events are counted here the way ingest would have: per use case, the fields with at most
MAX_VALUES values, none longer than MAX_VALUE_CHARS, the MAX_FIELDS with the most events first, are rolled
up; the others are registered as not rolled up.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

BUCKET_US = 900_000_000
MAX_FIELDS = 6
MAX_VALUES = 50
MAX_VALUE_CHARS = 100
_EVENTS_PER_STEP = 1_000_000
# Floor, also before 1970 (SQL's % truncates toward zero).
_BUCKET = f"(a.ts - ((a.ts % {BUCKET_US}) + {BUCKET_US}) % {BUCKET_US})"
# A value as attr_rollup holds it (custom metadata values are scalars): the type letter, then the string for
# strings; the number apart.
_VALUE = "(CASE WHEN {t}.value_type = 's' THEN 's' || {t}.str_value ELSE {t}.value_type END)"
_NUM = "(CASE WHEN {t}.value_type = 's' THEN 0.0 ELSE {t}.num_value + 0.0 END)"
# Joined to a field that is rolled up.
_ROLLED = (
    "JOIN rollup_fields {f} ON {f}.use_case_pk = {t}.use_case_pk AND {f}.field = {t}.key AND {f}.rolled_up"
)


def upgrade() -> None:
    op.create_table(
        "attr_rollup",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("field2", sa.String(100), primary_key=True),
        sa.Column("value2", sa.String(101), primary_key=True),
        sa.Column("num2", sa.Float, primary_key=True),
        sa.Column("value", sa.String(101), primary_key=True),
        sa.Column("num", sa.Float, primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    op.create_table(
        "rollup_fields",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("rolled_up", sa.Boolean, nullable=False),
    )
    op.create_table(
        "rollup_values",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("value", sa.String(101), primary_key=True),
        sa.Column("num", sa.Float, primary_key=True),
    )
    _choose_fields()
    value, num = _VALUE.format(t="a"), _NUM.format(t="a")
    op.execute(
        "INSERT INTO rollup_values (use_case_pk, field, value, num) "
        f"SELECT DISTINCT a.use_case_pk, a.key, {value}, {num} "
        f"FROM event_attrs a {_ROLLED.format(f='f', t='a')} WHERE a.ns = 'm'"
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
        f"SELECT a.use_case_pk, a.key, '', '', 0.0, {value}, {num}, {_BUCKET}, t.event_type, count(*) "
        f"FROM event_attrs a {_ROLLED.format(f='f', t='a')} JOIN types_of_events t ON t.pk = a.event_pk "
    )
    pairs = (
        f"SELECT a.use_case_pk, a.key, b.key, {_VALUE.format(t='b')}, {_NUM.format(t='b')}, {value}, {num}, "
        f"{_BUCKET}, t.event_type, count(*) "
        f"FROM event_attrs a {_ROLLED.format(f='f', t='a')} "
        "JOIN event_attrs b ON b.event_pk = a.event_pk AND b.ns = 'm' "
        f"AND b.key > a.key{in_code_point_order} "
        f"{_ROLLED.format(f='g', t='b')} JOIN types_of_events t ON t.pk = a.event_pk "
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
                    "WHERE a.ns = 'm' AND a.event_pk >= :start AND a.event_pk < :end "
                    "GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 "
                    "ON CONFLICT (use_case_pk, field, field2, value2, num2, value, num, bucket, event_type) "
                    "DO UPDATE SET event_count = attr_rollup.event_count + excluded.event_count"
                ).bindparams(start=start, end=start + _EVENTS_PER_STEP)
            )
    op.execute("DROP TABLE types_of_events")


def _choose_fields() -> None:
    """Register every custom metadata field; roll up the ones ingest would roll up, most used first."""
    stats = op.get_bind().execute(
        sa.text(
            "SELECT use_case_pk, key, count(*), sum(events), max(longest) FROM ("
            f"  SELECT use_case_pk, key, {_VALUE.format(t='event_attrs')}, {_NUM.format(t='event_attrs')}, "
            "         count(*) AS events, max(length(str_value)) AS longest "
            "  FROM event_attrs WHERE ns = 'm' GROUP BY 1, 2, 3, 4"
            ") v GROUP BY 1, 2 ORDER BY 1, 4 DESC, 2"
        )
    )
    rows, chosen = [], {}
    for use_case_pk, field, values, _events, longest in stats:
        fits = values <= MAX_VALUES and (longest or 0) <= MAX_VALUE_CHARS
        rolled = fits and chosen.get(use_case_pk, 0) < MAX_FIELDS
        chosen[use_case_pk] = chosen.get(use_case_pk, 0) + rolled
        rows.append({"use_case_pk": use_case_pk, "field": field, "rolled_up": rolled})
    if rows:
        table = sa.table(
            "rollup_fields", sa.column("use_case_pk"), sa.column("field"), sa.column("rolled_up")
        )
        op.bulk_insert(table, rows)


def downgrade() -> None:
    for table in ("rollup_values", "rollup_fields", "attr_rollup"):
        op.drop_table(table)
