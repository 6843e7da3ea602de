"""``sightlog bundle write`` and ``sightlog bundle upload``: events carried to a server on foot.

An air-gapped site writes one bundle file per event (SPEC §3.8: ``payload.json`` and the image files,
in a tar.gz); someone carries the folder to a connected machine, which uploads it. Both ends survive
interruption: a bundle file appears whole or not at all (temp file, fsync, rename, directory fsync), and
an uploaded one is moved to ``delivered/`` only after the server stored it, so re-running either command
is always safe (a re-sent bundle overwrites its own event).
"""

from __future__ import annotations

import hashlib
import os
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from sightlog.cli.console import err, one_line, progress_bar
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.cli.send import DefaultUseCase, EventsFile, ImagesDir, Item, _items
from sightlog.sdk import BadRequest, PayloadTooLarge, SightlogError, UnsupportedMediaType
from sightlog.services.bundles import FILE_KEYS, write_bundle
from sightlog.services.timeutil import now_us
from sightlog.services.validation import validate_event
from sightlog.store.blobs import fsync_dir

bundle_app = typer.Typer(
    help="Bundles for air-gapped sites: one event and its images per file.", no_args_is_help=True
)

SUFFIXES = (".tar.gz", ".tgz", ".tar")
DELIVERED = "delivered"
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
# What the server says about one bundle (the others still go); any other error stops the upload.
_REFUSED = (BadRequest, PayloadTooLarge, UnsupportedMediaType)


def write_atomically(path: Path, data: bytes) -> None:
    """``path`` holds ``data`` or is untouched, whatever happens: temp file in the same folder, fsync,
    rename over ``path``, fsync the folder (so the rename itself is durable)."""
    temp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        with open(temp, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def bundle_name(event_id: str) -> str:
    """A file name for an event's bundle; ids that are not plain names get a hash to stay distinct."""
    safe = _UNSAFE.sub("_", event_id)[:100]
    if safe != event_id:
        safe += "-" + hashlib.sha256(event_id.encode()).hexdigest()[:12]
    return f"{safe}.tar.gz"


@dataclass
class Packed:
    """One event ready to be written: its payload (image entries naming members) and the members."""

    event: dict[str, Any]
    files: dict[str, bytes]


@bundle_app.command("write")
def write(
    file: EventsFile,
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="DIR", file_okay=False, help="Folder for the bundle files.")
    ] = Path("bundles"),
    use_case: DefaultUseCase = None,
    images: ImagesDir = None,
) -> None:
    """Write one bundle per event, `DIR/<eventId>.tar.gz`, with the image files its entries name.

    Image entries name files as for `sightlog events send`: `{"file": "frames/0001.jpg"}` (and
    `inputFile` for the input image). Each event is checked as the server would check it (all but the
    use case, which only the server knows), so a bad one fails here, not after the trip. Events without
    an `eventId` get a generated one. Bundle files appear whole or not at all; re-running overwrites them.

    ```
    sightlog bundle write events.ndjson --use-case assembly-line-qa --images ./frames --out /media/usb/bundles
    ```
    """
    with file:
        text = file.read()
    items = _items(text, file.name)
    folder = images or (Path.cwd() if file.name == "<stdin>" else Path(file.name).parent)
    out.mkdir(parents=True, exist_ok=True)
    written = 0
    for item in items:
        packed = _pack(item, use_case, folder)
        if packed is not None:
            write_atomically(
                out / bundle_name(packed.event["eventId"]), write_bundle(packed.event, packed.files)
            )
            written += 1
    _summary(f"Wrote {written} bundle{'s' * (written != 1)} to {out}", items)


def _pack(item: Item, use_case: str | None, folder: Path) -> Packed | None:
    """The event of an input item with its image files read; on a problem, record it and return None."""
    if item.error is None and not isinstance(item.raw, dict):
        item.error = "not a JSON object"
    if item.error is not None:
        return None
    event: dict[str, Any] = {"eventId": str(uuid.uuid4())} | item.raw
    if use_case is not None:
        event.setdefault("useCaseId", use_case)
    files: dict[str, bytes] = {}
    checked = dict(event)  # as the server will see it: member paths where the sourceIds will be
    if isinstance(event.get("images"), list):
        event["images"] = [dict(e) if isinstance(e, dict) else e for e in event["images"]]
        checked["images"] = [dict(e) if isinstance(e, dict) else e for e in event["images"]]
        for entry, seen in zip(event["images"], checked["images"], strict=True):
            for file_key, id_key in FILE_KEYS.items():
                if not isinstance(entry, dict) or file_key not in entry:
                    continue
                path = folder / str(entry[file_key])
                if not path.is_file():
                    item.error = f"image file {entry[file_key]!r} not found in {folder}"
                    return None
                data = path.read_bytes()
                member = f"images/{hashlib.sha256(data).hexdigest()[:32]}{path.suffix.lower()}"
                files[member] = data
                entry[file_key] = member
                del seen[file_key]
                seen[id_key] = member
    problems = validate_event(checked, "", now_us())
    if isinstance(problems, list):
        item.error = "; ".join(f"{p.loc}: {p.message}" for p in problems)
        return None
    return Packed(event, files)


@bundle_app.command("upload")
def upload(
    folder: Annotated[
        Path,
        typer.Argument(
            metavar="DIR", exists=True, file_okay=False, help="Folder of bundles (*.tar.gz, *.tgz, *.tar)."
        ),
    ],
    use_case: Annotated[
        str | None, typer.Option("--use-case", help="Store every event in this use case, whatever it names.")
    ] = None,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Upload the bundles of a folder, moving each one the server stored to `DIR/delivered/`.

    Safe to re-run, after an interruption or to retry: what is still in the folder is what is left to do,
    and a bundle sent twice overwrites its own event. Bundles the server refuses stay in the folder and
    are listed at the end with the reason; the exit status is then 1.

    ```
    sightlog bundle upload /media/usb/bundles --server http://sightlog.example.com:8400
    ```
    """
    bundles = sorted(
        p for p in folder.iterdir() if p.is_file() and p.name.endswith(SUFFIXES) and p.name[0] != "."
    )
    delivered = folder / DELIVERED
    items = [Item(path.name, None) for path in bundles]
    sent = 0
    with connected(server, api_key) as client:
        try:
            with progress_bar() as progress:
                task = progress.add_task("Uploading", total=len(bundles))
                for path, item in zip(bundles, items, strict=True):
                    try:
                        client.events.bundle(path, use_case=use_case)
                    except _REFUSED as exc:
                        item.error = one_line(exc)
                    else:
                        delivered.mkdir(exist_ok=True)
                        os.replace(path, delivered / path.name)
                        fsync_dir(delivered)
                        fsync_dir(folder)
                        sent += 1
                    progress.advance(task)
        except SightlogError:
            err.print(f"{sent} bundles were delivered before this error; run the command again to go on.")
            raise
    _summary(f"Uploaded {sent} bundle{'s' * (sent != 1)}", items)


def _summary(done: str, items: list[Item]) -> None:
    """The closing lines on stderr: what was done, then each failure; exit 1 if there was any."""
    failed = [item for item in items if item.error is not None]
    err.print(done + (f"; {len(failed)} failed:" if failed else "."))
    for item in failed:
        err.print(f"  {escape(item.label)}: {escape(item.error or '')}")
    if failed:
        raise typer.Exit(1)
