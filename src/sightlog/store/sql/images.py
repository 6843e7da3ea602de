"""Image records: ``sourceId`` → blob, format and size, per workspace."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import Connection, Row, insert, select
from sqlalchemy.exc import IntegrityError

from sightlog.models.records import ImageRecord
from sightlog.store.sql.schema import images, thumbnails

_COLUMNS = (
    images.c.source_id,
    images.c.sha256,
    images.c.format,
    images.c.mime,
    images.c.width,
    images.c.height,
    images.c.size,
    images.c.name,
    images.c.created_at,
)


def _record(row: Row) -> ImageRecord:
    return ImageRecord(**row._mapping)


def add_image(conn: Connection, workspace_pk: int, record: ImageRecord, metadata_json: str | None) -> None:
    conn.execute(
        insert(images).values(
            workspace_pk=workspace_pk,
            metadata=metadata_json,
            **{c.name: getattr(record, c.name) for c in _COLUMNS},
        )
    )


def get_image(conn: Connection, workspace_pk: int, source_id: str) -> ImageRecord | None:
    row = conn.execute(
        select(*_COLUMNS).where(images.c.workspace_pk == workspace_pk, images.c.source_id == source_id)
    ).first()
    return _record(row) if row else None


def find_images(conn: Connection, workspace_pk: int, source_ids: Collection[str]) -> dict[str, ImageRecord]:
    if not source_ids:
        return {}
    rows = conn.execute(
        select(*_COLUMNS).where(
            images.c.workspace_pk == workspace_pk, images.c.source_id.in_(list(source_ids))
        )
    )
    return {r.source_id: _record(r) for r in rows}


def get_thumbnail(conn: Connection, sha256: str) -> tuple[str, str] | None:
    row = conn.execute(select(thumbnails).where(thumbnails.c.sha256 == sha256)).first()
    return (row.thumb_sha256, row.mime) if row else None


def add_thumbnail(conn: Connection, sha256: str, thumb_sha256: str, mime: str) -> None:
    try:
        with conn.begin_nested():
            conn.execute(insert(thumbnails).values(sha256=sha256, thumb_sha256=thumb_sha256, mime=mime))
    except IntegrityError:
        pass  # another request made the same thumbnail first; both are identical
