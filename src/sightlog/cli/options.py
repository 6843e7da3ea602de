"""Options shared by commands that open a local store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from sightlog.config import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Data directory [env: SIGHTLOG_DATA_DIR; default ./sightlog-data]."),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Store URL [env: SIGHTLOG_DATABASE_URL; default SQLite in the data dir]."
    ),
]


def settings_from(data_dir: Path | None, database_url: str | None = None, **overrides: object) -> Settings:
    """Settings from the environment, with the flags that were given taking precedence."""
    values = {k: v for k, v in overrides.items() if v is not None}
    if data_dir is not None:
        values["data_dir"] = data_dir
    if database_url is not None:
        values["database_url"] = database_url
    return Settings(**values)  # type: ignore[arg-type]
