"""Prediction shapes of SPEC §3.4. Extra keys (``class_id``, ``detection_id``...) are kept as sent."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt

Number = StrictInt | StrictFloat
Confidence = Annotated[Number, Field(ge=0, le=1)]
ClassName = Annotated[str, Field(min_length=1, max_length=256)]
MAX_PREDICTIONS = 1000


class _Prediction(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True, strict=True)

    class_: ClassName = Field(alias="class")
    confidence: Confidence
    trackerId: StrictInt | None = None


class Classification(_Prediction):
    pass


class _Boxed(_Prediction):
    x: Number
    y: Number
    width: Annotated[Number, Field(ge=0)]
    height: Annotated[Number, Field(ge=0)]


class ObjectDetection(_Boxed):
    pass


class Point(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    x: Number
    y: Number


# Polygon vertices as [x, y] pairs (the hosted API's form) or {"x", "y"} objects (inference's form).
PointPair = Annotated[list[Number], Field(min_length=2, max_length=2)]


class InstanceSegmentation(_Boxed):
    points: Annotated[list[PointPair | Point], Field(min_length=3, max_length=100_000)]


class Keypoint(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    id: StrictInt | None = None
    x: Number
    y: Number
    confidence: Confidence | None = None
    visible: StrictBool | None = None


class KeypointDetection(_Boxed):
    keypoints: Annotated[list[Keypoint], Field(max_length=1000)]


PREDICTION_KINDS: tuple[str, ...] = (
    "objectDetections",
    "classifications",
    "instanceSegmentations",
    "keypoints",
)
