"""Fixtures of the agent suite: one real upstream ``sightlog serve`` per module, and agents either
in-process (a TestClient over the agent's app, its forwarder thread running) or as real
``sightlog agent`` processes (:class:`AgentProcess`)."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sightlog.agent.app import create_agent_app
from sightlog.agent.config import AgentConfig
from sightlog.agent.runtime import Runtime
from tests.conftest import jpeg_bytes
from tests.support.sdk_fixtures import client, server, use_case
from tests.support.server import ServerProcess, free_port

__all__ = ["client", "server", "use_case"]

DEVICE = "edge-box-1"


@dataclass
class Agent:
    """An in-process agent: its runtime (outbox, forwarder) and a client for its app."""

    runtime: Runtime
    http: TestClient
    key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"}

    def post(self, path: str, json: Any = None, **kwargs: Any) -> Any:
        kwargs.setdefault("headers", self.headers)
        return self.http.post(path, json=json, **kwargs)

    def upload(self, data: bytes | None = None) -> str:
        response = self.http.post(
            "/vision-events/upload", files={"file": ("f.jpg", data or jpeg_bytes())}, headers=self.headers
        )
        assert response.status_code == 201, response.text
        return response.json()["sourceId"]

    def health(self) -> dict[str, Any]:
        response = self.http.get("/health")
        assert response.status_code == 200, response.text
        return response.json()

    def drained(self, timeout: float = 20.0) -> dict[str, Any]:
        """Wait until nothing waits to be forwarded; returns /health."""
        deadline = time.monotonic() + timeout
        while True:
            health = self.health()
            if health["queue"]["events"] == 0 and health["queue"]["images"] == 0:
                return health
            assert time.monotonic() < deadline, f"the agent did not drain: {health}"
            time.sleep(0.05)


@pytest.fixture
def make_agent(server: ServerProcess, tmp_path: Path) -> Iterator[Callable[..., Agent]]:
    """``make_agent(**AgentConfig overrides)``: an agent forwarding to the module's server by default."""
    counter = itertools.count()
    with ExitStack() as stack:

        def build(**overrides: Any) -> Agent:
            values: dict[str, Any] = {
                "upstream": server.url,
                "api_key": server.api_key,
                "data_dir": tmp_path / f"agent-{next(counter)}",
                "device_id": DEVICE,
                "max_backoff": 0.3,
            }
            config = AgentConfig(**(values | overrides))
            runtime = stack.enter_context(Runtime(config))
            http = stack.enter_context(TestClient(create_agent_app(runtime), raise_server_exceptions=False))
            return Agent(runtime, http, config.api_key)

        yield build


@pytest.fixture
def agent(make_agent: Callable[..., Agent]) -> Agent:
    return make_agent()


@pytest.fixture
def nowhere() -> str:
    """The URL of a port nothing listens on: an upstream that is away."""
    return f"http://127.0.0.1:{free_port()}"


class AgentProcess(ServerProcess):
    """A real ``python -m sightlog agent`` process (logs and outbox in ``data_dir``), with the start, stop,
    kill and restart of :class:`ServerProcess`; it waits for the agent's ``GET /health`` as well."""

    def __init__(self, data_dir: Path, upstream: ServerProcess, *extra_args: str) -> None:
        super().__init__(data_dir, port=free_port(), api_key=upstream.api_key, extra_args=extra_args)
        self.upstream = upstream

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sightlog",
            "agent",
            "--upstream",
            self.upstream.url,
            "--api-key",
            self.api_key,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir / "outbox"),
            "--device-id",
            DEVICE,
            *self.extra_args,
        ]
