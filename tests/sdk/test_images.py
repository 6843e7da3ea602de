"""``client.images``: uploads from every kind of source, and the bytes, thumbnail and annotated image."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from sightlog import Client
from sightlog.sdk import UnsupportedMediaType
from sightlog.sdk.images import encode_image


def _decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def _jpeg(color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


def _close(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def test_upload_bytes_and_path_are_stored_unchanged(client: Client, tmp_path: Path) -> None:
    original = _jpeg()
    from_bytes = client.images.upload(original, name="frame-1", metadata={"camera": "north", "exposure": 3})
    assert from_bytes.success and from_bytes.source_id
    assert from_bytes.url == f"/vision-events/images/{from_bytes.source_id}"
    assert client.images.get(from_bytes.source_id) == original

    path = tmp_path / "frame.jpg"
    path.write_bytes(original)
    from_path = client.images.upload(path)
    from_str = client.images.upload(str(path))
    assert from_path.source_id != from_bytes.source_id  # every upload gets its own sourceId
    assert client.images.get(from_path.source_id) == original
    assert client.images.get(from_str.source_id) == original
    with path.open("rb") as handle:
        assert client.images.get(client.images.upload(handle).source_id) == original


def test_upload_pil_images_as_jpeg_or_png_with_alpha(client: Client) -> None:
    rgb = Image.new("RGB", (40, 30), (10, 200, 10))
    stored = _decoded(client.images.get(client.images.upload(rgb).source_id))
    assert (stored.format, stored.size) == ("JPEG", (40, 30))
    assert _close(stored.getpixel((5, 5)), (10, 200, 10))

    rgba = Image.new("RGBA", (20, 10), (0, 0, 255, 128))
    stored = _decoded(client.images.get(client.images.upload(rgba).source_id))
    assert (stored.format, stored.mode) == ("PNG", "RGBA")
    assert stored.getpixel((1, 1)) == (0, 0, 255, 128)


def test_upload_numpy_arrays_bgr_by_default(client: Client) -> None:
    bgr = np.zeros((24, 32, 3), dtype=np.uint8)
    bgr[:, :] = (255, 0, 0)  # pure blue in OpenCV's channel order
    stored = _decoded(client.images.get(client.images.upload(bgr).source_id))
    assert (stored.format, stored.size) == ("JPEG", (32, 24))
    assert _close(stored.getpixel((3, 3)), (0, 0, 255))

    as_rgb = _decoded(client.images.get(client.images.upload(bgr, channels="rgb").source_id))
    assert _close(as_rgb.getpixel((3, 3)), (255, 0, 0))

    gray = _decoded(client.images.get(client.images.upload(np.full((8, 8), 77, dtype=np.uint8)).source_id))
    assert (gray.mode, abs(gray.getpixel((1, 1)) - 77) <= 2) == ("L", True)

    bgra = np.zeros((8, 8, 4), dtype=np.uint8)
    bgra[:, :] = (0, 255, 0, 10)
    stored = _decoded(client.images.get(client.images.upload(bgra).source_id))
    assert (stored.format, stored.getpixel((0, 0))) == ("PNG", (0, 255, 0, 10))


def test_unusable_sources_fail_before_any_request() -> None:
    with pytest.raises(ValueError, match="uint8"):
        encode_image(np.zeros((4, 4, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="shape"):
        encode_image(np.zeros((4, 4, 2), dtype=np.uint8))
    with pytest.raises(TypeError, match="cannot upload a int"):
        encode_image(42)  # type: ignore[arg-type]


def test_not_an_image_is_unsupported_media_type(client: Client) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        client.images.upload(b"certainly not an image")
    assert (caught.value.status, caught.value.code) == (415, "unsupported_media_type")


def test_thumbnail_and_annotated(client: Client, use_case: str) -> None:
    upload = client.images.upload(_jpeg(size=(640, 480)))
    thumb = _decoded(client.images.thumbnail(upload.source_id))
    assert max(thumb.size) <= 320 and thumb.size[0] > thumb.size[1]

    boxes = [{"class": "dent", "x": 320, "y": 240, "width": 100, "height": 80, "confidence": 0.9}]
    event_id = client.events.create(
        use_case, "custom", images=[{"sourceId": upload.source_id, "objectDetections": boxes}]
    ).event_id
    annotated = _decoded(client.images.annotated(event_id))
    assert (annotated.format, annotated.size) == ("JPEG", (640, 480))
    stored = client.events.get(event_id).images[0]
    assert (stored.width, stored.height) == (640, 480)
    assert stored.url == upload.url and stored.thumbnail_url == f"{upload.url}/thumbnail"
