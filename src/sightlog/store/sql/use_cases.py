"""Use cases, their maintained counters and inferred metadata schema."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, Row, and_, func, insert, select, update

from sightlog.models.records import UseCase
from sightlog.store.sql.schema import events, metadata_fields, use_case_stats, use_cases


def _use_case(row: Row, stats: list[Row] | None = None) -> UseCase:
    live = [s for s in stats or () if s.event_count > 0]
    last = [s.last_ts for s in live if s.last_ts is not None]
    return UseCase(
        pk=row.pk,
        slug=row.slug,
        name=row.name,
        status=row.status,
        retention_days=row.retention_days,
        created_at=row.created_at,
        event_count=sum(s.event_count for s in live),
        last_event_at=max(last) if last else None,
        event_types=tuple(sorted(s.event_type for s in live)),
    )


def list_use_cases(conn: Connection, workspace_pk: int, status: str | None) -> list[UseCase]:
    query = select(use_cases).where(use_cases.c.workspace_pk == workspace_pk)
    if status is not None:
        query = query.where(use_cases.c.status == status)
    rows = conn.execute(query.order_by(use_cases.c.created_at, use_cases.c.pk)).all()
    if not rows:
        return []
    stats: dict[int, list[Row]] = {}
    for s in conn.execute(
        select(use_case_stats).where(use_case_stats.c.use_case_pk.in_([r.pk for r in rows]))
    ):
        stats.setdefault(s.use_case_pk, []).append(s)
    return [_use_case(r, stats.get(r.pk)) for r in rows]


def get_use_case(conn: Connection, workspace_pk: int, slug: str) -> UseCase | None:
    row = conn.execute(
        select(use_cases).where(use_cases.c.workspace_pk == workspace_pk, use_cases.c.slug == slug)
    ).first()
    if row is None:
        return None
    stats = conn.execute(select(use_case_stats).where(use_case_stats.c.use_case_pk == row.pk)).all()
    return _use_case(row, stats)


def resolve_slugs(conn: Connection, workspace_pk: int, slugs: Iterable[str]) -> dict[str, int]:
    rows = conn.execute(
        select(use_cases.c.slug, use_cases.c.pk).where(
            use_cases.c.workspace_pk == workspace_pk, use_cases.c.slug.in_(list(slugs))
        )
    )
    return {r.slug: r.pk for r in rows}


def name_taken(conn: Connection, workspace_pk: int, name: str, except_pk: int | None = None) -> bool:
    query = select(use_cases.c.pk).where(use_cases.c.workspace_pk == workspace_pk, use_cases.c.name == name)
    if except_pk is not None:
        query = query.where(use_cases.c.pk != except_pk)
    return conn.execute(query).first() is not None


def slugs_like(conn: Connection, workspace_pk: int, base: str) -> set[str]:
    rows = conn.execute(
        select(use_cases.c.slug).where(
            use_cases.c.workspace_pk == workspace_pk,
            use_cases.c.slug.startswith(base, autoescape=True),
        )
    )
    return {r.slug for r in rows}


def create_use_case(conn: Connection, workspace_pk: int, slug: str, name: str, now: int) -> UseCase:
    pk = conn.execute(
        insert(use_cases)
        .values(workspace_pk=workspace_pk, slug=slug, name=name, status="active", created_at=now)
        .returning(use_cases.c.pk)
    ).scalar_one()
    return UseCase(pk=pk, slug=slug, name=name, status="active", retention_days=None, created_at=now)


def update_use_case(conn: Connection, pk: int, **values: object) -> None:
    conn.execute(update(use_cases).where(use_cases.c.pk == pk).values(**values))


def metadata_schema(conn: Connection, use_case_pk: int) -> dict[str, list[str]]:
    fields: dict[str, list[str]] = {}
    rows = conn.execute(
        select(metadata_fields.c.field, metadata_fields.c.value_type)
        .where(metadata_fields.c.use_case_pk == use_case_pk)
        .order_by(metadata_fields.c.field, metadata_fields.c.value_type)
    )
    for r in rows:
        fields.setdefault(r.field, []).append(r.value_type)
    return fields


def recompute_last_ts(conn: Connection, groups: Iterable[tuple[int, str]]) -> None:
    """After deletions, the newest remaining timestamp per (use case, type), read from an index."""

    for use_case_pk, event_type in groups:
        newest = (
            select(func.max(events.c.ts))
            .where(and_(events.c.use_case_pk == use_case_pk, events.c.event_type == event_type))
            .scalar_subquery()
        )
        conn.execute(
            update(use_case_stats)
            .where(use_case_stats.c.use_case_pk == use_case_pk, use_case_stats.c.event_type == event_type)
            .values(last_ts=newest)
        )
