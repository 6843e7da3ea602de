"""Error mapping: every SPEC §6 code becomes its exception, with status, code, message and details."""

from __future__ import annotations

import subprocess
import sys

import pytest

from sightlog import Client
from sightlog.sdk import (
    BadRequest,
    Conflict,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SightlogError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationError,
)
from tests.sdk.stub import Reply, stub_client
from tests.support.server import ServerProcess


def _read_only_key(server: ServerProcess) -> str:
    command = ["keys", "create", "--scope", "vision-events:read", "--data-dir", str(server.data_dir)]
    result = subprocess.run(
        [sys.executable, "-m", "sightlog", *command],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        cwd=server.data_dir,
    )
    return result.stdout.strip()


def test_missing_and_wrong_keys_are_unauthorized(server: ServerProcess, monkeypatch) -> None:
    monkeypatch.delenv("SIGHTLOG_API_KEY", raising=False)
    with Client(server.url) as anonymous, pytest.raises(Unauthorized) as caught:
        anonymous.use_cases.list()
    assert (caught.value.status, caught.value.code) == (401, "unauthorized")
    assert "SIGHTLOG_API_KEY" in caught.value.message  # tells how to give a key

    wrong_key = "sl_wrong_key_abcdefghijklmnopqrstuvwxyz0123"
    with Client(server.url, wrong_key) as wrong, pytest.raises(Unauthorized) as caught:
        wrong.workspace()
    assert "SIGHTLOG_API_KEY" not in caught.value.message


def test_key_without_the_scope_is_forbidden(server: ServerProcess, client: Client, use_case: str) -> None:
    with Client(server.url, _read_only_key(server)) as reader:
        assert reader.events.count(use_case) == 0  # reading is allowed
        with pytest.raises(Forbidden) as caught:
            reader.events.create(use_case, "custom")
    assert (caught.value.status, caught.value.code) == (403, "forbidden")
    assert client.events.count(use_case) == 0


def test_unknown_ids_are_not_found(client: Client) -> None:
    with pytest.raises(NotFound) as caught:
        client.events.get("no-such-event")
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert "no-such-event" in caught.value.message
    with pytest.raises(NotFound):
        client.events.query("no-such-use-case")
    with pytest.raises(NotFound):
        client.images.get("no-such-image")


def test_invalid_batch_lists_every_problem_with_its_index(client: Client, use_case: str) -> None:
    with pytest.raises(ValidationError) as caught:
        client.events.batch(
            [
                {"useCaseId": use_case, "eventType": "custom"},
                {"useCaseId": use_case, "eventType": "quality_check", "eventData": {"result": "maybe"}},
                {"useCaseId": use_case, "eventType": "custom", "timestamp": "yesterday"},
            ]
        )
    error = caught.value
    assert isinstance(error, BadRequest)  # every 400 is a BadRequest
    assert (error.status, error.code) == (400, "validation_error")
    locs = [d.loc for d in error.details]
    assert any(loc.startswith("events[1].eventData") for loc in locs), locs
    assert any(loc.startswith("events[2].timestamp") for loc in locs), locs
    assert not any(loc.startswith("events[0]") for loc in locs), locs
    assert "events[2].timestamp" in str(error)  # details are part of the printed error
    assert client.events.count(use_case) == 0  # all or nothing


@pytest.mark.parametrize(
    ("status", "code", "cls"),
    [
        (400, "bad_request", BadRequest),
        (400, "validation_error", ValidationError),
        (401, "unauthorized", Unauthorized),
        (403, "forbidden", Forbidden),
        (404, "not_found", NotFound),
        (409, "conflict", Conflict),
        (413, "payload_too_large", PayloadTooLarge),
        (415, "unsupported_media_type", UnsupportedMediaType),
        (429, "rate_limited", RateLimited),
        (503, "unavailable", Unavailable),
        (500, "internal_error", SightlogError),
    ],
)
def test_every_code_maps_to_its_exception(status: int, code: str, cls: type[SightlogError]) -> None:
    body = {"error": "It went wrong.", "code": code, "details": [{"loc": "name", "message": "is bad"}]}
    with (
        stub_client([Reply(status, body)], max_attempts=1) as (_, client),
        pytest.raises(SightlogError) as caught,
    ):
        client.use_cases.list()
    assert type(caught.value) is cls
    assert (caught.value.status, caught.value.code, caught.value.message) == (status, code, "It went wrong.")
    assert [(d.loc, d.message) for d in caught.value.details] == [("name", "is bad")]


def test_a_body_that_is_not_the_error_shape_still_maps_by_status() -> None:
    with stub_client([Reply(404, ["not", "an", "object"])]) as (_, client), pytest.raises(NotFound) as caught:
        client.events.get("x")
    assert caught.value.status == 404 and caught.value.message
