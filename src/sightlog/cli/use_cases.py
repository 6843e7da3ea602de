"""``sightlog use-cases``: list, create, rename, archive and inspect use cases on a server."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from sightlog.cli.console import err, out, print_json, short_time
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.sdk.client import UseCaseStatus

use_cases_app = typer.Typer(
    help="List, create, rename and archive use cases on a Sightlog server.",
    no_args_is_help=True,
)

UseCaseId = Annotated[str, typer.Argument(help="Id of the use case (a slug such as `assembly-line-qa`).")]
Json = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@use_cases_app.command("list")
def list_use_cases(
    status: Annotated[
        UseCaseStatus, typer.Option(help="Which use cases: `inactive` are the archived ones.")
    ] = "active",
    as_json: Json = False,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """List use cases with their event counts, last event and the event types seen.

    ```
    sightlog use-cases list --status all
    ```
    """
    with connected(server, api_key) as client:
        use_cases = client.use_cases.list(status)
    if as_json:
        print_json([use_case.to_wire() for use_case in use_cases])
        return
    table = Table("id", "name", "status", "events", "last event (UTC)", "types")
    for uc in use_cases:
        table.add_row(
            escape(uc.id),
            escape(uc.name),
            uc.status,
            str(uc.event_count),
            short_time(uc.last_event_at),
            escape(", ".join(uc.event_types)),
        )
    out.print(table)


@use_cases_app.command("create")
def create(
    name: Annotated[str, typer.Argument(help="Name of the use case; its id is derived from it.")],
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Create a use case and print its id (only the id, on stdout, so scripts can capture it).

    ```
    sightlog use-cases create "Assembly Line QA"
    ```
    """
    with connected(server, api_key) as client:
        created = client.use_cases.create(name)
    typer.echo(created.id)


@use_cases_app.command("rename")
def rename(
    use_case: UseCaseId,
    name: Annotated[str, typer.Argument(help="The new name; the id stays the same.")],
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Give a use case a new name (its id never changes).

    ```
    sightlog use-cases rename assembly-line-qa "Assembly Line QA (north)"
    ```
    """
    with connected(server, api_key) as client:
        renamed = client.use_cases.rename(use_case, name)
    err.print(f"Renamed [bold]{escape(renamed.id)}[/bold] to {escape(renamed.name)!r}.")


@use_cases_app.command("archive")
def archive(use_case: UseCaseId, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Archive a use case: hidden from default listings, its events stay queryable.

    ```
    sightlog use-cases archive old-line
    ```
    """
    with connected(server, api_key) as client:
        client.use_cases.archive(use_case)
    err.print(f"Archived [bold]{escape(use_case)}[/bold].")


@use_cases_app.command("unarchive")
def unarchive(use_case: UseCaseId, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Make an archived use case active again.

    ```
    sightlog use-cases unarchive old-line
    ```
    """
    with connected(server, api_key) as client:
        client.use_cases.unarchive(use_case)
    err.print(f"Unarchived [bold]{escape(use_case)}[/bold].")


@use_cases_app.command("schema")
def schema(
    use_case: UseCaseId, as_json: Json = False, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None
) -> None:
    """Show the custom-metadata fields seen in a use case's events, with the value types seen.

    ```
    sightlog use-cases schema assembly-line-qa
    ```
    """
    with connected(server, api_key) as client:
        inferred = client.use_cases.schema(use_case)
    if as_json:
        print_json(inferred.to_wire())
        return
    table = Table("field", "types")
    for field, types in sorted(inferred.fields.items()):
        table.add_row(escape(field), ", ".join(types.types))
    out.print(table)
