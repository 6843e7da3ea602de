"""PostgreSQL: ``ix_attrs_value_pg`` holds an empty string or number as '' and 0 instead of NULL, so that
one value's rows come in time order for the planner too (see ``indexed_number`` in schema.py).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    _value_index("coalesce(substr(str_value, 1, 200), '')", "coalesce(num_value, 0)")


def downgrade() -> None:
    _value_index("substr(str_value, 1, 200)", "num_value")


def _value_index(text: str, number: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's planner takes IS NULL for one value: its index stays as it is
    op.drop_index("ix_attrs_value_pg", table_name="event_attrs")
    columns = ["use_case_pk", "ns", "key", "value_type", sa.text(text), sa.text(number), "ts", "event_pk"]
    op.create_index("ix_attrs_value_pg", "event_attrs", columns)
