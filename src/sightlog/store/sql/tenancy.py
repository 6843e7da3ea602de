"""Workspaces and API keys."""

from __future__ import annotations

from sqlalchemy import Connection, Row, func, insert, select, update

from sightlog.models.records import ApiKey, Workspace
from sightlog.store.sql.schema import api_keys, workspaces


def _workspace(row: Row) -> Workspace:
    return Workspace(pk=row.pk, slug=row.slug, name=row.name, created_at=row.created_at)


def count_workspaces(conn: Connection) -> int:
    return conn.execute(select(func.count()).select_from(workspaces)).scalar_one()


def create_workspace(conn: Connection, slug: str, name: str, now: int) -> Workspace:
    pk = conn.execute(
        insert(workspaces).values(slug=slug, name=name, created_at=now).returning(workspaces.c.pk)
    ).scalar_one()
    return Workspace(pk=pk, slug=slug, name=name, created_at=now)


def get_workspace(conn: Connection, slug: str) -> Workspace | None:
    row = conn.execute(select(workspaces).where(workspaces.c.slug == slug)).first()
    return _workspace(row) if row else None


def list_workspaces(conn: Connection) -> list[Workspace]:
    return [_workspace(r) for r in conn.execute(select(workspaces).order_by(workspaces.c.pk))]


def create_key(
    conn: Connection,
    workspace_pk: int,
    key_hash: str,
    prefix: str,
    scopes: frozenset[str],
    name: str | None,
    now: int,
) -> int:
    return conn.execute(
        insert(api_keys)
        .values(
            workspace_pk=workspace_pk,
            key_hash=key_hash,
            prefix=prefix,
            name=name,
            scopes=" ".join(sorted(scopes)),
            created_at=now,
        )
        .returning(api_keys.c.pk)
    ).scalar_one()


_KEY_COLUMNS = (
    api_keys,
    workspaces.c.slug.label("ws_slug"),
    workspaces.c.name.label("ws_name"),
    workspaces.c.created_at.label("ws_created_at"),
)


def _key(row: Row) -> ApiKey:
    ws = Workspace(pk=row.workspace_pk, slug=row.ws_slug, name=row.ws_name, created_at=row.ws_created_at)
    return ApiKey(
        pk=row.pk,
        workspace=ws,
        prefix=row.prefix,
        name=row.name,
        scopes=frozenset(row.scopes.split()),
        created_at=row.created_at,
        revoked_at=row.revoked_at,
    )


def find_key(conn: Connection, key_hash: str) -> ApiKey | None:
    row = conn.execute(
        select(*_KEY_COLUMNS)
        .join(workspaces, workspaces.c.pk == api_keys.c.workspace_pk)
        .where(api_keys.c.key_hash == key_hash, api_keys.c.revoked_at.is_(None))
    ).first()
    return _key(row) if row else None


def list_keys(conn: Connection, workspace_pk: int | None) -> list[ApiKey]:
    query = select(*_KEY_COLUMNS).join(workspaces, workspaces.c.pk == api_keys.c.workspace_pk)
    if workspace_pk is not None:
        query = query.where(api_keys.c.workspace_pk == workspace_pk)
    return [_key(r) for r in conn.execute(query.order_by(api_keys.c.pk))]


def revoke_key(conn: Connection, prefix: str, now: int) -> int:
    """Revoke every live key whose prefix matches; returns how many."""
    result = conn.execute(
        update(api_keys)
        .where(api_keys.c.prefix == prefix, api_keys.c.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    return result.rowcount
