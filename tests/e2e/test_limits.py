"""Body-size limits (SPEC §5, §3.1) against a real server: refused with 413, early, and never read whole."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import assert_error_shape, client, jpeg_bytes, simple_event
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

MIB = 1024 * 1024
JSON_LIMIT = 10 * MIB
CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("limits") / "data") as running:
        with client(running.url, running.api_key) as http:
            assert http.post("/vision-events/use-cases", json={"name": "Limits"}).status_code == 201
        yield running


@pytest.fixture
def http(server: ServerProcess) -> Iterator[httpx.Client]:
    with client(server.url, server.api_key, timeout=60.0) as c:
        yield c


def _oversize_json(size: int = JSON_LIMIT + 64 * 1024) -> bytes:
    """A syntactically valid event whose padding pushes the body past the limit."""
    head = b'{"eventId": "big", "eventType": "custom", "useCaseId": "limits", '
    head += b'"timestamp": "2026-01-15T10:00:00Z", "eventData": {"value": "'
    tail = b'"}}'
    return head + b"a" * (size - len(head) - len(tail)) + tail


def _chunks(data: bytes, size: int = CHUNK) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def _still_works(server: ServerProcess) -> None:
    assert server.is_running(), f"the server died:\n{server.logs()}"
    with client(server.url, server.api_key) as http:
        assert http.get("/health").json()["status"] == "ok"
        upload = http.post("/vision-events/upload", files={"file": ("ok.jpg", jpeg_bytes(), "image/jpeg")})
        assert upload.status_code == 201, upload.text
        event_id = f"after-{time.monotonic_ns()}"
        event = simple_event(event_id, "limits", images=[{"sourceId": upload.json()["sourceId"]}])
        assert http.post("/vision-events", json=event).status_code == 201
        stored = http.get(f"/vision-events/events/{event_id}")
        assert stored.status_code == 200 and stored.json()["images"][0]["width"] == 64


def _vm_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS line")


def test_json_body_over_limit_with_content_length(server: ServerProcess, http: httpx.Client) -> None:
    body = _oversize_json()
    started = time.monotonic()
    response = http.post("/vision-events", content=body, headers={"Content-Type": "application/json"})
    elapsed = time.monotonic() - started
    assert response.request.headers["content-length"] == str(len(body))
    assert_error_shape(response, 413, "payload_too_large")
    assert elapsed < 5, f"413 took {elapsed:.1f}s"
    assert http.get("/vision-events/events/big").status_code == 404
    _still_works(server)


def test_oversize_content_length_refused_before_the_body_is_sent(server: ServerProcess) -> None:
    """The declared length alone earns the 413: the server answers without waiting for the body."""
    declared = JSON_LIMIT + MIB
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        sock.sendall(
            (
                f"POST /vision-events/batch HTTP/1.1\r\nHost: {server.host}:{server.port}\r\n"
                f"Authorization: Bearer {server.api_key}\r\nContent-Type: application/json\r\n"
                f"Content-Length: {declared}\r\n\r\n"
            ).encode()
            + b'{"events": ['
        )
        started = time.monotonic()
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(65536)
            if not chunk:
                break
            head += chunk
    elapsed = time.monotonic() - started
    assert head.startswith(b"HTTP/1.1 413"), f"got {head[:200]!r} after {elapsed:.1f}s"
    assert elapsed < 2
    _still_works(server)


def test_json_body_over_limit_chunked(server: ServerProcess, http: httpx.Client) -> None:
    body = _oversize_json()
    sent = 0

    def stream() -> Iterator[bytes]:
        nonlocal sent
        for chunk in _chunks(body):
            sent += len(chunk)
            yield chunk

    response = http.post("/vision-events", content=stream(), headers={"Content-Type": "application/json"})
    assert "content-length" not in response.request.headers
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert_error_shape(response, 413, "payload_too_large")
    assert http.get("/vision-events/events/big").status_code == 404
    _still_works(server)


def test_batch_body_over_limit_chunked(server: ServerProcess, http: httpx.Client) -> None:
    pad = "x" * 9000
    events = b",".join(
        httpx.Request(
            "POST", "/", json=simple_event(f"chunk-{i}", "limits", eventData={"result": "pass", "n": pad})
        ).content
        for i in range(1300)
    )
    body = b'{"events": [' + events + b"]}"
    assert len(body) > JSON_LIMIT
    response = http.post(
        "/vision-events/batch", content=_chunks(body), headers={"Content-Type": "application/json"}
    )
    assert_error_shape(response, 413, "payload_too_large")
    assert http.get("/vision-events/events/chunk-0").status_code == 404
    _still_works(server)


def test_upload_of_30_mib_is_refused(server: ServerProcess, http: httpx.Client) -> None:
    data = jpeg_bytes() + b"\0" * (30 * MIB)
    started = time.monotonic()
    response = http.post("/vision-events/upload", files={"file": ("huge.jpg", data, "image/jpeg")})
    elapsed = time.monotonic() - started
    assert_error_shape(response, 413, "payload_too_large")
    assert elapsed < 10, f"413 took {elapsed:.1f}s"
    _still_works(server)


def test_upload_of_30_mib_chunked_is_refused(server: ServerProcess, http: httpx.Client) -> None:
    boundary = "sightlogE2Eboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.jpg"\r\n'
        "Content-Type: image/jpeg\r\n\r\n"
    ).encode()

    def stream() -> Iterator[bytes]:
        yield head + jpeg_bytes()
        for _ in range(30 * MIB // CHUNK):
            yield b"\0" * CHUNK
        yield f"\r\n--{boundary}--\r\n".encode()

    response = http.post(
        "/vision-events/upload",
        content=stream(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert_error_shape(response, 413, "payload_too_large")
    _still_works(server)


def test_rss_stays_flat_while_refusing_a_200_mib_chunked_upload(server: ServerProcess) -> None:
    assert server.pid is not None
    pid = server.pid
    _still_works(server)  # warm up: imports, pools and caches are in place before the baseline
    baseline = _vm_rss(pid)
    peak = baseline
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, _vm_rss(pid))
            time.sleep(0.01)

    boundary = "sightlogE2Eboundary"
    total = 200 * MIB
    sent = 0

    def stream() -> Iterator[bytes]:
        nonlocal sent
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="huge.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        yield head
        block = bytes(range(256)) * (MIB // 256)
        while sent < total:
            sent += len(block)
            yield block
        yield f"\r\n--{boundary}--\r\n".encode()

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    outcome: httpx.Response | Exception
    try:
        with client(server.url, server.api_key, timeout=60.0) as http:
            outcome = http.post(
                "/vision-events/upload",
                content=stream(),
                headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
            )
    except (httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadError) as exc:
        outcome = exc  # the server may also refuse by closing the connection
    finally:
        time.sleep(0.1)
        done.set()
        sampler.join()

    if isinstance(outcome, httpx.Response):
        assert_error_shape(outcome, 413, "payload_too_large")
    growth = peak - baseline
    assert growth < 64 * MIB, (
        f"server RSS grew by {growth / MIB:.0f} MiB while refusing a {total // MIB} MiB upload "
        f"(baseline {baseline / MIB:.0f} MiB, peak {peak / MIB:.0f} MiB; outcome {outcome!r})"
    )
    _still_works(server)
    assert _vm_rss(pid) - baseline < 64 * MIB
