"""``GET /health`` and ``GET /metrics``: queue depth, bytes, oldest undelivered age, delivery rate, errors."""

from __future__ import annotations

import re
import time

from tests.agent.conftest import DEVICE, Agent
from tests.conftest import jpeg_bytes, make_event


def metrics(agent: Agent) -> dict[str, float]:
    response = agent.http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    samples = re.findall(r"^(sightlog_agent_\w+)(?:\{[^}]*\})? (\S+)$", response.text, re.MULTILINE)
    return {name: float(value) for name, value in samples}


def test_while_upstream_is_away(make_agent, nowhere: str, use_case: str):
    agent = make_agent(upstream=nowhere, max_events=10, max_bytes=10**6)
    frame = jpeg_bytes()
    source_id = agent.upload(frame)
    event = make_event("h1", use_case, images=[{"sourceId": source_id}])
    assert agent.post("/vision-events", event).status_code == 201
    time.sleep(0.6)  # the forwarder has tried, and failed, by now

    health = agent.health()  # no key needed
    assert health["status"] == "ok" and health["deviceId"] == DEVICE
    queue = health["queue"]
    assert (queue["events"], queue["images"]) == (1, 1)
    assert queue["bytes"] == health["stored"]["bytes"] > len(frame)
    assert queue["oldestAgeSeconds"] >= 0.5
    assert health["stored"] == {"events": 1, "bytes": queue["bytes"], "maxEvents": 10, "maxBytes": 10**6}
    upstream = health["upstream"]
    assert upstream["url"] == nowhere and upstream["reachable"] is False and upstream["errors"] >= 1
    assert "ConnectError" in upstream["lastError"] and upstream["lastErrorAt"].endswith("Z")
    assert health["delivered"]["events"] == 0 and health["delivered"]["eventsPerSecond"] == 0

    figures = metrics(agent)
    assert figures["sightlog_agent_queue_events"] == 1 and figures["sightlog_agent_queue_images"] == 1
    assert figures["sightlog_agent_queue_bytes"] == queue["bytes"]
    assert figures["sightlog_agent_oldest_undelivered_age_seconds"] >= 0.5
    assert figures["sightlog_agent_upstream_up"] == 0 and figures["sightlog_agent_upstream_errors_total"] >= 1
    assert figures["sightlog_agent_last_upstream_error_info"] == 1
    assert figures["sightlog_agent_max_bytes"] == 10**6


def test_once_delivered(agent: Agent, use_case: str):
    batch = {"events": [make_event(f"h{i}", use_case) for i in range(20)]}
    assert agent.post("/vision-events/batch", batch).status_code == 201
    health = agent.drained()
    assert health["queue"] == {"events": 0, "images": 0, "bytes": 0, "oldestAgeSeconds": None}
    assert health["delivered"]["events"] == 20 and health["delivered"]["eventsPerSecond"] > 0
    assert health["delivered"]["lastAt"].endswith("Z")
    assert health["upstream"]["reachable"] is True and health["upstream"]["lastError"] is None
    figures = metrics(agent)
    assert figures["sightlog_agent_delivered_events_total"] == 20
    assert figures["sightlog_agent_stored_events"] == 20 and figures["sightlog_agent_queue_events"] == 0
    assert figures["sightlog_agent_upstream_up"] == 1 and figures["sightlog_agent_info"] == 1
    assert "sightlog_agent_last_upstream_error_info" not in figures
