"""Prediction adapters: round trips through a real server for all four prediction kinds.

Roboflow ``inference`` results go in with :func:`from_inference` and must come back exactly as
supervision's own parsers read the same result; supervision objects go in with ``from_*`` and must come
back equal to themselves.
"""

from __future__ import annotations

import numpy as np
import pytest
import supervision as sv
from PIL import Image

from sightlog import Client
from sightlog.sdk import Event
from sightlog.sdk.adapters import (
    from_classifications,
    from_detections,
    from_inference,
    from_key_points,
    to_classifications,
    to_detections,
    to_key_points,
    to_predictions,
)

WIDTH, HEIGHT = 200, 100


@pytest.fixture
def stored(client: Client, use_case: str):
    """Store prediction lists on an uploaded 200x100 image and return the event as read back."""
    source_id = client.images.upload(Image.new("RGB", (WIDTH, HEIGHT))).source_id

    def store(predictions: dict) -> Event:
        images = [{"sourceId": source_id, **predictions}]
        return client.events.get(client.events.create(use_case, "custom", images=images).event_id)

    return store


DETECTION_RESULT = {
    "image": {"width": WIDTH, "height": HEIGHT},
    "predictions": [
        {"x": 50.5, "y": 40, "width": 20, "height": 10, "class": "car", "class_id": 2, "confidence": 0.9,
         "detection_id": "d1", "tracker_id": 4},
        {"x": 150, "y": 60.25, "width": 30, "height": 12.5, "class": "bus", "class_id": 0, "confidence": 0.4,
         "detection_id": "d2", "tracker_id": 9},
    ],
}  # fmt: skip
SEGMENTATION_RESULT = {
    "image": {"width": WIDTH, "height": HEIGHT},
    "predictions": [
        {"x": 50, "y": 40, "width": 20, "height": 10, "class": "dent", "class_id": 1, "confidence": 0.8,
         "points": [{"x": 40, "y": 35}, {"x": 60, "y": 35}, {"x": 60.4, "y": 45}, {"x": 40, "y": 45}]},
        {"x": 120, "y": 50, "width": 30, "height": 30, "class": "scratch", "class_id": 0, "confidence": 0.6,
         "points": [{"x": 105, "y": 35}, {"x": 135, "y": 50}, {"x": 110, "y": 65}]},
    ],
}  # fmt: skip
KEYPOINT_RESULT = {
    "image": {"width": WIDTH, "height": HEIGHT},
    "predictions": [
        {"x": 50, "y": 40, "width": 20, "height": 30, "class": "person", "class_id": 0, "confidence": 0.8,
         "keypoints": [{"x": 45, "y": 30, "confidence": 0.9, "class_id": 0, "class": "nose"},
                       {"x": 55, "y": 50, "confidence": 0.3, "class_id": 2, "class": "ankle"}]},
        {"x": 150, "y": 40, "width": 20, "height": 30, "class": "person", "class_id": 0, "confidence": 0.7,
         "keypoints": [{"x": 145, "y": 30, "confidence": 0.5, "class_id": 1, "class": "eye"}]},
    ],
}  # fmt: skip
CLASSIFICATION_RESULT = {
    "image": {"width": WIDTH, "height": HEIGHT},
    "predictions": [
        {"class": "cat", "class_id": 1, "confidence": 0.8},
        {"class": "dog", "class_id": 0, "confidence": 0.2},
    ],
    "top": "cat",
    "confidence": 0.8,
}


# -- inference results → server → supervision -------------------------------------------------------------


def test_object_detections_from_inference_round_trip(stored) -> None:
    event = stored(from_inference(DETECTION_RESULT))
    boxes = event.images[0].object_detections
    assert [(b.class_name, b.x, b.tracker_id) for b in boxes] == [("car", 50.5, 4), ("bus", 150, 9)]
    assert boxes[0].model_extra == {"class_id": 2, "detection_id": "d1"}  # extra keys survive
    assert to_detections(event) == sv.Detections.from_inference(DETECTION_RESULT)


def test_instance_segmentations_from_inference_round_trip(stored) -> None:
    event = stored(from_inference(SEGMENTATION_RESULT))
    assert [len(s.points) for s in event.images[0].instance_segmentations] == [4, 3]
    detections = to_detections(event)  # the image size comes from the stored event
    expected = sv.Detections.from_inference(SEGMENTATION_RESULT)
    assert detections.mask is not None and detections.mask.shape == (2, HEIGHT, WIDTH)
    assert detections == expected
    assert to_detections(event.images[0]) == expected  # an image entry carries the size too
    assert to_detections(from_inference(SEGMENTATION_RESULT)).mask is None  # no size known: boxes only


def test_keypoints_from_inference_round_trip(stored) -> None:
    event = stored(from_inference(KEYPOINT_RESULT))
    assert [k.id for k in event.images[0].keypoints[0].keypoints] == [0, 2]
    assert to_key_points(event) == sv.KeyPoints.from_inference(KEYPOINT_RESULT)
    assert to_detections(event) == sv.Detections.from_inference(KEYPOINT_RESULT)  # their boxes


def test_classifications_from_inference_round_trip(stored) -> None:
    event = stored(from_inference(CLASSIFICATION_RESULT))
    classifications = to_classifications(event)
    assert classifications.class_id.tolist() == [1, 0]
    assert classifications.confidence.tolist() == [0.8, 0.2]
    top_only = stored(from_inference({"top": "cat", "confidence": 0.7, "predictions": []}))
    assert [(c.class_name, c.confidence) for c in top_only.images[0].classifications] == [("cat", 0.7)]
    multi_label = {"predictions": {"cat": {"confidence": 0.7, "class_id": 0}, "dog": {"confidence": 0.1}}}
    assert from_inference(multi_label) == {
        "classifications": [
            {"class": "cat", "confidence": 0.7, "class_id": 0},
            {"class": "dog", "confidence": 0.1},
        ]
    }


# -- supervision → server → supervision --------------------------------------------------------------------


def test_sv_detections_round_trip(stored) -> None:
    original = sv.Detections(
        xyxy=np.array([[10.25, 20, 30, 45.5], [100, 10, 180, 90]]),
        confidence=np.array([0.75, 0.5]),
        class_id=np.array([3, 1]),
        tracker_id=np.array([7, 8]),
        data={"class_name": np.array(["cat", "dog"])},
    )
    predictions = from_detections(original)
    assert list(predictions) == ["objectDetections"]
    back = to_detections(stored(predictions))
    assert np.allclose(back.xyxy, original.xyxy)
    assert back.confidence.tolist() == [0.75, 0.5]
    assert back.class_id.tolist() == [3, 1] and back.tracker_id.tolist() == [7, 8]
    assert back.data["class_name"].tolist() == ["cat", "dog"]
    assert back.mask is None


def test_sv_detections_with_masks_round_trip(stored) -> None:
    rectangle = np.zeros((HEIGHT, WIDTH), dtype=bool)
    rectangle[10:40, 20:70] = True
    disk = np.hypot(*np.ogrid[-60 : HEIGHT - 60, -140 : WIDTH - 140]) <= 25
    masks = np.array([rectangle, disk])
    original = sv.Detections(
        xyxy=sv.mask_to_xyxy(masks).astype(float),
        mask=masks,
        confidence=np.array([0.9, 0.6]),
        class_id=np.array([0, 1]),
    )
    predictions = from_detections(original, class_names=["box", "ball"])
    assert list(predictions) == ["instanceSegmentations"]
    back = to_detections(stored(predictions))
    assert back.data["class_name"].tolist() == ["box", "ball"]
    assert back.class_id.tolist() == [0, 1]
    assert np.array_equal(back.mask[0], rectangle)
    intersection = (back.mask[1] & disk).sum()
    assert intersection / (back.mask[1] | disk).sum() > 0.95  # a polygon outline of a disk


def test_sv_key_points_round_trip(stored) -> None:
    original = sv.KeyPoints(
        xy=np.array([[[10, 20], [30, 40], [0, 0]], [[0, 0], [130, 40], [150, 60]]], dtype=np.float32),
        keypoint_confidence=np.array([[0.9, 0.8, 0], [0, 0.7, 0.6]], dtype=np.float32),
        detection_confidence=np.array([0.95, 0.85], dtype=np.float32),
        class_id=np.array([0, 0]),
        data={"class_name": np.array(["person", "person"])},
    )
    event = stored(from_key_points(original))
    first = event.images[0].keypoints[0]
    assert [k.id for k in first.keypoints] == [0, 1]  # the (0, 0) slot is missing, not a point
    assert (first.x, first.y, first.width, first.height) == (20, 30, 20, 20)  # box around its key points
    assert to_key_points(event) == original


def test_sv_classifications_round_trip(stored) -> None:
    names = ["cat", "dog", "bird"]
    original = sv.Classifications(class_id=np.array([2, 0]), confidence=np.array([0.7, 0.3]))
    event = stored(from_classifications(original, names))
    assert [c.class_name for c in event.images[0].classifications] == ["bird", "cat"]
    assert to_classifications(event, class_names=names) == original
    assert to_classifications(event) == original  # the stored class_id


# -- class ids, kinds and dispatch -------------------------------------------------------------------------


def test_class_ids_come_from_names_when_none_are_stored() -> None:
    entry = {
        "objectDetections": [
            {"class": name, "x": 5, "y": 5, "width": 2, "height": 2, "confidence": 0.5}
            for name in ["dog", "cat", "dog"]
        ]
    }
    detections = to_detections(entry)
    assert detections.class_id.tolist() == [0, 1, 0]  # in order of first appearance
    assert detections.data["class_name"].tolist() == ["dog", "cat", "dog"]
    assert to_detections(entry, class_names=["cat", "dog"]).class_id.tolist() == [1, 0, 1]
    with pytest.raises(ValueError, match="dog"):
        to_detections(entry, class_names=["cat"])


def test_kinds_select_what_becomes_detections() -> None:
    entry = {
        **from_inference(DETECTION_RESULT),
        **from_inference(SEGMENTATION_RESULT),
        "width": WIDTH,
        "height": HEIGHT,
    }
    mixed = to_detections(entry)
    assert len(mixed) == 4 and mixed.mask is None  # not every detection has a polygon
    only_masks = to_detections(entry, kinds=("instanceSegmentations",))
    assert only_masks == sv.Detections.from_inference(SEGMENTATION_RESULT)
    assert len(to_detections({})) == 0


def test_to_predictions_accepts_every_source() -> None:
    detections = sv.Detections.from_inference(DETECTION_RESULT)
    assert to_predictions(DETECTION_RESULT) == from_inference(DETECTION_RESULT)
    assert to_predictions(detections) == from_detections(detections)
    key_points = sv.KeyPoints.from_inference(KEYPOINT_RESULT)
    assert to_predictions(key_points) == from_key_points(key_points)
    classifications = sv.Classifications(class_id=np.array([0]), confidence=np.array([0.5]))
    assert to_predictions(classifications, class_names=["ok"]) == from_classifications(
        classifications, ["ok"]
    )
    with pytest.raises(ValueError, match="class_names"):
        to_predictions(classifications)
    lists = {"classifications": [{"class": "ok", "confidence": 1.0}]}
    assert to_predictions(lists) == lists
    assert to_predictions(None) == {}
    with pytest.raises(TypeError, match="one inference result at a time"):
        to_predictions([DETECTION_RESULT])
