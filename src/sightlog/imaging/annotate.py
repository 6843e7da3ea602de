"""``draw_annotations``: an image with the predictions of one event image drawn on it, as JPEG."""

from __future__ import annotations

import functools
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from sightlog.imaging._modes import to_rgb
from sightlog.imaging._open import ImageSource, open_image
from sightlog.imaging._predictions import (
    Box,
    Classification,
    Point,
    Shape,
    parse_classifications,
    parse_shapes,
)

RGB = tuple[int, int, int]
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont

# Distinct, saturated colours that stay readable on photos (Trubetskoy's "20 distinct colours", trimmed).
PALETTE: tuple[RGB, ...] = (
    (230, 25, 75),
    (60, 180, 75),
    (255, 225, 25),
    (0, 130, 200),
    (245, 130, 48),
    (145, 30, 180),
    (70, 240, 240),
    (240, 50, 230),
    (210, 245, 60),
    (250, 190, 212),
    (0, 128, 128),
    (170, 110, 40),
)
_FILL_ALPHA = 80  # polygon fill opacity (0-255): the object stays visible under it


def colour_for(cls: str) -> RGB:
    # hashlib, not hash(): str hashes are salted per process, and a class must keep its colour across
    # requests, workers and restarts.
    digest = hashlib.sha256(cls.encode("utf-8")).digest()
    return PALETTE[int.from_bytes(digest[:4], "big") % len(PALETTE)]


def _text_colour(background: RGB) -> RGB:
    r, g, b = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


@functools.lru_cache(maxsize=16)
def _font(size: int) -> Font:
    try:
        return ImageFont.load_default(size=size)  # scalable, needs FreeType
    except (ImportError, OSError):
        return ImageFont.load_default()  # fixed-size bitmap font, always available


@dataclass(frozen=True, slots=True)
class _Style:
    line: int
    font: Font
    limit: float  # coordinates are clamped to +-limit so Pillow's C code never overflows

    @classmethod
    def for_size(cls, width: int, height: int) -> _Style:
        longest = max(width, height)
        line = max(2, round(longest / 400))  # 2 px at 640, 5 px at 1920
        return cls(line=line, font=_font(min(72, max(10, line * 6))), limit=4.0 * longest + 100)

    def clamp(self, point: Point) -> Point:
        x, y = point
        return (min(max(x, -self.limit), self.limit), min(max(y, -self.limit), self.limit))

    def clamp_box(self, box: Box) -> Box:
        left, top = self.clamp(box[:2])
        right, bottom = self.clamp(box[2:])
        return (left, top, right, bottom)


def _fill_polygon(canvas: Image.Image, polygon: list[Point], colour: RGB) -> None:
    # Blend only the polygon's bounding region: a full-size RGBA overlay of a 100 MP image is 400 MB.
    xs, ys = [p[0] for p in polygon], [p[1] for p in polygon]
    left, top = max(0, int(min(xs))), max(0, int(min(ys)))
    right, bottom = min(canvas.width, int(max(xs)) + 1), min(canvas.height, int(max(ys)) + 1)
    if right <= left or bottom <= top:
        return
    region = canvas.crop((left, top, right, bottom)).convert("RGBA")
    overlay = Image.new("RGBA", region.size, (0, 0, 0, 0))
    ImageDraw.Draw(overlay).polygon([(x - left, y - top) for x, y in polygon], fill=(*colour, _FILL_ALPHA))
    canvas.paste(Image.alpha_composite(region, overlay).convert("RGB"), (left, top))


def _draw_label(
    draw: ImageDraw.ImageDraw, text: str, anchor: Point, colour: RGB, style: _Style, size: tuple[int, int]
) -> None:
    """A filled tag above ``anchor`` (the box's top-left), moved inside the image when it would not fit."""
    if not text:
        return
    left, top, right, bottom = draw.textbbox((0, 0), text, font=style.font)
    pad = max(1, style.line // 2)
    tag_w, tag_h = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(anchor[0], 0), max(0, size[0] - tag_w))
    y = anchor[1] - tag_h if anchor[1] - tag_h >= 0 else max(anchor[1], 0)
    y = min(y, max(0, size[1] - tag_h))
    draw.rectangle((x, y, x + tag_w, y + tag_h), fill=colour)
    draw.text((x + pad - left, y + pad - top), text, fill=_text_colour(colour), font=style.font)


def _draw_shape(draw: ImageDraw.ImageDraw, shape: Shape, style: _Style) -> None:
    colour = colour_for(shape.cls)
    if shape.box is not None:
        draw.rectangle(style.clamp_box(shape.box), outline=colour, width=style.line)
    if shape.polygon:
        draw.polygon([style.clamp(p) for p in shape.polygon], outline=colour, width=style.line)
    radius = max(2.0, style.line * 1.5)
    for x, y in (style.clamp(p) for p in shape.keypoints):
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=colour, outline=(255, 255, 255))


def _label_anchor(shape: Shape) -> Point:
    if shape.box is not None:
        return shape.box[0], shape.box[1]
    points = shape.polygon or shape.keypoints
    return min(p[0] for p in points), min(p[1] for p in points)


def _draw_classifications(
    draw: ImageDraw.ImageDraw, items: list[Classification], style: _Style, size: tuple[int, int]
) -> None:
    y = style.line
    for item in items:
        text = item.cls if item.confidence is None else f"{item.cls} {item.confidence:.2f}"
        left, top, right, bottom = draw.textbbox((0, 0), text, font=style.font)
        height = bottom - top + 2 * style.line
        if y + height > size[1]:
            break  # the rest would be drawn off the image
        colour = colour_for(item.cls)
        draw.rectangle((style.line, y, style.line + right - left + 2 * style.line, y + height), fill=colour)
        draw.text(
            (2 * style.line - left, y + style.line - top), text, fill=_text_colour(colour), font=style.font
        )
        y += height + style.line


def draw_annotations(source: ImageSource, image_entry: Mapping[str, Any], *, max_pixels: int) -> bytes:
    """JPEG (quality 90) of the image with the entry's detections, polygons, keypoints and classes drawn.

    Coordinates are absolute pixels of the stored image (no EXIF rotation is applied, so boxes land where
    the model saw them). Malformed predictions are skipped. Raises the same 413/415 errors as
    ``inspect_image`` for the image itself.
    """
    with open_image(source, max_pixels=max_pixels) as img:
        img.load()
        canvas = to_rgb(img, keep_alpha=False)
    # From here on only our own, validated data is drawn: no Pillow input errors are possible.
    entry = image_entry if isinstance(image_entry, Mapping) else {}
    shapes, classifications = parse_shapes(entry), parse_classifications(entry)
    style = _Style.for_size(*canvas.size)
    for shape in shapes:
        if shape.polygon:
            _fill_polygon(canvas, [style.clamp(p) for p in shape.polygon], colour_for(shape.cls))
    draw = ImageDraw.Draw(canvas)
    for shape in shapes:
        _draw_shape(draw, shape, style)
    for shape in shapes:  # labels last, so no outline is drawn over a label
        _draw_label(
            draw, shape.label, style.clamp(_label_anchor(shape)), colour_for(shape.cls), style, canvas.size
        )
    _draw_classifications(draw, classifications, style, canvas.size)
    out = io.BytesIO()
    canvas.save(out, "JPEG", quality=90)
    return out.getvalue()
