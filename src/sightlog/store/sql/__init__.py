"""The SQL event store (SQLAlchemy Core) for SQLite and PostgreSQL."""

from sightlog.store.sql.store import SqlStore

__all__ = ["SqlStore"]
