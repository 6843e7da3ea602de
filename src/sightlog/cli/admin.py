"""``sightlog workspaces`` and ``sightlog keys``: administration of a local store (also while it serves)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sightlog.cli.console import err, out, reported_errors
from sightlog.cli.options import DatabaseUrl, DataDir, settings_from
from sightlog.models.records import SCOPES
from sightlog.services import Services
from sightlog.services.auth import DEFAULT_WORKSPACE
from sightlog.services.timeutil import format_instant

workspaces_app = typer.Typer(help="Manage workspaces (tenants) of a local store.", no_args_is_help=True)
keys_app = typer.Typer(help="Create, list and revoke API keys of a local store.", no_args_is_help=True)


@contextmanager
def opened(data_dir: Path | None, database_url: str | None) -> Iterator[Services]:
    with reported_errors():
        services = Services.open(settings_from(data_dir, database_url))
        try:
            yield services
        finally:
            services.close()


@workspaces_app.command("create")
def create_workspace(
    name: Annotated[
        str, typer.Argument(help="Slug of the new workspace: lower-case letters, digits, dashes.")
    ],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create a workspace. Give it a key with `sightlog keys create --workspace NAME`.

    ```
    sightlog workspaces create plant-b --data-dir /var/lib/sightlog
    ```
    """
    with opened(data_dir, database_url) as services:
        workspace = services.auth.create_workspace(name)
        err.print(f"Created workspace [bold]{workspace.slug}[/bold].")


@workspaces_app.command("list")
def list_workspaces(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """List workspaces.

    ```
    sightlog workspaces list --data-dir /var/lib/sightlog
    ```
    """
    with opened(data_dir, database_url) as services:
        table = Table("slug", "name", "created")
        for ws in services.store.list_workspaces():
            table.add_row(ws.slug, ws.name, format_instant(ws.created_at))
        out.print(table)


@keys_app.command("create")
def create_key(
    scope: Annotated[
        list[str], typer.Option("--scope", help=f"Scope to grant; repeatable. One of: {', '.join(SCOPES)}.")
    ],
    workspace: Annotated[str, typer.Option("--workspace", help="Workspace slug.")] = DEFAULT_WORKSPACE,
    name: Annotated[str | None, typer.Option("--name", help="A label to recognise the key by.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API key and print it (only the key, on stdout, so scripts can capture it).

    The key is shown once; only its hash is stored.

    ```
    sightlog keys create --scope vision-events:read --scope vision-events:write --workspace plant-b
    ```
    """
    with opened(data_dir, database_url) as services:
        key = services.auth.create_key(services.auth.workspace(workspace), set(scope), name=name)
        typer.echo(key)


@keys_app.command("list")
def list_keys(
    workspace: Annotated[str | None, typer.Option("--workspace", help="Only this workspace's keys.")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """List keys by prefix (the keys themselves are not stored).

    ```
    sightlog keys list --workspace plant-b
    ```
    """
    with opened(data_dir, database_url) as services:
        ws_pk = services.auth.workspace(workspace).pk if workspace else None
        table = Table("prefix", "workspace", "scopes", "name", "created", "revoked")
        for key in services.store.list_keys(ws_pk):
            table.add_row(
                key.prefix,
                key.workspace.slug,
                " ".join(sorted(key.scopes)),
                key.name or "",
                format_instant(key.created_at),
                format_instant(key.revoked_at) if key.revoked_at else "",
            )
        out.print(table)


@keys_app.command("revoke")
def revoke_key(
    key: Annotated[str, typer.Argument(help="The key, or its prefix as `sightlog keys list` shows it.")],
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a key; requests with it are refused from then on.

    ```
    sightlog keys revoke sl_Zx81Qa0pK
    ```
    """
    with opened(data_dir, database_url) as services:
        if services.auth.revoke(key) == 0:
            err.print("[red]error:[/red] no live key has that prefix.")
            raise typer.Exit(1)
        err.print("Revoked.")
