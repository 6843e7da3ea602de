"""The event body of ``POST /vision-events`` (SPEC §3.2-3.4), validated structurally.

Type-specific ``eventData`` rules live in :mod:`sightlog.services.validation`, which also turns pydantic
errors into ``details`` entries with ``loc`` paths such as ``events[3].timestamp``.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictFloat, StrictInt, StrictStr

from sightlog.models.predictions import (
    MAX_PREDICTIONS,
    Classification,
    InstanceSegmentation,
    KeypointDetection,
    ObjectDetection,
)

Id = Annotated[StrictStr, Field(min_length=1, max_length=256)]
MetadataKey = Annotated[str, Field(pattern=r"^[A-Za-z0-9_ -]{1,100}$")]
MetadataValue = Annotated[StrictStr, Field(max_length=1000)] | StrictBool | StrictInt | StrictFloat
Metadata = Annotated[dict[MetadataKey, MetadataValue], Field(max_length=100, strict=True)]


class EventType(StrEnum):
    QUALITY_CHECK = "quality_check"
    INVENTORY_COUNT = "inventory_count"
    SAFETY_ALERT = "safety_alert"
    CUSTOM = "custom"
    OPERATOR_FEEDBACK = "operator_feedback"


EventTypeName = Literal["quality_check", "inventory_count", "safety_alert", "custom", "operator_feedback"]
EVENT_TYPES: tuple[str, ...] = get_args(EventTypeName)
FEEDBACK_VALUES: tuple[str, ...] = ("correct", "incorrect", "inconclusive")


class FeedbackStatus(StrEnum):
    CORRECT = "correct"
    INCORRECT = "incorrect"
    INCONCLUSIVE = "inconclusive"


class ImageEntry(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    sourceId: Id | None = None
    inputSourceId: Id | None = None
    label: Annotated[StrictStr, Field(max_length=256)] | None = None
    objectDetections: Annotated[list[ObjectDetection], Field(max_length=MAX_PREDICTIONS)] | None = None
    classifications: Annotated[list[Classification], Field(max_length=MAX_PREDICTIONS)] | None = None
    instanceSegmentations: Annotated[list[InstanceSegmentation], Field(max_length=MAX_PREDICTIONS)] | None = (
        None
    )
    keypoints: Annotated[list[KeypointDetection], Field(max_length=MAX_PREDICTIONS)] | None = None


class VideoRef(BaseModel):
    model_config = ConfigDict(extra="allow", strict=True)

    sourceId: Id


class EventIn(BaseModel):
    """Structural rules of one event; ``extra`` keys are kept aside to earn warnings."""

    model_config = ConfigDict(extra="allow", strict=True)

    eventId: Id
    eventType: EventTypeName
    useCaseId: Id
    timestamp: StrictStr
    eventData: dict[str, Any] | None = None
    deviceId: Id | None = None
    streamId: Id | None = None
    workflowId: Id | None = None
    customMetadata: Metadata | None = None
    images: Annotated[list[ImageEntry], Field(max_length=10)] | None = None
    videos: Annotated[list[VideoRef], Field(max_length=4)] | None = None
    displayImagePosition: Annotated[StrictInt, Field(ge=0)] | None = None


# Fields that are part of an event but not of the request schema (they are added on read).
SERVER_FIELDS = frozenset({"receivedAt", "warnings", "feedback"})
