"""Helpers shared by the API tests: error-shape checks, query shortcuts, image bytes."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

from PIL import Image

from tests.conftest import Api, make_event

ERROR_CODES = {
    400: {"bad_request", "validation_error"},
    401: {"unauthorized"},
    403: {"forbidden"},
    404: {"not_found"},
    409: {"conflict"},
    413: {"payload_too_large"},
    415: {"unsupported_media_type"},
}


def assert_error(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the SPEC §6 error shape and return the body."""
    assert response.status_code == status, f"{response.status_code} {response.text[:500]}"
    assert response.headers["content-type"].startswith("application/json"), response.headers
    text = response.text
    assert "Traceback" not in text and 'File "' not in text, text
    body = response.json()
    assert set(body) == {"error", "code", "details"}, body
    assert isinstance(body["error"], str) and body["error"].strip(), body
    if code is not None:
        assert body["code"] == code, body
    elif status in ERROR_CODES:
        assert body["code"] in ERROR_CODES[status], body
    else:
        assert isinstance(body["code"], str) and body["code"], body
    assert isinstance(body["details"], list), body
    for detail in body["details"]:
        assert set(detail) == {"loc", "message"}, detail
        assert isinstance(detail["loc"], str) and isinstance(detail["message"], str), detail
        assert detail["message"], detail
    return body


def locs(response: Any) -> list[str]:
    return [d["loc"] for d in response.json()["details"]]


def create(api: Api, event: dict[str, Any], key: str | None = None) -> dict[str, Any]:
    response = api.post("/vision-events", event, key=key)
    assert response.status_code == 201, response.text
    return response.json()


def batch(api: Api, events: list[dict[str, Any]], key: str | None = None) -> dict[str, Any]:
    response = api.post("/vision-events/batch", {"events": events}, key=key)
    assert response.status_code == 201, response.text
    return response.json()


def query(api: Api, use_case: str, key: str | None = None, **filters: Any) -> dict[str, Any]:
    response = api.post("/vision-events/query", {"useCaseId": use_case, **filters}, key=key)
    assert response.status_code == 200, response.text
    return response.json()


def query_ids(api: Api, use_case: str, **filters: Any) -> list[str]:
    filters.setdefault("limit", 1000)
    return [e["eventId"] for e in query(api, use_case, **filters)["events"]]


def get_event(api: Api, event_id: str, key: str | None = None) -> dict[str, Any]:
    response = api.get(f"/vision-events/events/{event_id}", key=key)
    assert response.status_code == 200, response.text
    return response.json()


def use_case_item(api: Api, use_case: str) -> dict[str, Any]:
    response = api.get("/vision-events/use-cases", params={"status": "all"})
    assert response.status_code == 200, response.text
    (item,) = [u for u in response.json()["useCases"] if u["id"] == use_case]
    return item


def event_count(api: Api, use_case: str) -> int:
    return use_case_item(api, use_case)["eventCount"]


def image_bytes(fmt: str, width: int = 64, height: int = 48, mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, (width, height), (10, 120, 200) if mode == "RGB" else (10, 120, 200, 128)).save(out, fmt)
    return out.getvalue()


def png_header_only(width: int, height: int) -> bytes:
    """A tiny PNG that declares ``width`` x ``height`` pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def upload_raw(api: Api, data: bytes, key: str | None = None, **form: str) -> Any:
    return api.client.post(
        "/vision-events/upload",
        files={"file": ("img.bin", data, "application/octet-stream")},
        data=form or None,
        headers=api.headers(key),
    )


__all__ = ["make_event"]
