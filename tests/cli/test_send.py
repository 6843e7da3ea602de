"""``sightlog events send`` and ``sightlog images upload`` against a real server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from sightlog import Client
from tests.cli.conftest import Run, one_error_line


def _event(event_id: str, **fields: Any) -> dict[str, Any]:
    base = {"eventId": event_id, "eventType": "quality_check", "timestamp": "2025-03-01T10:00:00Z"}
    return base | {"eventData": {"result": "pass"}} | fields


@pytest.fixture
def frames(tmp_path: Path) -> Path:
    """A folder of images: two real ones (in a sub-folder) and a file that only pretends to be one."""
    folder = tmp_path / "frames"
    (folder / "cam").mkdir(parents=True)
    Image.new("RGB", (64, 48), "red").save(folder / "cam" / "a.jpg")
    Image.new("RGB", (32, 24), "blue").save(folder / "cam" / "b.png")
    (folder / "fake.jpg").write_text("not an image")
    return folder


def test_ndjson_with_images_in_batches(
    cli: Run, client: Client, use_case: str, tmp_path: Path, frames: Path
) -> None:
    detections = [{"class": "dent", "x": 10, "y": 10, "width": 4, "height": 4, "confidence": 0.9}]
    events = [
        _event(
            "n1", images=[{"file": "cam/a.jpg", "inputFile": "cam/b.png", "objectDetections": detections}]
        ),
        _event("n2", images=[{"file": "cam/a.jpg"}]),
        _event("n3", useCaseId="elsewhere-is-ignored-when-given"),
        _event("n4"),
        _event("n5", images=[{"file": str(frames / "cam" / "b.png")}]),  # absolute paths work too
    ]
    del events[2]["useCaseId"]  # --use-case fills it in
    source = tmp_path / "events.ndjson"
    source.write_text("".join(json.dumps(event) + "\n" for event in events))

    result = cli(
        "events", "send", str(source), "--use-case", use_case, "--images", str(frames), "--batch-size", "2"
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.strip() == "Sent 5 events."
    assert client.events.count(use_case) == 5

    first, second, fifth = (client.events.get(event_id) for event_id in ("n1", "n2", "n5"))
    image = first.images[0]
    assert (image.width, image.height) == (32, 24)  # of the input image, whose pixels predictions use
    assert image.url and image.input_url
    assert client.images.get(image.source_id or "") == (frames / "cam" / "a.jpg").read_bytes()
    assert image.object_detections and image.object_detections[0].class_name == "dent"
    assert client.images.get(image.input_source_id or "") == (frames / "cam" / "b.png").read_bytes()
    # One upload per file, however many events name it.
    assert second.images[0].source_id == image.source_id
    assert fifth.images[0].source_id == image.input_source_id


def test_a_partly_failing_file_reports_each_failure(
    cli: Run, client: Client, use_case: str, tmp_path: Path, frames: Path
) -> None:
    lines = [
        json.dumps(_event("ok-1")),
        json.dumps(_event("bad-time", timestamp="yesterday")),  # refused by the server
        json.dumps(_event("ok-2")),
        json.dumps(_event("bad-result", eventData={"result": "maybe"})),  # refused by the server
        json.dumps(_event("no-file", images=[{"file": "cam/missing.jpg"}])),  # no such file
        json.dumps(_event("fake-image", images=[{"file": "fake.jpg"}])),  # refused upload
        json.dumps(_event("nested", customMetadata={"a": {"b": 1}})),  # refused before sending
        "{not json",
        json.dumps(["not", "an", "object"]),
        json.dumps(_event("ok-3")),
    ]
    source = frames / "events.ndjson"  # images resolve next to the file when --images is not given
    source.write_text("\n".join(lines) + "\n")

    result = cli("events", "send", str(source), "--use-case", use_case)
    assert result.exit_code == 1, result.output
    report = result.stderr.splitlines()
    assert report[0] == "Sent 3 events; 7 failed:"
    failures = dict(line.strip().split(": ", 1) for line in report[1:])
    assert list(failures) == [
        "line 2 (bad-time)",
        "line 4 (bad-result)",
        "line 5 (no-file)",
        "line 6 (fake-image)",
        "line 7 (nested)",
        "line 8",
        "line 9",
    ]
    assert "timestamp" in failures["line 2 (bad-time)"]
    assert "result" in failures["line 4 (bad-result)"]
    assert "cam/missing.jpg" in failures["line 5 (no-file)"] and "not found" in failures["line 5 (no-file)"]
    assert "fake.jpg" in failures["line 6 (fake-image)"]
    assert failures["line 7 (nested)"] == "customMetadata.a: must be a string, number or boolean"
    assert "not valid JSON" in failures["line 8"] and failures["line 9"] == "not a JSON object"
    stored = {event.event_id for event in client.events.iter(use_case)}
    assert stored == {"ok-1", "ok-2", "ok-3"}


@pytest.mark.parametrize("shape", ["list", "wrapped", "single"])
def test_json_documents_from_stdin(cli: Run, client: Client, use_case: str, shape: str) -> None:
    events = [_event(f"{shape}-{n}", useCaseId=use_case) for n in range(3)]
    document = {"list": events, "wrapped": {"events": events}, "single": events[0]}[shape]
    result = cli("events", "send", "-", input=json.dumps(document, indent=2))
    assert result.exit_code == 0, result.output
    assert client.events.count(use_case) == (1 if shape == "single" else 3)


def test_events_without_a_use_case(cli: Run, tmp_path: Path) -> None:
    source = tmp_path / "events.json"
    source.write_text(json.dumps([_event("orphan")]))
    result = cli("events", "send", str(source))
    assert result.exit_code == 1
    assert "#1 (orphan): no useCaseId (give --use-case" in result.stderr


def test_neither_json_nor_ndjson(cli: Run, tmp_path: Path) -> None:
    source = tmp_path / "events.txt"
    source.write_text("eventId,eventType\nx,custom\n")
    result = cli("events", "send", str(source))
    assert "is not JSON" in one_error_line(result.exit_code, result.stdout, result.stderr)


def test_images_upload(cli: Run, client: Client, frames: Path) -> None:
    paths = [str(frames / "cam" / "a.jpg"), str(frames / "cam" / "b.png")]
    result = cli("images", "upload", *paths)
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert [path for _, path in rows] == paths
    assert client.images.get(rows[1][0]) == (frames / "cam" / "b.png").read_bytes()

    as_json = json.loads(cli("images", "upload", paths[0], "--json").stdout)
    assert as_json[0]["path"] == paths[0] and as_json[0]["sourceId"] and as_json[0]["url"]


def test_images_upload_goes_on_past_a_refused_file(cli: Run, frames: Path) -> None:
    result = cli("images", "upload", str(frames / "fake.jpg"), str(frames / "cam" / "a.jpg"))
    assert result.exit_code == 1
    assert len(result.stdout.splitlines()) == 1 and result.stdout.endswith("a.jpg\n")
    assert (
        result.stderr.startswith(f"error: {frames / 'fake.jpg'}: ") and len(result.stderr.splitlines()) == 1
    )
