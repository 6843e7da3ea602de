"""The filter flags of ``events query`` and ``events count``, defined once.

:func:`filter_flags` declares every flag as a parameter and turns their values into the SDK's
``QueryFilters``; :func:`with_filters` grafts those parameters onto a command's signature (which Typer
reads), so that each command that filters receives the parsed result as its ``filters`` argument.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable
from typing import Annotated, Any, cast, get_args

import click
import typer

from sightlog.cli import grammar
from sightlog.sdk.models import EventType, QueryFilters

PANEL = "Filters (they combine with AND)"
SOURCE_HELP = "`VALUE` (equal) or `OP:VALUE`, OP one of eq, neq, in, nin, contains: `in:cam-1,cam-2`."
EXPRESSION_HELP = (
    "An expression; repeatable: `name==7` (or `=`), `name!=b`, `name>85`, `>=`, `<`, `<=`, "
    "`name~ann` (contains), `name:in=a,b`, `name:nin=a,b`, `name?` (exists), `!name` (absent). "
    "Numbers are numbers and true/false booleans; quote a value to make it a string: `part='\"007\"'`."
)


def _option(*names: str, help: str, metavar: str | None = None, **kwargs: Any) -> Any:
    return typer.Option(*names, help=help, metavar=metavar, rich_help_panel=PANEL, **kwargs)


def filter_flags(
    event_type: Annotated[
        list[str] | None,
        _option(
            "--type",
            click_type=click.Choice(get_args(EventType)),
            help="Event type; repeatable (any of them matches).",
        ),
    ] = None,
    start: Annotated[
        str | None,
        _option(
            "--start",
            metavar="TIME",
            help="Events at or after TIME: ISO 8601 (UTC unless it has an offset) or a time ago: "
            "`30m`, `24h`, `7d`, `2w`.",
        ),
    ] = None,
    end: Annotated[
        str | None, _option("--end", metavar="TIME", help="Events before TIME (same forms as --start).")
    ] = None,
    device: Annotated[
        str | None, _option("--device", metavar="[OP:]VALUE", help=f"Device id: {SOURCE_HELP}")
    ] = None,
    stream: Annotated[
        str | None, _option("--stream", metavar="[OP:]VALUE", help="Stream id, like --device.")
    ] = None,
    workflow: Annotated[
        str | None, _option("--workflow", metavar="[OP:]VALUE", help="Workflow id, like --device.")
    ] = None,
    external_id: Annotated[
        str | None,
        _option("--external-id", metavar="[OP:]VALUE", help="`eventData.externalId`, like --device."),
    ] = None,
    meta: Annotated[
        list[str] | None,
        _option("--meta", metavar="EXPR", help=f"Custom-metadata filter. {EXPRESSION_HELP}"),
    ] = None,
    field: Annotated[
        list[str] | None,
        _option(
            "--field",
            metavar="EXPR",
            help="`eventData` filter (e.g. `result==fail`, `itemCount<5`), same expressions as --meta.",
        ),
    ] = None,
    detection: Annotated[
        list[str] | None,
        _option(
            "--class",
            metavar="CLASS[:MIN[:MAX]][COUNT]",
            help="Events with predictions of CLASS (any kind), confidence in [MIN, MAX]; COUNT is "
            "`>=N`, `>N`, `<=N`, `<N`, `=N` or `=N..M` (default: at least one); `!CLASS` means none. "
            "Repeatable: `--class crack:0.9 --class 'person>=2'`.",
        ),
    ] = None,
    feedback: Annotated[
        list[str] | None,
        _option(
            "--feedback",
            click_type=click.Choice(["correct", "incorrect", "inconclusive", "none"]),
            help="Latest human review; repeatable (any of them matches). `none`: not reviewed.",
        ),
    ] = None,
    warnings: Annotated[
        bool | None,
        _option("--warnings/--no-warnings", help="Only events the server stored with (or without) warnings."),
    ] = None,
) -> QueryFilters:
    filters: dict[str, Any] = {}
    if event_type:
        filters["event_types"] = event_type
    for key, flag, value in (("start_time", "--start", start), ("end_time", "--end", end)):
        if value is not None:
            filters[key] = _parsed(grammar.instant, value, flag)
    sources = (
        ("device_id", "--device", device),
        ("stream_id", "--stream", stream),
        ("workflow_id", "--workflow", workflow),
        ("external_id", "--external-id", external_id),
    )
    for key, flag, value in sources:
        if value is not None:
            filters[key] = _parsed(grammar.source_filter, value, flag)
    expressions = (
        ("custom_metadata_filters", "--meta", grammar.value_filter, meta),
        ("event_field_filters", "--field", grammar.value_filter, field),
        ("detection_filters", "--class", grammar.detection_filter, detection),
    )
    for key, flag, parse, values in expressions:
        if values:
            filters[key] = [_parsed(parse, value, flag) for value in values]
    if feedback:
        filters["feedback"] = feedback
    if warnings is not None:
        filters["has_warnings"] = warnings
    return cast(QueryFilters, filters)


def _parsed(parse: Callable[[str], Any], value: str, flag: str) -> Any:
    try:
        return parse(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=f"'{flag}'") from None


def with_filters(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` every filter flag; it receives their parsed form as its ``filters`` argument."""
    own = inspect.signature(command, eval_str=True)
    flags = inspect.signature(filter_flags, eval_str=True).parameters
    kept: Iterable[inspect.Parameter] = (p for name, p in own.parameters.items() if name != "filters")

    @functools.wraps(command)
    def run(**kwargs: Any) -> None:
        given = {name: kwargs.pop(name) for name in flags}
        command(filters=filter_flags(**given), **kwargs)

    signature = own.replace(parameters=[*kept, *flags.values()])
    run.__signature__ = signature  # type: ignore[attr-defined]
    run.__annotations__ = {p.name: p.annotation for p in signature.parameters.values()}
    return run
