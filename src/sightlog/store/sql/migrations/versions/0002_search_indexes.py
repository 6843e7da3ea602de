"""Search at scale: side tables carry the event's use case and time; indexes for every filter.

``event_attrs`` (now on both backends, replacing the JSONB columns and GIN indexes of PostgreSQL) and
``detections`` gain copies of ``use_case_pk`` and ``ts``, so ``ix_attrs_value`` and ``ix_detections_class``
answer a filter for one use case and time range without reading events. ``events`` gains indexes for
source, feedback and warning filters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

STR_PREFIX = 200
ATTR_TEXT = sa.String(10000).with_variant(sa.String(10000, collation="C"), "postgresql")

# The JSONB documents of 0001, flattened into attribute rows the way ingest does (a boolean before a number).
_PG_ATTRS_FROM_JSONB = """
INSERT INTO event_attrs (event_pk, ns, key, value_type, str_value, num_value, use_case_pk, ts)
SELECT e.pk, '{ns}', kv.key,
       CASE jsonb_typeof(kv.value) WHEN 'string' THEN 's' WHEN 'number' THEN 'n'
                                   WHEN 'boolean' THEN 'b' ELSE 'x' END,
       CASE WHEN jsonb_typeof(kv.value) = 'string' THEN kv.value #>> '{{}}' END,
       CASE jsonb_typeof(kv.value) WHEN 'number' THEN (kv.value #>> '{{}}')::float8
                                   WHEN 'boolean' THEN CASE WHEN kv.value = 'true' THEN 1.0 ELSE 0.0 END END,
       e.use_case_pk, e.ts
FROM events e CROSS JOIN LATERAL jsonb_each(coalesce(e.{column}, '{{}}'::jsonb)) AS kv
"""


def _side_columns() -> list[sa.Column]:
    return [
        sa.Column("use_case_pk", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
    ]


def _create_event_attrs() -> None:
    op.create_table(
        "event_attrs",
        sa.Column("event_pk", sa.BigInteger, primary_key=True),
        sa.Column("ns", sa.String(1), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value_type", sa.String(1), nullable=False),
        sa.Column("str_value", ATTR_TEXT),
        sa.Column("num_value", sa.Float),
        *_side_columns(),
        sqlite_with_rowid=False,
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"

    op.drop_index("ix_detections_event", "detections")
    op.rename_table("detections", "detections_0001")
    op.create_table(
        "detections",
        sa.Column("event_pk", sa.BigInteger, nullable=False),
        sa.Column("class_name", sa.String(256), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
        *_side_columns(),
    )
    op.execute(
        "INSERT INTO detections (event_pk, class_name, confidence, use_case_pk, ts) "
        "SELECT d.event_pk, d.class_name, d.confidence, e.use_case_pk, e.ts "
        "FROM detections_0001 d JOIN events e ON e.pk = d.event_pk"
    )
    op.drop_table("detections_0001")

    if postgres:
        _create_event_attrs()
        op.execute(_PG_ATTRS_FROM_JSONB.format(ns="m", column="custom_metadata"))
        op.execute(_PG_ATTRS_FROM_JSONB.format(ns="d", column="event_data"))
        op.drop_index("ix_events_metadata", "events")
        op.drop_index("ix_events_data", "events")
    else:
        op.rename_table("event_attrs", "event_attrs_0001")
        _create_event_attrs()
        op.execute(
            "INSERT INTO event_attrs "
            "SELECT a.event_pk, a.ns, a.key, a.value_type, a.str_value, a.num_value, e.use_case_pk, e.ts "
            "FROM event_attrs_0001 a JOIN events e ON e.pk = a.event_pk"
        )
        op.drop_table("event_attrs_0001")
    op.execute("ALTER TABLE events DROP COLUMN custom_metadata")
    op.execute("ALTER TABLE events DROP COLUMN event_data")

    op.create_index("ix_detections_event", "detections", ["event_pk", "class_name", "confidence"])
    op.create_index(
        "ix_detections_class", "detections", ["use_case_pk", "class_name", "ts", "confidence", "event_pk"]
    )
    # Strings whole on SQLite (the index then covers every value filter); a prefix on PostgreSQL, whose
    # B-tree entries must stay under 2.7 kB.
    text = sa.text(f"substr(str_value, 1, {STR_PREFIX})") if postgres else "str_value"
    op.create_index(
        "ix_attrs_value_pg" if postgres else "ix_attrs_value",
        "event_attrs",
        ["use_case_pk", "ns", "key", "value_type", text, "num_value", "ts", "event_pk"],
    )
    for source in ("device", "stream", "workflow"):
        op.create_index(f"ix_events_{source}", "events", ["use_case_pk", f"{source}_id", "ts"])
    reviewed = sa.text("feedback_status IS NOT NULL")
    op.create_index(
        "ix_events_feedback",
        "events",
        ["use_case_pk", "feedback_status", "ts"],
        sqlite_where=reviewed,
        postgresql_where=reviewed,
    )
    warned = sa.text("has_warnings IS true") if postgres else sa.text("has_warnings IS 1")
    op.create_index(
        "ix_events_warnings", "events", ["use_case_pk", "ts"], sqlite_where=warned, postgresql_where=warned
    )
