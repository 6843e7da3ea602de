"""PostgreSQL: the page index carries each event's key and type (see ``ix_events_page`` in schema.py).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_COLUMNS = ["use_case_pk", "ts", "event_id"]


def upgrade() -> None:
    _page_index(include=["pk", "event_type"])


def downgrade() -> None:
    _page_index(include=[])


def _page_index(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite's index entries hold the rowid already
    op.drop_index("ix_events_page", table_name="events")
    op.create_index("ix_events_page", "events", _COLUMNS, postgresql_include=include)
