"""Request and response shapes of the Sightlog API as pydantic models.

Attributes are snake_case; on the wire they are camelCase (``event_id`` ↔ ``eventId``, ``class_name`` ↔
``class``). Every model accepts either spelling and keeps unknown fields (``extra="allow"``), so a newer
server's additions reach the caller and extra prediction keys such as ``class_id`` survive a round trip.
For the same reason, response fields that name one of a closed set of values (a status, a type) are read
as plain strings: a value a newer server adds must not break an older client.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, TypedDict

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

__all__ = [
    "BatchResult",
    "Bucket",
    "Classification",
    "CreatedEvent",
    "DetectionFilter",
    "Event",
    "EventFields",
    "EventPage",
    "EventType",
    "FeedbackRef",
    "FeedbackValue",
    "FieldTypes",
    "Health",
    "ImageEntry",
    "InstanceSegmentation",
    "Keypoint",
    "KeypointDetection",
    "MetadataSchema",
    "NewEvent",
    "ObjectDetection",
    "Point",
    "QueryFilters",
    "SourceFilter",
    "Upload",
    "UseCase",
    "UseCaseRef",
    "ValueFilter",
]

EventType = Literal["quality_check", "inventory_count", "safety_alert", "custom", "operator_feedback"]
FeedbackValue = Literal["correct", "incorrect", "inconclusive"]
Scalar = str | bool | int | float


class _Model(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")

    def to_wire(self) -> dict[str, Any]:
        """The camelCase JSON body, without the fields left unset (``None``)."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


def as_aware(value: datetime) -> datetime:
    """Naive datetimes are the caller's local time (Python's convention), sent with their offset."""
    return value if value.tzinfo is not None else value.astimezone()


def iso(value: datetime | str) -> str:
    return as_aware(value).isoformat() if isinstance(value, datetime) else value


# -- predictions (SPEC §3.4): absolute pixels of the input image, boxes centre-based ----------------------


class Classification(_Model):
    class_name: str = Field(alias="class")
    confidence: float
    tracker_id: int | None = None


class ObjectDetection(Classification):
    x: float
    y: float
    width: float
    height: float


class Point(_Model):
    x: float
    y: float


class InstanceSegmentation(ObjectDetection):
    points: list[tuple[float, float] | Point]


class Keypoint(_Model):
    id: int | None = None
    x: float
    y: float
    confidence: float | None = None
    visible: bool | None = None


class KeypointDetection(ObjectDetection):
    keypoints: list[Keypoint]


class ImageEntry(_Model):
    """One image of an event with its predictions; the server adds the read-only fields below on read."""

    source_id: str | None = None
    input_source_id: str | None = None
    label: str | None = None
    object_detections: list[ObjectDetection] | None = None
    classifications: list[Classification] | None = None
    instance_segmentations: list[InstanceSegmentation] | None = None
    keypoints: list[KeypointDetection] | None = None
    # Read-only, filled in by the server.
    url: str | None = None
    input_url: str | None = None
    thumbnail_url: str | None = None
    width: int | None = None
    height: int | None = None


# -- events --------------------------------------------------------------------------------------------


class NewEvent(_Model):
    """The body of ``POST /vision-events``. ``event_id`` defaults to a fresh UUID4 and ``timestamp`` to now,
    so that re-sending the same object after a network failure overwrites instead of duplicating."""

    use_case_id: str
    event_type: str
    event_id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    timestamp: datetime | str = Field(default_factory=lambda: datetime.now().astimezone())
    event_data: dict[str, Any] | None = None
    device_id: str | None = None
    stream_id: str | None = None
    workflow_id: str | None = None
    custom_metadata: dict[str, Scalar] | None = None
    images: list[ImageEntry] | None = None
    videos: list[dict[str, Any]] | None = None
    display_image_position: int | None = None

    @field_validator("timestamp")
    @classmethod
    def _with_offset(cls, value: datetime | str) -> datetime | str:
        # Strings are passed through untouched: the server decides how to read them.
        return as_aware(value) if isinstance(value, datetime) else value


class EventFields(TypedDict, total=False):
    """The optional fields of ``events.create`` (the use case and event type are positional)."""

    event_id: str
    timestamp: datetime | str
    event_data: dict[str, Any]
    device_id: str
    stream_id: str
    workflow_id: str
    custom_metadata: dict[str, Scalar]
    images: list[ImageEntry | dict[str, Any]]
    videos: list[dict[str, Any]]
    display_image_position: int


class FeedbackRef(_Model):
    status: str | None = None  # "correct", "incorrect" or "inconclusive"
    event_id: str | None = None


class Event(_Model):
    """One stored event as the server returns it (query results, ``events.get``)."""

    event_id: str
    event_type: str
    use_case_id: str
    timestamp: datetime
    event_data: dict[str, Any] | None = None
    device_id: str | None = None
    stream_id: str | None = None
    workflow_id: str | None = None
    custom_metadata: dict[str, Scalar] | None = None
    images: list[ImageEntry] = []
    videos: list[dict[str, Any]] | None = None
    display_image_position: int | None = None
    received_at: datetime | None = None
    warnings: list[str] = []
    feedback: FeedbackRef = Field(default_factory=FeedbackRef)


class CreatedEvent(_Model):
    event_id: str
    created: bool


class BatchResult(_Model):
    created: int
    event_ids: list[str]


class EventPage(_Model):
    events: list[Event]
    next_cursor: str | None = None
    has_more: bool = False
    lookback_days: int | None = None


class Bucket(_Model):
    time: datetime | None = None
    key: dict[str, Any] = {}
    count: int


# -- query filters (SPEC §3.6) ---------------------------------------------------------------------------


class SourceFilter(_Model):
    """A filter on ``deviceId``, ``streamId``, ``workflowId`` or ``externalId``."""

    operator: Literal["eq", "neq", "in", "nin", "contains"]
    value: str | list[str]


class ValueFilter(_Model):
    """A filter on one ``customMetadata`` or ``eventData`` field; ``type`` says how values compare."""

    field: str
    operator: Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "contains", "exists", "not_exists"]
    value: Scalar | list[Scalar] | None = None
    type: Literal["string", "number", "boolean"] | None = None


class DetectionFilter(_Model):
    """Events with between ``min_count`` and ``max_count`` predictions of a class in a confidence range."""

    class_name: str = Field(alias="class")
    min_confidence: float | None = None
    max_confidence: float | None = None
    min_count: int | None = None
    max_count: int | None = None


SourceArg = str | list[str] | SourceFilter | dict[str, Any]
"""A source filter: a string means ``eq``, a list means ``in``, or a full :class:`SourceFilter`."""


class QueryFilters(TypedDict, total=False):
    """The filters of ``events.query``, ``iter``, ``count`` and ``aggregate`` (they combine with AND)."""

    start_time: datetime | str
    end_time: datetime | str
    event_type: EventType
    event_types: list[EventType]
    device_id: SourceArg
    stream_id: SourceArg
    workflow_id: SourceArg
    external_id: SourceArg
    custom_metadata_filters: list[ValueFilter | dict[str, Any]]
    event_field_filters: list[ValueFilter | dict[str, Any]]
    detection_filters: list[DetectionFilter | dict[str, Any]]
    feedback: list[Literal["correct", "incorrect", "inconclusive", "none"]]
    has_warnings: bool


# -- use cases, images, health ---------------------------------------------------------------------------


class UseCaseRef(_Model):
    id: str
    name: str


class UseCase(UseCaseRef):
    status: str  # "active" or "inactive" (archived)
    event_count: int = 0
    last_event_at: datetime | None = None
    event_types: list[str] = []
    created_at: datetime | None = None
    retention_days: int | None = None


class FieldTypes(_Model):
    types: list[str]  # "string", "number", "boolean"


class MetadataSchema(_Model):
    use_case_id: str
    fields: dict[str, FieldTypes]


class Upload(_Model):
    source_id: str
    url: str
    success: bool = True


class Health(_Model):
    status: str
    version: str | None = None
    store: str | None = None
