"""``sightlog``: run the server and administer a local store."""

from __future__ import annotations

import typer

from sightlog.cli import admin, db, serve

app = typer.Typer(
    help="Sightlog: the flight recorder of production computer vision.",
    no_args_is_help=True,
    add_completion=False,
)
app.command("serve")(serve.serve)
app.add_typer(admin.workspaces_app, name="workspaces")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(db.db_app, name="db")
