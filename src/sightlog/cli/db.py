"""``sightlog db``: schema migrations of a store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import typer

from sightlog.cli.console import err, reported_errors
from sightlog.cli.options import DatabaseUrl, DataDir, settings_from
from sightlog.store.sql import SqlStore

db_app = typer.Typer(help="Manage the database schema.", no_args_is_help=True)


@contextmanager
def _store(data_dir: DataDir, database_url: DatabaseUrl) -> Iterator[SqlStore]:
    """The store as it is: unlike other commands, no schema check or creation on opening."""
    settings = settings_from(data_dir, database_url)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = SqlStore(settings.resolved_database_url())
    with reported_errors():
        try:
            yield store
        finally:
            store.close()


@db_app.command("upgrade")
def upgrade(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Apply pending schema migrations (safe to re-run; `serve` refuses an out-of-date schema).

    ```
    sightlog db upgrade --database-url postgresql+psycopg://sightlog@db-host/sightlog
    ```
    """
    with _store(data_dir, database_url) as store:
        before, after = store.upgrade()
    if before == after:
        err.print(f"The schema is up to date (revision {after}).")
    else:
        err.print(f"Upgraded the schema from {before or 'empty'} to revision {after}.")


@db_app.command("revision")
def revision(data_dir: DataDir = None, database_url: DatabaseUrl = None) -> None:
    """Print the schema revision of the store and the one this version needs.

    ```
    sightlog db revision --data-dir /var/lib/sightlog
    ```
    """
    with _store(data_dir, database_url) as store:
        current, head = store.revisions()
    typer.echo(f"current: {current or 'none'}\nneeded:  {head}")
