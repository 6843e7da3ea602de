"""Reading the prediction lists of a SPEC §3.4 image entry into shapes that are safe to draw.

The entries come from stored client JSON, so nothing is trusted: anything missing, mistyped, NaN or
absurdly large is dropped here and the drawing code only ever sees finite floats.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# SPEC §5 caps each prediction list at 1000 items; the cap is repeated here so that a stored entry that
# somehow bypassed validation still cannot make one request draw forever.
_MAX_ITEMS = 1000
_MAX_POLYGON_POINTS = 10_000
_MAX_LABEL = 60

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # left, top, right, bottom


@dataclass(frozen=True, slots=True)
class Shape:
    cls: str
    confidence: float | None
    box: Box | None
    polygon: tuple[Point, ...] = ()  # empty unless >= 3 valid points
    keypoints: tuple[Point, ...] = ()

    @property
    def label(self) -> str:
        parts = [self.cls] if self.cls else []
        if self.confidence is not None:
            parts.append(f"{self.confidence:.2f}")
        return " ".join(parts)


@dataclass(frozen=True, slots=True)
class Classification:
    cls: str
    confidence: float | None


def _number(value: Any) -> float | None:
    # bool is an int subclass, and "12" is not a coordinate: both are rejected.
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    return number if math.isfinite(number) else None


def _class_name(value: Any) -> str:
    if not isinstance(value, str):
        return ""
    printable = "".join(ch for ch in value if ch.isprintable())
    return printable[:_MAX_LABEL]


def _items(entry: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = entry.get(key)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return []
    return [item for item in value[:_MAX_ITEMS] if isinstance(item, Mapping)]


def _box(item: Mapping[str, Any]) -> Box | None:
    x, y = _number(item.get("x")), _number(item.get("y"))
    width, height = _number(item.get("width")), _number(item.get("height"))
    if x is None or y is None or width is None or height is None or width < 0 or height < 0:
        return None
    # Boxes are centre-based (SPEC §3.4).
    return (x - width / 2, y - height / 2, x + width / 2, y + height / 2)


def _point(value: Any) -> Point | None:
    # Points come as [x, y] (SPEC) or as {"x": .., "y": ..} (keypoints, and Roboflow's own polygons).
    if isinstance(value, Mapping):
        x, y = _number(value.get("x")), _number(value.get("y"))
    elif isinstance(value, Sequence) and not isinstance(value, str | bytes) and len(value) >= 2:
        x, y = _number(value[0]), _number(value[1])
    else:
        return None
    return None if x is None or y is None else (x, y)


def _points(value: Any) -> tuple[Point, ...]:
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        return ()
    points = (_point(item) for item in value[:_MAX_POLYGON_POINTS])
    return tuple(point for point in points if point is not None)


def _confidence(item: Mapping[str, Any]) -> float | None:
    return _number(item.get("confidence"))


def parse_shapes(entry: Mapping[str, Any]) -> list[Shape]:
    """Boxes, polygons and keypoint sets, in drawing order; entries with nothing drawable are skipped."""
    shapes: list[Shape] = []
    for item in _items(entry, "objectDetections"):
        box = _box(item)
        if box is not None:
            shapes.append(Shape(_class_name(item.get("class")), _confidence(item), box))
    for item in _items(entry, "instanceSegmentations"):
        polygon = _points(item.get("points"))
        shape = Shape(
            _class_name(item.get("class")),
            _confidence(item),
            _box(item),
            polygon=polygon if len(polygon) >= 3 else (),
        )
        if shape.box is not None or shape.polygon:
            shapes.append(shape)
    for item in _items(entry, "keypoints"):
        shape = Shape(
            _class_name(item.get("class")),
            _confidence(item),
            _box(item),
            keypoints=_points(item.get("keypoints")),
        )
        if shape.box is not None or shape.keypoints:
            shapes.append(shape)
    return shapes


def parse_classifications(entry: Mapping[str, Any]) -> list[Classification]:
    found = (
        Classification(_class_name(item.get("class")), _confidence(item))
        for item in _items(entry, "classifications")
    )
    return [c for c in found if c.cls]
