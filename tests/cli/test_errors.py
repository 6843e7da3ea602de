"""Failures read as one line on stderr with exit status 1, never a traceback, in-process and as a real
``python -m sightlog`` process; and the connection settings come from flags or the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from sightlog import Client
from tests.cli.conftest import Run, one_error_line, run_process
from tests.support.server import ServerProcess, free_port

COMMANDS = [
    ["use-cases", "list"],
    ["use-cases", "create", "Nope"],
    ["events", "query", "some-use-case"],
    ["events", "count", "some-use-case", "--meta", "a==1"],
    ["events", "get", "some-event"],
    ["demo", "--events", "3"],
]


@pytest.mark.parametrize("args", COMMANDS, ids=" ".join)
def test_a_bad_key_is_one_line(cli: Run, args: list[str]) -> None:
    result = cli(*args, "--api-key", "sl_not_a_key_at_all")
    line = one_error_line(result.exit_code, result.stdout, result.stderr)
    assert "API key" in line


def test_a_bad_key_while_sending(cli: Run, tmp_path: Path) -> None:
    source = tmp_path / "events.json"
    source.write_text('{"eventId": "x", "eventType": "custom", "useCaseId": "u"}')
    result = cli("events", "send", str(source), env={"SIGHTLOG_API_KEY": "sl_not_a_key_at_all"})
    one_error_line(result.exit_code, result.stdout, result.stderr)


def test_a_missing_key_is_named(cli: Run) -> None:
    result = cli("use-cases", "list", env={"SIGHTLOG_API_KEY": None})
    line = one_error_line(result.exit_code, result.stdout, result.stderr)
    assert line == "error: no API key: pass --api-key or set SIGHTLOG_API_KEY."


def test_flags_win_over_the_environment(cli: Run, server: ServerProcess) -> None:
    env = {"SIGHTLOG_SERVER": f"http://127.0.0.1:{free_port()}", "SIGHTLOG_API_KEY": "sl_wrong_key_xyz"}
    result = cli("use-cases", "list", "--json", "--server", server.url, "--api-key", server.api_key, env=env)
    assert result.exit_code == 0, result.output


def test_a_real_process(server: ServerProcess, client: Client, use_case: str) -> None:
    client.events.create(use_case, "custom", custom_metadata={"line_id": 7})
    env = {"SIGHTLOG_SERVER": server.url, "SIGHTLOG_API_KEY": server.api_key}
    counted = run_process(["events", "count", use_case, "--meta", "line_id==7", "--type", "custom"], env)
    assert (counted.returncode, counted.stdout, counted.stderr) == (0, "1\n", "")


def test_an_unreachable_server_is_one_line(server: ServerProcess) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"
    result = run_process(["use-cases", "list", "--server", nowhere], {"SIGHTLOG_API_KEY": server.api_key})
    line = one_error_line(result.returncode, result.stdout, result.stderr)
    assert nowhere in line and "ConnectError" in line
