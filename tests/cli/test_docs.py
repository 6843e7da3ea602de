"""docs/cli.md is generated from the CLI's help and must match it; every command has help with an example."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
import typer.main
from click.testing import CliRunner

from sightlog.cli import docs
from sightlog.cli.main import app

DOC = Path(__file__).resolve().parents[2] / "docs" / "cli.md"
ROOT = typer.main.get_command(app)


def _commands(
    command: click.Command = ROOT, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        for name, child in command.commands.items():
            yield from _commands(child, (*path, name))
    else:
        yield path, command


def test_the_reference_is_up_to_date() -> None:
    assert DOC.read_text(encoding="utf-8") == docs.render(), (
        f"docs/cli.md differs from the CLI's help; regenerate it with `{docs.REGENERATE}`"
    )


@pytest.mark.parametrize(
    ("path", "command"),
    list(_commands()),
    ids=lambda value: " ".join(value) if isinstance(value, tuple) else "",
)
def test_every_command_has_help_with_an_example(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(ROOT, [*path, "--help"], prog_name="sightlog", env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"sightlog {' '.join(path)}" in result.stdout
    assert command.help and "```\nsightlog " in command.help, f"`sightlog {' '.join(path)}` has no example"
    arguments = [p for p in command.params if isinstance(p, click.Argument)]
    assert all(getattr(p, "help", None) for p in arguments), "an argument has no help"
