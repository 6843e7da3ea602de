"""eventData fields in the rollup of event counts per value (see store/sql/attr_rollup.py).

Existing events are counted as ingest would have (migrations/attr_backfill.py).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from sightlog.store.sql.migrations.attr_backfill import backfill

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_EVENT_DATA = "eventData.%"


def upgrade() -> None:
    backfill("d")


def downgrade() -> None:
    for table in ("attr_rollup", "rollup_values", "rollup_fields"):
        op.execute(sa.text(f"DELETE FROM {table} WHERE field LIKE :names").bindparams(names=_EVENT_DATA))
