"""``sightlog events``: query, count, read and delete events on a server (``send`` lives in send.py)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from typing import Annotated, Literal

import typer
from rich.markup import escape
from rich.table import Table

from sightlog.cli.console import err, out, print_json, short_time
from sightlog.cli.filters import with_filters
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.sdk import Client, Event, EventPage
from sightlog.sdk.models import QueryFilters

events_app = typer.Typer(
    help="Query, count, send, read and delete events on a Sightlog server.",
    no_args_is_help=True,
)

UseCaseId = Annotated[str, typer.Argument(help="Id of the use case whose events to read.")]
EventId = Annotated[str, typer.Argument(help="The event's `eventId`.")]
Sort = Literal["desc", "asc"]
MAX_PAGE = 1000  # the API's largest `limit`
DATA_CELL_CHARS = 60


@events_app.command("query")
@with_filters
def query(
    use_case: UseCaseId,
    filters: QueryFilters,
    sort: Annotated[Sort, typer.Option(help="By timestamp: newest first or oldest first.")] = "desc",
    limit: Annotated[int, typer.Option(min=1, help="How many events to show at most.")] = 50,
    every: Annotated[bool, typer.Option("--all", help="Every matching event, page after page.")] = False,
    page_size: Annotated[
        int, typer.Option(min=1, max=MAX_PAGE, help="Events per request while paging.")
    ] = MAX_PAGE,
    cursor: Annotated[
        str | None, typer.Option(help="Continue where a previous query stopped (it prints the cursor).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON array of the events.")] = False,
    ndjson: Annotated[
        bool, typer.Option("--ndjson", help="One JSON event per line, printed as the pages arrive.")
    ] = False,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Show the events of a use case that match the filters, newest first (a table unless told otherwise).

    Without `--all`, at most `--limit` events are shown, and a cursor to continue with is printed on
    stderr when more match.

    ```
    sightlog events query assembly-line-qa --type quality_check --field result==fail --start 24h
    sightlog events query assembly-line-qa --meta 'line_id==7' --meta 'shift!=night' --meta 'inspected?'
    sightlog events query site-safety --class 'person:0.8>=2' --device in:cam-1,cam-2 --all --ndjson
    ```
    """
    if as_json and ndjson:
        raise typer.BadParameter("choose one of --json and --ndjson", param_hint="'--json' / '--ndjson'")
    shown: list[Event] = []
    last: EventPage | None = None
    with connected(server, api_key) as client:
        for last in _pages(client, use_case, filters, sort, None if every else limit, page_size, cursor):
            if ndjson:
                for event in last.events:
                    typer.echo(json.dumps(event.to_wire(), ensure_ascii=False))
            else:
                shown += last.events
    if as_json:
        print_json([event.to_wire() for event in shown])
    elif not ndjson:
        out.print(_table(shown))
    if last is not None and last.has_more and last.next_cursor and not every:
        err.print(f"More events match: add --all, or --cursor {escape(last.next_cursor)} for the next page.")


def _pages(
    client: Client,
    use_case: str,
    filters: QueryFilters,
    sort: Sort,
    wanted: int | None,
    page_size: int,
    cursor: str | None,
) -> Iterator[EventPage]:
    """Pages of the result, following the cursor until ``wanted`` events were read (all when ``None``)."""
    while True:
        size = page_size if wanted is None else min(page_size, wanted)
        page = client.events.query(use_case, sort=sort, limit=size, cursor=cursor, **filters)
        yield page
        if wanted is not None:
            wanted -= len(page.events)
        if not page.has_more or page.next_cursor is None or wanted == 0:
            return
        cursor = page.next_cursor


def _table(events: list[Event]) -> Table:
    table = Table("time (UTC)", "event id", "type", "device", "data", "predictions", "feedback", "warnings")
    for event in events:
        data = " ".join(f"{k}={v}" for k, v in (event.event_data or {}).items())
        if len(data) > DATA_CELL_CHARS:
            data = data[: DATA_CELL_CHARS - 1] + "…"
        table.add_row(
            short_time(event.timestamp),
            escape(event.event_id),
            event.event_type,
            escape(event.device_id or ""),
            escape(data),
            escape(_predictions(event)),
            event.feedback.status or "",
            str(len(event.warnings)) if event.warnings else "",
        )
    return table


def _predictions(event: Event) -> str:
    """Predictions per class over every image and kind, most frequent first: ``crack 2, person 1``."""
    classes: Counter[str] = Counter()
    for image in event.images:
        kinds = (
            image.object_detections,
            image.classifications,
            image.instance_segmentations,
            image.keypoints,
        )
        for predictions in kinds:
            classes.update(prediction.class_name for prediction in predictions or ())
    return ", ".join(f"{name} {count}" for name, count in classes.most_common())


@events_app.command("count")
@with_filters
def count(
    use_case: UseCaseId, filters: QueryFilters, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None
) -> None:
    """Print how many events of a use case match the filters (the same filters as `events query`).

    ```
    sightlog events count assembly-line-qa --field result==fail --start 7d
    ```
    """
    with connected(server, api_key) as client:
        typer.echo(client.events.count(use_case, **filters))


@events_app.command("get")
def get(event_id: EventId, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Print one event as JSON, with its image URLs, warnings and feedback.

    ```
    sightlog events get qa-2026-11-20-0001
    ```
    """
    with connected(server, api_key) as client:
        print_json(client.events.get(event_id).to_wire())


@events_app.command("delete")
def delete(event_id: EventId, server: ServerUrl = DEFAULT_SERVER, api_key: ApiKey = None) -> None:
    """Delete one event (and its feedback link).

    ```
    sightlog events delete qa-2026-11-20-0001
    ```
    """
    with connected(server, api_key) as client:
        client.events.delete(event_id)
    err.print(f"Deleted event [bold]{escape(event_id)}[/bold].")
