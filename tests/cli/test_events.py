"""``sightlog events query|count|get|delete`` against a real server: every filter flag and operator,
paging with ``--all`` and cursors, and the three output formats."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest

from sightlog import Client
from tests.cli.conftest import Run, one_error_line
from tests.support.server import ServerProcess


def _box(name: str, confidence: float) -> dict[str, Any]:
    return {"class": name, "x": 20, "y": 20, "width": 10, "height": 10, "confidence": confidence}


def _event(event_id: str, hour: int, event_type: str, **fields: Any) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": event_type,
        "timestamp": f"2025-01-01T{hour:02d}:00:00Z",
        **fields,
    }


# Five events that each filter below tells apart; e3 holds line_id as a *string*.
EVENTS = [
    _event("e1", 0, "quality_check", deviceId="cam-1", streamId="s-north", workflowId="wf-a",
           eventData={"result": "fail", "confidence": 0.9, "externalId": "SN-1"},
           customMetadata={"line_id": 7, "shift": "a", "temperature": 90.5, "operator": "Anna",
                           "inspected": True, "part": "A-1"},
           images=[{"objectDetections": [_box("crack", 0.95), _box("crack", 0.5)]}]),
    _event("e2", 1, "quality_check", deviceId="cam-2", streamId="s-north", workflowId="wf-a",
           eventData={"result": "pass", "externalId": "SN-2"},
           customMetadata={"line_id": 7, "shift": "b", "temperature": 80, "operator": "Bob",
                           "inspected": False, "part": "B-2"},
           images=[{"classifications": [{"class": "crack", "confidence": 0.4}]}]),
    _event("e3", 2, "quality_check", deviceId="cam-3", streamId="s-south", workflowId="wf-b",
           eventData={"result": "pass", "externalId": "SN-3"},
           customMetadata={"line_id": "7", "shift": "b", "temperature": 85, "part": "007"},
           images=[{"objectDetections": [_box("person", 0.9)] * 3}]),
    _event("e4", 3, "safety_alert", deviceId="cam-1", streamId="s-south", workflowId="wf-b",
           eventData={"alertType": "no_helmet", "severity": "high", "unknownKey": 1},  # earns a warning
           customMetadata={"line_id": 3, "temperature": 86, "inspected": True, "operator": "joanna"},
           images=[{"keypoints": [_box("person", 0.8) | {"keypoints": [{"id": 0, "x": 1, "y": 2}]}] * 2}]),
    _event("e5", 4, "inventory_count", deviceId="cam-2", eventData={"itemCount": 4}),
]  # fmt: skip


@pytest.fixture(scope="module")
def seeded(server: ServerProcess) -> Iterator[str]:
    with Client(server.url, server.api_key) as client:
        use_case = client.use_cases.create("Filter bench").id
        reviews = client.use_cases.create("Reviews").id  # keeps the review events out of "Filter bench"
        client.events.batch([event | {"useCaseId": use_case} for event in EVENTS])
        client.events.batch(
            [
                _event(f"r-{target}", 5, "operator_feedback", useCaseId=reviews,
                       eventData={"relatedEventId": target, "feedback": verdict})
                for target, verdict in (("e1", "incorrect"), ("e2", "correct"))
            ]
        )  # fmt: skip
        yield use_case


def _ids(result: Any) -> list[str]:
    assert result.exit_code == 0, result.output
    return [event["eventId"] for event in json.loads(result.stdout)]


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        ([], "e1 e2 e3 e4 e5"),
        (["--type", "quality_check", "--type", "safety_alert"], "e1 e2 e3 e4"),
        (["--start", "2025-01-01T01:00:00Z", "--end", "2025-01-01T03:00:00Z"], "e2 e3"),
        (["--start", "2025-01-01T02:00:00+01:00"], "e2 e3 e4 e5"),
        (["--start", "3650d"], "e1 e2 e3 e4 e5"),
        (["--device", "cam-1"], "e1 e4"),
        (["--device", "neq:cam-1"], "e2 e3 e5"),
        (["--device", "in:cam-1,cam-2"], "e1 e2 e4 e5"),
        (["--device", "nin:cam-1,cam-2"], "e3"),
        (["--device", "contains:M-3"], "e3"),
        (["--stream", "s-south"], "e3 e4"),
        (["--workflow", "wf-a"], "e1 e2"),
        (["--external-id", "SN-2"], "e2"),
        (["--meta", "line_id==7"], "e1 e2"),
        (["--meta", "line_id=7"], "e1 e2"),
        (["--meta", 'line_id=="7"'], "e3"),
        (["--meta", "shift!=a"], "e2 e3"),
        (["--meta", "temperature>85"], "e1 e4"),
        (["--meta", "temperature>=85"], "e1 e3 e4"),
        (["--meta", "temperature<85"], "e2"),
        (["--meta", "temperature<=85"], "e2 e3"),
        (["--meta", "operator~ANN"], "e1 e4"),
        (["--meta", "part:in=A-1,B-2"], "e1 e2"),
        (["--meta", "part:nin=A-1,B-2"], "e3"),
        (["--meta", "part:in='007'"], "e3"),
        (["--meta", "inspected?"], "e1 e2 e4"),
        (["--meta", "!inspected"], "e3 e5"),
        (["--meta", "inspected==true"], "e1 e4"),
        (["--meta", "inspected!=true"], "e2"),
        (["--meta", "line_id==7", "--meta", "shift==b"], "e2"),
        (["--field", "result==fail"], "e1"),
        (["--field", "severity:in=high,low"], "e4"),
        (["--field", "itemCount<5"], "e5"),
        (["--field", "externalId~sn-"], "e1 e2 e3"),
        (["--class", "crack"], "e1 e2"),
        (["--class", "crack:0.9"], "e1"),
        (["--class", "crack:0.3:0.45"], "e2"),
        (["--class", "crack>=2"], "e1"),
        (["--class", "person=2..3"], "e3 e4"),
        (["--class", "person>2"], "e3"),
        (["--class", "person<3"], "e1 e2 e4 e5"),
        (["--class", "!crack"], "e3 e4 e5"),
        (["--class", "crack:0.9=0"], "e2 e3 e4 e5"),
        (["--class", "crack", "--class", "!person"], "e1 e2"),
        (["--feedback", "incorrect"], "e1"),
        (["--feedback", "correct", "--feedback", "incorrect"], "e1 e2"),
        (["--feedback", "none"], "e3 e4 e5"),
        (["--warnings"], "e4"),
        (["--no-warnings"], "e1 e2 e3 e5"),
        (["--device", "cam-1", "--meta", "temperature>88"], "e1"),
    ],
)
def test_each_filter(cli: Run, seeded: str, flags: list[str], expected: str) -> None:
    result = cli("events", "query", seeded, *flags, "--sort", "asc", "--json")
    assert _ids(result) == expected.split()
    counted = cli("events", "count", seeded, *flags)
    assert counted.exit_code == 0, counted.output
    assert counted.stdout == f"{len(expected.split())}\n"


def test_a_bad_expression_is_a_usage_error(cli: Run, seeded: str) -> None:
    result = cli("events", "count", seeded, "--meta", "a:in=1,b")
    assert result.exit_code == 2
    message = re.sub(r"[│\s]+", " ", result.stderr)  # unwrapped from rich's error box
    assert "Invalid value for '--meta'" in message and "mix numbers and strings" in message


def test_pages_follow_the_cursor_with_all(cli: Run, seeded: str) -> None:
    every = cli("events", "query", seeded, "--all", "--page-size", "2", "--ndjson")
    assert every.exit_code == 0, every.output
    lines = every.stdout.splitlines()
    assert [json.loads(line)["eventId"] for line in lines] == ["e5", "e4", "e3", "e2", "e1"]
    assert every.stderr == ""  # nothing left to page through

    first = cli("events", "query", seeded, "--limit", "3", "--page-size", "2", "--sort", "asc", "--json")
    assert _ids(first) == ["e1", "e2", "e3"]
    cursor = re.search(r"--cursor (\S+)", first.stderr)
    assert cursor, first.stderr
    rest = cli("events", "query", seeded, "--cursor", cursor.group(1), "--sort", "asc", "--json")
    assert _ids(rest) == ["e4", "e5"]


def test_table_output(cli: Run, seeded: str) -> None:
    result = cli("events", "query", seeded, "--class", "crack")
    assert result.exit_code == 0, result.output
    header, *_ = [line for line in result.stdout.splitlines() if "event id" in line]
    for column in ("time (UTC)", "type", "device", "data", "predictions", "feedback", "warnings"):
        assert column in header
    row = next(line for line in result.stdout.splitlines() if " e1 " in line)
    assert "2025-01-01 00:00:00" in row and "crack 2" in row and "incorrect" in row and "result=fail" in row


def test_json_is_one_document_of_full_events(cli: Run, seeded: str) -> None:
    result = cli("events", "query", seeded, "--device", "cam-1", "--json")
    events = json.loads(result.stdout)
    assert [e["eventId"] for e in events] == ["e4", "e1"]
    assert events[0]["warnings"] and events[1]["feedback"]["status"] == "incorrect"
    assert result.stdout.lstrip().startswith("[")


def test_json_and_ndjson_exclude_each_other(cli: Run, seeded: str) -> None:
    result = cli("events", "query", seeded, "--json", "--ndjson")
    assert result.exit_code == 2 and "choose one" in result.stderr


def test_get_and_delete(cli: Run, client: Client, use_case: str) -> None:
    client.events.create(use_case, "custom", event_id="gone-soon", event_data={"value": "x"})
    got = cli("events", "get", "gone-soon")
    assert got.exit_code == 0, got.output
    assert json.loads(got.stdout)["eventData"] == {"value": "x"}

    deleted = cli("events", "delete", "gone-soon")
    assert deleted.exit_code == 0 and "Deleted event gone-soon" in deleted.stderr
    again = cli("events", "get", "gone-soon")
    assert "gone-soon" in one_error_line(again.exit_code, again.stdout, again.stderr)


def test_unknown_use_case(cli: Run) -> None:
    result = cli("events", "query", "no-such-use-case")
    one_error_line(result.exit_code, result.stdout, result.stderr)
