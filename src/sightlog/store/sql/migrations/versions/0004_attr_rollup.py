"""Rollup of event counts per custom metadata value and pair of values (see store/sql/attr_rollup.py).

Existing events are counted as ingest would have (migrations/attr_backfill.py).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sightlog.store.sql.migrations.attr_backfill import backfill

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


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
    backfill("m")


def downgrade() -> None:
    for table in ("rollup_values", "rollup_fields", "attr_rollup"):
        op.drop_table(table)
