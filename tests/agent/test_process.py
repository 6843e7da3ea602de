"""``sightlog agent`` as users run it: the ``roboflow`` SDK pointed at it, and one agent per outbox."""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sightlog import Client
from tests.agent.conftest import AgentProcess
from tests.compat.conftest import SdkWorker
from tests.e2e.helpers import clean_env
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


def wait_drained(agent: AgentProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while (queue := agent.health()["queue"])["events"] or queue["images"]:
        assert time.monotonic() < deadline, queue
        time.sleep(0.1)


def test_the_roboflow_sdk_writes_through_the_agent(
    server: ServerProcess, client: Client, use_case: str, tmp_path: Path
) -> None:
    tag = secrets.token_hex(4)
    event = {"eventType": "custom", "useCaseId": use_case, "timestamp": "2026-11-20T10:00:00Z"}
    with AgentProcess(tmp_path / "agent", server) as agent:
        worker = SdkWorker(agent.url, tmp_path / "sdk-home")
        try:
            worker.init(agent.api_key)  # POST /?api_key=... answered by the agent
            workspace = worker.workspace()  # GET /{workspace}?api_key=...
            assert workspace.info["url"] == "default"
            written = workspace.write_vision_event({**event, "eventId": f"rf-{tag}"})
            assert written == {"eventId": f"rf-{tag}", "created": True}
            batch = workspace.write_vision_events_batch(
                [{**event, "eventId": f"rf-{tag}-{i}"} for i in range(3)]
            )
            assert batch["created"] == 3
        finally:
            worker.close()
        wait_drained(agent)
    assert {e.event_id for e in client.events.iter(use_case)} == {
        f"rf-{tag}",
        *(f"rf-{tag}-{i}" for i in range(3)),
    }


def test_one_agent_per_outbox(server: ServerProcess, tmp_path: Path) -> None:
    with AgentProcess(tmp_path / "agent", server) as agent:
        options = ["--upstream", server.url, "--api-key", server.api_key, "--port", "0"]
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "sightlog",
                "agent",
                *options,
                "--data-dir",
                str(agent.data_dir / "outbox"),
            ],
            env=clean_env(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert agent.health()["status"] == "ok"
    assert second.returncode == 1, second
    assert second.stderr.startswith("error: Another agent is running on"), second.stderr
