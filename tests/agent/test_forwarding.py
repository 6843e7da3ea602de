"""The agent takes the server's write API and forwards it: images first, ids mapped, devices tagged."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from sightlog import Client
from sightlog.agent.forwarder import LANE_LATENCY_SECONDS, MAX_UPLOAD_LANES, upload_lanes
from sightlog.services.bundles import write_bundle
from tests.agent.conftest import DEVICE, Agent
from tests.api.helpers import assert_error, image_bytes
from tests.conftest import jpeg_bytes, make_event
from tests.support.server import ServerProcess

DETECTION = {"class": "dent", "x": 32, "y": 24, "width": 10, "height": 8, "confidence": 0.9}


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_uploads_and_events_reach_upstream_with_upstream_source_ids(
    agent: Agent, client: Client, use_case: str
):
    display, original = jpeg_bytes(40, 30), image_bytes("PNG", 20, 10)
    display_id, original_id = agent.upload(display), agent.upload(original)
    images = [{"sourceId": display_id, "inputSourceId": original_id, "objectDetections": [DETECTION]}]
    created = agent.post("/vision-events", make_event("f1", use_case, images=images))
    assert created.status_code == 201 and created.json() == {"eventId": "f1", "created": True}
    batch = agent.post(
        "/vision-events/batch",
        {"events": [make_event("f2", use_case, deviceId="cam-7"), make_event("f3", use_case)]},
    )
    assert batch.status_code == 201 and batch.json() == {"created": 2, "eventIds": ["f2", "f3"]}

    health = agent.drained()
    assert (health["delivered"]["events"], health["delivered"]["images"]) == (3, 2)
    first = client.events.get("f1")
    image = first.images[0]
    assert image.object_detections and image.object_detections[0].x == 32
    assert {image.source_id, image.input_source_id}.isdisjoint({display_id, original_id})  # upstream's own
    assert sha(client.images.get(image.source_id or "")) == sha(display)
    assert sha(client.images.get(image.input_source_id or "")) == sha(original)
    assert first.warnings == []
    assert [client.events.get(i).device_id for i in ("f1", "f2", "f3")] == [DEVICE, "cam-7", DEVICE]


def test_an_upload_named_by_a_later_event_and_a_resent_event(agent: Agent, client: Client, use_case: str):
    source_id = agent.upload()
    agent.drained()  # the image is upstream before any event names it
    for result in ("pass", "fail"):
        answer = agent.post("/vision-events", make_event("f4", use_case, eventData={"result": result}))
        assert answer.json()["created"] is (result == "pass")
    agent.post("/vision-events", make_event("f5", use_case, images=[{"sourceId": source_id}]))
    agent.drained()
    assert client.events.get("f4").event_data == {"result": "fail"}  # the last one sent wins
    assert client.events.get("f5").images[0].width == 64


def test_validation_errors_are_the_servers_and_come_back_at_once(
    agent: Agent, server: ServerProcess, use_case: str
):
    bad = [
        make_event("v1", use_case, eventData={"result": "maybe"}),
        make_event("v2", use_case, timestamp="x"),
    ]
    from_agent = agent.post("/vision-events/batch", {"events": bad})
    with httpx.Client(base_url=server.url, headers=agent.headers) as direct:
        from_server = direct.post("/vision-events/batch", json={"events": bad})
        assert_error(from_agent, 400, "validation_error")
        assert from_agent.json() == from_server.json()
        not_an_image = agent.http.post(
            "/vision-events/upload", files={"file": ("x.jpg", b"hello")}, headers=agent.headers
        )
        assert_error(not_an_image, 415, "unsupported_media_type")
    assert agent.health()["stored"]["events"] == 0


def test_keys(make_agent, server: ServerProcess, use_case: str):
    agent = make_agent(local_keys=frozenset({"camera-key"}))
    event = make_event("k1", use_case)
    assert_error(agent.http.post("/vision-events", json=event), 401, "unauthorized")
    assert_error(agent.post("/vision-events", event, headers={"X-API-Key": "wrong"}), 401, "unauthorized")
    assert agent.post("/vision-events", event, headers={"X-API-Key": "camera-key"}).status_code == 201
    assert (
        agent.http.post("/vision-events", json=event, params={"api_key": server.api_key}).status_code == 201
    )

    # The two calls of the roboflow SDK's Roboflow(api_key).workspace(), once upstream named the workspace.
    agent.drained()
    assert agent.http.post("/", params={"api_key": "camera-key"}).json() == {"workspace": "default"}
    info = agent.http.get("/default", params={"api_key": "camera-key"})
    assert info.status_code == 200 and info.json()["workspace"]["url"] == "default"
    assert_error(agent.http.get("/acme", params={"api_key": "camera-key"}), 403, "forbidden")
    assert_error(agent.http.post("/", params={"api_key": "wrong"}), 401, "unauthorized")

    anonymous = make_agent(allow_anonymous=True)
    assert anonymous.http.post("/vision-events", json=make_event("k2", use_case)).status_code == 201


def test_a_bundle_sent_to_the_agent(agent: Agent, client: Client, use_case: str):
    frame = jpeg_bytes(24, 24)
    archive = write_bundle(
        make_event("bun1", "ignored", images=[{"file": "images/a.jpg"}]), {"images/a.jpg": frame}
    )
    answer = agent.http.post(
        "/vision-events/bundle",
        content=archive,
        params={"useCaseId": use_case},
        headers={**agent.headers, "Content-Type": "application/gzip"},
    )
    assert answer.status_code == 201 and answer.json() == {"eventId": "bun1", "created": True}
    agent.drained()
    event = client.events.get("bun1")
    assert event.use_case_id == use_case
    assert client.images.get(event.images[0].source_id or "") == frame


def test_what_upstream_refuses_for_good_is_kept_as_rejected_and_the_rest_goes_on(
    agent: Agent, client: Client, use_case: str
):
    events = [make_event("r1", use_case), make_event("r2", "no-such-use-case"), make_event("r3", use_case)]
    assert agent.post("/vision-events/batch", {"events": events}).status_code == 201  # the agent cannot know
    health = agent.drained()
    assert health["rejected"]["events"] == 1
    assert "r2" in health["rejected"]["last"] and "no-such-use-case" in health["rejected"]["last"]
    assert health["delivered"]["events"] == 2
    assert {e.event_id for e in client.events.iter(use_case)} == {"r1", "r3"}


def test_the_outbox_survives_a_restart_and_is_delivered_then(
    make_agent, tmp_path, nowhere: str, client: Client, use_case: str
):
    frame = jpeg_bytes(30, 20)
    offline = make_agent(upstream=nowhere, data_dir=tmp_path / "kept")
    source_id = offline.upload(frame)
    assert (
        offline.post(
            "/vision-events", make_event("s1", use_case, images=[{"sourceId": source_id}])
        ).status_code
        == 201
    )
    health = offline.health()
    assert (health["queue"]["events"], health["queue"]["images"]) == (1, 1)
    assert health["upstream"]["reachable"] is False and health["upstream"]["lastError"]
    offline.runtime.close()

    online = make_agent(data_dir=tmp_path / "kept")
    assert online.drained()["delivered"] == {**online.health()["delivered"], "events": 1, "images": 1}
    assert client.images.get(client.events.get("s1").images[0].source_id or "") == frame


def test_a_second_agent_on_the_same_outbox_is_refused(make_agent, tmp_path):
    from sightlog.errors import Conflict

    make_agent(data_dir=tmp_path / "shared")
    with pytest.raises(Conflict, match="Another agent"):
        make_agent(data_dir=tmp_path / "shared")


class SlowUpstream(ThreadingHTTPServer):
    """Answers the forwarder's calls like a server would, each upload after ``delay`` seconds, and keeps
    the most uploads it ever had in flight at once."""

    daemon_threads = True

    def __init__(self, delay: float) -> None:
        super().__init__(("127.0.0.1", 0), _SlowHandler)
        self.delay = delay
        self.uploads = 0
        self.in_flight = 0
        self.most_in_flight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _SlowHandler(BaseHTTPRequestHandler):
    server: SlowUpstream

    def do_POST(self) -> None:  # the name http.server calls
        body = self.rfile.read(int(self.headers["Content-Length"]))
        if self.path == "/vision-events/upload":
            with self.server.lock:
                self.server.in_flight += 1
                self.server.most_in_flight = max(self.server.most_in_flight, self.server.in_flight)
            time.sleep(self.server.delay)
            with self.server.lock:
                self.server.in_flight -= 1
                self.server.uploads += 1
            self._answer(201, {"success": True, "sourceId": uuid.uuid4().hex, "url": "/x"})
        elif self.path == "/vision-events/batch":
            ids = [event["eventId"] for event in json.loads(body)["events"]]
            self._answer(201, {"created": len(ids), "eventIds": ids})
        else:
            self._answer(200, {"workspace": "slow"})

    def _answer(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@pytest.mark.parametrize(("delay", "lanes"), [(0.0, (1, 1)), (0.1, (4, MAX_UPLOAD_LANES))])
def test_uploads_in_flight_follow_upstreams_latency(make_agent, delay: float, lanes: tuple[int, int]):
    """A near upstream gets one upload at a time; a distant one several, so its round trips overlap."""
    upstream = SlowUpstream(delay)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    try:
        agent = make_agent(upstream=upstream.url)
        for n in range(48):
            agent.upload(jpeg_bytes(16 + n, 16))
        agent.drained(timeout=60)
        assert upstream.uploads == 48
        assert lanes[0] <= upstream.most_in_flight <= lanes[1]
    finally:
        upstream.shutdown()
        upstream.server_close()


@pytest.mark.parametrize(
    ("latency", "lanes"),
    [(0.0, 1), (0.003, 1), (LANE_LATENCY_SECONDS, 1), (0.02, 2), (0.1, 7), (5.0, MAX_UPLOAD_LANES)],
)
def test_upload_lanes(latency: float, lanes: int):
    assert upload_lanes(latency) == lanes
