"""``Sink``: background delivery with exact counters, including across a server restart."""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import supervision as sv
from PIL import Image

from sightlog import Client, Sink
from sightlog.sdk import RetryPolicy, SinkStats
from tests.sdk.stub import Recorded, Reply, stub_client
from tests.support.server import ServerProcess, free_port

QUICK = RetryPolicy(max_attempts=2, backoff=0.05, max_backoff=0.3)
DETECTIONS = {
    "predictions": [
        {"x": 8, "y": 8, "width": 4, "height": 4, "class": "dent", "class_id": 0, "confidence": 0.9}
    ]
}


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return any(text in record.getMessage() for record in caplog.records)


def _stored_ids(client: Client, use_case: str) -> list[str]:
    return [e.event_id for e in client.events.iter(use_case, page_size=1000)]


def test_sends_events_with_images_and_predictions(
    client: Client, use_case: str, tmp_path: Path, caplog
) -> None:
    caplog.set_level(logging.INFO, logger="sightlog.sink")
    frame = np.zeros((16, 16, 3), dtype=np.uint8)
    path = tmp_path / "frame.png"
    Image.new("RGB", (16, 16), (0, 255, 0)).save(path)
    boxes = sv.Detections(xyxy=np.array([[1.0, 2, 5, 6]]), confidence=np.array([0.5]), class_id=np.array([1]))
    with Sink(client, use_case=use_case, batch_size=7, log_interval=0.05) as sink:
        ids = [
            sink.send(event_data={"value": str(i)}, device_id="cam", stream_id=f"s{i % 3}") for i in range(40)
        ]
        ids.append(sink.send(frame, DETECTIONS, event_type="quality_check", event_data={"result": "fail"}))
        frame[:] = 255  # the pipeline reuses its buffer: what was sent must not change
        ids.append(sink.send(path, boxes, class_names=["a", "b"], label="camera 2"))
        ids.append(sink.send(Image.new("RGB", (8, 8)), custom_metadata={"line": "A"}))
        ids.append(sink.send(path.read_bytes(), workflow_id="wf", timestamp="2026-11-20T10:00:00Z"))
        assert all(ids)
        assert sink.flush(timeout=30)
        assert sink.stats() == SinkStats(sent=44, throttled=0, failed=0, queued=0, dropped=0)
        _wait_until(lambda: _logged(caplog, "Sink: sent=44 queued=0"))  # the periodic counters
    assert sink.sent == 44
    assert sorted(_stored_ids(client, use_case)) == sorted(ids)

    with_frame = client.events.get(ids[40])
    assert with_frame.event_data == {"result": "fail"}
    image = with_frame.images[0]
    assert image.object_detections[0].class_name == "dent"
    pixels = Image.open(io.BytesIO(client.images.get(image.source_id))).convert("RGB")
    assert max(pixels.getpixel((8, 8))) < 20, "the frame was read after send() returned"
    from_path = client.events.get(ids[41]).images[0]
    assert (from_path.label, from_path.object_detections[0].class_name) == ("camera 2", "b")
    assert client.events.get(ids[43]).workflow_id == "wf"
    assert _logged(caplog, "Sink closed: sent=44 queued=0 failed=0 throttled=0 dropped=0")


def test_cooldown_throttles_per_stream(client: Client, use_case: str) -> None:
    with Sink(client, use_case=use_case, cooldown_seconds=0.3) as sink:
        accepted = [sink.send(stream_id=stream) for stream in ["a", "a", "b", "a", "b", None, None]]
        time.sleep(0.35)
        accepted.append(sink.send(stream_id="a"))
        assert sink.flush(timeout=30)
    assert [i is not None for i in accepted] == [True, False, True, False, False, True, False, True]
    assert sink.stats() == SinkStats(sent=4, throttled=4, failed=0, queued=0, dropped=0)
    assert client.events.count(use_case) == 4


def test_rejected_events_count_as_failed_and_the_rest_is_sent(client: Client, use_case: str, caplog) -> None:
    with Sink(client, use_case=use_case) as sink:
        good = [sink.send(event_data={"value": str(i)}) for i in range(5)]
        bad = sink.send(event_type="quality_check", event_data={"result": "maybe"})
        good += [sink.send() for _ in range(5)]
        not_an_image = sink.send(b"not an image at all")
        assert sink.flush(timeout=30)
    assert sink.stats() == SinkStats(sent=10, throttled=0, failed=2, queued=0, dropped=0)
    assert sorted(_stored_ids(client, use_case)) == sorted(good)
    rejections = " ".join(r.message for r in caplog.records if r.levelno == logging.ERROR)
    assert bad in rejections and "eventData" in rejections
    assert not_an_image in rejections and "415" in rejections


def test_malformed_predictions_raise_in_send(client: Client, use_case: str) -> None:
    with Sink(client, use_case=use_case) as sink:
        with pytest.raises(ValueError, match="confidence"):
            sink.send(
                predictions={"objectDetections": [{"class": "dent", "x": 1, "y": 1, "width": 1, "height": 1}]}
            )
        assert sink.stats() == SinkStats(sent=0, throttled=0, failed=0, queued=0, dropped=0)


def test_a_batch_rejected_as_a_whole_is_halved_until_it_fits() -> None:
    def at_most_three(request: Recorded) -> Reply:
        events = request.json()["events"]
        if len(events) > 3:
            details = [{"loc": "events", "message": "must hold 1 to 3 events"}]
            return Reply(400, {"error": "Too many.", "code": "validation_error", "details": details})
        return Reply(201, {"created": len(events), "eventIds": [e["eventId"] for e in events]})

    with stub_client([at_most_three], retry=QUICK) as (stub, client):
        with Sink(client, use_case="uc", batch_size=10) as sink:
            ids = [sink.send() for _ in range(10)]
            assert sink.flush(timeout=30)
        assert sink.stats() == SinkStats(sent=10, throttled=0, failed=0, queued=0, dropped=0)
    delivered = [
        e["eventId"] for r in stub.requests if len(r.json()["events"]) <= 3 for e in r.json()["events"]
    ]
    assert sorted(delivered) == sorted(ids)


def test_full_queue_drops_are_counted_and_logged(caplog) -> None:
    unreachable = Client(f"http://127.0.0.1:{free_port()}", "k", retry=QUICK)
    sink = Sink(unreachable, use_case="uc", max_queue=10, batch_size=4)
    try:
        returned = [sink.send() for _ in range(25)]
        assert sum(r is not None for r in returned) == 10
        stats = sink.stats()
        assert (stats.queued, stats.dropped, stats.sent, stats.failed) == (10, 15, 0, 0)
        assert not sink.flush(timeout=0.3)
        assert sink.failed == 0, "an unreachable server is not a rejection"
    finally:
        final = sink.close(timeout=0.2)
        unreachable.close()
    assert final == SinkStats(sent=0, throttled=0, failed=0, queued=0, dropped=25)
    warnings = [r.message for r in caplog.records if r.levelno == logging.WARNING]
    assert any("queue full" in m and "dropped 1 event" in m for m in warnings)
    assert any("10 event(s) undelivered" in r.message for r in caplog.records if r.levelno == logging.ERROR)
    with pytest.raises(RuntimeError, match="closed"):
        sink.send()


def test_server_restart_mid_stream_loses_nothing_within_the_queue_bound(tmp_path: Path, caplog) -> None:
    with (
        ServerProcess(tmp_path / "data") as server,
        Client(server.url, server.api_key, retry=QUICK) as client,
    ):
        use_case = client.use_cases.create("Restart").id
        sink = Sink(client, use_case=use_case, max_queue=150, batch_size=50)
        before = [sink.send(event_data={"value": f"before {i}"}) for i in range(100)]
        assert sink.flush(timeout=30) and sink.sent == 100

        server.stop()
        during = [sink.send(event_data={"value": f"during {i}"}) for i in range(200)]
        accepted = [i for i in during if i is not None]
        assert len(accepted) == 150, "the queue bound was not applied"
        _wait_until(lambda: _logged(caplog, "kept queued"))  # the worker met the outage
        outage = sink.stats()
        assert (outage.sent, outage.failed, outage.queued, outage.dropped) == (100, 0, 150, 50)

        server.start()
        assert sink.flush(timeout=30)
        assert sink.close() == SinkStats(sent=250, throttled=0, failed=0, queued=0, dropped=50)
        stored = _stored_ids(client, use_case)
        assert len(stored) == len(set(stored)) == 250, "an event was stored twice"
        assert set(stored) == set(before) | set(accepted)


def test_queued_events_are_delivered_at_interpreter_exit(
    server: ServerProcess, client: Client, use_case: str
) -> None:
    script = textwrap.dedent(
        f"""
        from sightlog import Sink
        sink = Sink(use_case={use_case!r})
        for i in range(30):
            sink.send(event_data={{"value": str(i)}})
        # no close(): the atexit hook must deliver the queue
        """
    )
    env = {**os.environ, "SIGHTLOG_SERVER": server.url, "SIGHTLOG_API_KEY": server.api_key}
    subprocess.run([sys.executable, "-c", script], env=env, check=True, timeout=60)
    assert client.events.count(use_case) == 30


def test_send_and_counters_are_thread_safe(client: Client, use_case: str) -> None:
    with Sink(client, use_case=use_case, max_queue=10_000) as sink:

        def produce() -> None:
            for _ in range(50):
                sink.send()

        threads = [threading.Thread(target=produce) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sink.flush(timeout=30)
    assert sink.sent == 200 and client.events.count(use_case) == 200
