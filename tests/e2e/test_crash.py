"""SPEC §7 "nothing lost": SIGKILL a real server while concurrent clients write, restart it, check the data.

Every write that got a 2xx must survive the crash with identical content; a write that was cut off may
or may not be there, but never partly (an event is either stored complete, exactly as sent, or absent).
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.helpers import client, unique_png
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

ROUNDS = 3
WRITE_SECONDS = 3.0
WRITERS = 6
BASE_TIME = datetime(2026, 1, 1, tzinfo=UTC)


@dataclass
class WriterLog:
    """What one writer thread sent and what the server acknowledged."""

    attempted: dict[str, dict[str, Any]] = field(default_factory=dict)  # eventId -> payload as sent
    acked_events: set[str] = field(default_factory=set)
    batches: list[list[str]] = field(default_factory=list)  # eventIds of every batch sent
    acked_uploads: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # sourceId -> (url, bytes)
    statuses: Counter[int] = field(default_factory=Counter)  # non-2xx answers
    cut_off: int = 0  # requests that failed mid-flight (connection reset / closed without an answer)
    refused: int = 0  # requests that could not connect (server already dead)
    unexpected: list[str] = field(default_factory=list)


def _event_data(rng: random.Random, event_type: str, token: str) -> dict[str, Any]:
    if event_type == "quality_check":
        return {
            "result": rng.choice(["pass", "fail"]),
            "confidence": round(rng.random(), 6),
            "externalId": token,
        }
    if event_type == "inventory_count":
        return {"itemCount": rng.randrange(0, 10_000), "location": f"aisle-{rng.randrange(40)}"}
    if event_type == "safety_alert":
        return {
            "alertType": "no_helmet",
            "severity": rng.choice(["low", "medium", "high"]),
            "description": token,
        }
    return {"value": token, "reading": round(rng.uniform(-100, 100), 4), "ok": rng.random() < 0.5}


def _image_entry(rng: random.Random, source_id: str) -> dict[str, Any]:
    def box(cls: str) -> dict[str, Any]:
        return {
            "class": cls,
            "x": rng.randrange(5, 500),
            "y": rng.randrange(5, 500),
            "width": rng.randrange(2, 60),
            "height": rng.randrange(2, 60),
            "confidence": round(rng.random(), 5),
        }

    seg = box("dent")
    seg["points"] = [[rng.randrange(100), rng.randrange(100)] for _ in range(rng.randrange(3, 7))]
    return {
        "sourceId": source_id,
        "label": f"cam-{rng.randrange(8)}",
        "objectDetections": [
            box(rng.choice(["defect", "scratch", "person"])) for _ in range(rng.randrange(1, 5))
        ],
        "classifications": [{"class": "ok", "confidence": round(rng.random(), 5)}],
        "instanceSegmentations": [seg],
    }


def _make_event(
    rng: random.Random, event_id: str, use_case: str, seq: int, sources: list[str]
) -> dict[str, Any]:
    event_type = rng.choice(["quality_check", "inventory_count", "safety_alert", "custom"])
    token = f"{event_id}-{rng.getrandbits(64):016x}"
    event: dict[str, Any] = {
        "eventId": event_id,
        "eventType": event_type,
        "useCaseId": use_case,
        "timestamp": (BASE_TIME + timedelta(seconds=seq, milliseconds=rng.randrange(1000)))
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z"),
        "eventData": _event_data(rng, event_type, token),
        "deviceId": f"device-{rng.randrange(20)}",
        "customMetadata": {
            "token": token,
            "seq": seq,
            "ratio": round(rng.random(), 6),
            "flag": rng.random() < 0.5,
            "line id": f"L{rng.randrange(9)}",
        },
    }
    if sources and rng.random() < 0.7:
        event["images"] = [_image_entry(rng, rng.choice(sources)) for _ in range(rng.randrange(1, 3))]
    return event


def _writer(
    name: str, base_url: str, key: str, use_case: str, killed: threading.Event, log: WriterLog, seed: int
) -> None:
    rng = random.Random(seed)
    sources: list[str] = []
    seq = 0

    def next_id() -> str:
        nonlocal seq
        seq += 1
        return f"{name}-{seq}"

    with client(base_url, key, timeout=20.0) as http:
        while True:
            op = rng.random()
            try:
                if op < 0.45:
                    event = _make_event(rng, next_id(), use_case, seq, sources)
                    log.attempted[event["eventId"]] = event
                    response = http.post("/vision-events", json=event)
                    if response.is_success:
                        assert response.json()["eventId"] == event["eventId"]
                        log.acked_events.add(event["eventId"])
                elif op < 0.75:
                    events = [
                        _make_event(rng, next_id(), use_case, seq, sources)
                        for _ in range(rng.randrange(2, 9))
                    ]
                    ids = [e["eventId"] for e in events]
                    for event in events:
                        log.attempted[event["eventId"]] = event
                    log.batches.append(ids)
                    response = http.post("/vision-events/batch", json={"events": events})
                    if response.is_success:
                        assert response.json()["created"] == len(ids), response.text
                        log.acked_events.update(ids)
                else:
                    data = unique_png(rng)
                    response = http.post(
                        "/vision-events/upload",
                        files={"file": (f"{name}.png", data, "application/octet-stream")},
                    )
                    if response.is_success:
                        body = response.json()
                        log.acked_uploads[body["sourceId"]] = (body["url"], data)
                        sources.append(body["sourceId"])
                if not response.is_success:
                    log.statuses[response.status_code] += 1
            except httpx.ConnectError:
                log.refused += 1
                if killed.is_set():
                    return
                log.unexpected.append("connect error before the kill")
                time.sleep(0.05)
            except httpx.TransportError as exc:
                log.cut_off += 1
                if killed.is_set():
                    return
                log.unexpected.append(f"{type(exc).__name__} before the kill: {exc}")
            except Exception as exc:  # an assertion on a 2xx body, or a non-JSON answer
                log.unexpected.append(f"{type(exc).__name__}: {exc}")


def _run_round(server: ServerProcess, use_case: str, round_no: int) -> list[WriterLog]:
    killed = threading.Event()
    logs = [WriterLog() for _ in range(WRITERS)]
    threads = [
        threading.Thread(
            target=_writer,
            args=(
                f"r{round_no}w{i}",
                server.url,
                server.api_key,
                use_case,
                killed,
                logs[i],
                round_no * 100 + i,
            ),
            daemon=True,
        )
        for i in range(WRITERS)
    ]
    for thread in threads:
        thread.start()
    time.sleep(WRITE_SECONDS + random.Random(round_no).uniform(-0.3, 0.3))
    assert all(t.is_alive() for t in threads), "a writer stopped before the kill: " + repr(
        [log.unexpected for log in logs]
    )
    killed.set()
    server.kill()  # SIGKILL while the writers are mid-request
    for thread in threads:
        thread.join(timeout=30)
        assert not thread.is_alive(), "a writer hung after the server was killed"
    return logs


def _all_events(http: httpx.Client, use_case: str) -> dict[str, dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        body: dict[str, Any] = {"useCaseId": use_case, "limit": 1000, "sort": "asc"}
        if cursor:
            body["cursor"] = cursor
        response = http.post("/vision-events/query", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        for event in page["events"]:
            assert event["eventId"] not in events, f"event {event['eventId']} returned twice while paging"
            events[event["eventId"]] = event
        if not page["hasMore"]:
            return events
        cursor = page["nextCursor"]
        assert cursor, page


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _mismatches(sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    """How a stored event differs from the payload that was sent for it (empty when it is complete)."""
    problems = []
    for key in ("eventType", "useCaseId", "deviceId", "eventData", "customMetadata"):
        if stored.get(key) != sent.get(key):
            problems.append(f"{key}: sent {sent.get(key)!r}, stored {stored.get(key)!r}")
    if _instant(stored["timestamp"]) != _instant(sent["timestamp"]):
        problems.append(f"timestamp: sent {sent['timestamp']}, stored {stored['timestamp']}")
    sent_images = sent.get("images") or []
    stored_images = stored.get("images") or []
    if len(sent_images) != len(stored_images):
        problems.append(f"images: sent {len(sent_images)}, stored {len(stored_images)}")
    else:
        for i, (s_img, st_img) in enumerate(zip(sent_images, stored_images, strict=True)):
            for key, value in s_img.items():
                if st_img.get(key) != value:
                    problems.append(f"images[{i}].{key}: sent {value!r}, stored {st_img.get(key)!r}")
    return problems


def _verify(server: ServerProcess, use_case: str, logs: list[WriterLog]) -> int:
    attempted: dict[str, dict[str, Any]] = {}
    acked: set[str] = set()
    batches: list[list[str]] = []
    uploads: dict[str, tuple[str, bytes]] = {}
    for log in logs:
        attempted.update(log.attempted)
        acked |= log.acked_events
        batches += log.batches
        uploads.update(log.acked_uploads)

    with client(server.url, server.api_key) as http:
        stored = _all_events(http, use_case)

        lost = sorted(acked - stored.keys())
        assert not lost, f"{len(lost)} acknowledged events are gone after the crash, e.g. {lost[:5]}"

        unknown = sorted(stored.keys() - attempted.keys())
        assert not unknown, f"events nobody sent are stored: {unknown[:5]}"
        partial = {eid: p for eid in stored if (p := _mismatches(attempted[eid], stored[eid]))}
        assert not partial, (
            f"{len(partial)} stored events differ from what was sent (acknowledged ones included: "
            f"{sorted(set(partial) & acked)[:5]}): " + repr(dict(list(partial.items())[:3]))
        )

        torn = [ids for ids in batches if 0 < sum(eid in stored for eid in ids) < len(ids)]
        assert not torn, f"batches stored in part (a batch is all-or-nothing): {torn[:3]}"

        for source_id, (url, data) in uploads.items():
            response = http.get(url)
            assert response.status_code == 200, f"acknowledged upload {source_id}: {response.status_code}"
            assert response.content == data, f"acknowledged upload {source_id} is served with other bytes"

        use_cases = http.get("/vision-events/use-cases", params={"status": "all"}).json()["useCases"]
        (entry,) = [u for u in use_cases if u["id"] == use_case]
        assert entry["eventCount"] == len(stored), (
            f"use-case eventCount {entry['eventCount']} != {len(stored)} distinct stored events"
        )
        count = http.post("/vision-events/count", json={"useCaseId": use_case})
        assert count.status_code == 200, count.text
        assert count.json()["count"] == len(stored)

        # Re-sending an acknowledged write is safe: it overwrites in place and adds nothing.
        for eid in sorted(acked)[:5]:
            response = http.post("/vision-events", json=attempted[eid])
            assert response.status_code in (200, 201), response.text
            assert response.json() == {"eventId": eid, "created": False}
        assert http.post("/vision-events/count", json={"useCaseId": use_case}).json()["count"] == len(stored)
    return len(stored)


def test_acknowledged_writes_survive_repeated_sigkill(tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "data")
    server.start()
    try:
        with client(server.url, server.api_key) as http:
            response = http.post("/vision-events/use-cases", json={"name": "Crash test"})
            assert response.status_code == 201, response.text
            use_case = response.json()["id"]

        all_logs: list[WriterLog] = []
        cut_off = 0
        for round_no in range(1, ROUNDS + 1):
            logs = _run_round(server, use_case, round_no)
            unexpected = [msg for log in logs for msg in log.unexpected]
            assert not unexpected, f"round {round_no}: {unexpected[:5]}"
            statuses = sum((log.statuses for log in logs), Counter())
            assert set(statuses) <= {503}, f"round {round_no}: unexpected error answers {dict(statuses)}"
            acked = sum(len(log.acked_events) for log in logs)
            uploads = sum(len(log.acked_uploads) for log in logs)
            assert acked >= 20 and uploads >= 5, f"round {round_no}: too little traffic ({acked}, {uploads})"
            cut_off += sum(log.cut_off for log in logs)
            all_logs += logs

            server.start()  # same port and data directory
            _verify(server, use_case, all_logs)

        assert cut_off > 0, "no request was in flight at any of the kills; the test proved nothing"
    finally:
        server.stop()
