"""``sightlog db``: schema migrations of a store."""

from __future__ import annotations

import typer

from sightlog.cli.console import err
from sightlog.cli.options import DatabaseUrl, DataDir, settings_from
from sightlog.errors import SightlogError
from sightlog.store.sql import SqlStore

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@db_app.command("upgrade")
def upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply pending schema migrations (safe to re-run; `serve` refuses an out-of-date schema)."""
    settings = settings_from(data_dir, database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlStore(settings.resolved_database_url())
    try:
        before, after = store.upgrade()
    except SightlogError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    if before == after:
        err.print(f"The schema is up to date (revision {after}).")
    else:
        err.print(f"Upgraded the schema from {before or 'empty'} to revision {after}.")


@db_app.command("revision")
def revision(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print the schema revision of the store and the one this version needs."""
    settings = settings_from(data_dir, database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlStore(settings.resolved_database_url())
    try:
        current, head = store.revisions()
    except SightlogError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(1) from None
    finally:
        store.close()
    typer.echo(f"current: {current or 'none'}\nneeded:  {head}")
