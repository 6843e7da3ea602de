"""``sightlog use-cases ...`` against a real server."""

from __future__ import annotations

import json
import uuid

from sightlog import Client
from tests.cli.conftest import Run, one_error_line


def test_create_prints_only_the_id(cli: Run) -> None:
    name = f"Line {uuid.uuid4().hex[:8]}"
    result = cli("use-cases", "create", name)
    assert result.exit_code == 0, result.output
    assert result.stdout == f"{name.lower().replace(' ', '-')}\n"

    again = cli("use-cases", "create", name)
    assert "already" in one_error_line(again.exit_code, again.stdout, again.stderr).lower()


def test_list_as_table_and_json(cli: Run, client: Client, use_case: str) -> None:
    client.events.create(use_case, "quality_check", event_data={"result": "pass"})
    table = cli("use-cases", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert all(column in lines[1] for column in ("id", "name", "status", "events", "last event", "types"))
    row = next(line for line in lines if use_case in line)
    assert "active" in row and " 1 " in row and "quality_check" in row

    listed = json.loads(cli("use-cases", "list", "--json").stdout)
    mine = next(item for item in listed if item["id"] == use_case)
    assert mine["eventCount"] == 1 and mine["eventTypes"] == ["quality_check"] and mine["lastEventAt"]


def test_rename_archive_unarchive(cli: Run, use_case: str) -> None:
    renamed = cli("use-cases", "rename", use_case, "Renamed line")
    assert renamed.exit_code == 0 and "Renamed line" in renamed.stderr

    def ids(*flags: str) -> dict[str, str]:
        return {uc["id"]: uc["name"] for uc in json.loads(cli("use-cases", "list", "--json", *flags).stdout)}

    assert ids()[use_case] == "Renamed line"
    assert cli("use-cases", "archive", use_case).exit_code == 0
    assert use_case not in ids()
    assert use_case in ids("--status", "inactive") and use_case in ids("--status", "all")
    assert cli("use-cases", "unarchive", use_case).exit_code == 0
    assert use_case in ids()

    twice = cli("use-cases", "unarchive", use_case)
    one_error_line(twice.exit_code, twice.stdout, twice.stderr)


def test_schema(cli: Run, client: Client, use_case: str) -> None:
    client.events.create(use_case, "custom", custom_metadata={"line": 3, "shift": "a"})
    client.events.create(use_case, "custom", custom_metadata={"line": "3b", "ok": True})
    inferred = json.loads(cli("use-cases", "schema", use_case, "--json").stdout)
    fields = {name: sorted(entry["types"]) for name, entry in inferred["fields"].items()}
    assert fields == {"line": ["number", "string"], "shift": ["string"], "ok": ["boolean"]}
    table = cli("use-cases", "schema", use_case).stdout
    assert "line" in table and "number, string" in table

    missing = cli("use-cases", "schema", "no-such-use-case")
    one_error_line(missing.exit_code, missing.stdout, missing.stderr)
