"""Fixtures for suites that talk to a real server through the SDK (tests/sdk, tests/cli): one
``sightlog serve`` process per module, a client bound to it and a fresh use case per test.

A suite's conftest imports them: ``from tests.support.sdk_fixtures import client, server, use_case``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from sightlog import Client
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("server") / "data") as running:
        yield running


@pytest.fixture
def client(server: ServerProcess) -> Iterator[Client]:
    with Client(server.url, server.api_key) as sdk:
        yield sdk


@pytest.fixture
def use_case(client: Client) -> str:
    """A fresh use case per test, so tests sharing a server never see each other's events."""
    return client.use_cases.create(f"Test {uuid.uuid4().hex[:10]}").id
