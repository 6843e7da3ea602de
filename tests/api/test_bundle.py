"""``POST /vision-events/bundle`` (SPEC §3.8): one event with its image files in a tar or tar.gz body."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from typing import Any

import pytest

from sightlog.services.bundles import write_bundle
from tests.api.helpers import assert_error, get_event, image_bytes
from tests.conftest import jpeg_bytes, make_event

DETECTION = {"class": "dent", "x": 32, "y": 24, "width": 10, "height": 8, "confidence": 0.9}


def member(name: str, data: bytes = b"", kind: bytes = tarfile.REGTYPE, **attrs: Any) -> tuple[Any, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    for key, value in attrs.items():
        setattr(info, key, value)
    return info, data


def archive(*members: tuple[Any, bytes], compress: bool = False) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.type == tarfile.REGTYPE else None)
    return gzip.compress(out.getvalue()) if compress else out.getvalue()


def payload(event: dict[str, Any], version: Any = 1) -> tuple[Any, bytes]:
    return member("payload.json", json.dumps({**event, "bundleFormatVersion": version}).encode())


def post(api, data: bytes, key: str | None = None, **params: str) -> Any:
    headers = {"Content-Type": "application/x-tar", **(api.headers(key) if key != "" else {})}
    return api.client.post("/vision-events/bundle", content=data, params=params, headers=headers)


def fetched(api, source_id: str) -> bytes:
    response = api.get(f"/vision-events/images/{source_id}")
    assert response.status_code == 200, response.text
    return response.content


def test_round_trip_with_images(api):
    uc = api.use_case()
    display, original = jpeg_bytes(64, 48), image_bytes("PNG", 32, 24)
    event = make_event(
        "b1",
        uc,
        images=[{"file": "images/a.jpg", "inputFile": "./images/b.png", "objectDetections": [DETECTION]}],
    )
    data = write_bundle(event, {"images/a.jpg": display, "images/b.png": original})

    response = post(api, data)
    assert response.status_code == 201, response.text
    assert response.json() == {"eventId": "b1", "created": True}
    stored = get_event(api, "b1")
    (image,) = stored["images"]
    assert "file" not in image and "inputFile" not in image
    assert image["objectDetections"] == [DETECTION]
    assert (image["width"], image["height"]) == (32, 24)  # of the input image
    assert fetched(api, image["sourceId"]) == display
    assert fetched(api, image["inputSourceId"]) == original
    assert stored["warnings"] == []

    again = post(api, data)
    assert again.status_code == 201 and again.json() == {"eventId": "b1", "created": False}


def test_plain_tar_with_the_use_case_in_the_query_and_the_key_as_a_parameter(api):
    uc = api.use_case()
    frame = jpeg_bytes(16, 16)
    event = make_event("b2", "elsewhere", images=[{"file": "f.jpg"}, {"file": "f.jpg", "inputFile": "f.jpg"}])
    data = write_bundle(event, {"f.jpg": frame}, compress=False)
    assert data[:2] != b"\x1f\x8b"

    response = post(api, data, key="", useCaseId=uc, api_key=api.key)
    assert response.status_code == 201, response.text
    stored = get_event(api, "b2")
    assert stored["useCaseId"] == uc
    ids = {
        stored["images"][0]["sourceId"],
        stored["images"][1]["sourceId"],
        stored["images"][1]["inputSourceId"],
    }
    assert len(ids) == 1  # one member, stored once however often it is named
    assert fetched(api, ids.pop()) == frame


def test_unknown_members_and_directories_are_ignored(api):
    uc = api.use_case()
    data = archive(
        member("images", kind=tarfile.DIRTYPE),
        member("images/a.jpg", jpeg_bytes()),
        member("notes.txt", b"hello"),
        payload(make_event("b3", uc, images=[{"file": "images/a.jpg"}])),
        compress=True,
    )
    response = post(api, data)
    assert response.status_code == 201, response.text
    assert get_event(api, "b3")["images"][0]["sourceId"]


def test_an_unreadable_image_keeps_the_event_and_names_the_file_in_a_warning(api):
    uc = api.use_case()
    data = archive(
        member("images/a.jpg", b"\xff\xd8\xff"),
        payload(make_event("b4", uc, images=[{"file": "images/a.jpg"}])),
    )
    assert post(api, data).status_code == 201
    stored = get_event(api, "b4")
    assert stored["images"][0]["url"] is None
    assert any("images/a.jpg" in warning for warning in stored["warnings"]), stored["warnings"]


def test_an_invalid_event_stores_no_image(api, monkeypatch):
    uc = api.use_case()
    monkeypatch.setattr(api.services.images, "upload", lambda *a: pytest.fail("an image was stored"))
    event = make_event("b5", uc, eventData={"result": "maybe"}, images=[{"file": "a.jpg"}])
    body = assert_error(post(api, write_bundle(event, {"a.jpg": jpeg_bytes()})), 400, "validation_error")
    assert [d["loc"] for d in body["details"]] == ["eventData.result"]


@pytest.mark.parametrize(
    ("event_images", "loc"),
    [([{"file": "images/missing.jpg"}], "images[0].file"), ([{}, {"inputFile": 7}], "images[1].inputFile")],
)
def test_a_file_not_in_the_bundle_is_400(api, event_images, loc):
    data = write_bundle(make_event("b6", api.use_case(), images=event_images), {})
    body = assert_error(post(api, data), 400, "validation_error")
    assert [d["loc"] for d in body["details"]] == [loc]


def test_an_unknown_use_case_is_400(api):
    body = assert_error(post(api, write_bundle(make_event("b7", "nope"), {})), 400, "validation_error")
    assert "useCaseId" in body["error"]


@pytest.mark.parametrize(
    ("members", "words"),
    [
        ([member("../evil.jpg", b"x")], "outside the archive"),
        ([member("images/../../evil.jpg", b"x")], "outside the archive"),
        ([member("/etc/passwd", b"x")], "outside the archive"),
        ([member("C:\\evil.jpg", b"x")], "outside the archive"),
        ([member("images/a.jpg", kind=tarfile.SYMTYPE, linkname="/etc/passwd")], "is a link"),
        ([member("images/a.jpg", kind=tarfile.LNKTYPE, linkname="payload.json")], "is a link"),
        ([member("dev/zero", kind=tarfile.CHRTYPE, devmajor=1, devminor=5)], "special file"),
        ([member("fifo", kind=tarfile.FIFOTYPE)], "special file"),
        ([member("images/a.jpg", b"x"), member("images/a.jpg", b"y")], "twice"),
        ([], "no payload.json"),
    ],
    ids=[
        "dotdot",
        "nested-dotdot",
        "absolute",
        "drive",
        "symlink",
        "hardlink",
        "device",
        "fifo",
        "dup",
        "empty",
    ],
)
def test_hostile_or_broken_archives_are_400(api, members, words):
    uc = api.use_case()
    body_members = [*members, payload(make_event("h", uc))] if words != "no payload.json" else members
    body = assert_error(post(api, archive(*body_members)), 400, "bad_request")
    assert words in body["error"], body
    assert_error(post(api, archive(*body_members, compress=True)), 400, "bad_request")


@pytest.mark.parametrize(
    ("data", "words"),
    [
        (b"", "empty"),
        (b'{"eventId": "x"}', "not a valid tar"),
        (bytes(range(256)) * 8, "not a valid tar"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 20, "not valid gzip"),
        (gzip.compress(b"\x00" * 4096)[:-12], "truncated"),
    ],
    ids=["empty", "json", "noise", "bad-gzip", "truncated-gzip"],
)
def test_a_body_that_is_not_a_tar_is_400(api, data, words):
    body = assert_error(post(api, data), 400, "bad_request")
    assert words in body["error"], body


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"[1, 2]", "one JSON object"),
        (b"{nope", "not valid JSON"),
        (b'{"eventId": "x"}', '"bundleFormatVersion": 1'),
        (b'{"eventId": "x", "bundleFormatVersion": 2}', "(got 2)"),
    ],
)
def test_a_bad_payload_is_400(api, content, words):
    body = assert_error(post(api, archive(member("payload.json", content))), 400, "bad_request")
    assert words in body["error"], body


def test_limits(make_api):
    limited = make_api(
        max_image_bytes=1000,
        max_bundle_members=3,
        max_bundle_unpacked_bytes=64 * 1024,
        max_bundle_bytes=50_000,
    )
    uc = limited.use_case()
    event = payload(make_event("l1", uc))

    oversize = archive(member("images/big.jpg", b"x" * 1001), event)
    assert "the limit is 1000" in assert_error(post(limited, oversize), 400, "bad_request")["error"]
    crowded = archive(*(member(f"f{i}", b"") for i in range(3)), event)
    assert "more than 3 entries" in assert_error(post(limited, crowded), 400, "bad_request")["error"]
    bomb = gzip.compress(archive(event) + b"\x00" * 10_000_000)
    assert len(bomb) < 50_000
    assert "unpacks to more than" in assert_error(post(limited, bomb), 400, "bad_request")["error"]
    assert_error(post(limited, b"\x00" * 50_001), 413, "payload_too_large")
    assert post(limited, archive(event)).status_code == 201


def test_the_archive_holds_the_exact_bytes_it_was_given(api):
    """write_bundle (used by `sightlog bundle write`) and the endpoint agree on the format."""
    uc = api.use_case()
    frames = {f"images/{i}.jpg": jpeg_bytes(8 + i, 8) for i in range(3)}
    event = make_event("w1", uc, images=[{"file": name} for name in frames])
    with tarfile.open(fileobj=io.BytesIO(write_bundle(event, frames))) as tar:
        names = tar.getnames()
        assert names[0] == "payload.json"
        assert json.load(tar.extractfile("payload.json"))["bundleFormatVersion"] == 1
    assert post(api, write_bundle(event, frames)).status_code == 201
    digests = [
        hashlib.sha256(fetched(api, image["sourceId"])).hexdigest()
        for image in get_event(api, "w1")["images"]
    ]
    assert digests == [hashlib.sha256(data).hexdigest() for data in frames.values()]
