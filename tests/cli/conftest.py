"""Fixtures of the CLI suite: one real ``sightlog serve`` process per module, and ways to run the CLI
against it: in-process with Typer's ``CliRunner`` (fast), or as a real ``python -m sightlog`` process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pytest
import typer.main
from click.testing import CliRunner, Result

from sightlog.cli.main import app
from tests.support.sdk_fixtures import client, server, use_case
from tests.support.server import ServerProcess

__all__ = ["client", "server", "use_case"]

Run = Callable[..., Result]
# Built once: Typer would rebuild the whole command tree from the signatures on every invocation.
COMMAND = typer.main.get_command(app)


@pytest.fixture
def cli(server: ServerProcess) -> Run:
    """``cli("events", "count", use_case)``: run the CLI in-process against the module's server (through
    SIGHTLOG_SERVER / SIGHTLOG_API_KEY unless ``env`` says otherwise); ``input`` feeds stdin."""
    runner = CliRunner()

    def run(*args: str, env: dict[str, str | None] | None = None, input: str | None = None) -> Result:
        base: dict[str, str | None] = {"SIGHTLOG_SERVER": server.url, "SIGHTLOG_API_KEY": server.api_key}
        return runner.invoke(
            COMMAND,
            list(args),
            env=base | (env or {}),
            input=input,
            catch_exceptions=False,
            prog_name="sightlog",
        )

    return run


@dataclass
class Finished:
    returncode: int
    stdout: str
    stderr: str


def run_process(args: Sequence[str], env: dict[str, str], timeout: float = 60.0) -> Finished:
    """``python -m sightlog ARGS`` as a user runs it, with no SIGHTLOG_* setting but those given."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLOG_") and k != "COLUMNS"}
    done = subprocess.run(
        [sys.executable, "-m", "sightlog", *args],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    return Finished(done.returncode, done.stdout, done.stderr)


def one_error_line(returncode: int, stdout: str, stderr: str) -> str:
    """Assert a failure the way a script wants it: exit 1, nothing on stdout, one ``error:`` line on
    stderr and no traceback; return that line."""
    assert returncode == 1, (returncode, stdout, stderr)
    assert stdout == "", stdout
    assert "Traceback" not in stderr and not re.search(r'File ".*", line \d+', stderr), stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    return lines[0]
