"""A tiny scripted HTTP server: answers each request with the next scripted reply and records requests.

Used where the real server cannot be made to misbehave on cue (503 with ``Retry-After``, 429, a connection
closed without an answer).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

from sightlog import Client

CLOSE = "close"  # a scripted reply that closes the connection without answering


@dataclass
class Reply:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    def json(self) -> Any:
        return json.loads(self.body)


Script = list[Reply | str | Callable[[Recorded], Reply]]


class StubServer:
    """``StubServer([Reply(503, headers={"Retry-After": "1"}), Reply(201, {...})])``: replies in order; the
    last one repeats. A reply may be a function of the request. ``requests`` lists what arrived."""

    def __init__(self, replies: Script, port: int = 0) -> None:
        self.replies = list(replies)
        self.requests: list[Recorded] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                request = Recorded(self.command, self.path, dict(self.headers), body, time.monotonic())
                with stub._lock:
                    stub.requests.append(request)
                    reply = stub.replies.pop(0) if len(stub.replies) > 1 else stub.replies[0]
                if callable(reply):
                    reply = reply(request)
                if reply == CLOSE:
                    self.close_connection = True
                    return
                assert isinstance(reply, Reply)
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._httpd.daemon_threads = True
        # A short poll interval keeps shutdown() quick (it waits for the serving loop to notice).
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, args=(0.02,), name="stub-http", daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


@contextmanager
def stub_client(replies: Script, **client_args: Any) -> Iterator[tuple[StubServer, Client]]:
    """A running :class:`StubServer` and a ``Client`` (key ``"k"``) pointed at it."""
    with StubServer(replies) as stub, Client(stub.url, "k", **client_args) as client:
        yield stub, client
