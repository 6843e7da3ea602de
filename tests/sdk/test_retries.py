"""Retries: 429/503 (honouring Retry-After) and connection failures are retried; other errors are not."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from itertools import pairwise

import pytest

from sightlog import AsyncClient, Client
from sightlog.sdk import (
    BadRequest,
    Conflict,
    NotFound,
    RateLimited,
    RetryPolicy,
    SightlogError,
    TransportError,
    Unauthorized,
    Unavailable,
)
from sightlog.sdk._transport import parse_retry_after
from tests.sdk.stub import CLOSE, Reply, StubServer, stub_client
from tests.support.server import ServerProcess, free_port
from tests.support.tcp_proxy import TcpProxy

FAST = RetryPolicy(max_attempts=4, backoff=0.01, max_backoff=0.05)
CREATED = Reply(201, {"eventId": "e", "created": True})


def _gaps(stub: StubServer) -> list[float]:
    times = [r.at for r in stub.requests]
    return [b - a for a, b in pairwise(times)]


def test_503_with_retry_after_is_waited_out_and_resends_the_same_event() -> None:
    replies = [Reply(503, {"error": "Store down.", "code": "unavailable"}, {"Retry-After": "1"}), CREATED]
    with stub_client(replies, retry=FAST) as (stub, client):
        assert client.events.create("uc", "custom").created is True
    assert len(stub.requests) == 2
    assert 1.0 <= _gaps(stub)[0] < 3.0, "Retry-After: 1 must be obeyed (backoff alone would be ~0.01s)"
    first, second = (r.json() for r in stub.requests)
    assert first == second and uuid.UUID(first["eventId"]).version == 4


def test_429_without_retry_after_backs_off_then_succeeds() -> None:
    replies = [Reply(429, {"error": "Slow down.", "code": "rate_limited"})] * 3
    replies.append(Reply(201, {"created": 1, "eventIds": ["e"]}))
    with stub_client(replies, retry=FAST) as (stub, client):
        client.events.batch([{"useCaseId": "uc", "eventType": "custom"}])
    assert len(stub.requests) == 4
    assert all(gap >= 0.005 for gap in _gaps(stub))
    assert len({r.body for r in stub.requests}) == 1  # the generated eventIds are the same in every retry


@pytest.mark.parametrize(("status", "error"), [(503, Unavailable), (429, RateLimited)])
def test_retries_are_capped(status: int, error: type[SightlogError]) -> None:
    replies = [Reply(status, {"error": "No.", "code": "x"})]
    with stub_client(replies, retry=FAST, max_attempts=3) as (stub, client), pytest.raises(error):
        client.use_cases.list()
    assert len(stub.requests) == 3


def test_retry_after_is_capped_by_the_policy() -> None:
    policy = RetryPolicy(max_attempts=2, max_retry_after=0.1)
    replies = [Reply(503, None, {"Retry-After": "30"}), Reply(200, {"count": 5})]
    with stub_client(replies, retry=policy) as (_, client):
        started = time.monotonic()
        assert client.events.count("uc") == 5
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("status", "error"), [(400, BadRequest), (401, Unauthorized), (404, NotFound), (409, Conflict)]
)
def test_other_errors_are_not_retried(status: int, error: type[SightlogError]) -> None:
    replies = [Reply(status, {"error": "No.", "code": error.code}), CREATED]
    with stub_client(replies, retry=FAST) as (stub, client), pytest.raises(error):
        client.events.create("uc", "custom")
    assert len(stub.requests) == 1


def test_connection_refused_is_retried_until_the_server_comes_up() -> None:
    port = free_port()
    stubs: list[StubServer] = []

    def start_late() -> None:
        time.sleep(0.4)
        stubs.append(StubServer([Reply(200, {"status": "ok"})], port=port).__enter__())

    starter = threading.Thread(target=start_late)
    starter.start()
    try:
        policy = RetryPolicy(max_attempts=10, backoff=0.1, max_backoff=0.2)
        with Client(f"http://127.0.0.1:{port}", retry=policy) as client:
            assert client.health().status == "ok"
    finally:
        starter.join()
        for stub in stubs:
            stub.__exit__(None, None, None)


def test_connection_refused_gives_up_after_max_attempts() -> None:
    port = free_port()
    with Client(f"http://127.0.0.1:{port}", "k", retry=FAST) as client:
        started = time.monotonic()
        with pytest.raises(TransportError) as caught:
            client.use_cases.list()
    assert "4 attempt(s)" in str(caught.value) and caught.value.status is None
    assert time.monotonic() - started < 2.0


def test_a_dropped_connection_is_retried_only_for_idempotent_calls() -> None:
    with stub_client([CLOSE, CREATED], retry=FAST) as (stub, client):
        client.events.create("uc", "custom")  # carries its eventId: safe to re-send
    assert len(stub.requests) == 2 and stub.requests[0].body == stub.requests[1].body

    replies = [CLOSE, Reply(201, {"id": "x", "name": "x"})]
    with stub_client(replies, retry=FAST) as (stub, client), pytest.raises(TransportError):
        client.use_cases.create("x")  # might have been created: a re-send would answer 409
    assert len(stub.requests) == 1


def test_a_real_outage_is_ridden_out_and_the_event_stored_once(server: ServerProcess, use_case: str) -> None:
    with TcpProxy(upstream_port=server.port) as proxy:
        policy = RetryPolicy(max_attempts=20, backoff=0.05, max_backoff=0.1)
        with Client(f"http://127.0.0.1:{proxy.port}", server.api_key, retry=policy) as client:
            assert client.events.count(use_case) == 0  # opens a pooled connection
            proxy.cut()
            restorer = threading.Timer(0.5, proxy.restore)
            restorer.start()
            created = client.events.create(use_case, "custom")
            restorer.join()
            assert proxy.rejected + proxy.severed >= 1, "the outage never hit the client"
            assert client.events.count(use_case) == 1
            assert client.events.get(created.event_id).event_id == created.event_id


def test_async_client_retries_the_same_way() -> None:
    async def scenario(url: str) -> int:
        async with AsyncClient(url, "k", retry=FAST) as client:
            return await client.events.count("uc")

    replies = [Reply(503, None, {"Retry-After": "0.2"}), Reply(200, {"count": 3})]
    with StubServer(replies) as stub:
        assert asyncio.run(scenario(stub.url)) == 3
    assert len(stub.requests) == 2 and _gaps(stub)[0] >= 0.2


def test_an_answer_that_is_not_the_api_s_raises_a_sightlog_error() -> None:
    with stub_client([Reply(200, {"hello": "world"})]) as (_, client), pytest.raises(SightlogError) as caught:
        client.events.get("x")
    assert "unexpected answer" in str(caught.value)
    assert caught.value.code == "unexpected_response"


def test_retry_after_parsing_and_jittered_backoff() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(None) is None and parse_retry_after("soon") is None
    in_a_minute = format_datetime(datetime.now(UTC) + timedelta(seconds=60), usegmt=True)
    assert 55 <= (parse_retry_after(in_a_minute) or 0) <= 60
    policy = RetryPolicy(backoff=0.5, max_backoff=4.0)
    for attempt, step in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (9, 4.0)]:
        delays = {policy.backoff_delay(attempt) for _ in range(50)}
        assert all(step / 2 <= d <= step for d in delays)
        assert len(delays) > 1, "no jitter"
    assert Client(max_attempts=2).retry.max_attempts == 2
