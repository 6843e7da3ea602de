"""Image upload and retrieval (SPEC §3.1, §4): formats, dedup, caching headers, limits, thumbnails."""

from __future__ import annotations

import io
import os

import boto3
import pytest
from PIL import Image

from sightlog.store.blobs import LocalBlobStore
from tests.api.helpers import assert_error, image_bytes, png_header_only, upload_raw
from tests.conftest import jpeg_bytes

FORMATS = [("JPEG", "image/jpeg"), ("PNG", "image/png"), ("WEBP", "image/webp")]


def fetch(api, url: str, etag: str | None = None):
    headers = {**api.headers(), **({"If-None-Match": etag} if etag else {})}
    return api.client.get(url, headers=headers)


def objects(api) -> list[str]:
    """Every stored blob, whichever store holds them."""
    blobs = api.services.blobs
    if isinstance(blobs, LocalBlobStore):
        return [str(p) for p in (blobs.root / "objects").rglob("*") if p.is_file()]
    listing = boto3.client("s3", endpoint_url=blobs.endpoint).list_objects_v2(Bucket=blobs.bucket)
    return [item["Key"] for item in listing.get("Contents", [])]


@pytest.mark.parametrize(("fmt", "mime"), FORMATS)
def test_upload_and_fetch(api, fmt, mime):
    data = image_bytes(fmt)
    response = upload_raw(api, data)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"success", "sourceId", "url"}
    assert body["success"] is True and isinstance(body["sourceId"], str) and body["sourceId"]
    fetched = api.get(body["url"])
    assert fetched.status_code == 200
    assert fetched.content == data
    assert fetched.headers["content-type"] == mime
    etag = fetched.headers["etag"]
    assert etag and "max-age" in fetched.headers["cache-control"]
    again = fetch(api, body["url"], etag)
    assert again.status_code == 304 and again.content == b""
    other = fetch(api, body["url"], '"something-else"')
    assert other.status_code == 200 and other.content == data


def test_identical_bytes_get_two_source_ids_but_are_stored_once(api, settings):
    data = jpeg_bytes()
    first, second = api.upload(data), api.upload(data)
    assert first != second
    assert len(objects(api)) == 1
    assert (
        api.get(f"/vision-events/images/{first}").content
        == api.get(f"/vision-events/images/{second}").content
    )
    api.upload(jpeg_bytes(color=(1, 2, 3)))
    assert len(objects(api)) == 2


def test_name_and_metadata_fields(api):
    response = upload_raw(api, jpeg_bytes(), name="front.jpg", metadata='{"line": "L1", "n": 2, "ok": true}')
    assert response.status_code == 201, response.text
    assert api.get(response.json()["url"]).status_code == 200


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        "[1, 2]",
        '"text"',
        '{"bad.key": 1}',
        '{"k": {"nested": 1}}',
        '{"k": null}',
        '{"k": "' + "v" * 1001 + '"}',
    ],
    ids=["invalid-json", "list", "string", "bad-key", "nested", "null", "long-value"],
)
def test_bad_metadata_is_400(api, settings, metadata):
    assert_error(upload_raw(api, jpeg_bytes(), metadata=metadata), 400)
    assert objects(api) == []


@pytest.mark.parametrize(
    "data",
    [
        b"hello world, not an image",
        b"",
        b"%PDF-1.4\n%fake",
        jpeg_bytes()[:150],
        b"\x89PNG\r\n\x1a\n" + b"\0" * 40,
    ],
    ids=["text", "empty", "pdf", "truncated-jpeg", "broken-png"],
)
def test_non_image_is_415(api, settings, data):
    assert_error(upload_raw(api, data), 415, "unsupported_media_type")
    assert objects(api) == []


def test_missing_file_field_is_400(api):
    response = api.client.post(
        "/vision-events/upload",
        data={"name": "x"},
        files={"other": ("a.jpg", jpeg_bytes())},
        headers=api.headers(),
    )
    assert_error(response, 400)


def test_not_multipart_is_400(api):
    assert_error(api.post("/vision-events/upload", {"file": "abc"}), 400)
    raw = api.client.post(
        "/vision-events/upload", content=jpeg_bytes(), headers={**api.headers(), "Content-Type": "image/jpeg"}
    )
    assert_error(raw, 400)


def test_image_over_the_size_limit_is_413(make_api):
    small = make_api(max_image_bytes=2000)
    out = io.BytesIO()
    Image.frombytes("RGB", (100, 100), os.urandom(30_000)).save(out, "PNG")
    assert 2000 < len(out.getvalue()) < 100_000
    assert_error(upload_raw(small, out.getvalue()), 413, "payload_too_large")
    assert objects(small) == []
    assert upload_raw(small, image_bytes("PNG", 8, 8)).status_code == 201


def test_image_far_over_the_size_limit_is_413(make_api):
    small = make_api(max_image_bytes=2000)
    huge = jpeg_bytes() + b"\0" * (2 * 1024 * 1024)
    assert_error(upload_raw(small, huge), 413, "payload_too_large")


def test_image_over_the_pixel_limit_is_413(make_api):
    small = make_api(max_image_pixels=1000)
    assert_error(upload_raw(small, jpeg_bytes(64, 48)), 413, "payload_too_large")
    assert upload_raw(small, jpeg_bytes(30, 30)).status_code == 201


def test_decompression_bomb_is_413(api, settings):
    assert_error(upload_raw(api, png_header_only(20_000, 20_000)), 413, "payload_too_large")
    assert objects(api) == []


@pytest.mark.parametrize(
    ("size", "expected"), [((1000, 500), (320, 160)), ((300, 900), (107, 320)), ((64, 48), (64, 48))]
)
def test_thumbnail(api, size, expected):
    source = api.upload(jpeg_bytes(*size))
    response = api.get(f"/vision-events/images/{source}/thumbnail")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/webp"
    thumb = Image.open(io.BytesIO(response.content))
    assert thumb.format == "WEBP"
    assert max(thumb.size) <= 320
    assert abs(thumb.size[0] - expected[0]) <= 1 and abs(thumb.size[1] - expected[1]) <= 1
    etag = response.headers["etag"]
    again = fetch(api, f"/vision-events/images/{source}/thumbnail", etag)
    assert again.status_code == 304


def test_thumbnail_of_a_transparent_png(api):
    source = api.upload(image_bytes("PNG", 640, 640, mode="RGBA"))
    response = api.get(f"/vision-events/images/{source}/thumbnail")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (320, 320)


def test_thumbnail_is_made_once(api, settings):
    source = api.upload(jpeg_bytes(900, 600))
    first = api.get(f"/vision-events/images/{source}/thumbnail")
    count = len(objects(api))
    second = api.get(f"/vision-events/images/{source}/thumbnail")
    assert first.content == second.content and len(objects(api)) == count == 2


@pytest.mark.parametrize("suffix", ["", "/thumbnail"])
def test_unknown_source_id_is_404(api, suffix):
    assert_error(api.get(f"/vision-events/images/ghost{suffix}"), 404, "not_found")
