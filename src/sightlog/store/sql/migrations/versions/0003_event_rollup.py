"""Rollup of event counts per use case, quarter hour, event type and class (see store/sql/rollups.py).

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BUCKET_US = 900_000_000
# Floor, also before 1970 (SQL's % truncates toward zero).
_BUCKET = f"(ts - ((ts % {BUCKET_US}) + {BUCKET_US}) % {BUCKET_US})"


def upgrade() -> None:
    op.create_table(
        "event_rollup",
        sa.Column("use_case_pk", sa.BigInteger, sa.ForeignKey("use_cases.pk"), primary_key=True),
        sa.Column("bucket", sa.BigInteger, primary_key=True),
        sa.Column("event_type", sa.String(32), primary_key=True),
        sa.Column("class_name", sa.String(256), primary_key=True),
        sa.Column("event_count", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO event_rollup (use_case_pk, bucket, event_type, class_name, event_count) "
        f"SELECT use_case_pk, {_BUCKET}, event_type, '', count(*) FROM events GROUP BY 1, 2, 3"
    )
    op.execute(
        "INSERT INTO event_rollup (use_case_pk, bucket, event_type, class_name, event_count) "
        f"SELECT e.use_case_pk, {_BUCKET.replace('ts', 'e.ts')}, e.event_type, d.class_name, count(*) "
        "FROM events e JOIN (SELECT DISTINCT event_pk, class_name FROM detections) d ON d.event_pk = e.pk "
        "GROUP BY 1, 2, 3, 4"
    )
