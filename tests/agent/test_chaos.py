"""Chaos: producers write to a real ``sightlog agent`` while the upstream server and the agent itself are
SIGKILLed and restarted, again and again. At the end the upstream server must hold exactly the events
the agent acknowledged, each once, with byte-identical images (SPEC §7 across the agent).

Producers behave like well-written clients: each event is sent until acknowledged (the same eventId, so a
re-send whose first answer was lost overwrites instead of duplicating), with its image uploaded first
through ``/vision-events/upload`` or inline through ``/v2/events``.
"""

from __future__ import annotations

import base64
import hashlib
import io
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from sightlog import Client
from tests.agent.conftest import DEVICE, AgentProcess
from tests.support.server import ServerProcess, free_port

pytestmark = pytest.mark.slow

CYCLES = 3
RUN = 1.2  # seconds of undisturbed work between two blows
RETRY_PAUSE = 0.05
DRAIN_TIMEOUT = 60.0


def noisy_jpeg(rng: random.Random) -> bytes:
    """A small JPEG of random pixels: no two events share image bytes."""
    out = io.BytesIO()
    Image.frombytes("RGB", (24, 24), rng.randbytes(24 * 24 * 3)).save(out, "JPEG")
    return out.getvalue()


@dataclass
class Producer:
    url: str
    key: str
    use_case: str
    acked: dict[str, str] = field(default_factory=dict)  # eventId -> sha256 of its image
    retries: int = 0
    stop: threading.Event = field(default_factory=threading.Event)
    threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for worker, send in enumerate((self._via_upload, self._via_v2)):
            thread = threading.Thread(target=self._run, args=(worker, send), daemon=True)
            thread.start()
            self.threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=60)
        assert not any(t.is_alive() for t in self.threads), "a producer hung"

    def _run(self, worker: int, send: Callable[[httpx.Client, str, bytes], None]) -> None:
        rng = random.Random(worker)
        with httpx.Client(
            base_url=self.url, headers={"X-API-Key": self.key}, timeout=10, trust_env=False
        ) as http:
            for n in range(1_000_000):
                if self.stop.is_set():
                    return
                event_id, image = f"w{worker}-{n}", noisy_jpeg(rng)
                send(http, event_id, image)  # returns once acknowledged
                self.acked[event_id] = hashlib.sha256(image).hexdigest()

    def _until_acked(self, request: Callable[[], httpx.Response]) -> dict[str, Any]:
        while True:
            try:
                response = request()
            except httpx.TransportError:  # the agent is down or was killed mid-request
                pass
            else:
                assert response.status_code in (201, 503), response.text
                if response.status_code == 201:
                    return response.json()
            self.retries += 1
            time.sleep(RETRY_PAUSE)

    def _event(self, event_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "eventId": event_id,
            "eventType": "quality_check",
            "useCaseId": self.use_case,
            "timestamp": "2026-11-20T10:00:00Z",
            "eventData": {"result": "pass"},
            **fields,
        }

    def _via_upload(self, http: httpx.Client, event_id: str, image: bytes) -> None:
        upload = self._until_acked(
            lambda: http.post("/vision-events/upload", files={"file": ("f.jpg", image)})
        )
        event = self._event(event_id, images=[{"sourceId": upload["sourceId"]}])
        self._until_acked(lambda: http.post("/vision-events", json=event))

    def _via_v2(self, http: httpx.Client, event_id: str, image: bytes) -> None:
        body = {
            "event_id": event_id,
            "event_schema": "quality_check",
            "solution": self.use_case,
            "event_data": {"result": "fail"},
            "inference_timestamp": "2026-11-20T10:00:00Z",
            "images": [{"base64Image": base64.b64encode(image).decode(), "label": "workflow"}],
        }
        self._until_acked(lambda: http.post("/v2/events", json=body))


def drained(agent: AgentProcess) -> dict[str, Any]:
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while True:
        health = agent.health()
        if health["queue"]["events"] == 0 and health["queue"]["images"] == 0:
            return health
        assert time.monotonic() < deadline, f"the agent did not drain: {health}"
        time.sleep(0.2)


def test_kill_everything_lose_nothing(tmp_path: Path) -> None:
    with (
        ServerProcess(tmp_path / "upstream", port=free_port()) as upstream,
        Client(upstream.url, upstream.api_key) as client,
    ):
        use_case = client.use_cases.create("Chaos").id
        with AgentProcess(tmp_path / "agent", upstream, "--max-backoff", "0.5") as agent:
            producer = Producer(agent.url, agent.api_key, use_case)
            producer.start()
            try:
                for _ in range(CYCLES):
                    time.sleep(RUN)
                    upstream.kill()  # the uplink goes: the agent keeps taking events
                    time.sleep(RUN)
                    agent.kill()  # and then the edge box loses power, its outbox full
                    agent.start()
                    time.sleep(RUN)
                    upstream.start()
                    time.sleep(RUN / 2)
                    agent.kill()  # in the middle of catching up
                    agent.start()
                time.sleep(RUN)
            finally:
                producer.finish()
            health = drained(agent)

        acked = producer.acked
        assert len(acked) > 100 and producer.retries > 0, (len(acked), producer.retries)
        assert health["rejected"]["events"] == 0, health
        stored = list(client.events.iter(use_case, page_size=1000))
        ids = [event.event_id for event in stored]
        assert len(ids) == len(set(ids)) and set(ids) == set(acked), (
            f"missing {sorted(set(acked) - set(ids))[:10]}, unexpected {sorted(set(ids) - set(acked))[:10]}"
        )
        assert {event.device_id for event in stored} == {DEVICE}

        def image_digest(event_source: tuple[str, str]) -> tuple[str, str]:
            event_id, source_id = event_source
            return event_id, hashlib.sha256(client.images.get(source_id)).hexdigest()

        with ThreadPoolExecutor(4) as pool:
            digests = dict(
                pool.map(image_digest, [(e.event_id, e.images[0].source_id or "") for e in stored])
            )
        assert digests == acked
