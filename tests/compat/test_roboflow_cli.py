"""The real ``roboflow`` CLI (pinned 1.7.3, console script ``roboflow = roboflow.roboflowpy:main``) against a
real Sightlog server: the ``roboflow vision-events ...`` command group.

Commands and flags (``roboflow/cli/handlers/vision_events.py``): ``write EVENT_JSON``, ``write-batch
EVENTS_JSON_ARRAY``, ``query USE_CASE [-t/--event-type] [--start] [--end] [-l/--limit] [--cursor]``,
``use-cases [-s/--status]``, ``create-use-case NAME``, ``rename-use-case USE_CASE -n/--name NAME``,
``archive-use-case USE_CASE``, ``unarchive-use-case USE_CASE``, ``metadata-schema USE_CASE``,
``upload-image PATH [-n/--name] [-M/--metadata JSON]``. Global flags: ``--json`` (the server's response body
on stdout; errors as ``{"error": {...}}`` on stderr), ``--api-key`` (else ``ROBOFLOW_API_KEY``),
``--workspace`` (else resolved through ``POST /?api_key=KEY``). Exit codes: 0 ok, 1 API error, 2 no
workspace / no key.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
from PIL import Image

pytestmark = pytest.mark.slow

BASE = (datetime.now(UTC) - timedelta(days=2)).replace(second=0, microsecond=0)
BATCH = 12


def tag() -> str:
    return secrets.token_hex(4)


def z(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def assert_utc(value: Any, expected: datetime) -> None:
    assert isinstance(value, str) and value.endswith("Z"), f"not a UTC 'Z' timestamp: {value!r}"
    assert datetime.fromisoformat(value) == expected, f"{value!r} != {expected.isoformat()}"


def by_id(use_cases: list[dict[str, Any]], use_case_id: str) -> dict[str, Any] | None:
    return next((uc for uc in use_cases if uc.get("id") == use_case_id), None)


def ids(page: dict[str, Any]) -> list[str]:
    return [event["eventId"] for event in page["events"]]


def make_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = (400, 300)) -> bytes:
    Image.new("RGB", size, color).save(path, format="JPEG", quality=90)
    return path.read_bytes()


# ---------------------------------------------------------------------------------------------------------
# module data written through the CLI
# ---------------------------------------------------------------------------------------------------------


@dataclass
class CliData:
    use_case_id: str
    prefix: str
    image_bytes: bytes
    upload: dict[str, Any]
    single: dict[str, Any]
    single_result: dict[str, Any]
    batch: list[dict[str, Any]]
    batch_result: dict[str, Any]

    def event_id(self, i: int) -> str:
        return f"{self.prefix}-{i:02d}"


def batch_event(i: int, use_case_id: str, prefix: str, source_id: str) -> dict[str, Any]:
    qc = i % 2 == 0
    return {
        "eventId": f"{prefix}-{i:02d}",
        "eventType": "quality_check" if qc else "safety_alert",
        "useCaseId": use_case_id,
        "timestamp": z(BASE + timedelta(minutes=i)),
        "eventData": {"result": "pass" if i % 4 else "fail"} if qc else {"alertType": "no_vest"},
        "deviceId": f"edge-{i % 3}",
        "customMetadata": {"zone": f"Z{i % 3}", "count": i, "ok": i % 4 != 0},
        "images": [
            {
                "sourceId": source_id,
                "classifications": [{"class": "vest", "confidence": 0.75}],
                "objectDetections": [
                    {"class": "person", "x": 200, "y": 150, "width": 60, "height": 120, "confidence": 0.9}
                ],
            }
        ],
    }


@pytest.fixture(scope="module")
def cli_data(roboflow_cli, tmp_path_factory) -> CliData:
    t = tag()
    created = roboflow_cli.ok("vision-events", "create-use-case", f"CLI Data {t}")
    uc = created["id"]
    image_path = tmp_path_factory.mktemp("cli-images") / "frame.jpg"
    image_bytes = make_jpeg(image_path, (90, 140, 40))
    upload = roboflow_cli.ok(
        "vision-events",
        "upload-image",
        str(image_path),
        "--name",
        "frame.jpg",
        "--metadata",
        json.dumps({"camera_id": "cam001", "fps": 15}),
    )
    prefix = f"cli-{t}"
    single = {
        "eventId": f"{prefix}-single",
        "eventType": "quality_check",
        "useCaseId": uc,
        "timestamp": z(BASE + timedelta(minutes=30)),
        "eventData": {"result": "fail", "confidence": 0.66},
        "deviceId": "edge-9",
        "customMetadata": {"zone": "Z9", "note": "single"},
        "images": [
            {
                "sourceId": upload["sourceId"],
                "objectDetections": [
                    {"class": "defect", "x": 200, "y": 150, "width": 30, "height": 20, "confidence": 0.8}
                ],
            }
        ],
    }
    single_result = roboflow_cli.ok("vision-events", "write", json.dumps(single))
    batch = [batch_event(i, uc, prefix, upload["sourceId"]) for i in range(BATCH)]
    batch_result = roboflow_cli.ok("vision-events", "write-batch", json.dumps(batch))
    return CliData(uc, prefix, image_bytes, upload, single, single_result, batch, batch_result)


# ---------------------------------------------------------------------------------------------------------
# use cases
# ---------------------------------------------------------------------------------------------------------


def test_cli_use_case_lifecycle(roboflow_cli):
    cli = roboflow_cli
    t = tag()
    name = f"CLI Lifecycle {t}"
    created = cli.ok("vision-events", "create-use-case", name)
    assert created["id"] == f"cli-lifecycle-{t}"
    assert created["name"] == name
    uc = created["id"]

    duplicate = cli("vision-events", "create-use-case", name)
    assert duplicate.returncode == 1, str(duplicate)
    assert duplicate.error["message"], str(duplicate)

    listed = cli.ok("vision-events", "use-cases")
    item = by_id(listed["useCases"], uc)
    assert item is not None, listed
    assert (item["name"], item["status"]) == (name, "active")
    assert (item["eventCount"], item["lastEventAt"]) == (0, None)

    new_name = f"CLI Lifecycle renamed {t}"
    renamed = cli.ok("vision-events", "rename-use-case", uc, "--name", new_name)
    assert (renamed["id"], renamed["name"]) == (uc, new_name)
    item = by_id(cli.ok("vision-events", "use-cases", "--status", "all")["useCases"], uc)
    assert item is not None and item["name"] == new_name

    assert cli.ok("vision-events", "archive-use-case", uc)["success"] is True
    assert by_id(cli.ok("vision-events", "use-cases")["useCases"], uc) is None
    archived = by_id(cli.ok("vision-events", "use-cases", "-s", "inactive")["useCases"], uc)
    assert archived is not None and archived["status"] == "inactive"

    assert cli.ok("vision-events", "unarchive-use-case", uc)["success"] is True
    item = by_id(cli.ok("vision-events", "use-cases", "--status", "active")["useCases"], uc)
    assert item is not None and item["status"] == "active"

    again = cli("vision-events", "unarchive-use-case", uc)
    assert again.returncode == 1, str(again)
    assert again.error["message"], str(again)


def test_cli_human_output(roboflow_cli):
    t = tag()
    created = roboflow_cli("vision-events", "create-use-case", f"CLI Text {t}", json_mode=False)
    assert created.returncode == 0, str(created)
    assert created.stdout.strip() == f"Created use case cli-text-{t} (CLI Text {t})"
    listed = roboflow_cli("vision-events", "use-cases", json_mode=False)
    assert listed.returncode == 0, str(listed)
    assert listed.stdout.splitlines()[0].endswith("use case(s):")
    assert f"  CLI Text {t} (0 events)" in listed.stdout.splitlines()


def test_cli_api_key_flag(roboflow_cli):
    result = roboflow_cli("vision-events", "use-cases", key_via="flag")
    assert result.returncode == 0, str(result)
    assert isinstance(result.json["useCases"], list)


def test_cli_wrong_key(roboflow_cli):
    bad = "sl_wrong_" + secrets.token_hex(16)
    # Without --workspace the CLI first resolves the workspace with POST /?api_key=KEY; a 401 there leaves it
    # without a workspace (exit code 2).
    unresolved = roboflow_cli("vision-events", "use-cases", api_key=bad)
    assert unresolved.returncode == 2, str(unresolved)
    assert "workspace" in unresolved.error["message"].lower()
    # With --workspace it calls the endpoint directly, whose 401 is an API error (exit code 1).
    refused = roboflow_cli("--workspace", "default", "vision-events", "use-cases", api_key=bad)
    assert refused.returncode == 1, str(refused)
    assert refused.error["message"], str(refused)
    assert refused.stdout == ""


def test_cli_unknown_use_case(roboflow_cli):
    result = roboflow_cli("vision-events", "query", f"no-such-use-case-{tag()}")
    assert result.returncode == 1, str(result)
    assert result.error["message"], str(result)


# ---------------------------------------------------------------------------------------------------------
# images and events
# ---------------------------------------------------------------------------------------------------------


def test_cli_upload_image(cli_data, server_http):
    assert cli_data.upload["success"] is True
    assert isinstance(cli_data.upload["sourceId"], str) and cli_data.upload["sourceId"]
    response = server_http.get(urljoin(str(server_http.base_url) + "/", cli_data.upload["url"]))
    assert response.status_code == 200, response.text[:300]
    assert response.content == cli_data.image_bytes


def test_cli_upload_rejects_non_image(roboflow_cli, tmp_path):
    path = tmp_path / "not-an-image.png"
    path.write_text("plain text, not pixels\n" * 10)
    result = roboflow_cli("vision-events", "upload-image", str(path))
    assert result.returncode == 1, str(result)
    assert result.error["message"], str(result)


def test_cli_write_responses(cli_data):
    assert cli_data.single_result["eventId"] == cli_data.single["eventId"]
    assert cli_data.single_result["created"] is True
    assert cli_data.batch_result["created"] == BATCH
    assert sorted(cli_data.batch_result["eventIds"]) == sorted(e["eventId"] for e in cli_data.batch)


def test_cli_rewrite_reports_not_created(roboflow_cli, cli_data):
    again = roboflow_cli.ok("vision-events", "write", json.dumps(cli_data.single))
    assert again["eventId"] == cli_data.single["eventId"]
    assert again["created"] is False


def test_cli_query_event_type(roboflow_cli, cli_data):
    page = roboflow_cli.ok("vision-events", "query", cli_data.use_case_id, "-t", "quality_check", "-l", "100")
    qc_batch = [cli_data.event_id(i) for i in reversed(range(BATCH)) if i % 2 == 0]
    expected = [cli_data.single["eventId"], *qc_batch]
    assert ids(page) == expected
    assert page["hasMore"] is False
    single = page["events"][0]
    assert single["eventData"] == cli_data.single["eventData"]
    assert single["customMetadata"] == cli_data.single["customMetadata"]
    assert single["deviceId"] == "edge-9"
    assert_utc(single["timestamp"], BASE + timedelta(minutes=30))
    image = single["images"][0]
    assert image["sourceId"] == cli_data.upload["sourceId"]
    assert (image["width"], image["height"]) == (400, 300)
    assert image["objectDetections"][0]["class"] == "defect"


def test_cli_query_time_range(roboflow_cli, cli_data):
    page = roboflow_cli.ok(
        "vision-events",
        "query",
        cli_data.use_case_id,
        "--start",
        z(BASE + timedelta(minutes=3)),
        "--end",
        z(BASE + timedelta(minutes=8)),
    )
    assert ids(page) == [cli_data.event_id(i) for i in (7, 6, 5, 4, 3)]


def test_cli_query_pagination(roboflow_cli, cli_data):
    seen: list[str] = []
    sizes: list[int] = []
    cursor: str | None = None
    while True:
        args = ["vision-events", "query", cli_data.use_case_id, "--limit", "5"]
        if cursor:
            args += ["--cursor", cursor]
        page = roboflow_cli.ok(*args)
        seen += ids(page)
        sizes.append(len(page["events"]))
        if not page["hasMore"]:
            assert page["nextCursor"] is None
            break
        cursor = page["nextCursor"]
        assert isinstance(cursor, str) and cursor
        assert len(sizes) < 10, "pagination does not end"
    assert sizes == [5, 5, 3]
    assert seen == [cli_data.single["eventId"]] + [cli_data.event_id(i) for i in reversed(range(BATCH))]


def test_cli_metadata_schema(roboflow_cli, cli_data):
    schema = roboflow_cli.ok("vision-events", "metadata-schema", cli_data.use_case_id)
    assert schema["useCaseId"] == cli_data.use_case_id
    types = {name: sorted(info["types"]) for name, info in schema["fields"].items()}
    assert types == {"zone": ["string"], "count": ["number"], "ok": ["boolean"], "note": ["string"]}

    text = roboflow_cli("vision-events", "metadata-schema", cli_data.use_case_id, json_mode=False)
    assert text.returncode == 0, str(text)
    assert text.stdout.splitlines()[0] == "4 field(s):"
    assert "  ok (boolean)" in text.stdout.splitlines()


def test_cli_use_case_statistics(roboflow_cli, cli_data):
    item = by_id(roboflow_cli.ok("vision-events", "use-cases")["useCases"], cli_data.use_case_id)
    assert item is not None
    assert item["eventCount"] == BATCH + 1
    assert_utc(item["lastEventAt"], BASE + timedelta(minutes=30))
    assert sorted(item["eventTypes"]) == ["quality_check", "safety_alert"]
