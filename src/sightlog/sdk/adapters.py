"""Predictions in and out of Sightlog: Roboflow ``inference`` results and ``supervision`` objects.

Building an event (each returns a :data:`Predictions` dict to spread into an image entry)::

    from_inference(result)               # dict (or object) from inference / the hosted Roboflow API
    from_detections(detections)          # sv.Detections: boxes, or polygons when it has masks
    from_key_points(key_points)          # sv.KeyPoints
    from_classifications(cls, names)     # sv.Classifications
    to_predictions(anything_above)       # picks the right one

Reading events back::

    to_detections(event)                 # sv.Detections of the boxed kinds, masks from polygons
    to_key_points(event)                 # sv.KeyPoints
    to_classifications(event)            # sv.Classifications

Stored predictions keep the ``class_id`` they were sent with, so ids survive a round trip; without one,
ids come from ``class_names`` or, failing that, from the order in which class names first appear.
supervision (and numpy) are imported only by the functions that need them:
``pip install 'sightlog[supervision]'``.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from sightlog.sdk.models import Event

if TYPE_CHECKING:
    import numpy as np
    import supervision as sv

__all__ = [
    "BOXED_KINDS",
    "KINDS",
    "Predictions",
    "from_classifications",
    "from_detections",
    "from_inference",
    "from_key_points",
    "to_classifications",
    "to_detections",
    "to_key_points",
    "to_predictions",
]

Predictions = dict[str, list[dict[str, Any]]]
"""Prediction lists by kind, in wire form: ``{"objectDetections": [{"class": ..., "x": ...}], ...}``."""

KINDS = ("objectDetections", "classifications", "instanceSegmentations", "keypoints")
BOXED_KINDS = ("objectDetections", "instanceSegmentations", "keypoints")
CLASS_NAME = "class_name"  # supervision's data key for class names


# -- from Roboflow inference results -----------------------------------------------------------------------


def from_inference(result: Mapping[str, Any] | Any) -> Predictions:
    """Prediction lists from one ``inference`` / hosted-API result.

    Object detection, instance segmentation (``points``) and keypoint (``keypoints``) predictions are
    centre-based boxes already, as Sightlog stores them; ``tracker_id`` becomes ``trackerId`` and
    ``class_id`` is kept. Classification results give ``classifications``: every class of a
    ``predictions`` list or dict (multi-label), or just ``top`` / ``confidence`` when that is all there is.
    """
    data = _as_dict(result)
    predictions = data.get("predictions")
    if isinstance(predictions, Mapping):
        items = [{"class": name, **dict(value)} for name, value in predictions.items()]
        return {"classifications": [_classification(item) for item in items]}
    if not predictions and "top" in data:
        return {"classifications": [{"class": str(data["top"]), "confidence": float(data["confidence"])}]}
    if predictions is None:
        raise ValueError("not an inference result: it has neither 'predictions' nor 'top'")
    out: Predictions = {}
    for prediction in predictions:
        kind, item = _prediction(prediction)
        out.setdefault(kind, []).append(item)
    return out


def _as_dict(result: Any) -> dict[str, Any]:
    if isinstance(result, list):
        raise TypeError("give one inference result at a time (model.infer(image) returns a list)")
    if isinstance(result, Mapping):
        return dict(result)
    for method in ("model_dump", "dict"):  # inference's pydantic response objects (v2, then v1)
        if hasattr(result, method):
            return dict(getattr(result, method)(by_alias=True, exclude_none=True))
    raise TypeError(f"not an inference result: {type(result).__name__}")


def _classification(p: Mapping[str, Any]) -> dict[str, Any]:
    item: dict[str, Any] = {
        "class": str(p.get("class", p.get("class_name"))),
        "confidence": float(p["confidence"]),
    }
    if p.get("class_id") is not None:
        item["class_id"] = int(p["class_id"])
    if p.get("tracker_id") is not None:
        item["trackerId"] = int(p["tracker_id"])
    if p.get("detection_id") is not None:
        item["detection_id"] = str(p["detection_id"])
    return item


def _prediction(p: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    item = _classification(p)
    if "x" not in p:
        return "classifications", item
    item.update(x=float(p["x"]), y=float(p["y"]), width=float(p["width"]), height=float(p["height"]))
    if p.get("points"):
        item["points"] = [_pair(point) for point in p["points"]]
        return "instanceSegmentations", item
    if "keypoints" in p:
        item["keypoints"] = [_keypoint(k, position) for position, k in enumerate(p["keypoints"])]
        return "keypoints", item
    return "objectDetections", item


def _pair(point: Any) -> list[float]:
    if isinstance(point, Mapping):
        return [float(point["x"]), float(point["y"])]
    return [float(point[0]), float(point[1])]


def _keypoint(k: Mapping[str, Any], position: int) -> dict[str, Any]:
    # inference's class_id of a key point is its slot in the skeleton: Sightlog's ``id``.
    slot = k.get("class_id", k.get("id", position))
    item: dict[str, Any] = {"id": int(slot), "x": float(k["x"]), "y": float(k["y"])}
    if k.get("confidence") is not None:
        item["confidence"] = float(k["confidence"])
    name = k.get("class", k.get("class_name"))
    if name is not None:
        item["class"] = str(name)
    return item


# -- from supervision --------------------------------------------------------------------------------------


def from_detections(detections: sv.Detections, class_names: Sequence[str] | None = None) -> Predictions:
    """Prediction lists from ``sv.Detections``: ``instanceSegmentations`` (each mask's largest outline as
    the polygon) when it has masks, else ``objectDetections``.

    Class names come from ``data["class_name"]``, else ``class_names[class_id]``. A missing confidence is
    stored as 1.0 (e.g. for hand-drawn or tracked boxes).
    """
    names = _names(len(detections), detections.class_id, detections.data, class_names)
    out: Predictions = {}
    for i in range(len(detections)):
        x1, y1, x2, y2 = (float(v) for v in detections.xyxy[i])
        item = _detection_item(detections, i, names[i])
        item.update(x=(x1 + x2) / 2, y=(y1 + y2) / 2, width=x2 - x1, height=y2 - y1)
        polygon = _largest_polygon(detections.mask[i]) if detections.mask is not None else None
        if polygon is not None:
            item["points"] = polygon
        out.setdefault("objectDetections" if polygon is None else "instanceSegmentations", []).append(item)
    return out


def _detection_item(detections: sv.Detections, i: int, name: str) -> dict[str, Any]:
    confidence = detections.confidence
    item: dict[str, Any] = {
        "class": name,
        "confidence": float(confidence[i]) if confidence is not None else 1.0,
    }
    if detections.class_id is not None:
        item["class_id"] = int(detections.class_id[i])
    if detections.tracker_id is not None:
        item["trackerId"] = int(detections.tracker_id[i])
    return item


def _largest_polygon(mask: Any) -> list[list[float]] | None:
    import numpy as np
    import supervision as sv

    polygons = sv.mask_to_polygons(np.asarray(mask, dtype=bool))
    if not polygons:
        return None

    def area(polygon: np.ndarray) -> float:
        x, y = polygon[:, 0].astype(float), polygon[:, 1].astype(float)
        return abs(float(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))) / 2

    return [[float(x), float(y)] for x, y in max(polygons, key=area)]


def from_key_points(
    key_points: sv.KeyPoints,
    class_names: Sequence[str] | None = None,
    detections: sv.Detections | None = None,
) -> Predictions:
    """``keypoints`` predictions from ``sv.KeyPoints``. Boxes and confidences come from ``detections``
    (the same objects, in the same order) when given, else from the key points themselves. Slots at
    (0, 0) with confidence 0 are supervision's marker of a missing key point and are left out."""
    import numpy as np

    xy = np.asarray(key_points.xy, dtype=float)
    point_confidence = _key_point_confidence(key_points)
    object_confidence = getattr(key_points, "detection_confidence", None)
    names = _names(len(xy), key_points.class_id, key_points.data, class_names)
    items = []
    for i in range(len(xy)):
        present = np.any(xy[i] != 0, axis=1)
        if point_confidence is not None:
            present |= point_confidence[i] > 0
        slots = np.flatnonzero(present)
        points = [{"id": int(j), "x": float(xy[i, j, 0]), "y": float(xy[i, j, 1])} for j in slots]
        if point_confidence is not None:
            for point, j in zip(points, slots, strict=True):
                point["confidence"] = float(point_confidence[i, j])
        if detections is not None:
            item = _detection_item(detections, i, names[i])
            x1, y1, x2, y2 = (float(v) for v in detections.xyxy[i])
        else:
            item = {"class": names[i]}
            if key_points.class_id is not None:
                item["class_id"] = int(key_points.class_id[i])
            if object_confidence is not None:
                item["confidence"] = float(object_confidence[i])
            elif point_confidence is not None and len(slots):
                item["confidence"] = float(point_confidence[i, slots].mean())
            else:
                item["confidence"] = 1.0
            x1, y1 = (float(v) for v in xy[i, slots].min(axis=0)) if len(slots) else (0.0, 0.0)
            x2, y2 = (float(v) for v in xy[i, slots].max(axis=0)) if len(slots) else (0.0, 0.0)
        item.update(x=(x1 + x2) / 2, y=(y1 + y2) / 2, width=x2 - x1, height=y2 - y1, keypoints=points)
        items.append(item)
    return {"keypoints": items} if items else {}


def _key_point_confidence(key_points: sv.KeyPoints) -> np.ndarray | None:
    # supervision 0.29 renamed ``confidence`` to ``keypoint_confidence``; read whichever this version has.
    if hasattr(key_points, "keypoint_confidence"):
        return key_points.keypoint_confidence
    return key_points.confidence


def from_classifications(classifications: sv.Classifications, class_names: Sequence[str]) -> Predictions:
    """``classifications`` from ``sv.Classifications`` (which holds ids only, hence ``class_names``)."""
    confidence = classifications.confidence
    items = []
    for i, class_id in enumerate(classifications.class_id):
        value = float(confidence[i]) if confidence is not None else 1.0
        items.append(
            {"class": str(class_names[int(class_id)]), "class_id": int(class_id), "confidence": value}
        )
    return {"classifications": items} if items else {}


def to_predictions(value: Any, class_names: Sequence[str] | None = None) -> Predictions:
    """Prediction lists from any of: an inference result, ``sv.Detections``, ``sv.KeyPoints``,
    ``sv.Classifications`` (needs ``class_names``), or prediction lists by kind (returned as they are)."""
    if value is None:
        return {}
    if type(value).__module__.startswith("supervision"):
        kind = type(value).__name__
        if kind == "Detections":
            return from_detections(value, class_names)
        if kind == "KeyPoints":
            return from_key_points(value, class_names)
        if kind == "Classifications":
            if class_names is None:
                raise ValueError("sv.Classifications holds class ids only: pass class_names too")
            return from_classifications(value, class_names)
        raise TypeError(f"cannot read predictions from supervision's {kind}")
    if isinstance(value, Mapping) and any(kind in value for kind in KINDS):
        return {kind: list(value[kind]) for kind in KINDS if value.get(kind)}
    return from_inference(value)


def _names(
    n: int, class_id: Any, data: Mapping[str, Any] | None, class_names: Sequence[str] | None
) -> list[str]:
    if data and CLASS_NAME in data:
        return [str(name) for name in data[CLASS_NAME]]
    if class_id is None:
        raise ValueError("the predictions have neither class names (data['class_name']) nor class ids")
    if class_names is not None:
        return [str(class_names[int(i)]) for i in class_id]
    return [str(int(i)) for i in class_id]


# -- back to supervision -----------------------------------------------------------------------------------


def to_detections(
    source: Event | BaseModel | Mapping[str, Any],
    *,
    image: int = 0,
    kinds: Sequence[str] = BOXED_KINDS,
    class_names: Sequence[str] | None = None,
    image_size: tuple[int, int] | None = None,
) -> sv.Detections:
    """``sv.Detections`` of the boxed predictions of one image of an event (or of an image entry).

    ``data["class_name"]`` holds the class names. Masks are drawn from the polygons when every detection
    has one and the image size is known: ``image_size=(width, height)``, or the ``width`` / ``height`` the
    server reports for stored events. Pass ``kinds=("instanceSegmentations",)`` for the masks of an image
    that also has plain boxes.
    """
    import numpy as np
    import supervision as sv

    entry = _entry(source, image)
    items = [p for kind in kinds if kind in BOXED_KINDS for p in entry.get(kind) or ()]
    boxes = [
        [x_min, y_min, x_min + float(p["width"]), y_min + float(p["height"])]
        for p in items
        for x_min, y_min in [(float(p["x"]) - float(p["width"]) / 2, float(p["y"]) - float(p["height"]) / 2)]
    ]
    trackers = [p.get("trackerId", p.get("tracker_id")) for p in items]
    width, height = image_size or (entry.get("width"), entry.get("height"))
    mask = None
    if items and width and height and all(len(p.get("points") or ()) >= 3 for p in items):
        mask = np.array([_polygon_mask(p["points"], int(width), int(height)) for p in items], dtype=bool)
    return sv.Detections(
        xyxy=np.array(boxes, dtype=float).reshape(-1, 4),
        confidence=np.array([float(p["confidence"]) for p in items], dtype=float),
        class_id=_class_ids(items, class_names),
        mask=mask,
        tracker_id=np.array(trackers, dtype=int) if items and None not in trackers else None,
        data={CLASS_NAME: np.array([str(p["class"]) for p in items], dtype=str)},
    )


def _polygon_mask(points: Sequence[Any], width: int, height: int) -> np.ndarray:
    import numpy as np
    import supervision as sv

    # Rounded, not truncated, like supervision's own loaders: truncation shifts masks up and left.
    polygon = np.round(np.array([_pair(point) for point in points], dtype=float)).astype(np.int32)
    return sv.polygon_to_mask(polygon, resolution_wh=(width, height)).astype(bool)


def to_key_points(
    source: Event | BaseModel | Mapping[str, Any],
    *,
    image: int = 0,
    class_names: Sequence[str] | None = None,
    keypoint_count: int | None = None,
) -> sv.KeyPoints:
    """``sv.KeyPoints`` of the ``keypoints`` predictions of one image; each key point goes to the slot its
    ``id`` names (missing ones stay at (0, 0) with confidence 0, supervision's marker). ``keypoint_count``
    fixes the number of slots (the skeleton's size) when the last ones may be missing everywhere."""
    import numpy as np
    import supervision as sv

    items = list(_entry(source, image).get("keypoints") or ())
    slots = [[int(k.get("id", j)) for j, k in enumerate(p["keypoints"])] for p in items]
    count = keypoint_count or max((max(s) + 1 for s in slots if s), default=0)
    xy = np.zeros((len(items), count, 2), dtype=np.float32)
    point_confidence = np.zeros((len(items), count), dtype=np.float32)
    scored = any(k.get("confidence") is not None for p in items for k in p["keypoints"])
    for i, (item, item_slots) in enumerate(zip(items, slots, strict=True)):
        for slot, k in zip(item_slots, item["keypoints"], strict=True):
            xy[i, slot] = (float(k["x"]), float(k["y"]))
            point_confidence[i, slot] = float(k.get("confidence", 1.0))
    fields: dict[str, Any] = {
        "xy": xy,
        "class_id": _class_ids(items, class_names),
        "data": {CLASS_NAME: np.array([str(p["class"]) for p in items], dtype=str)},
    }
    confidence = point_confidence if scored else None
    parameters = inspect.signature(sv.KeyPoints).parameters
    if "keypoint_confidence" in parameters:  # supervision >= 0.29
        fields["keypoint_confidence"] = confidence
        fields["detection_confidence"] = np.array([float(p["confidence"]) for p in items], dtype=np.float32)
    else:
        fields["confidence"] = confidence
    return sv.KeyPoints(**fields)


def to_classifications(
    source: Event | BaseModel | Mapping[str, Any], *, image: int = 0, class_names: Sequence[str] | None = None
) -> sv.Classifications:
    """``sv.Classifications`` of one image's ``classifications`` (ids as :func:`to_detections` gives)."""
    import numpy as np
    import supervision as sv

    items = list(_entry(source, image).get("classifications") or ())
    return sv.Classifications(
        class_id=_class_ids(items, class_names),
        confidence=np.array([float(p["confidence"]) for p in items], dtype=float),
    )


def _entry(source: Event | BaseModel | Mapping[str, Any], image: int) -> dict[str, Any]:
    """The image entry (wire form) that ``source`` is, or image ``image`` of the event that it is."""
    data = (
        source.model_dump(by_alias=True, exclude_none=True) if isinstance(source, BaseModel) else dict(source)
    )
    if "images" in data and not any(kind in data for kind in KINDS):
        images = data["images"] or []
        if not 0 <= image < len(images):
            raise IndexError(f"the event has {len(images)} image(s); there is no image {image}")
        return dict(images[image])
    return data


def _class_ids(items: Sequence[Mapping[str, Any]], class_names: Sequence[str] | None) -> np.ndarray:
    import numpy as np

    names = [str(p["class"]) for p in items]
    if class_names is not None:
        index = {name: i for i, name in enumerate(class_names)}
        unknown = sorted(set(names) - index.keys())
        if unknown:
            raise ValueError(f"class(es) {', '.join(unknown)} are not in class_names")
        return np.array([index[name] for name in names], dtype=int)
    stored = [p.get("class_id") for p in items]
    if all(isinstance(c, int) and not isinstance(c, bool) for c in stored):
        return np.array(stored, dtype=int)
    first_seen: dict[str, int] = {}
    for name in names:
        first_seen.setdefault(name, len(first_seen))
    return np.array([first_seen[name] for name in names], dtype=int)
