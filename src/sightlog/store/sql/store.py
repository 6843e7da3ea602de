"""``SqlStore``: the :class:`~sightlog.store.base.EventStore` over SQLAlchemy Core."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, text

from sightlog.errors import Conflict, NotFound, Unavailable
from sightlog.models.query import Grid, QueryPlan
from sightlog.models.records import ApiKey, EventRow, ImageRecord, StoredEvent, UseCase, Workspace
from sightlog.store.sql import aggregate as aggregate_sql
from sightlog.store.sql import events as event_sql
from sightlog.store.sql import images as image_sql
from sightlog.store.sql import migrate, tenancy
from sightlog.store.sql import query as query_sql
from sightlog.store.sql import use_cases as use_case_sql
from sightlog.store.sql.engine import (
    GroupCommitWriter,
    ProcessLock,
    is_sqlite,
    lock_key,
    make_engine,
    sqlite_path,
    translate_errors,
)
from sightlog.store.sql.partitions import MonthlyPartitions

T = TypeVar("T")
_SCHEMA_LOCK = 0x5167_6C6F_6702


def now_us() -> int:
    return time.time_ns() // 1000


class SqlStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = "sqlite" if is_sqlite(url) else "postgresql"
        self._read_engine = make_engine(url, for_writes=False)
        self._write_engine = make_engine(url, for_writes=True)
        self._writer: GroupCommitWriter | None = None
        self._use_case_pks: dict[tuple[int, str], int] = {}
        self._partitions = MonthlyPartitions(self._write_engine) if self.backend == "postgresql" else None

    # -- plumbing ---------------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Create the schema in an empty database; refuse one whose schema is behind this version."""

        def check(conn: Connection) -> None:
            if self.backend == "postgresql":  # replicas starting together: one creates, the others wait
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            if migrate.is_empty(conn):
                migrate.upgrade(conn)
                return
            current, head = migrate.current_revision(conn), migrate.head_revision()
            if current != head:
                raise Unavailable(
                    f"The database schema is at revision {current or 'unknown'} but this Sightlog needs "
                    f"{head}. Run `sightlog db upgrade` (same --data-dir / SIGHTLOG_DATABASE_URL) first."
                )

        self._direct_write(check)
        if self._partitions is not None:
            self._partitions.ensure_ahead(now_us())

    def upgrade(self) -> tuple[str | None, str]:
        """Apply pending migrations; returns (revision before, revision after)."""

        def run(conn: Connection) -> tuple[str | None, str]:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
                # A migration rebuilds indexes or backfills tables: minutes on a large store, where the
                # statement timeout that guards requests would cancel it.
                conn.execute(text("SET LOCAL statement_timeout = 0"))
            before = None if migrate.is_empty(conn) else migrate.current_revision(conn)
            migrate.upgrade(conn)
            return before, migrate.head_revision()

        return self._direct_write(run)

    def revisions(self) -> tuple[str | None, str]:
        """(revision of the database, revision this version needs)."""

        def read(conn: Connection) -> str | None:
            return None if migrate.is_empty(conn) else migrate.current_revision(conn)

        return self._read(read), migrate.head_revision()

    def _direct_write(self, fn: Callable[[Connection], T]) -> T:
        with translate_errors(), self._write_engine.begin() as conn:
            return fn(conn)

    def _read(self, fn: Callable[[Connection], T]) -> T:
        with translate_errors(), self._read_engine.connect() as conn:
            return fn(conn)

    def _write(self, fn: Callable[[Connection], T], lock_keys: Collection[int] = ()) -> T:
        """Through the group-commit writer when the server runs; directly for one-off CLI commands."""
        if self._writer is None:
            return self._direct_write(fn)
        return self._writer.run(fn, lock_keys)

    def start_writer(self) -> None:
        if self._writer is None:
            database = sqlite_path(self.url)
            lock = ProcessLock(database.with_name(database.name + ".writer-lock")) if database else None
            self._writer = GroupCommitWriter(self._write_engine, lock)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self._read_engine.dispose()
        self._write_engine.dispose()

    def check(self) -> None:
        """Raise :class:`Unavailable` unless the store answers."""
        self._read(lambda conn: conn.execute(text("SELECT 1")).scalar_one())

    # -- workspaces and keys ----------------------------------------------------------------------------

    def create_workspace(self, slug: str, name: str) -> Workspace:
        def create(conn: Connection) -> Workspace:
            if tenancy.get_workspace(conn, slug) is not None:
                raise Conflict(f"A workspace named '{slug}' already exists.")
            return tenancy.create_workspace(conn, slug, name, now_us())

        return self._write(create)

    def create_first_workspace(
        self, slug: str, name: str, key_hash: str, prefix: str, scopes: frozenset[str]
    ) -> Workspace | None:
        """On an empty store only, and atomically (replicas may start together): a workspace and its key."""

        def create(conn: Connection) -> Workspace | None:
            if self.backend == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK})
            if tenancy.count_workspaces(conn) > 0:
                return None
            workspace = tenancy.create_workspace(conn, slug, name, now_us())
            tenancy.create_key(conn, workspace.pk, key_hash, prefix, scopes, "bootstrap", now_us())
            return workspace

        return self._direct_write(create)

    def get_workspace(self, slug: str) -> Workspace | None:
        return self._read(lambda conn: tenancy.get_workspace(conn, slug))

    def list_workspaces(self) -> list[Workspace]:
        return self._read(tenancy.list_workspaces)

    def create_key(
        self, workspace_pk: int, key_hash: str, prefix: str, scopes: frozenset[str], name: str | None
    ) -> None:
        self._write(
            lambda conn: tenancy.create_key(conn, workspace_pk, key_hash, prefix, scopes, name, now_us())
        )

    def find_key(self, key_hash: str) -> ApiKey | None:
        return self._read(lambda conn: tenancy.find_key(conn, key_hash))

    def list_keys(self, workspace_pk: int | None = None) -> list[ApiKey]:
        return self._read(lambda conn: tenancy.list_keys(conn, workspace_pk))

    def revoke_key(self, prefix: str) -> int:
        return self._write(lambda conn: tenancy.revoke_key(conn, prefix, now_us()))

    # -- use cases --------------------------------------------------------------------------------------

    def list_use_cases(self, workspace_pk: int, status: str | None) -> list[UseCase]:
        return self._read(lambda conn: use_case_sql.list_use_cases(conn, workspace_pk, status))

    def get_use_case(self, workspace_pk: int, slug: str) -> UseCase | None:
        return self._read(lambda conn: use_case_sql.get_use_case(conn, workspace_pk, slug))

    def resolve_use_cases(self, workspace_pk: int, slugs: Collection[str]) -> dict[str, int]:
        # Use cases are never deleted and their ids never change, so a found id is cached for good.
        found = {s: pk for s in slugs if (pk := self._use_case_pks.get((workspace_pk, s))) is not None}
        missing = [s for s in slugs if s not in found]
        if missing:
            fresh = self._read(lambda conn: use_case_sql.resolve_slugs(conn, workspace_pk, missing))
            self._use_case_pks.update(((workspace_pk, s), pk) for s, pk in fresh.items())
            found.update(fresh)
        return found

    def create_use_case(self, workspace_pk: int, name: str, slug_base: str) -> UseCase:
        def create(conn: Connection) -> UseCase:
            if use_case_sql.name_taken(conn, workspace_pk, name):
                raise Conflict(f"A use case named '{name}' already exists in this workspace.")
            taken = use_case_sql.slugs_like(conn, workspace_pk, slug_base)
            slug, n = slug_base, 1
            while slug in taken:
                n += 1
                slug = f"{slug_base}-{n}"
            return use_case_sql.create_use_case(conn, workspace_pk, slug, name, now_us())

        return self._write(create)

    def update_use_case(
        self, workspace_pk: int, slug: str, check: Callable[[UseCase], None] | None = None, **values: object
    ) -> UseCase:
        """Change a use case's name, status or settings; ``check`` may refuse based on its current state."""

        def change(conn: Connection) -> UseCase:
            current = use_case_sql.get_use_case(conn, workspace_pk, slug)
            if current is None:
                raise NotFound(f"No use case '{slug}' in this workspace.")
            if check is not None:
                check(current)
            name = values.get("name")
            if isinstance(name, str) and use_case_sql.name_taken(
                conn, workspace_pk, name, except_pk=current.pk
            ):
                raise Conflict(f"A use case named '{name}' already exists in this workspace.")
            use_case_sql.update_use_case(conn, current.pk, **values)
            updated = use_case_sql.get_use_case(conn, workspace_pk, slug)
            assert updated is not None
            return updated

        return self._write(change)

    def metadata_schema(self, use_case_pk: int) -> dict[str, list[str]]:
        return self._read(lambda conn: use_case_sql.metadata_schema(conn, use_case_pk))

    # -- images -----------------------------------------------------------------------------------------

    def add_image(self, workspace_pk: int, record: ImageRecord, metadata_json: str | None) -> None:
        self._write(lambda conn: image_sql.add_image(conn, workspace_pk, record, metadata_json))

    def get_image(self, workspace_pk: int, source_id: str) -> ImageRecord | None:
        return self._read(lambda conn: image_sql.get_image(conn, workspace_pk, source_id))

    def find_images(self, workspace_pk: int, source_ids: Collection[str]) -> dict[str, ImageRecord]:
        return self._read(lambda conn: image_sql.find_images(conn, workspace_pk, source_ids))

    def get_thumbnail(self, sha256: str) -> tuple[str, str] | None:
        return self._read(lambda conn: image_sql.get_thumbnail(conn, sha256))

    def add_thumbnail(self, sha256: str, thumb_sha256: str, mime: str) -> None:
        self._write(lambda conn: image_sql.add_thumbnail(conn, sha256, thumb_sha256, mime))

    # -- events -----------------------------------------------------------------------------------------

    def write_events(self, workspace_pk: int, rows: Sequence[EventRow]) -> list[bool]:
        if self._partitions is not None:
            self._partitions.ensure_for(r.ts for r in rows)
        return self._write(
            lambda conn: event_sql.write_events(conn, workspace_pk, rows, now_us()),
            lock_keys=self._write_locks(workspace_pk, rows),
        )

    @staticmethod
    def _write_locks(workspace_pk: int, rows: Sequence[EventRow]) -> list[int]:
        """What writers on other replicas may touch at the same time: the same event ids (and the events
        feedback points at), and the counters and schema rows of the same use cases. Replaced events may
        belong to another use case; their counters are covered by that use case's writers holding the id."""
        ids = {r.event_id for r in rows} | {r.related_event_id for r in rows if r.related_event_id}
        use_cases = {r.use_case_pk for r in rows}
        return [lock_key("event", workspace_pk, i) for i in ids] + [
            lock_key("use-case", u) for u in use_cases
        ]

    def delete_event(self, workspace_pk: int, event_id: str) -> bool:
        return self._write(
            lambda conn: event_sql.delete_event(conn, workspace_pk, event_id),
            lock_keys=[lock_key("event", workspace_pk, event_id)],
        )

    def get_event(self, workspace_pk: int, event_id: str) -> StoredEvent | None:
        return self._read(lambda conn: query_sql.get_event(conn, workspace_pk, event_id))

    def query_page(
        self, plan: QueryPlan, *, descending: bool, limit: int, after: tuple[int, str] | None
    ) -> list[StoredEvent]:
        return self._read(
            lambda conn: query_sql.run_page(conn, plan, descending=descending, limit=limit, after=after)
        )

    def aggregate(
        self, plan: QueryPlan, group_by: list[str], grid: Grid | None
    ) -> list[tuple[int | None, tuple[Any, ...], int]]:
        return self._read(lambda conn: aggregate_sql.aggregate(conn, plan, group_by, grid))

    def count(self, plan: QueryPlan) -> int:
        return self._read(lambda conn: aggregate_sql.count(conn, plan))
