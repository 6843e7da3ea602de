"""``make_thumbnail``: a small WebP (or JPEG) preview for the dashboard."""

from __future__ import annotations

import io

from PIL import Image, ImageOps, features

from sightlog.imaging._modes import to_rgb
from sightlog.imaging._open import ImageSource, open_image


def _apply_exif_orientation(img: Image.Image) -> None:
    # A broken EXIF block is common in real photos and should not cost the thumbnail: fall back to the
    # stored orientation.
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except Exception:
        return


# Modes Pillow resamples directly (alpha is premultiplied for us); shrinking before converting saves
# a full-size RGB(A) copy of a large image.
_RESAMPLE_FIRST = {"RGB", "RGBA", "L", "LA", "CMYK"}


def _shrink_then_convert(img: Image.Image, max_side: int) -> Image.Image:
    # thumbnail() only ever shrinks and keeps the aspect ratio. Palette, 1-bit and 16/32-bit images are
    # converted first: resampling palette indices or clipped high-depth values would produce garbage.
    box = (max_side, max_side)
    if img.mode in _RESAMPLE_FIRST and "transparency" not in img.info:
        img.thumbnail(box, Image.Resampling.LANCZOS)
        return to_rgb(img, keep_alpha=True)
    thumb = to_rgb(img, keep_alpha=True)
    thumb.thumbnail(box, Image.Resampling.LANCZOS)
    return thumb


def _encode(img: Image.Image) -> tuple[bytes, str]:
    out = io.BytesIO()
    if features.check("webp"):
        img.save(out, "WEBP", quality=80, method=4)
        return out.getvalue(), "image/webp"
    if img.mode == "RGBA":
        img = to_rgb(img, keep_alpha=False)
    img.save(out, "JPEG", quality=85, optimize=True)
    return out.getvalue(), "image/jpeg"


def make_thumbnail(source: ImageSource, *, max_side: int = 320, max_pixels: int) -> tuple[bytes, str]:
    """Return ``(bytes, mime)`` of a thumbnail whose longest side is at most ``max_side``; never upscales.

    EXIF orientation is applied, so the thumbnail looks the way the photo was taken. Raises the same
    413/415 errors as ``inspect_image``.
    """
    if max_side < 1:
        raise ValueError("max_side must be at least 1")
    with open_image(source, max_pixels=max_pixels) as img:
        if img.format in ("JPEG", "MPO"):
            # Let libjpeg decode at 1/2, 1/4 or 1/8 scale; it keeps both sides >= max_side, so the
            # thumbnail is still made from enough pixels whatever the orientation.
            img.draft(None, (max_side, max_side))
        img.load()
        _apply_exif_orientation(img)
        thumb = _shrink_then_convert(img, max_side)
    return _encode(thumb)
