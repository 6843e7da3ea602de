"""``SqlStore``: the :class:`~sightlog.store.base.EventStore` over SQLAlchemy Core."""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Sequence
from typing import TypeVar

from sqlalchemy import Connection, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from sightlog.errors import Conflict, NotFound
from sightlog.models.query import QueryPlan
from sightlog.models.records import ApiKey, EventRow, ImageRecord, StoredEvent, UseCase, Workspace
from sightlog.store.sql import events as event_sql
from sightlog.store.sql import images as image_sql
from sightlog.store.sql import query as query_sql
from sightlog.store.sql import tenancy
from sightlog.store.sql import use_cases as use_case_sql
from sightlog.store.sql.engine import GroupCommitWriter, is_sqlite, make_engine, unavailable
from sightlog.store.sql.schema import SCHEMA_VERSION, meta_info, metadata

T = TypeVar("T")


def now_us() -> int:
    return time.time_ns() // 1000


class SqlStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = "sqlite" if is_sqlite(url) else "postgresql"
        self._read_engine = make_engine(url, for_writes=False)
        self._write_engine = make_engine(url, for_writes=True)
        self._writer: GroupCommitWriter | None = None

    # -- plumbing ---------------------------------------------------------------------------------------

    def create_schema(self) -> None:
        def create(conn: Connection) -> None:
            metadata.create_all(conn)
            if (
                conn.execute(select(meta_info.c.value).where(meta_info.c.key == "schema_version")).first()
                is None
            ):
                conn.execute(meta_info.insert().values(key="schema_version", value=str(SCHEMA_VERSION)))

        self._direct_write(create)

    def _direct_write(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self._write_engine.begin() as conn:
                return fn(conn)
        except DBAPIError as exc:
            if isinstance(exc, IntegrityError):
                raise
            raise unavailable(exc) from exc

    def _read(self, fn: Callable[[Connection], T]) -> T:
        try:
            with self._read_engine.connect() as conn:
                return fn(conn)
        except DBAPIError as exc:
            raise unavailable(exc) from exc

    def _write(self, fn: Callable[[Connection], T]) -> T:
        """Through the group-commit writer when the server runs; directly for one-off CLI commands."""
        if self._writer is None:
            return self._direct_write(fn)
        return self._writer.run(fn)

    def start_writer(self) -> None:
        if self._writer is None:
            self._writer = GroupCommitWriter(self._write_engine)

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

    def count_workspaces(self) -> int:
        return self._read(tenancy.count_workspaces)

    def create_workspace(self, slug: str, name: str) -> Workspace:
        def create(conn: Connection) -> Workspace:
            if tenancy.get_workspace(conn, slug) is not None:
                raise Conflict(f"A workspace named '{slug}' already exists.")
            return tenancy.create_workspace(conn, slug, name, now_us())

        return self._write(create)

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
        return self._read(lambda conn: use_case_sql.resolve_slugs(conn, workspace_pk, slugs))

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
        return self._write(lambda conn: event_sql.write_events(conn, workspace_pk, rows, now_us()))

    def delete_event(self, workspace_pk: int, event_id: str) -> bool:
        return self._write(lambda conn: event_sql.delete_event(conn, workspace_pk, event_id))

    def get_event(self, workspace_pk: int, event_id: str) -> StoredEvent | None:
        return self._read(lambda conn: query_sql.get_event(conn, workspace_pk, event_id))

    def query_page(
        self, plan: QueryPlan, *, descending: bool, limit: int, after: tuple[int, str] | None
    ) -> list[StoredEvent]:
        return self._read(
            lambda conn: query_sql.run_page(conn, plan, descending=descending, limit=limit, after=after)
        )

    def count(self, plan: QueryPlan) -> int:
        return self._read(lambda conn: query_sql.count(conn, plan))
