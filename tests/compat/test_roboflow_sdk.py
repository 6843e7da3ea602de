"""The real ``roboflow`` SDK (pinned 1.7.3) against a real Sightlog server, through its documented entry point
``rf = roboflow.Roboflow(api_key=KEY); ws = rf.workspace()`` and the ``Workspace`` vision-event methods.

The SDK runs in a worker subprocess (see ``conftest.py``); ``rf_workspace.<method>(...)`` executes
``ws.<method>(...)`` there and returns its JSON result, or raises ``rf_workspace.Error`` carrying the
exception the SDK raised (``RoboflowError(response.text)``, so ``.code`` is the server's error code).
"""

from __future__ import annotations

import io
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest
from PIL import Image, ImageDraw

pytestmark = pytest.mark.slow

# A fixed instant in the recent past (well inside any retention window, never in the future).
BASE = (datetime.now(UTC) - timedelta(days=3)).replace(second=0, microsecond=0)
PLUS_TWO = timezone(timedelta(hours=2))
MINUS_FIVE = timezone(timedelta(hours=-5))
EVENT_TYPES = ["quality_check", "inventory_count", "safety_alert", "custom"]
BATCH_SIZE = 100
IMAGE_SIZE = (640, 480)


# ---------------------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------------------


def tag() -> str:
    return secrets.token_hex(4)


def z(dt: datetime) -> str:
    """``2025-01-02T03:04:05.000Z``"""
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def parse_ts(value: Any) -> datetime:
    assert isinstance(value, str), value
    parsed = datetime.fromisoformat(value)
    assert parsed.tzinfo is not None, f"timestamp without offset: {value!r}"
    return parsed


def assert_utc(value: Any, expected: datetime) -> None:
    """Returned timestamps are UTC with a ``Z`` suffix and denote ``expected``."""
    assert isinstance(value, str) and value.endswith("Z"), f"not a UTC 'Z' timestamp: {value!r}"
    assert parse_ts(value) == expected, f"{value!r} != {expected.isoformat()}"


def assert_contains(actual: Any, expected: Any, where: str = "") -> None:
    """``actual`` holds all of ``expected``: dict keys recursively, lists element-wise (same length)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), f"{where}: expected an object, got {actual!r}"
        for key, value in expected.items():
            assert key in actual, f"{where}: missing key {key!r} in {actual!r}"
            assert_contains(actual[key], value, f"{where}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), f"{where}: expected a list, got {actual!r}"
        assert len(actual) == len(expected), f"{where}: {len(actual)} items, expected {len(expected)}"
        for index, (a, e) in enumerate(zip(actual, expected, strict=True)):
            assert_contains(a, e, f"{where}[{index}]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert actual == expected and type(actual) is type(expected), f"{where}: {actual!r} != {expected!r}"
    else:
        assert not isinstance(actual, bool) and actual == expected, f"{where}: {actual!r} != {expected!r}"


def make_jpeg(path: Path, color: tuple[int, int, int], size: tuple[int, int] = IMAGE_SIZE) -> bytes:
    img = Image.new("RGB", size, color)
    draw = ImageDraw.Draw(img)
    draw.rectangle((295, 220, 345, 260), outline=(255, 255, 255), width=4)
    draw.ellipse((40, 40, 120, 120), fill=(color[2], color[0], color[1]))
    img.save(path, format="JPEG", quality=90)
    return path.read_bytes()


def by_id(use_cases: list[dict[str, Any]], use_case_id: str) -> dict[str, Any] | None:
    return next((uc for uc in use_cases if uc.get("id") == use_case_id), None)


def ids(page: dict[str, Any]) -> list[str]:
    return [event["eventId"] for event in page["events"]]


def fetch(server_http: Any, url: str) -> Any:
    """GET an image URL returned by the server (absolute, or a path on the server) with the admin key."""
    assert isinstance(url, str) and url, url
    response = server_http.get(urljoin(str(server_http.base_url) + "/", url))
    assert response.status_code == 200, (url, response.status_code, response.text[:500])
    return response


def predictions(i: int) -> dict[str, Any]:
    """All four prediction kinds, in SPEC §3.4 shapes (centre-based boxes, input-image pixels)."""
    return {
        "objectDetections": [
            {"class": "defect", "x": 320, "y": 240, "width": 50, "height": 40, "confidence": 0.95},
            {
                "class": "scratch",
                "x": 100 + i,
                "y": 50.5,
                "width": 20,
                "height": 10,
                "confidence": round(0.5 + i / 250, 3),
                "trackerId": i,
            },
        ],
        "classifications": [{"class": "scratch", "confidence": 0.91}],
        "instanceSegmentations": [
            {
                "class": "dent",
                "x": 10,
                "y": 20,
                "width": 8,
                "height": 6,
                "confidence": 0.8,
                "points": [[6, 17], [14, 17], [14, 23]],
            }
        ],
        "keypoints": [
            {
                "class": "person",
                "x": 50,
                "y": 80,
                "width": 40,
                "height": 120,
                "confidence": 0.9,
                "keypoints": [
                    {"id": 0, "x": 48, "y": 30, "confidence": 0.7},
                    {"id": 1, "x": 52, "y": 31, "confidence": 0.6},
                ],
            }
        ],
    }


# ---------------------------------------------------------------------------------------------------------
# module data: two uploaded images and a use case holding a batch of 100 events
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Uploaded:
    display_path: Path
    display_bytes: bytes
    display_id: str
    input_path: Path
    input_bytes: bytes
    input_id: str
    responses: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture(scope="module")
def uploaded(rf_workspace: Any, tmp_path_factory: pytest.TempPathFactory) -> Uploaded:
    folder = tmp_path_factory.mktemp("sdk-images")
    display_path, input_path = folder / "display.jpg", folder / "input.jpg"
    display_bytes = make_jpeg(display_path, (200, 30, 30))
    input_bytes = make_jpeg(input_path, (30, 30, 200))
    display = rf_workspace.upload_vision_event_image(str(display_path))
    inp = rf_workspace.upload_vision_event_image(str(input_path), name="input.jpg", metadata={"cam": "c1"})
    return Uploaded(
        display_path=display_path,
        display_bytes=display_bytes,
        display_id=display["sourceId"],
        input_path=input_path,
        input_bytes=input_bytes,
        input_id=inp["sourceId"],
        responses=[display, inp],
    )


def batch_event(i: int, use_case_id: str, prefix: str, images: Uploaded) -> dict[str, Any]:
    instant = BASE + timedelta(minutes=i)
    if i % 5 == 0:
        timestamp = instant.astimezone(PLUS_TWO).isoformat()  # "...+02:00"
    elif i % 5 == 1:
        timestamp = z(instant)  # "...T08:01:00.000Z"
    else:
        timestamp = instant.strftime("%Y-%m-%dT%H:%M:%SZ")
    event_type = EVENT_TYPES[i % 4]
    event_data: dict[str, Any] = {
        "quality_check": {"result": "fail" if i % 3 == 0 else "pass", "confidence": 0.5 + (i % 50) / 100},
        "inventory_count": {"itemCount": i, "location": f"aisle-{i % 5}", "itemType": "box"},
        "safety_alert": {"alertType": "no_hardhat", "severity": ["low", "medium", "high"][i % 3]},
        "custom": {"value": f"v{i}", "externalId": f"ext-{i}"},
    }[event_type]
    event: dict[str, Any] = {
        "eventId": f"{prefix}-{i:03d}",
        "eventType": event_type,
        "useCaseId": use_case_id,
        "timestamp": timestamp,
        "eventData": event_data,
        "deviceId": f"cam-{i % 5}",
        "streamId": f"stream-{i % 2}",
        "workflowId": "wf-inspect",
        "customMetadata": {
            "line_id": f"L{i % 4}",
            "temperature": 20 + i * 0.5,
            "shift_count": i,
            "passed_review": i % 2 == 0,
            "batch_code": f"B{i}" if i % 2 == 0 else i,
        },
        "images": [
            {
                "sourceId": images.display_id,
                "inputSourceId": images.input_id,
                "label": "line camera",
                **predictions(i),
            }
        ],
    }
    if i % 10 == 0:
        event["displayImagePosition"] = 0
    return event


@dataclass
class BatchCase:
    use_case_id: str
    prefix: str
    events: list[dict[str, Any]]
    response: dict[str, Any]
    written_at: datetime

    def event_id(self, i: int) -> str:
        return f"{self.prefix}-{i:03d}"

    def expected(self, predicate: Any) -> list[str]:
        """Ids of matching events, newest first (timestamps grow with the index)."""
        return [self.event_id(i) for i in reversed(range(BATCH_SIZE)) if predicate(i)]


@pytest.fixture(scope="module")
def batch_case(rf_workspace: Any, uploaded: Uploaded) -> BatchCase:
    t = tag()
    use_case = rf_workspace.create_vision_event_use_case(f"SDK Batch {t}")
    prefix = f"sdk-batch-{t}"
    events = [batch_event(i, use_case["id"], prefix, uploaded) for i in range(BATCH_SIZE)]
    written_at = datetime.now(UTC)
    response = rf_workspace.write_vision_events_batch(events)
    return BatchCase(use_case["id"], prefix, events, response, written_at)


# ---------------------------------------------------------------------------------------------------------
# entry point and authentication (SPEC §3 rows 12 and 13)
# ---------------------------------------------------------------------------------------------------------


def test_sdk_is_pointed_at_the_test_server(sdk_factory, compat_server):
    worker = sdk_factory()
    hello = worker.hello()
    assert hello["version"] == "1.7.3"
    assert hello["apiUrl"] == compat_server.url
    assert hello["visionEventsBase"] == compat_server.url + "/vision-events"


def test_documented_entry_point_gives_a_workspace(sdk_factory, compat_server):
    worker = sdk_factory()
    rf = worker.init(compat_server.api_key)
    assert rf == {"currentWorkspace": "default", "onboarding": False}
    ws = worker.workspace()
    assert ws.info["type"] == "Workspace"
    assert ws.info["url"] == "default"
    assert isinstance(ws.info["name"], str) and ws.info["name"]
    assert ws.info["projects"] == []
    assert ws.info["members"] == []
    # The workspace object works for vision events right away.
    listed = ws.list_vision_event_use_cases()
    assert isinstance(listed["useCases"], list)


def test_wrong_key_fails_clearly(sdk_factory):
    worker = sdk_factory()
    with pytest.raises(worker.Error) as info:
        worker.init("sl_wrong_" + secrets.token_hex(16))
    # check_key() raises RuntimeError(response.text) on a 401 (anything else makes it retry 5 times and then
    # raise a generic message), so the server's error body must come through.
    assert info.value.type_name == "RuntimeError"
    assert info.value.code == "unauthorized", info.value.message
    assert isinstance(info.value.body["error"], str) and info.value.body["error"]


def test_workspace_of_another_slug_is_refused(sdk_factory, compat_server):
    worker = sdk_factory()
    worker.init(compat_server.api_key)
    with pytest.raises(worker.Error) as info:
        worker.workspace("someone-elses-" + tag())
    assert info.value.type_name == "RoboflowError"
    assert info.value.code in {"forbidden", "not_found"}, info.value.message


def test_bootstrap_endpoints_wire_format(compat_server):
    """The two non-``/vision-events`` calls the SDK makes (key in the query string, no header)."""
    key = compat_server.api_key
    with httpx.Client(base_url=compat_server.url, trust_env=False, timeout=30.0) as client:
        ok = client.post(f"/?api_key={key}")
        assert ok.status_code == 200, ok.text
        assert ok.json()["workspace"] == "default"

        bad = client.post("/?api_key=sl_bad_" + secrets.token_hex(8))
        assert bad.status_code == 401, bad.text
        assert bad.json()["code"] == "unauthorized"

        ws = client.get(f"/default?api_key={key}")
        assert ws.status_code == 200, ws.text
        body = ws.json()["workspace"]
        assert body["url"] == "default"
        assert isinstance(body["name"], str)
        assert body["projects"] == [] and body["members"] == []

        other = client.get(f"/not-mine-{tag()}?api_key={key}")
        assert other.status_code in {403, 404}, other.text


# ---------------------------------------------------------------------------------------------------------
# use cases
# ---------------------------------------------------------------------------------------------------------


def test_use_case_lifecycle(rf_workspace):
    ws = rf_workspace
    t = tag()
    name = f"SDK Lifecycle {t}"
    created = ws.create_vision_event_use_case(name)
    assert created["id"] == f"sdk-lifecycle-{t}"
    assert created["name"] == name
    uc = created["id"]

    with pytest.raises(ws.Error) as dup:
        ws.create_vision_event_use_case(name)
    assert dup.value.code == "conflict", dup.value.message

    listed = ws.list_vision_event_use_cases()
    assert "lookbackDays" in listed
    item = by_id(listed["useCases"], uc)
    assert item is not None, listed
    assert item["name"] == name
    assert item["status"] == "active"
    assert item["eventCount"] == 0
    assert item["lastEventAt"] is None
    assert item["eventTypes"] == []
    assert isinstance(item["createdAt"], str)
    assert abs(parse_ts(item["createdAt"]) - datetime.now(UTC)) < timedelta(minutes=10)

    new_name = f"SDK Lifecycle renamed {t}"
    renamed = ws.rename_vision_event_use_case(uc, new_name)
    assert (renamed["id"], renamed["name"]) == (uc, new_name)
    item = by_id(ws.list_vision_event_use_cases()["useCases"], uc)
    assert item is not None and item["name"] == new_name and item["id"] == uc

    late = BASE + timedelta(hours=2)
    ws.write_vision_event(
        {
            "eventId": f"lc-{t}-1",
            "eventType": "quality_check",
            "useCaseId": uc,
            "timestamp": z(BASE + timedelta(hours=1)),
            "eventData": {"result": "pass"},
        }
    )
    ws.write_vision_event(
        {
            "eventId": f"lc-{t}-2",
            "eventType": "safety_alert",
            "useCaseId": uc,
            "timestamp": late.astimezone(MINUS_FIVE).isoformat(),
            "eventData": {"alertType": "no_vest", "severity": "high"},
        }
    )
    item = by_id(ws.list_vision_event_use_cases()["useCases"], uc)
    assert item is not None
    assert item["eventCount"] == 2
    assert_utc(item["lastEventAt"], late)
    assert sorted(item["eventTypes"]) == ["quality_check", "safety_alert"]

    assert ws.archive_vision_event_use_case(uc)["success"] is True
    active = ws.list_vision_event_use_cases()["useCases"]
    assert by_id(active, uc) is None
    assert all(u["status"] == "active" for u in active)
    assert by_id(ws.list_vision_event_use_cases(status="active")["useCases"], uc) is None
    inactive = ws.list_vision_event_use_cases(status="inactive")["useCases"]
    archived = by_id(inactive, uc)
    assert archived is not None and archived["status"] == "inactive"
    assert all(u["status"] == "inactive" for u in inactive)
    everything = ws.list_vision_event_use_cases(status="all")["useCases"]
    assert by_id(everything, uc) is not None
    assert {u["status"] for u in everything} <= {"active", "inactive"}
    # Archived use cases and their events stay queryable.
    assert sorted(ids(ws.query_vision_events(uc))) == [f"lc-{t}-1", f"lc-{t}-2"]

    assert ws.unarchive_vision_event_use_case(uc)["success"] is True
    item = by_id(ws.list_vision_event_use_cases()["useCases"], uc)
    assert item is not None and item["status"] == "active" and item["eventCount"] == 2
    assert by_id(ws.list_vision_event_use_cases(status="inactive")["useCases"], uc) is None

    with pytest.raises(ws.Error) as again:
        ws.unarchive_vision_event_use_case(uc)
    assert again.value.code in {"bad_request", "validation_error"}, again.value.message


def test_use_case_ids_are_stable_slugs(rf_workspace):
    ws = rf_workspace
    t = tag()
    first = ws.create_vision_event_use_case(f"Assembly Line QA {t}")
    assert first["id"] == f"assembly-line-qa-{t}"
    ws.rename_vision_event_use_case(first["id"], f"Moved away {t}")
    # The old name is free again, but its slug is taken: the new id gets a suffix; the old id never changes.
    second = ws.create_vision_event_use_case(f"Assembly Line QA {t}")
    assert second["id"] == f"assembly-line-qa-{t}-2"
    names = {u["id"]: u["name"] for u in ws.list_vision_event_use_cases(status="all")["useCases"]}
    assert names[first["id"]] == f"Moved away {t}"
    assert names[second["id"]] == f"Assembly Line QA {t}"


def test_use_case_errors(rf_workspace):
    ws = rf_workspace
    with pytest.raises(ws.Error) as rename:
        ws.rename_vision_event_use_case(f"no-such-use-case-{tag()}", "x")
    assert rename.value.code == "not_found", rename.value.message
    with pytest.raises(ws.Error) as query:
        ws.query_vision_events(f"no-such-use-case-{tag()}")
    assert query.value.code == "not_found", query.value.message
    with pytest.raises(ws.Error) as schema:
        ws.get_vision_event_metadata_schema(f"no-such-use-case-{tag()}")
    assert schema.value.code == "not_found", schema.value.message


# ---------------------------------------------------------------------------------------------------------
# images
# ---------------------------------------------------------------------------------------------------------


def test_upload_image(rf_workspace, tmp_path, server_http):
    path = tmp_path / "part-17.jpg"
    data = make_jpeg(path, (10, 160, 90), size=(321, 200))
    result = rf_workspace.upload_vision_event_image(
        str(path), name="part-17.jpg", metadata={"camera_id": "cam001", "exposure": 12.5, "hdr": True}
    )
    assert result["success"] is True
    assert isinstance(result["sourceId"], str) and result["sourceId"]
    response = fetch(server_http, result["url"])
    assert response.content == data, "stored bytes differ from the upload"
    assert response.headers["content-type"].startswith("image/jpeg")

    # sourceId is unique per upload, even for identical bytes.
    again = rf_workspace.upload_vision_event_image(str(path))
    assert again["sourceId"] != result["sourceId"]
    assert fetch(server_http, again["url"]).content == data


def test_upload_of_a_non_image_is_refused(rf_workspace, tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_bytes(b"this is not an image at all\n" * 20)
    with pytest.raises(rf_workspace.Error) as info:
        rf_workspace.upload_vision_event_image(str(path))
    assert info.value.type_name == "RoboflowError"
    assert info.value.code == "unsupported_media_type", info.value.message


# ---------------------------------------------------------------------------------------------------------
# writing single events
# ---------------------------------------------------------------------------------------------------------


def test_write_single_event_and_upsert(rf_workspace, uploaded, server_http):
    ws = rf_workspace
    t = tag()
    uc = ws.create_vision_event_use_case(f"SDK Single {t}")["id"]
    instant = BASE + timedelta(hours=5, seconds=30)
    event = {
        "eventId": f"single-{t}",
        "eventType": "quality_check",
        "useCaseId": uc,
        "timestamp": instant.astimezone(PLUS_TWO).isoformat(),
        "eventData": {"result": "fail", "confidence": 0.87, "externalId": "part-42"},
        "deviceId": "cam-9",
        "streamId": "rtsp-1",
        "workflowId": "wf-qa",
        "customMetadata": {"line_id": "L9", "shift": "night", "temperature": 21.5, "rework": False},
        "images": [
            {
                "sourceId": uploaded.display_id,
                "inputSourceId": uploaded.input_id,
                "label": "station 3",
                "objectDetections": [
                    {"class": "defect", "x": 320, "y": 240, "width": 50, "height": 40, "confidence": 0.95}
                ],
            }
        ],
    }
    written = ws.write_vision_event(event)
    assert written["eventId"] == event["eventId"]
    assert written["created"] is True

    page = ws.query_vision_events(uc)
    assert ids(page) == [event["eventId"]]
    stored = page["events"][0]
    assert stored["eventType"] == "quality_check"
    assert stored["useCaseId"] == uc
    assert_utc(stored["timestamp"], instant)
    assert stored["eventData"] == event["eventData"]
    assert stored["customMetadata"] == event["customMetadata"]
    assert (stored["deviceId"], stored["streamId"], stored["workflowId"]) == ("cam-9", "rtsp-1", "wf-qa")
    assert stored["warnings"] == []
    assert stored["feedback"] == {"status": None, "eventId": None}
    image = stored["images"][0]
    assert_contains(image, event["images"][0], "images[0]")
    assert (image["width"], image["height"]) == IMAGE_SIZE
    assert fetch(server_http, image["url"]).content == uploaded.display_bytes
    assert fetch(server_http, image["inputUrl"]).content == uploaded.input_bytes
    thumb = Image.open(io.BytesIO(fetch(server_http, image["thumbnailUrl"]).content))
    assert max(thumb.size) <= 320

    # Same eventId again: an overwrite, reported as created=false; still one event.
    changed = {**event, "eventData": {"result": "pass", "confidence": 0.99}}
    rewritten = ws.write_vision_event(changed)
    assert rewritten["eventId"] == event["eventId"]
    assert rewritten["created"] is False
    page = ws.query_vision_events(uc)
    assert ids(page) == [event["eventId"]]
    assert page["events"][0]["eventData"] == {"result": "pass", "confidence": 0.99}


def test_write_event_warnings(rf_workspace):
    ws = rf_workspace
    t = tag()
    uc = ws.create_vision_event_use_case(f"SDK Warnings {t}")["id"]
    naive = (BASE + timedelta(hours=6)).replace(tzinfo=None)
    result = ws.write_vision_event(
        {
            "eventId": f"warn-{t}",
            "eventType": "inventory_count",
            "useCaseId": uc,
            "timestamp": naive.isoformat(),  # no offset: read as UTC, with a warning
            "eventData": {"itemCount": 7, "bin": "A-7"},  # unknown eventData key: kept, with a warning
            "firmware": "1.2.3",  # unknown top-level field: ignored, with a warning
            "images": [{"sourceId": f"missing-{t}"}],  # not an upload: a warning, not an error
        }
    )
    assert result["created"] is True
    stored = ws.query_vision_events(uc)["events"][0]
    assert_utc(stored["timestamp"], naive.replace(tzinfo=UTC))
    assert stored["eventData"] == {"itemCount": 7, "bin": "A-7"}
    assert "firmware" not in stored
    assert len(stored["warnings"]) >= 4, stored["warnings"]
    assert all(isinstance(w, str) and w for w in stored["warnings"])
    image = stored["images"][0]
    assert image["sourceId"] == f"missing-{t}"
    assert image["url"] is None and image["width"] is None and image["height"] is None


def test_write_event_validation_errors(rf_workspace):
    ws = rf_workspace
    t = tag()
    uc = ws.create_vision_event_use_case(f"SDK Invalid {t}")["id"]
    with pytest.raises(ws.Error) as missing_type:
        ws.write_vision_event({"eventId": f"bad-{t}", "useCaseId": uc, "timestamp": z(BASE)})
    assert missing_type.value.code == "validation_error", missing_type.value.message
    assert missing_type.value.body["details"], missing_type.value.body

    with pytest.raises(ws.Error) as unknown_uc:
        ws.write_vision_event(
            {
                "eventId": f"bad-{t}",
                "eventType": "custom",
                "useCaseId": f"no-such-use-case-{t}",
                "timestamp": z(BASE),
            }
        )
    assert unknown_uc.value.code in {"validation_error", "bad_request"}, unknown_uc.value.message
    assert ws.query_vision_events(uc)["events"] == []


def test_feedback_attaches_to_the_reviewed_event(rf_workspace):
    ws = rf_workspace
    t = tag()
    uc = ws.create_vision_event_use_case(f"SDK Feedback {t}")["id"]
    target = f"fb-target-{t}"
    ws.write_vision_event(
        {
            "eventId": target,
            "eventType": "quality_check",
            "useCaseId": uc,
            "timestamp": z(BASE + timedelta(hours=7)),
            "eventData": {"result": "fail"},
        }
    )
    for minutes, verdict in ((1, "incorrect"), (2, "correct")):
        ws.write_vision_event(
            {
                "eventId": f"fb-{verdict}-{t}",
                "eventType": "operator_feedback",
                "useCaseId": uc,
                "timestamp": z(BASE + timedelta(hours=7, minutes=minutes)),
                "eventData": {"relatedEventId": target, "feedback": verdict, "comment": "checked by hand"},
            }
        )
        stored = ws.query_vision_events(uc, event_type="quality_check")["events"]
        assert ids({"events": stored}) == [target]
        assert stored[0]["feedback"] == {"status": verdict, "eventId": f"fb-{verdict}-{t}"}


# ---------------------------------------------------------------------------------------------------------
# the batch of 100
# ---------------------------------------------------------------------------------------------------------


def test_batch_write_response(batch_case):
    assert batch_case.response["created"] == BATCH_SIZE
    assert sorted(batch_case.response["eventIds"]) == sorted(e["eventId"] for e in batch_case.events)


def test_batch_events_echo_every_stored_field(rf_workspace, batch_case, uploaded, server_http):
    page = rf_workspace.query_vision_events(batch_case.use_case_id, limit=1000)
    assert page["hasMore"] is False
    assert page["nextCursor"] is None
    assert page["lookbackDays"] is None
    assert ids(page) == batch_case.expected(lambda i: True)
    received = {event["eventId"]: event for event in page["events"]}
    for i, sent in enumerate(batch_case.events):
        got = received[sent["eventId"]]
        where = sent["eventId"]
        assert got["eventType"] == sent["eventType"], where
        assert got["useCaseId"] == batch_case.use_case_id, where
        assert_utc(got["timestamp"], BASE + timedelta(minutes=i))
        assert got["eventData"] == sent["eventData"], where
        assert got["customMetadata"] == sent["customMetadata"], where
        for key in ("deviceId", "streamId", "workflowId"):
            assert got[key] == sent[key], (where, key)
        if "displayImagePosition" in sent:
            assert got["displayImagePosition"] == 0, where
        assert_contains(got["images"], sent["images"], f"{where}.images")
        assert isinstance(got["receivedAt"], str) and got["receivedAt"].endswith("Z"), got["receivedAt"]
        assert abs(parse_ts(got["receivedAt"]) - batch_case.written_at) < timedelta(minutes=10)
        assert got["warnings"] == [], (where, got["warnings"])
        assert got["feedback"] == {"status": None, "eventId": None}, where
        image = got["images"][0]
        for key in ("url", "inputUrl", "thumbnailUrl"):
            assert isinstance(image[key], str) and image[key], (where, key, image[key])
        assert (image["width"], image["height"]) == IMAGE_SIZE, where
    first = received[batch_case.event_id(0)]["images"][0]
    assert fetch(server_http, first["url"]).content == uploaded.display_bytes
    assert fetch(server_http, first["inputUrl"]).content == uploaded.input_bytes


def test_batch_is_all_or_nothing(rf_workspace, batch_case):
    ws = rf_workspace
    t = tag()
    good = {
        "eventId": f"atomic-{t}-0",
        "eventType": "custom",
        "useCaseId": batch_case.use_case_id,
        "timestamp": z(BASE),
    }
    bad = {
        "eventId": f"atomic-{t}-1",
        "eventType": "quality_check",
        "useCaseId": batch_case.use_case_id,
        "timestamp": z(BASE),
        "eventData": {"result": "maybe"},
    }
    with pytest.raises(ws.Error) as info:
        ws.write_vision_events_batch([good, bad])
    assert info.value.code == "validation_error", info.value.message
    locs = [detail.get("loc", "") for detail in info.value.body["details"]]
    assert any("events[1]" in str(loc) for loc in locs), locs
    stored = ids(ws.query_vision_events(batch_case.use_case_id, limit=1000))
    assert good["eventId"] not in stored and bad["eventId"] not in stored
    assert len(stored) == BATCH_SIZE


QUERY_CASES: list[tuple[str, dict[str, Any], Any]] = [
    ("event_type", {"event_type": "quality_check"}, lambda i: i % 4 == 0),
    ("event_types", {"event_types": ["inventory_count", "safety_alert"]}, lambda i: i % 4 in (1, 2)),
    (
        "time_range_with_offsets",
        {
            "start_time": (BASE + timedelta(minutes=10)).astimezone(MINUS_FIVE).isoformat(),
            "end_time": z(BASE + timedelta(minutes=20)),
        },
        lambda i: 10 <= i < 20,
    ),
    ("device_eq", {"deviceId": {"operator": "eq", "value": "cam-2"}}, lambda i: i % 5 == 2),
    ("device_in", {"deviceId": {"operator": "in", "value": ["cam-1", "cam-3"]}}, lambda i: i % 5 in (1, 3)),
    ("stream_neq", {"streamId": {"operator": "neq", "value": "stream-0"}}, lambda i: i % 2 == 1),
    (
        "metadata_number_gt_and_string_eq",
        {
            "customMetadataFilters": [
                {"field": "temperature", "operator": "gt", "value": 60, "type": "number"},
                {"field": "line_id", "operator": "eq", "value": "L1", "type": "string"},
            ]
        },
        lambda i: 20 + i * 0.5 > 60 and i % 4 == 1,
    ),
    (
        "metadata_boolean",
        {
            "customMetadataFilters": [
                {"field": "passed_review", "operator": "eq", "value": True, "type": "boolean"}
            ]
        },
        lambda i: i % 2 == 0,
    ),
    (
        "metadata_number_filter_skips_strings",
        {"customMetadataFilters": [{"field": "batch_code", "operator": "gte", "value": 0, "type": "number"}]},
        lambda i: i % 2 == 1,
    ),
    (
        "event_field_result_fail",
        {"eventFieldFilters": [{"field": "result", "operator": "eq", "value": "fail", "type": "string"}]},
        lambda i: i % 4 == 0 and i % 3 == 0,
    ),
    (
        "combined",
        {
            "event_type": "quality_check",
            "start_time": z(BASE),
            "end_time": z(BASE + timedelta(minutes=50)),
            "deviceId": {"operator": "neq", "value": "cam-0"},
            "eventFieldFilters": [{"field": "confidence", "operator": "lt", "value": 0.9, "type": "number"}],
        },
        lambda i: i % 4 == 0 and i % 5 != 0 and i < 50 and 0.5 + (i % 50) / 100 < 0.9,
    ),
]


@pytest.mark.parametrize(
    ("kwargs", "predicate"), [case[1:] for case in QUERY_CASES], ids=[case[0] for case in QUERY_CASES]
)
def test_query_filters(rf_workspace, batch_case, kwargs, predicate):
    expected = batch_case.expected(predicate)
    assert expected, "the case must select something"
    page = rf_workspace.query_vision_events(batch_case.use_case_id, limit=1000, **kwargs)
    assert ids(page) == expected
    assert page["hasMore"] is False


def test_query_all_follows_cursors_newest_first(rf_workspace, batch_case):
    pages = rf_workspace.query_all_vision_events(batch_case.use_case_id, limit=7)
    assert [len(p) for p in pages] == [7] * 14 + [2]
    seen = [event["eventId"] for p in pages for event in p]
    assert len(seen) == len(set(seen)) == BATCH_SIZE
    assert seen == batch_case.expected(lambda i: True)
    stamps = [parse_ts(event["timestamp"]) for p in pages for event in p]
    assert stamps == sorted(stamps, reverse=True)


def test_query_pages_report_has_more_and_cursor(rf_workspace, batch_case):
    cursor = None
    pages = []
    while True:
        page = rf_workspace.query_vision_events(batch_case.use_case_id, limit=7, cursor=cursor)
        pages.append(page)
        assert page["lookbackDays"] is None
        if not page["hasMore"]:
            break
        assert isinstance(page["nextCursor"], str) and page["nextCursor"]
        cursor = page["nextCursor"]
        assert len(pages) < 20, "pagination does not end"
    assert [len(p["events"]) for p in pages] == [7] * 14 + [2]
    assert pages[-1]["nextCursor"] is None
    # Filters stay applied across pages.
    uc = batch_case.use_case_id
    filtered = rf_workspace.query_all_vision_events(uc, limit=4, event_type="safety_alert")
    assert [e["eventId"] for p in filtered for e in p] == batch_case.expected(lambda i: i % 4 == 2)


def test_pagination_is_stable_while_events_arrive(rf_workspace):
    ws = rf_workspace
    t = tag()
    uc = ws.create_vision_event_use_case(f"SDK Paging {t}")["id"]

    def ev(name: str, minutes: int) -> dict[str, Any]:
        return {
            "eventId": f"pg-{t}-{name}",
            "eventType": "custom",
            "useCaseId": uc,
            "timestamp": z(BASE + timedelta(minutes=minutes)),
            "eventData": {"value": name},
        }

    # Two events share each timestamp, so the cursor must break ties by eventId.
    originals = [ev(f"{i:02d}", i // 2) for i in range(20)]
    ws.write_vision_events_batch(originals)
    first = ws.query_vision_events(uc, limit=7)
    assert first["hasMore"] is True
    ws.write_vision_events_batch([ev("new-late", 500), ev("new-mid", 4), ev("new-early", -30)])
    seen = ids(first)
    cursor = first["nextCursor"]
    while cursor:
        page = ws.query_vision_events(uc, limit=7, cursor=cursor)
        seen += ids(page)
        cursor = page["nextCursor"] if page["hasMore"] else None
    assert len(seen) == len(set(seen)), "an event was returned twice"
    missing = {e["eventId"] for e in originals} - set(seen)
    assert not missing, f"skipped: {sorted(missing)}"


# ---------------------------------------------------------------------------------------------------------
# schema and use-case statistics
# ---------------------------------------------------------------------------------------------------------


def test_metadata_schema(rf_workspace, batch_case):
    schema = rf_workspace.get_vision_event_metadata_schema(batch_case.use_case_id)
    assert schema["useCaseId"] == batch_case.use_case_id
    types = {name: sorted(info["types"]) for name, info in schema["fields"].items()}
    assert types == {
        "line_id": ["string"],
        "temperature": ["number"],
        "shift_count": ["number"],
        "passed_review": ["boolean"],
        "batch_code": ["number", "string"],
    }


def test_batch_use_case_statistics(rf_workspace, batch_case):
    item = by_id(rf_workspace.list_vision_event_use_cases(status="all")["useCases"], batch_case.use_case_id)
    assert item is not None
    assert item["status"] == "active"
    assert item["eventCount"] == BATCH_SIZE
    assert_utc(item["lastEventAt"], BASE + timedelta(minutes=BATCH_SIZE - 1))
    assert sorted(item["eventTypes"]) == sorted(EVENT_TYPES)
