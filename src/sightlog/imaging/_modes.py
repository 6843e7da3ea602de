"""Converting any decoded image to the 8-bit RGB(A) that thumbnails and annotations are drawn in."""

from __future__ import annotations

from PIL import Image

_WITH_ALPHA = {"RGBA", "LA", "La", "PA", "RGBa"}
_SIXTEEN_BIT = {"I;16", "I;16L", "I;16B", "I;16N"}


def _has_alpha(img: Image.Image) -> bool:
    # Palette and RGB images can carry a single transparent colour in info["transparency"].
    return img.mode in _WITH_ALPHA or "transparency" in img.info


def _high_depth_to_l(img: Image.Image) -> Image.Image:
    # Pillow's plain convert("L") clips every value above 255 to white, so scale first.
    if img.mode in _SIXTEEN_BIT:
        grey = img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    else:
        # 32-bit int / float images have no fixed range: stretch what is there to 0..255.
        low, high = img.getextrema()
        scale = 255 / (high - low) if high > low else 0.0
        grey = img.point(lambda v: v * scale - low * scale).convert("L")
    # A 16-bit transparent grey value means nothing in 8 bits (and Pillow may reject it later).
    grey.info.pop("transparency", None)
    return grey


def to_rgb(img: Image.Image, *, keep_alpha: bool) -> Image.Image:
    """A new RGB (or RGBA, if ``keep_alpha`` and the image has transparency) image, detached from the file."""
    if img.mode in _SIXTEEN_BIT or img.mode in {"I", "F"}:
        img = _high_depth_to_l(img)
    if not _has_alpha(img):
        return img.copy() if img.mode == "RGB" else img.convert("RGB")
    rgba = img.copy() if img.mode == "RGBA" else img.convert("RGBA")
    if keep_alpha:
        return rgba
    # Flatten onto white rather than dropping alpha, which would expose whatever colour hides under it.
    background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(background, rgba).convert("RGB")
