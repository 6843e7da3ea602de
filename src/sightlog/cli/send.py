"""``sightlog events send FILE``: import events from JSON or NDJSON, uploading the image files they name.

Events go out in batches, which the API takes all or nothing; when the server rejects a batch for some of
its events, those are set aside as failed and the rest of the batch is sent again, so one bad event never
holds back a hundred good ones. Every failure is reported at the end with its place in the file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer
from rich.markup import escape

from sightlog.cli.console import err, fail, one_line, progress_bar
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.sdk import (
    BadRequest,
    Client,
    NewEvent,
    PayloadTooLarge,
    SightlogError,
    UnsupportedMediaType,
    ValidationError,
)

MAX_BATCH = 100  # the API's default batch limit
_EVENT_INDEX = re.compile(r"events\[(\d+)\]")
# Image-entry keys that name a file to upload, and the key its sourceId goes to.
_FILE_KEYS = {"file": "sourceId", "inputFile": "inputSourceId"}
_SCALAR_BRANCHES = frozenset({"str", "bool", "int", "float"})


@dataclass
class Item:
    """One event of the input, from its place in the file to its fate."""

    where: str
    raw: Any
    event: NewEvent | None = None
    error: str | None = None

    @property
    def label(self) -> str:
        event_id = self.event.event_id if self.event else None
        if event_id is None and isinstance(self.raw, dict):
            event_id = self.raw.get("eventId")
        return f"{self.where} ({event_id})" if event_id else self.where


@dataclass
class Images:
    """Uploads the files image entries name, each once, however many events share it."""

    client: Client
    folder: Path
    done: dict[Path, str | ValueError] = field(default_factory=dict)

    def source_id(self, name: str) -> str:
        path = (self.folder / name).resolve()
        if path not in self.done:
            self.done[path] = self._upload(path, name)
        outcome = self.done[path]
        if isinstance(outcome, ValueError):
            raise outcome
        return outcome

    def _upload(self, path: Path, name: str) -> str | ValueError:
        if not path.is_file():
            return ValueError(f"image file {name!r} not found in {self.folder}")
        try:
            return self.client.images.upload(path, name=path.name).source_id
        except (BadRequest, PayloadTooLarge, UnsupportedMediaType) as exc:
            return ValueError(f"image file {name!r}: {one_line(exc)}")


# Arguments shared by the commands that read events from a file (`events send`, `bundle write`).
EventsFile = Annotated[
    typer.FileText,
    typer.Argument(help='JSON (an event, a list, or `{"events": [...]}`) or NDJSON; `-` reads stdin.'),
]
DefaultUseCase = Annotated[
    str | None, typer.Option("--use-case", help="Use case of the events that name none.")
]
ImagesDir = Annotated[
    Path | None,
    typer.Option(
        "--images",
        metavar="DIR",
        file_okay=False,
        exists=True,
        help="Where the `file` / `inputFile` paths of image entries are [default: the folder of FILE].",
    ),
]


def send(
    file: EventsFile,
    use_case: DefaultUseCase = None,
    images: ImagesDir = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Events per request.")] = MAX_BATCH,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Send the events of a file, in batches, with a progress bar and a summary.

    Image entries may name local files instead of uploads: `{"file": "frames/0001.jpg"}` (and
    `inputFile` for the input image) are uploaded first and replaced by `sourceId` (`inputSourceId`).
    Events without an `eventId` get a generated one; give them ids to make re-sending the file safe (a
    re-sent event overwrites itself). When any event fails, the command lists which and why, and exits 1.

    ```
    sightlog events send events.ndjson --use-case assembly-line-qa --images ./frames
    cat events.json | sightlog events send - --use-case assembly-line-qa
    ```
    """
    with file:
        text = file.read()
    items = _items(text, file.name)
    folder = images or (Path.cwd() if file.name == "<stdin>" else Path(file.name).parent)
    sent = 0
    with connected(server, api_key) as client:
        try:
            with progress_bar() as progress:
                task = progress.add_task("Sending", total=len(items))
                uploads = Images(client, folder)
                for start in range(0, len(items), batch_size):
                    chunk = items[start : start + batch_size]
                    for item in chunk:
                        _prepare(item, use_case, uploads)
                    sent += _send(client, [item for item in chunk if item.event is not None])
                    progress.advance(task, len(chunk))
        except SightlogError:
            if sent:
                err.print(f"{sent} events were stored before this error; re-sent, they overwrite themselves.")
            raise
    failed = [item for item in items if item.error is not None]
    err.print(f"Sent {sent} event{'s' * (sent != 1)}" + (f"; {len(failed)} failed:" if failed else "."))
    for item in failed:
        err.print(f"  {escape(item.label)}: {escape(item.error or '')}")
    if failed:
        raise typer.Exit(1)


def _items(text: str, name: str) -> list[Item]:
    """The events of a JSON document (an event, a list, or ``{"events": [...]}``) or of NDJSON lines."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        return _ndjson_items(text, name, exc)
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        document = document["events"]
    if isinstance(document, list):
        return [Item(f"#{n}", raw) for n, raw in enumerate(document, start=1)]
    return [Item("#1", document)]


def _ndjson_items(text: str, name: str, whole: json.JSONDecodeError) -> list[Item]:
    items: list[Item] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            items.append(Item(f"line {number}", json.loads(line)))
        except json.JSONDecodeError as exc:
            if not items:  # not even the first line parses: the file is neither JSON nor NDJSON
                raise fail(f"{name} is not JSON ({whole}) nor NDJSON (line {number}: {exc}).") from None
            items.append(Item(f"line {number}", None, error=f"not valid JSON: {exc}"))
    return items


def _prepare(item: Item, use_case: str | None, uploads: Images) -> None:
    """Validate an event and upload the files it names; on failure, record why."""
    if item.error is not None:
        return
    if not isinstance(item.raw, dict):
        item.error = "not a JSON object"
        return
    raw = dict(item.raw)
    if use_case is not None:
        raw.setdefault("useCaseId", use_case)
    try:
        if not raw.get("useCaseId"):
            raise ValueError("no useCaseId (give --use-case for events that name none)")
        if isinstance(raw.get("images"), list):
            raw["images"] = [_with_uploads(entry, uploads) for entry in raw["images"]]
        item.event = NewEvent.model_validate(raw)
    except pydantic.ValidationError as exc:
        item.error = _problems(exc)
    except ValueError as exc:
        item.error = str(exc)


def _problems(exc: pydantic.ValidationError) -> str:
    """Pydantic's complaints, with the per-branch errors of a scalar field (``customMetadata.x.str``,
    ``.bool``, ``.int``, ``.float``) folded into one: "customMetadata.x: must be a string, number or
    boolean"."""
    problems: dict[str, str] = {}
    for error in exc.errors():
        *path, last = error["loc"]
        if last in _SCALAR_BRANCHES:
            problems[".".join(map(str, path))] = "must be a string, number or boolean"
        else:
            problems[".".join(map(str, error["loc"]))] = error["msg"]
    return "; ".join(f"{where}: {message}" for where, message in problems.items())


def _with_uploads(entry: Any, uploads: Images) -> Any:
    if not isinstance(entry, dict):
        return entry
    resolved = dict(entry)
    for file_key, id_key in _FILE_KEYS.items():
        if file_key in resolved:
            resolved[id_key] = uploads.source_id(str(resolved.pop(file_key)))
    return resolved


def _send(client: Client, items: list[Item]) -> int:
    """Send one batch; returns how many were stored. Events the server names as invalid are marked failed
    and the others re-sent; errors that are not about this batch (auth, an unreachable server) propagate."""
    while items:
        try:
            client.events.batch(item.event for item in items if item.event is not None)
            return len(items)
        except ValidationError as exc:
            blamed = _blame(exc, items)
            if not blamed:
                _fail_all(items, one_line(exc))
                return 0
            items = [item for item in items if item.error is None]
        except (BadRequest, PayloadTooLarge) as exc:
            _fail_all(items, one_line(exc))
            return 0
    return 0


def _blame(exc: ValidationError, items: list[Item]) -> bool:
    """Mark the events the error's details point at (``events[3].timestamp``); False if it names none."""
    reasons: dict[int, list[str]] = {}
    for detail in exc.details:
        match = _EVENT_INDEX.match(detail.loc)
        if match is None or int(match.group(1)) >= len(items):
            return False
        where = detail.loc[match.end() :].lstrip(".")
        reasons.setdefault(int(match.group(1)), []).append(
            f"{where}: {detail.message}" if where else detail.message
        )
    for index, messages in reasons.items():
        items[index].error = "; ".join(messages)
    return bool(reasons)


def _fail_all(items: list[Item], reason: str) -> None:
    for item in items:
        item.error = reason
