"""SPEC §6: every status code the API returns has the one JSON error shape; bad input never yields a 500."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from sightlog.models.records import SCOPE_READ
from tests.api.helpers import assert_error, create, upload_raw
from tests.conftest import jpeg_bytes, make_event


@pytest.fixture(scope="module")
def shared(module_api):
    uc = module_api.use_case("Errors")
    create(module_api, make_event("e1", uc))
    return module_api, uc


def raw(api, method: str, path: str, content: bytes | Iterator[bytes], **headers: str) -> Any:
    return api.client.request(
        method,
        path,
        content=content,
        headers={**api.headers(), "Content-Type": "application/json", **headers},
    )


def test_400_bad_request(shared):
    api, _ = shared
    assert_error(raw(api, "POST", "/vision-events", b'{"eventId": '), 400, "bad_request")


def test_400_validation_error(shared):
    api, uc = shared
    body = assert_error(
        api.post("/vision-events", make_event("x", uc, eventData={})), 400, "validation_error"
    )
    assert body["details"] == [{"loc": "eventData.result", "message": body["details"][0]["message"]}]


def test_401(shared):
    api, _ = shared
    body = assert_error(api.client.get("/vision-events/use-cases"), 401, "unauthorized")
    assert body["details"] == []


def test_403(shared):
    api, uc = shared
    assert_error(
        api.post("/vision-events", make_event("x", uc), key=api.key_with(SCOPE_READ)), 403, "forbidden"
    )


@pytest.mark.parametrize("path", ["/vision-events/nope", "/vision-events/events/e1/nope/deeper", "/a/b/c"])
def test_404_unknown_path(shared, path):
    api, _ = shared
    assert_error(api.get(path), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/vision-events/events/ghost"),
        ("DELETE", "/vision-events/events/ghost"),
        ("GET", "/vision-events/images/ghost"),
    ],
)
def test_404_unknown_resource(shared, method, path):
    api, _ = shared
    assert_error(api.client.request(method, path, headers=api.headers()), 404, "not_found")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/vision-events/query"),
        ("DELETE", "/vision-events/batch"),
        ("PUT", "/vision-events/events/e1"),
    ],
)
def test_405_wrong_method(shared, method, path):
    api, _ = shared
    assert_error(api.client.request(method, path, headers=api.headers()), 405)


def test_409(shared):
    api, _ = shared
    assert_error(api.post("/vision-events/use-cases", {"name": "Errors"}), 409, "conflict")


def test_413_json_body(make_api):
    small = make_api(max_body_bytes=1000)
    uc = small.use_case()
    event = make_event("big", uc, customMetadata={f"k{i}": "v" * 50 for i in range(20)})
    assert_error(small.post("/vision-events", event), 413, "payload_too_large")
    assert_error(small.post("/vision-events/batch", {"events": [event]}), 413, "payload_too_large")
    assert_error(
        small.post("/vision-events/query", {"useCaseId": uc, "cursor": "c" * 2000}), 413, "payload_too_large"
    )
    chunked = raw(small, "POST", "/vision-events", iter([b'{"eventId": "', b"x" * 800, b"x" * 800, b'"}']))
    assert_error(chunked, 413, "payload_too_large")
    assert small.get("/vision-events/events/big").status_code == 404
    assert small.post("/vision-events", make_event("small", uc)).status_code == 201


def test_413_image(make_api):
    small = make_api(max_image_bytes=1000)
    assert_error(upload_raw(small, jpeg_bytes(300, 300)), 413, "payload_too_large")


def test_415(shared):
    api, _ = shared
    assert_error(upload_raw(api, b"GIF89a but not really"), 415, "unsupported_media_type")


NESTED = b'{"a":' * 10_000 + b"1" + b"}" * 10_000
BAD_BODIES = {
    "malformed": b'{"eventId": "x",}',
    "truncated": b'{"eventId": "x"',
    "empty": b"",
    "whitespace": b"   \n",
    "array": b"[1, 2, 3]",
    "string": b'"hello"',
    "number": b"42",
    "null": b"null",
    "invalid-utf8": b'{"eventId": "\xff\xfe"}',
    "nan": b'{"limit": NaN}',
    "infinite-number": b'{"useCaseId": "errors", "limit": 1e400, "eventId": 1e400}',
    "nested-10000": NESTED,
    "nested-arrays-10000": b"[" * 10_000 + b"]" * 10_000,
    "lone-surrogate": b'{"eventId": "\\ud800", "name": "\\ud800"}',
    "single-quotes": b"{'eventId': 'x'}",
    "bom": b'\xef\xbb\xbf{"eventId": "x"}',
}
ENDPOINTS = {
    "create": ("POST", "/vision-events"),
    "batch": ("POST", "/vision-events/batch"),
    "query": ("POST", "/vision-events/query"),
    "count": ("POST", "/vision-events/count"),
    "use-case-create": ("POST", "/vision-events/use-cases"),
    "use-case-rename": ("PUT", "/vision-events/use-cases/errors"),
    "feedback": ("POST", "/vision-events/events/e1/feedback"),
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
@pytest.mark.parametrize("endpoint", ENDPOINTS.values(), ids=ENDPOINTS.keys())
def test_bad_json_bodies_are_400(shared, endpoint, body):
    api, _ = shared
    assert_error(raw(api, *endpoint, body), 400)


U64 = 2**64 - 1
HUGE_EVENTS = {
    "item-count-1e30": {"eventType": "inventory_count", "eventData": {"itemCount": 10**30}},
    "item-count-u64": {"eventType": "inventory_count", "eventData": {"itemCount": U64}},
    "confidence-tiny": {"eventData": {"result": "pass", "confidence": 1e-320}},
    "metadata-u64": {"customMetadata": {"n": U64, "m": -(2**63) - 5, "f": 1.7e308}},
    "tracker-u64": {"images": [{"classifications": [{"class": "c", "confidence": 0.5, "trackerId": U64}]}]},
    "box-huge": {
        "images": [
            {
                "objectDetections": [
                    {"class": "c", "x": 1e308, "y": -1e308, "width": 1e308, "height": 0, "confidence": 1}
                ]
            }
        ]
    },
    "display-position-u64": {"images": [{}], "displayImagePosition": U64},
    "custom-u64": {"eventType": "custom", "eventData": {"value": "x", "big": U64}},
    "timestamp-year-1": {"timestamp": "0001-01-01T00:00:00+01:00"},
    "timestamp-year-9999": {"timestamp": "9999-12-31T23:59:59-01:00"},
    "timestamp-epoch-number": {"timestamp": "1e400"},
    "nul-character": {"deviceId": "a\u0000b", "customMetadata": {"k": "\u0000"}},
}


@pytest.mark.parametrize("overrides", HUGE_EVENTS.values(), ids=HUGE_EVENTS.keys())
def test_extreme_values_in_events_never_500(shared, overrides):
    api, uc = shared
    response = api.post("/vision-events", make_event("extreme", uc, **overrides))
    assert response.status_code in (201, 400), response.text[:300]
    if response.status_code == 400:
        assert_error(response, 400, "validation_error")
    else:
        assert api.get("/vision-events/events/extreme").status_code == 200
        assert api.post("/vision-events/query", {"useCaseId": uc}).status_code == 200
        assert api.delete("/vision-events/events/extreme").status_code == 204


HUGE_QUERIES = {
    "limit-u64": {"limit": U64},
    "limit-negative-huge": {"limit": -(2**63)},
    "min-count-u64": {"detectionFilters": [{"class": "c", "minCount": U64}]},
    "max-count-u64": {"detectionFilters": [{"class": "c", "maxCount": U64}]},
    "metadata-value-u64": {
        "customMetadataFilters": [{"field": "n", "operator": "gt", "value": U64, "type": "number"}]
    },
    "metadata-in-huge": {
        "customMetadataFilters": [
            {"field": "n", "operator": "in", "value": [U64, -(2**63) - 1], "type": "number"}
        ]
    },
    "start-year-1": {"startTime": "0001-01-01T00:00:00+01:00"},
    "end-year-9999": {"endTime": "9999-12-31T23:59:59-01:00"},
}


@pytest.mark.parametrize("body", HUGE_QUERIES.values(), ids=HUGE_QUERIES.keys())
def test_extreme_values_in_queries_never_500(shared, body):
    api, uc = shared
    response = api.post("/vision-events/query", {"useCaseId": uc, **body})
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 400:
        assert_error(response, 400, "validation_error")
