"""Every endpoint of the API as a function that builds a :class:`Call`, with no I/O.

``Client`` and ``AsyncClient`` are thin facades over these, so both speak exactly the same protocol.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from os import PathLike
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter
from pydantic.alias_generators import to_camel

from sightlog.sdk._transport import Call
from sightlog.sdk.images import ChannelOrder, ImageSource, encode_image
from sightlog.sdk.models import (
    BatchResult,
    Bucket,
    CreatedEvent,
    DetectionFilter,
    Event,
    EventFields,
    EventPage,
    FeedbackValue,
    Health,
    MetadataSchema,
    NewEvent,
    QueryFilters,
    SourceFilter,
    Upload,
    UseCase,
    UseCaseRef,
    ValueFilter,
    iso,
)

M = TypeVar("M", bound=BaseModel)
BASE = "/vision-events"
UseCaseStatus = Literal["active", "inactive", "all"]
Interval = Literal["minute", "hour", "day", "week"]
_FILTER_KEYS = frozenset(QueryFilters.__annotations__)
_SOURCE_KEYS = frozenset({"device_id", "stream_id", "workflow_id", "external_id"})
_TIME_KEYS = frozenset({"start_time", "end_time"})
_VALUE_FILTER_KEYS = frozenset({"custom_metadata_filters", "event_field_filters"})


def _model(model: type[M]) -> Callable[[httpx.Response], M]:
    return lambda response: model.model_validate(response.json())


def _models(model: type[M], key: str) -> Callable[[httpx.Response], list[M]]:
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    return lambda response: adapter.validate_python(response.json()[key])


def _nothing(_response: httpx.Response) -> None:
    return None


def _content(response: httpx.Response) -> bytes:
    return response.content


def _segment(value: str) -> str:
    """An id as one path segment: ids may hold characters with a meaning in URLs (``?``, ``#``, spaces)."""
    return quote(value, safe="")


# -- health and session ----------------------------------------------------------------------------------


def health() -> Call[Health]:
    return Call("GET", "/health", _model(Health))


def workspace() -> Call[str]:
    """``POST /``: the slug of the workspace the API key belongs to (the roboflow SDK's key check)."""
    return Call("POST", "/", lambda response: str(response.json()["workspace"]))


# -- use cases -------------------------------------------------------------------------------------------


def list_use_cases(status: UseCaseStatus) -> Call[list[UseCase]]:
    return Call("GET", f"{BASE}/use-cases", _models(UseCase, "useCases"), params={"status": status})


def create_use_case(name: str) -> Call[UseCaseRef]:
    # Not idempotent: a create that did reach the server would answer 409 when re-sent.
    return Call("POST", f"{BASE}/use-cases", _model(UseCaseRef), json={"name": name}, idempotent=False)


def rename_use_case(use_case: str, name: str) -> Call[UseCaseRef]:
    return Call("PUT", f"{BASE}/use-cases/{_segment(use_case)}", _model(UseCaseRef), json={"name": name})


def archive_use_case(use_case: str) -> Call[None]:
    return Call("POST", f"{BASE}/use-cases/{_segment(use_case)}/archive", _nothing)


def unarchive_use_case(use_case: str) -> Call[None]:
    # Not idempotent: once it went through, the server answers 400 "already active".
    return Call("POST", f"{BASE}/use-cases/{_segment(use_case)}/unarchive", _nothing, idempotent=False)


def metadata_schema(use_case: str) -> Call[MetadataSchema]:
    return Call("GET", f"{BASE}/custom-metadata-schema/{_segment(use_case)}", _model(MetadataSchema))


def update_use_case(use_case: str, *, retention_days: int | None) -> Call[UseCase]:
    body = {"retentionDays": retention_days}
    return Call("PATCH", f"{BASE}/use-cases/{_segment(use_case)}", _model(UseCase), json=body)


# -- events ----------------------------------------------------------------------------------------------


def as_new_event(event: NewEvent | Mapping[str, Any]) -> NewEvent:
    """A :class:`NewEvent` (camelCase or snake_case keys); an ``eventId`` is generated when missing."""
    return event if isinstance(event, NewEvent) else NewEvent.model_validate(event)


def create_event(use_case: str, event_type: str, fields: EventFields) -> Call[CreatedEvent]:
    event = NewEvent.model_validate(
        {"use_case_id": use_case, "event_type": event_type}
        | {k: v for k, v in fields.items() if v is not None}
    )
    return Call("POST", BASE, _model(CreatedEvent), json=event.to_wire())


def create_batch(events: Iterable[NewEvent | Mapping[str, Any]]) -> Call[BatchResult]:
    body = {"events": [as_new_event(e).to_wire() for e in events]}
    return Call("POST", f"{BASE}/batch", _model(BatchResult), json=body)


def filters_body(use_case: str, filters: QueryFilters) -> dict[str, Any]:
    """The JSON filter object of query, count and aggregate, from snake_case keyword arguments."""
    unknown = set(filters) - _FILTER_KEYS
    if unknown:
        raise TypeError(
            f"unknown filter(s) {', '.join(sorted(unknown))}; known: {', '.join(sorted(_FILTER_KEYS))}"
        )
    body: dict[str, Any] = {"useCaseId": use_case}
    given: dict[str, Any] = dict(filters)
    for key, value in given.items():
        if value is None:
            continue
        if key in _TIME_KEYS:
            value = iso(value)
        elif key in _SOURCE_KEYS:
            value = _source_filter(value)
        elif key in _VALUE_FILTER_KEYS:
            value = [ValueFilter.model_validate(v).to_wire() for v in value]
        elif key == "detection_filters":
            value = [DetectionFilter.model_validate(v).to_wire() for v in value]
        body[to_camel(key)] = value
    return body


def _source_filter(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        value = SourceFilter(operator="eq", value=value)
    elif isinstance(value, list | tuple):
        value = SourceFilter(operator="in", value=list(value))
    return SourceFilter.model_validate(value).to_wire()


def query_events(
    use_case: str, filters: QueryFilters, *, sort: Literal["desc", "asc"], limit: int, cursor: str | None
) -> Call[EventPage]:
    body = filters_body(use_case, filters) | {"sort": sort, "limit": limit}
    if cursor is not None:
        body["cursor"] = cursor
    return Call("POST", f"{BASE}/query", _model(EventPage), json=body)


def count_events(use_case: str, filters: QueryFilters) -> Call[int]:
    return Call(
        "POST", f"{BASE}/count", lambda r: int(r.json()["count"]), json=filters_body(use_case, filters)
    )


def aggregate_events(
    use_case: str, filters: QueryFilters, *, group_by: Iterable[str], interval: Interval | None, timezone: str
) -> Call[list[Bucket]]:
    body = filters_body(use_case, filters) | {
        "groupBy": list(group_by),
        "interval": interval,
        "timezone": timezone,
    }
    return Call("POST", f"{BASE}/aggregate", _models(Bucket, "buckets"), json=body)


def get_event(event_id: str) -> Call[Event]:
    return Call("GET", f"{BASE}/events/{_segment(event_id)}", _model(Event))


def delete_event(event_id: str) -> Call[None]:
    # Not idempotent: a delete that went through answers 404 when re-sent.
    return Call("DELETE", f"{BASE}/events/{_segment(event_id)}", _nothing, idempotent=False)


def give_feedback(event_id: str, feedback: FeedbackValue, comment: str | None) -> Call[CreatedEvent]:
    body: dict[str, Any] = {"feedback": feedback}
    if comment is not None:
        body["comment"] = comment
    # Not idempotent: the server names each feedback event, so a re-send would store a second one.
    path = f"{BASE}/events/{_segment(event_id)}/feedback"
    return Call("POST", path, _model(CreatedEvent), json=body, idempotent=False)


def post_bundle(archive: bytes | str | PathLike[str], use_case: str | None) -> Call[CreatedEvent]:
    """``POST /vision-events/bundle``: a tar or tar.gz archive holding ``payload.json`` and its images."""
    content = archive if isinstance(archive, bytes) else Path(archive).read_bytes()
    gzipped = content[:2] == b"\x1f\x8b"
    headers = {"Content-Type": "application/gzip" if gzipped else "application/x-tar"}
    params = {"useCaseId": use_case} if use_case is not None else None
    return Call(
        "POST", f"{BASE}/bundle", _model(CreatedEvent), params=params, content=content, headers=headers
    )


# -- images ----------------------------------------------------------------------------------------------


def upload_image(
    image: ImageSource, *, name: str | None, metadata: Mapping[str, Any] | None, channels: ChannelOrder
) -> Call[Upload]:
    # Idempotent enough: the bytes are stored once; a re-sent upload only adds a second sourceId for them.
    encoded = encode_image(image, channels=channels)
    data: dict[str, str] = {}
    if name is not None:
        data["name"] = name
    if metadata is not None:
        data["metadata"] = json.dumps(dict(metadata))
    files = {"file": (encoded.filename, encoded.content, encoded.content_type)}
    return Call("POST", f"{BASE}/upload", _model(Upload), files=files, data=data or None)


def image_bytes(source_id: str) -> Call[bytes]:
    return Call("GET", f"{BASE}/images/{_segment(source_id)}", _content)


def thumbnail(source_id: str) -> Call[bytes]:
    return Call("GET", f"{BASE}/images/{_segment(source_id)}/thumbnail", _content)


def annotated(event_id: str, index: int) -> Call[bytes]:
    return Call("GET", f"{BASE}/events/{_segment(event_id)}/images/{index}/annotated", _content)
