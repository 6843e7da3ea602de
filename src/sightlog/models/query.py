"""The body of ``POST /vision-events/query`` (SPEC §3.6), also the filter part of count and aggregate."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from sightlog.models.events import EventTypeName

Scalar = StrictStr | StrictBool | StrictInt | StrictFloat
ValueType = Literal["string", "number", "boolean"]
MAX_IN_VALUES = 100
MAX_COUNT = 40_000


def _check_list(operator: str, value: object) -> None:
    if operator in ("in", "nin"):
        if not isinstance(value, list) or not value:
            raise ValueError(f"operator '{operator}' takes a non-empty list of values")
        if len(value) > MAX_IN_VALUES:
            raise ValueError(f"operator '{operator}' takes at most {MAX_IN_VALUES} values")
    elif isinstance(value, list):
        raise ValueError(f"operator '{operator}' takes a single value, not a list")


class SourceFilter(BaseModel):
    """A filter on ``deviceId``, ``streamId``, ``workflowId`` or ``externalId``."""

    model_config = ConfigDict(extra="forbid")

    operator: Literal["eq", "neq", "in", "nin", "contains"]
    value: StrictStr | list[StrictStr]

    @model_validator(mode="after")
    def _shape(self) -> SourceFilter:
        _check_list(self.operator, self.value)
        return self

    def values(self) -> list[str]:
        return self.value if isinstance(self.value, list) else [self.value]


class ValueFilter(BaseModel):
    """A filter on one ``customMetadata`` or ``eventData`` field."""

    model_config = ConfigDict(extra="forbid")

    field: Annotated[StrictStr, Field(min_length=1, max_length=100)]
    operator: Literal["eq", "neq", "gt", "gte", "lt", "lte", "in", "nin", "contains", "exists", "not_exists"]
    value: Scalar | list[Scalar] | None = None
    type: ValueType | None = None

    @model_validator(mode="after")
    def _shape(self) -> ValueFilter:
        if self.operator in ("exists", "not_exists"):
            return self
        if self.value is None:
            raise ValueError(f"operator '{self.operator}' needs a value")
        _check_list(self.operator, self.value)
        values = self.value if isinstance(self.value, list) else [self.value]
        if self.type is None:
            self.type = _type_of(values[0])
        if any(_type_of(v) != self.type for v in values):
            raise ValueError(f"every value must be a {self.type}, as the filter's type says")
        if self.operator == "contains" and self.type != "string":
            raise ValueError("operator 'contains' works on strings only")
        if self.type == "boolean" and self.operator in ("gt", "gte", "lt", "lte"):
            raise ValueError(f"operator '{self.operator}' does not apply to booleans")
        return self

    def values(self) -> list[str | bool | int | float]:
        if self.value is None:
            return []
        return self.value if isinstance(self.value, list) else [self.value]


def _type_of(value: object) -> ValueType:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    return "string"


class DetectionFilter(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    class_: Annotated[StrictStr, Field(alias="class", min_length=1, max_length=256)]
    minConfidence: Annotated[StrictInt | StrictFloat, Field(ge=0, le=1)] = 0
    maxConfidence: Annotated[StrictInt | StrictFloat, Field(ge=0, le=1)] = 1
    # No event holds more than 10 images x 4 kinds x 1000 predictions.
    minCount: Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)] | None = None
    maxCount: Annotated[StrictInt, Field(ge=0, le=MAX_COUNT)] | None = None

    @property
    def min_count(self) -> int:
        """``maxCount: 0`` alone asks for events *without* the class, so the minimum defaults to 0 there."""
        if self.minCount is not None:
            return self.minCount
        return 0 if self.maxCount == 0 else 1


FeedbackFilterValue = Literal["correct", "incorrect", "inconclusive", "none"]


class EventFilters(BaseModel):
    """Every filter of SPEC §3.6; combined with AND."""

    model_config = ConfigDict(extra="ignore")

    useCaseId: Annotated[StrictStr, Field(min_length=1, max_length=256)]
    startTime: StrictStr | None = None
    endTime: StrictStr | None = None
    eventType: EventTypeName | None = None
    eventTypes: Annotated[list[EventTypeName], Field(max_length=20)] | None = None
    deviceId: SourceFilter | None = None
    streamId: SourceFilter | None = None
    workflowId: SourceFilter | None = None
    externalId: SourceFilter | None = None
    customMetadataFilters: Annotated[list[ValueFilter], Field(max_length=50)] = []
    eventFieldFilters: Annotated[list[ValueFilter], Field(max_length=50)] = []
    detectionFilters: Annotated[list[DetectionFilter], Field(max_length=20)] = []
    feedback: Annotated[list[FeedbackFilterValue], Field(min_length=1)] | None = None
    hasWarnings: StrictBool | None = None


GROUP_FIELDS = ("eventType", "deviceId", "streamId", "workflowId", "class", "feedback")
GROUP_PREFIXES = ("customMetadata.", "eventData.")
Interval = Literal["minute", "hour", "day", "week"]


class EventAggregate(EventFilters):
    """``POST /vision-events/aggregate``: counts per time bucket and up to two group keys."""

    groupBy: Annotated[list[StrictStr], Field(max_length=2)] = []
    interval: Interval | None = None
    timezone: StrictStr = "UTC"

    @model_validator(mode="after")
    def _known_groups(self) -> EventAggregate:
        for key in self.groupBy:
            prefixed = key.startswith(GROUP_PREFIXES) and len(key.split(".", 1)[1]) in range(1, 101)
            if key not in GROUP_FIELDS and not prefixed:
                raise ValueError(
                    f"cannot group by '{key}': use {', '.join(GROUP_FIELDS)}, customMetadata.<field> or "
                    "eventData.<field>"
                )
        if len(set(self.groupBy)) != len(self.groupBy):
            raise ValueError("groupBy names the same key twice")
        return self


class EventQuery(EventFilters):
    sort: Literal["desc", "asc"] = "desc"
    limit: Annotated[StrictInt, Field(ge=1)] = 50
    cursor: StrictStr | None = None


@dataclass(slots=True)
class QueryPlan:
    """Filters with times already turned into microseconds and use case ids into primary keys."""

    use_case_pk: int
    start_ts: int | None = None
    end_ts: int | None = None
    event_types: list[str] | None = None
    sources: dict[str, SourceFilter] = field(default_factory=dict)
    metadata_filters: list[ValueFilter] = field(default_factory=list)
    field_filters: list[ValueFilter] = field(default_factory=list)
    detection_filters: list[DetectionFilter] = field(default_factory=list)
    feedback: list[str] | None = None
    has_warnings: bool | None = None


@dataclass(frozen=True, slots=True)
class Grid:
    """The time buckets of an aggregate: [origin + k * size, origin + (k + 1) * size) for every integer k,
    in microseconds since the epoch."""

    size_us: int
    origin_us: int = 0
