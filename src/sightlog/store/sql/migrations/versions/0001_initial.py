"""Initial schema: workspaces, keys, use cases, images, events and their side tables.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

PK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
EVENT_ID = sa.String(256).with_variant(sa.String(256, collation="C"), "postgresql")


def _pk() -> sa.Column:
    return sa.Column("pk", PK, primary_key=True, autoincrement=True)


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "workspaces",
        _pk(),
        sa.Column("slug", sa.String(100), nullable=False, unique=True),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        _pk(),
        sa.Column("workspace_pk", sa.BigInteger, sa.ForeignKey("workspaces.pk"), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("name", sa.String(256)),
        sa.Column("scopes", sa.String(256), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_table(
        "use_cases",
        _pk(),
        sa.Column("workspace_pk", sa.BigInteger, sa.ForeignKey("workspaces.pk"), nullable=False),
        sa.Column("slug", sa.String(300), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("retention_days", sa.Integer),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("workspace_pk", "slug"),
        sa.UniqueConstraint("workspace_pk", "name"),
    )
    op.create_table(
        "use_case_stats",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("event_count", sa.BigInteger, nullable=False),
        sa.Column("last_ts", sa.BigInteger),
    )
    op.create_table(
        "metadata_fields",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("field", sa.String(100), primary_key=True),
        sa.Column("value_type", sa.String(8), primary_key=True),
    )
    op.create_table(
        "images",
        _pk(),
        sa.Column("workspace_pk", sa.BigInteger, sa.ForeignKey("workspaces.pk"), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("format", sa.String(16), nullable=False),
        sa.Column("mime", sa.String(32), nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("name", sa.String(1000)),
        sa.Column("metadata", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("workspace_pk", "source_id"),
    )
    op.create_table(
        "thumbnails",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("thumb_sha256", sa.String(64), nullable=False),
        sa.Column("mime", sa.String(32), nullable=False),
    )
    op.create_table(
        "event_keys",
        sa.Column("workspace_pk", sa.BigInteger, sa.ForeignKey("workspaces.pk"), primary_key=True),
        sa.Column("event_id", EVENT_ID, primary_key=True),
        sa.Column("pk", sa.BigInteger, nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sqlite_with_rowid=False,
    )
    if postgres:
        # Ingest looks every incoming id up here. Until the table has statistics, PostgreSQL plans that
        # lookup as a scan; analysing it early and often keeps it an index probe while the table is young.
        op.execute(
            "ALTER TABLE event_keys SET (autovacuum_analyze_threshold = 1000, "
            "autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_insert_threshold = 1000)"
        )
        _create_partitioned_events()
    else:
        _create_sqlite_events()
    op.create_index("ix_events_page", "events", ["use_case_pk", "ts", "event_id"])
    op.create_index("ix_events_type", "events", ["use_case_pk", "event_type", "ts"])
    op.create_index(
        "ix_events_related",
        "events",
        ["workspace_pk", "related_event_id"],
        sqlite_where=sa.text("related_event_id IS NOT NULL"),
        postgresql_where=sa.text("related_event_id IS NOT NULL"),
    )
    op.create_table(
        "detections",
        sa.Column("event_pk", sa.BigInteger, nullable=False),
        sa.Column("class_name", sa.String(256), nullable=False),
        sa.Column("confidence", sa.Float, nullable=False),
    )
    op.create_index("ix_detections_event", "detections", ["event_pk", "class_name", "confidence"])


_EVENT_COLUMNS = """
    workspace_pk BIGINT NOT NULL REFERENCES workspaces (pk),
    event_id VARCHAR(256) COLLATE "C" NOT NULL,
    use_case_pk BIGINT NOT NULL REFERENCES use_cases (pk),
    event_type VARCHAR(32) NOT NULL,
    ts BIGINT NOT NULL,
    device_id VARCHAR(256),
    stream_id VARCHAR(256),
    workflow_id VARCHAR(256),
    external_id VARCHAR(1000),
    related_event_id VARCHAR(256),
    feedback_value VARCHAR(16),
    feedback_status VARCHAR(16),
    feedback_event_id VARCHAR(256),
    has_warnings BOOLEAN NOT NULL,
    received_at BIGINT NOT NULL,
    body TEXT NOT NULL,
    custom_metadata JSONB,
    event_data JSONB
"""


def _create_partitioned_events() -> None:
    # Range partitions by month of ts (created ahead by the store, see store/sql/partitions.py): old months
    # can be dropped whole for retention, and time-bounded queries touch only their months.
    op.execute("CREATE SEQUENCE events_pk_seq AS BIGINT")
    op.execute(
        f"""CREATE TABLE events (
            pk BIGINT NOT NULL DEFAULT nextval('events_pk_seq'),
            {_EVENT_COLUMNS},
            PRIMARY KEY (pk, ts)
        ) PARTITION BY RANGE (ts)"""
    )
    op.execute("ALTER SEQUENCE events_pk_seq OWNED BY events.pk")
    # GIN (jsonb_ops) serves @> containment for eq/in and ? for exists on metadata and eventData.
    op.execute("CREATE INDEX ix_events_metadata ON events USING gin (custom_metadata)")
    op.execute("CREATE INDEX ix_events_data ON events USING gin (event_data)")


def _create_sqlite_events() -> None:
    op.create_table(
        "events",
        _pk(),
        sa.Column("workspace_pk", sa.BigInteger, sa.ForeignKey("workspaces.pk"), nullable=False),
        sa.Column("event_id", sa.String(256), nullable=False),
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("ts", sa.BigInteger, nullable=False),
        sa.Column("device_id", sa.String(256)),
        sa.Column("stream_id", sa.String(256)),
        sa.Column("workflow_id", sa.String(256)),
        sa.Column("external_id", sa.String(1000)),
        sa.Column("related_event_id", sa.String(256)),
        sa.Column("feedback_value", sa.String(16)),
        sa.Column("feedback_status", sa.String(16)),
        sa.Column("feedback_event_id", sa.String(256)),
        sa.Column("has_warnings", sa.Boolean, nullable=False),
        sa.Column("received_at", sa.BigInteger, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("custom_metadata", sa.JSON),
        sa.Column("event_data", sa.JSON),
        sqlite_autoincrement=True,
    )
    # Scalar metadata and eventData values, one row each, for indexed filters on SQLite.
    op.create_table(
        "event_attrs",
        sa.Column("event_pk", sa.BigInteger, primary_key=True),
        sa.Column("ns", sa.String(1), primary_key=True),
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value_type", sa.String(1), nullable=False),
        sa.Column("str_value", sa.String(10000)),
        sa.Column("num_value", sa.Float),
        sqlite_with_rowid=False,
    )
