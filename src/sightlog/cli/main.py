"""``sightlog``: run the server, administer a local store, and talk to a server through the SDK."""

from __future__ import annotations

import typer

from sightlog.cli import admin, agent, bundle, compat, db, demo, events, images, send, serve, use_cases

compat.keep_argument_help()

app = typer.Typer(
    help="Sightlog: the flight recorder of production computer vision.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
)
app.command("serve")(serve.serve)
app.command("agent")(agent.agent)
app.add_typer(use_cases.use_cases_app, name="use-cases")
events.events_app.command("send")(send.send)
app.add_typer(events.events_app, name="events")
app.add_typer(images.images_app, name="images")
app.add_typer(bundle.bundle_app, name="bundle")
app.command("demo")(demo.demo)
app.add_typer(admin.workspaces_app, name="workspaces")
app.add_typer(admin.keys_app, name="keys")
app.add_typer(db.db_app, name="db")
