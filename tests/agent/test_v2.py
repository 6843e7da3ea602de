"""``POST /v2/events``: the local event-store API of Roboflow ``inference``, mapped onto Sightlog events."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from sightlog import Client
from tests.agent.conftest import DEVICE, Agent
from tests.api.helpers import assert_error, image_bytes
from tests.conftest import jpeg_bytes

WHEN = (datetime.now(UTC) - timedelta(hours=1)).replace(microsecond=0)
DETECTION = {"class": "person", "x": 30, "y": 40, "width": 40, "height": 40, "confidence": 0.9}


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def v2_event(use_case: str, **fields: Any) -> dict[str, Any]:
    """What inference's vision-events block posts in event-store mode."""
    return {
        "event_schema": "quality_check",
        "solution": use_case,
        "event_data": {"result": "pass"},
        "inference_timestamp": WHEN.isoformat(),
        **fields,
    }


def post(agent: Agent, body: Any, key: str | None = "agent") -> Any:
    headers = {"X-API-Key": agent.key} if key == "agent" else {}
    return agent.http.post("/v2/events", json=body, headers=headers)


def test_the_mapping(agent: Agent, client: Client, use_case: str):
    output, original = jpeg_bytes(100, 100), image_bytes("PNG", 100, 100)
    body = v2_event(
        use_case,
        custom_metadata={"camera_id": "cam-01", "night": False},
        stream_id="rtsp-1",
        workflow_id="ppe-check",
        displayImagePosition=0,
        images=[
            {
                "base64Image": b64(output),
                "inputBase64Image": "data:image/png;base64," + b64(original),
                "label": "workflow",
                "objectDetections": [DETECTION],
            }
        ],
    )
    answer = post(agent, body)
    assert answer.status_code == 201, answer.text
    (event_id,) = answer.json().values()
    assert list(answer.json()) == ["id"]

    agent.drained()
    event = client.events.get(event_id)
    assert (event.event_type, event.use_case_id, event.event_data) == (
        "quality_check",
        use_case,
        {"result": "pass"},
    )
    assert event.timestamp == WHEN
    assert event.custom_metadata == {"camera_id": "cam-01", "night": False}
    assert (event.device_id, event.stream_id, event.workflow_id) == (DEVICE, "rtsp-1", "ppe-check")
    (image,) = event.images
    assert (
        image.label == "workflow"
        and image.object_detections
        and image.object_detections[0].class_name == "person"
    )
    assert client.images.get(image.source_id or "") == output
    assert client.images.get(image.input_source_id or "") == original
    assert event.warnings == []


def test_ids_epoch_timestamps_devices_and_no_images(agent: Agent, client: Client, use_case: str):
    body = v2_event(use_case, event_id="v2-fixed", inference_timestamp=WHEN.timestamp(), device_id="jetson-3")
    assert post(agent, body).json() == {"id": "v2-fixed"}
    agent.drained()
    event = client.events.get("v2-fixed")
    assert (event.timestamp, event.device_id, event.images) == (WHEN, "jetson-3", [])


@pytest.mark.parametrize(
    ("fields", "loc"),
    [
        ({"solution": None}, "solution"),
        ({"event_schema": "sneeze"}, "event_schema"),
        ({"event_data": {"result": "maybe"}}, "event_data.result"),
        ({"custom_metadata": {"bad key!": 1}}, "custom_metadata"),
        ({"images": [{"base64Image": "not base64!"}]}, "images[0].base64Image"),
        ({"images": [{"inputBase64Image": 7}]}, "images[0].inputBase64Image"),
    ],
)
def test_problems_are_named_as_the_client_sent_them(agent: Agent, use_case: str, fields, loc):
    body = {k: v for k, v in (v2_event(use_case) | fields).items() if v is not None}
    details = assert_error(post(agent, body), 400, "validation_error")["details"]
    assert len(details) == 1 and details[0]["loc"].startswith(loc), details
    assert agent.health()["stored"]["events"] == 0


def test_the_key(make_agent, use_case: str):
    agent = make_agent()
    assert_error(post(agent, v2_event(use_case), key=None), 401, "unauthorized")
    assert_error(post(agent, [v2_event(use_case)]), 400, "bad_request")
    # inference sends X-API-Key only when EVENT_INGESTION_API_KEY is set: --allow-anonymous is for that.
    assert post(make_agent(allow_anonymous=True), v2_event(use_case), key=None).status_code == 201
