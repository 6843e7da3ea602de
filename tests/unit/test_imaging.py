"""Unit tests for sightlog.imaging. Every image is generated here with Pillow; no fixture files."""

from __future__ import annotations

import io
import math
import random
import struct
import warnings
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from PIL import EpsImagePlugin, Image, ImageStat

from sightlog.errors import PayloadTooLarge, UnsupportedMediaType
from sightlog.imaging import (
    ImageInfo,
    draw_annotations,
    inspect_image,
    make_thumbnail,
    supported_formats,
)
from sightlog.imaging import thumbnail as thumbnail_module
from sightlog.imaging.annotate import PALETTE, colour_for

LIMIT = 100_000_000

FORMATS = [
    # (Pillow save format, short name, mime, save options)
    ("JPEG", "jpeg", "image/jpeg", {}),
    ("PNG", "png", "image/png", {}),
    ("WEBP", "webp", "image/webp", {}),
    ("GIF", "gif", "image/gif", {}),
    ("TIFF", "tiff", "image/tiff", {}),
    ("BMP", "bmp", "image/bmp", {}),
    ("AVIF", "avif", "image/avif", {}),
]


def encode(img: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    img.save(out, fmt, **options)
    return out.getvalue()


def noisy(size: tuple[int, int], seed: int = 0) -> Image.Image:
    """Random pixels: compress badly, so a cut in the middle lands inside the pixel data."""
    width, height = size
    return Image.frombytes("RGB", size, random.Random(seed).randbytes(width * height * 3))


def png_with_declared_size(width: int, height: int) -> bytes:
    """A valid 1x1 PNG whose IHDR claims another size (with a correct CRC): a decompression bomb header."""
    data = bytearray(encode(Image.new("RGB", (1, 1), "white"), "PNG"))
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    crc = zlib.crc32(bytes(data[ihdr : ihdr + 17]))
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", crc)
    return bytes(data)


def decoded(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def skip_unless_supported(short: str) -> None:
    if short not in supported_formats():
        pytest.skip(f"this Pillow cannot read {short}")


# --- inspect_image: formats and sources ------------------------------------------------------------


@pytest.mark.parametrize(("fmt", "short", "mime", "options"), FORMATS, ids=[f[1] for f in FORMATS])
def test_inspect_every_allowed_format(fmt: str, short: str, mime: str, options: dict) -> None:
    skip_unless_supported(short)
    data = encode(noisy((37, 23)), fmt, **options)
    assert inspect_image(data, max_pixels=LIMIT) == ImageInfo(format=short, mime=mime, width=37, height=23)


def test_supported_formats_always_include_the_core_six() -> None:
    assert {"jpeg", "png", "webp", "gif", "tiff", "bmp"} <= set(supported_formats())


def test_inspect_animated_gif_reads_first_frame() -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in ("red", "green", "blue")]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=50, loop=0)
    assert inspect_image(out.getvalue(), max_pixels=LIMIT) == ImageInfo("gif", "image/gif", 40, 30)


def test_inspect_sniffs_bytes_not_the_file_name(tmp_path) -> None:
    path = tmp_path / "photo.jpg"  # a PNG in disguise
    path.write_bytes(encode(noisy((20, 10)), "PNG"))
    assert inspect_image(path, max_pixels=LIMIT).format == "png"
    assert inspect_image(str(path), max_pixels=LIMIT).format == "png"


def test_inspect_accepts_binary_file_objects(tmp_path) -> None:
    data = encode(noisy((20, 10)), "WEBP")
    assert inspect_image(io.BytesIO(data), max_pixels=LIMIT).format == "webp"
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    with path.open("rb") as fp:
        assert inspect_image(fp, max_pixels=LIMIT).width == 20
        assert not fp.closed  # the caller's stream stays the caller's to close


def test_inspect_cmyk_jpeg_and_16_bit_png() -> None:
    assert inspect_image(encode(noisy((30, 20)).convert("CMYK"), "JPEG"), max_pixels=LIMIT).format == "jpeg"
    grey16 = Image.new("I;16", (30, 20))
    assert inspect_image(encode(grey16, "PNG"), max_pixels=LIMIT).format == "png"


def test_missing_stored_file_is_not_blamed_on_the_client(tmp_path) -> None:
    with pytest.raises(FileNotFoundError):
        inspect_image(tmp_path / "gone.png", max_pixels=LIMIT)


# --- inspect_image: rejected input -----------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "GIF", "TIFF", "BMP", "WEBP"])
def test_truncated_image_is_415(fmt: str) -> None:
    data = encode(noisy((128, 128)), fmt)
    with pytest.raises(UnsupportedMediaType):
        inspect_image(data[: len(data) // 2], max_pixels=LIMIT)


def test_truncated_jpeg_names_the_problem() -> None:
    data = encode(noisy((128, 128)), "JPEG")
    with pytest.raises(UnsupportedMediaType, match="truncated or corrupt"):
        inspect_image(data[: len(data) // 2], max_pixels=LIMIT)


def _full_decode_fails(data: bytes) -> bool:
    try:
        decoded(data)
    except Exception:
        return True
    return False


def test_jpeg_reduced_scale_check_rejects_exactly_what_a_full_decode_rejects() -> None:
    """inspect_image decodes JPEGs at 1/8 scale; every mutation must get the full decode's verdict."""
    original = encode(noisy((301, 203), seed=3), "JPEG", quality=90, progressive=False)
    progressive = encode(noisy((301, 203), seed=4), "JPEG", quality=90, progressive=True)
    rng = random.Random(11)
    mutations = []
    for base in (original, progressive):
        for cut in range(200, len(base), max(1, len(base) // 40)):
            mutations.append(base[:cut])
        for _ in range(40):
            spot = rng.randrange(200, len(base) - 2)
            mutations.append(base[:spot] + rng.randbytes(rng.randint(1, 16)) + base[spot + 16 :])
    verdicts = {"accepted": 0, "rejected": 0}
    for data in mutations:
        try:
            info = inspect_image(data, max_pixels=LIMIT)
        except UnsupportedMediaType:
            assert _full_decode_fails(data)
            verdicts["rejected"] += 1
        else:
            assert not _full_decode_fails(data)
            assert (info.width, info.height) == (301, 203)  # the real size, not the reduced decode's
            verdicts["accepted"] += 1
    assert verdicts["rejected"] >= 40 and verdicts["accepted"] >= 2, verdicts


@pytest.mark.parametrize(
    "data",
    [
        random.Random(1).randbytes(4096),
        b"Hello, this is a plain text file.\n" * 20,
        b"",
        b"%PDF-1.7\n1 0 obj\n<< /Type /Catalog >>\nendobj\n%%EOF\n",
        b"\x89PNG\r\n\x1a\n",  # a PNG signature and nothing else
    ],
    ids=["random", "text", "empty", "pdf", "png-signature-only"],
)
def test_non_images_are_415(data: bytes) -> None:
    with pytest.raises(UnsupportedMediaType, match=r"not an image Sightlog can read \(supported: JPEG"):
        inspect_image(data, max_pixels=LIMIT)


@pytest.mark.parametrize("fmt", ["ICO", "PPM", "TGA", "PCX"])
def test_images_in_other_formats_are_415(fmt: str) -> None:
    with pytest.raises(UnsupportedMediaType):
        inspect_image(encode(noisy((16, 16)), fmt), max_pixels=LIMIT)


def test_eps_is_415_without_touching_the_eps_plugin(monkeypatch) -> None:
    def fail(*_args, **_kwargs):
        raise AssertionError("the EPS plugin (and so Ghostscript) must never run")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", fail)
    monkeypatch.setattr(EpsImagePlugin, "Ghostscript", fail)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n%%EOF\n"
    with pytest.raises(UnsupportedMediaType):
        inspect_image(eps, max_pixels=LIMIT)


# --- inspect_image: pixel limit --------------------------------------------------------------------


def test_declared_bomb_is_413_with_the_pixel_count() -> None:
    bomb = png_with_declared_size(30_000, 30_000)
    with pytest.raises(PayloadTooLarge, match="900000000 pixels; the limit is 100000000"):
        inspect_image(bomb, max_pixels=LIMIT)


def test_pixel_limit_is_checked_before_decoding() -> None:
    # 25 MP declared, a single pixel of data: decoding would fail with 415, so 413 proves the order.
    fake = png_with_declared_size(5000, 5000)
    with pytest.raises(PayloadTooLarge, match="25000000 pixels; the limit is 1000000"):
        inspect_image(fake, max_pixels=1_000_000)
    with pytest.raises(UnsupportedMediaType, match="truncated or corrupt"):
        inspect_image(fake, max_pixels=LIMIT)


def test_bomb_is_413_even_when_the_limit_is_above_pillows_ceiling() -> None:
    with pytest.raises(PayloadTooLarge):
        inspect_image(png_with_declared_size(30_000, 30_000), max_pixels=10**12)


def test_pillow_bomb_warning_as_error_becomes_413() -> None:
    # Between Image.MAX_IMAGE_PIXELS and twice that, Pillow only warns; strict warning filters turn the
    # warning into an exception, which must still leave as a 413.
    side = math.isqrt(Image.MAX_IMAGE_PIXELS) + 10
    fake = png_with_declared_size(side, side)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(PayloadTooLarge, match=f"{side * side} pixels; the limit is 1000"):
            inspect_image(fake, max_pixels=1000)


def test_genuinely_large_compressible_png_is_413() -> None:
    big = encode(Image.new("L", (4000, 3000)), "PNG", optimize=True)
    assert len(big) < 100_000
    with pytest.raises(PayloadTooLarge, match="12000000 pixels; the limit is 11999999"):
        inspect_image(big, max_pixels=11_999_999)


def test_max_pixels_is_exact() -> None:
    data = encode(noisy((100, 50)), "PNG")
    assert inspect_image(data, max_pixels=5000).width == 100
    with pytest.raises(PayloadTooLarge, match="5000 pixels; the limit is 4999"):
        inspect_image(data, max_pixels=4999)


def test_inspect_is_thread_safe_and_leaves_pillow_globals_alone() -> None:
    before = Image.MAX_IMAGE_PIXELS
    data = encode(noisy((100, 50)), "PNG")

    def run(limit: int) -> str:
        try:
            inspect_image(data, max_pixels=limit)
        except PayloadTooLarge:
            return "413"
        return "ok"

    limits = [5000 if i % 2 else 4999 for i in range(200)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(run, limits))
    assert results == ["ok" if limit == 5000 else "413" for limit in limits]
    assert before == Image.MAX_IMAGE_PIXELS


# --- make_thumbnail --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "expected"),
    [((1000, 600), (320, 192)), ((300, 900), (107, 320)), ((2000, 1500), (320, 240)), ((320, 10), (320, 10))],
)
def test_thumbnail_fits_and_keeps_aspect(size: tuple[int, int], expected: tuple[int, int]) -> None:
    data, mime = make_thumbnail(encode(noisy(size), "JPEG"), max_pixels=LIMIT)
    thumb = decoded(data)
    assert mime == "image/webp"
    assert thumb.format == "WEBP"
    assert max(thumb.size) <= 320
    assert abs(thumb.width - expected[0]) <= 1
    assert abs(thumb.height - expected[1]) <= 1
    assert abs(thumb.width / thumb.height - size[0] / size[1]) <= 1 / min(thumb.size) * 1.01


def test_thumbnail_respects_max_side() -> None:
    data, _ = make_thumbnail(encode(noisy((500, 250)), "PNG"), max_side=64, max_pixels=LIMIT)
    assert decoded(data).size == (64, 32)


def test_thumbnail_never_upscales() -> None:
    data, _ = make_thumbnail(encode(noisy((100, 80)), "PNG"), max_pixels=LIMIT)
    assert decoded(data).size == (100, 80)


def test_thumbnail_applies_exif_orientation() -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    photo = encode(noisy((400, 200)), "JPEG", exif=exif.tobytes())
    assert inspect_image(photo, max_pixels=LIMIT).width == 400  # stored size is reported as stored
    data, _ = make_thumbnail(photo, max_pixels=LIMIT)
    assert decoded(data).size == (160, 320)


def test_thumbnail_survives_broken_exif() -> None:
    photo = encode(noisy((400, 200)), "JPEG", exif=b"Exif\x00\x00garbage-not-tiff")
    data, _ = make_thumbnail(photo, max_pixels=LIMIT)
    assert decoded(data).size == (320, 160)


def gradient_16_bit() -> Image.Image:
    img = Image.new("I;16", (256, 64))
    img.putdata([x * 257 for _ in range(64) for x in range(256)])  # 0..65535 left to right
    return img


def translucent(mode: str) -> Image.Image:
    img = noisy((600, 400)).convert(mode)
    img.putalpha(Image.linear_gradient("L").resize(img.size))  # fully opaque alpha may be dropped by WebP
    return img


def palette_with_transparency() -> Image.Image:
    img = noisy((600, 400)).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    img.info["transparency"] = 0
    return img


@pytest.mark.parametrize(
    ("name", "data", "expect_alpha"),
    [
        ("cmyk-jpeg", encode(noisy((600, 400)).convert("CMYK"), "JPEG"), False),
        ("palette-png", encode(noisy((600, 400)).convert("P"), "PNG"), False),
        ("palette-png-transparent", encode(palette_with_transparency(), "PNG"), True),
        ("rgba-png", encode(translucent("RGBA"), "PNG"), True),
        ("la-png", encode(translucent("LA"), "PNG"), True),
        ("grey-png", encode(noisy((600, 400)).convert("L"), "PNG"), False),
        ("1-bit-png", encode(noisy((600, 400)).convert("1"), "PNG"), False),
        ("16-bit-grey-png", encode(gradient_16_bit(), "PNG"), False),
        ("16-bit-grey-tiff", encode(gradient_16_bit(), "TIFF"), False),
        ("float-tiff", encode(gradient_16_bit().convert("F"), "TIFF"), False),
        (
            "animated-gif",
            encode(noisy((600, 400)), "GIF", save_all=True, append_images=[noisy((600, 400), 2)]),
            False,
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_thumbnail_handles_every_mode(name: str, data: bytes, expect_alpha: bool) -> None:
    thumb_bytes, mime = make_thumbnail(data, max_pixels=LIMIT)
    thumb = decoded(thumb_bytes)
    original = inspect_image(data, max_pixels=LIMIT)
    expected = (320, 213) if (original.width, original.height) == (600, 400) else (256, 64)
    assert (mime, thumb.size) == ("image/webp", expected)
    assert thumb.mode == ("RGBA" if expect_alpha else "RGB")


@pytest.mark.parametrize("fmt", ["PNG", "TIFF"])
def test_16_bit_grey_is_scaled_not_clipped(fmt: str) -> None:
    thumb = decoded(make_thumbnail(encode(gradient_16_bit(), fmt), max_pixels=LIMIT)[0]).convert("L")
    # A clipped conversion turns almost everything white (mean ~254); a scaled one averages mid-grey.
    assert 100 < ImageStat.Stat(thumb).mean[0] < 155
    assert thumb.getpixel((0, 32)) < 20
    assert thumb.getpixel((255, 32)) > 235


def test_thumbnail_falls_back_to_jpeg_without_webp(monkeypatch) -> None:
    monkeypatch.setattr(thumbnail_module.features, "check", lambda feature: feature != "webp")
    data, mime = make_thumbnail(encode(noisy((600, 400)).convert("RGBA"), "PNG"), max_pixels=LIMIT)
    thumb = decoded(data)
    assert (mime, thumb.format, thumb.mode, thumb.size) == ("image/jpeg", "JPEG", "RGB", (320, 213))


def test_thumbnail_errors_match_inspect() -> None:
    with pytest.raises(UnsupportedMediaType):
        make_thumbnail(b"not an image", max_pixels=LIMIT)
    data = encode(noisy((128, 128)), "JPEG")
    with pytest.raises(UnsupportedMediaType):
        make_thumbnail(data[: len(data) // 2], max_pixels=LIMIT)
    with pytest.raises(PayloadTooLarge):
        make_thumbnail(png_with_declared_size(30_000, 30_000), max_pixels=LIMIT)


# --- draw_annotations ------------------------------------------------------------------------------

GREY = (128, 128, 128)


def grey_png(size: tuple[int, int] = (640, 480)) -> bytes:
    return encode(Image.new("RGB", size, GREY), "PNG")


def close_to(pixel: tuple[int, ...], expected: tuple[int, ...], tolerance: int = 8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(pixel, expected, strict=True))


def annotate(entry: object, source: bytes | None = None) -> Image.Image:
    data = draw_annotations(source if source is not None else grey_png(), entry, max_pixels=LIMIT)
    img = decoded(data)
    assert img.format == "JPEG"
    return img.convert("RGB")


def test_detection_box_is_drawn_and_far_pixels_untouched() -> None:
    entry = {
        "objectDetections": [
            {"class": "defect", "x": 320, "y": 240, "width": 100, "height": 80, "confidence": 0.95}
        ]
    }
    img = annotate(entry)
    assert img.size == (640, 480)
    assert not close_to(img.getpixel((270, 250)), GREY, tolerance=30)  # left edge of the box
    assert not close_to(img.getpixel((370, 250)), GREY, tolerance=30)  # right edge
    assert close_to(img.getpixel((320, 250)), GREY)  # inside the box, away from the label
    assert close_to(img.getpixel((600, 450)), GREY)  # far from everything


def test_box_edge_has_the_class_colour_and_scales_with_the_image() -> None:
    # 1600 px wide -> 4 px lines (JPEG chroma subsampling would blur a 2 px line into the grey).
    entry = {"objectDetections": [{"class": "defect", "x": 800, "y": 600, "width": 400, "height": 300}]}
    img = annotate(entry, grey_png((1600, 1200)))
    assert close_to(img.getpixel((601, 650)), colour_for("defect"), tolerance=40)
    assert close_to(img.getpixel((620, 650)), GREY)


def test_segmentation_keypoints_and_classifications_are_drawn() -> None:
    entry = {
        "instanceSegmentations": [
            {
                "class": "dent",
                "x": 150,
                "y": 350,
                "width": 100,
                "height": 100,
                "confidence": 0.8,
                "points": [[100, 300], [200, 300], [200, 400], [100, 400]],
            }
        ],
        "keypoints": [
            {
                "class": "person",
                "x": 500,
                "y": 200,
                "width": 80,
                "height": 200,
                "confidence": 0.9,
                "keypoints": [{"id": 0, "x": 500, "y": 150, "confidence": 0.7}],
            }
        ],
        "classifications": [{"class": "scratch", "confidence": 0.91}],
    }
    img = annotate(entry)
    assert not close_to(img.getpixel((150, 370)), GREY)  # translucent polygon fill
    assert not close_to(img.getpixel((500, 150)), GREY, tolerance=30)  # keypoint dot
    assert not close_to(img.getpixel((6, 6)), GREY, tolerance=30)  # classification tag, top-left
    assert close_to(img.getpixel((600, 450)), GREY)


def test_class_colours_are_stable_and_from_the_palette() -> None:
    assert colour_for("defect") == colour_for("defect")
    assert colour_for("defect") in PALETTE
    assert len({colour_for(f"class-{i}") for i in range(100)}) > len(PALETTE) // 2


@pytest.mark.parametrize(
    "entry",
    [
        {},
        [],
        "not a mapping",
        None,
        {"objectDetections": "nope", "classifications": 5, "keypoints": None, "instanceSegmentations": {}},
        {"objectDetections": [None, 1, "x", [], {}]},
        {"objectDetections": [{"class": "a", "x": "320", "y": 240, "width": 10, "height": 10}]},
        {"objectDetections": [{"class": "a", "x": 320, "y": 240}]},  # no size
        {"objectDetections": [{"class": 7, "x": True, "y": 1, "width": -5, "height": 10}]},
        {"objectDetections": [{"class": "a", "x": float("nan"), "y": float("inf"), "width": 1, "height": 1}]},
        {"objectDetections": [{"class": "a", "x": 10**400, "y": 1e308, "width": 1e308, "height": 1e308}]},
        {"objectDetections": [{"class": "a\x00b\n", "x": -1e9, "y": 1e9, "width": 5, "height": 5}]},
        {"objectDetections": [{"class": "a", "x": 5, "y": 5, "width": 0, "height": 0, "confidence": "high"}]},
        {"instanceSegmentations": [{"class": "dent", "points": [[1, 2], [3, 4]]}]},  # 2-point polygon
        {"instanceSegmentations": [{"class": "dent", "points": [[1], "ab", [None, 2], {"x": 1}, 7]}]},
        {"instanceSegmentations": [{"class": "dent", "points": "1,2 3,4 5,6"}]},
        {"instanceSegmentations": [{"points": [[1e12, -1e12], [5, 5], [-1e12, 1e12]]}]},
        {"instanceSegmentations": [{"points": [{"x": 10, "y": 10}, {"x": 50, "y": 10}, {"x": 30, "y": 40}]}]},
        {
            "keypoints": [
                {"class": "p", "keypoints": [{"x": "1", "y": 2}, None, [3, 4], {"x": 1e300, "y": 0}]}
            ]
        },
        {"keypoints": [{"class": "p", "x": 1, "y": 1, "width": 1, "height": 1, "keypoints": "none"}]},
        {"classifications": [{"class": None}, {"confidence": 0.5}, {"class": "x" * 10_000, "confidence": 2}]},
        {"classifications": [{"class": f"c{i}", "confidence": 0.5} for i in range(500)]},
    ],
)
def test_malformed_predictions_never_raise(entry: object) -> None:
    img = annotate(entry)
    assert img.size == (640, 480)


def test_annotations_on_tiny_and_unusual_images() -> None:
    entry = {
        "objectDetections": [{"class": "a", "x": 2, "y": 2, "width": 4, "height": 4, "confidence": 0.5}],
        "classifications": [{"class": "scratch", "confidence": 0.91}],
    }
    assert annotate(entry, grey_png((3, 2))).size == (3, 2)
    assert annotate(entry, encode(noisy((50, 40)).convert("RGBA"), "PNG")).size == (50, 40)
    assert annotate(entry, encode(noisy((50, 40)).convert("P"), "GIF")).size == (50, 40)
    assert annotate(entry, encode(gradient_16_bit(), "PNG")).size == (256, 64)


def test_annotations_reject_bad_images() -> None:
    with pytest.raises(UnsupportedMediaType):
        draw_annotations(b"%PDF-1.4", {}, max_pixels=LIMIT)
    with pytest.raises(PayloadTooLarge):
        draw_annotations(grey_png(), {}, max_pixels=640 * 480 - 1)
