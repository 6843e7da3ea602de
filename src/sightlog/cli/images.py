"""``sightlog images upload``: upload image files and print the ``sourceId`` events refer to them by."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from sightlog.cli.console import err, one_line, print_json
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.sdk import BadRequest, PayloadTooLarge, UnsupportedMediaType

images_app = typer.Typer(help="Upload images to a Sightlog server.", no_args_is_help=True)


@images_app.command("upload")
def upload(
    paths: Annotated[
        list[Path], typer.Argument(exists=True, dir_okay=False, help="Image files (JPEG, PNG, WebP, ...).")
    ],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print a JSON array of `{path, sourceId, url}`.")
    ] = False,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Upload image files; print each one's `sourceId` and path, tab-separated, one per line.

    A file the server refuses (not an image, too large) is reported and the others are still uploaded;
    the exit status is then 1.

    ```
    sightlog images upload frames/*.jpg
    ```
    """
    uploaded: list[dict[str, str]] = []
    refused = 0
    with connected(server, api_key) as client:
        for path in paths:
            try:
                result = client.images.upload(path, name=path.name)
            except (BadRequest, PayloadTooLarge, UnsupportedMediaType) as exc:
                err.print(f"[red]error:[/red] {escape(str(path))}: {escape(one_line(exc))}")
                refused += 1
                continue
            uploaded.append({"path": str(path), "sourceId": result.source_id, "url": result.url})
            if not as_json:
                typer.echo(f"{result.source_id}\t{path}")
    if as_json:
        print_json(uploaded)
    if refused:
        raise typer.Exit(1)
