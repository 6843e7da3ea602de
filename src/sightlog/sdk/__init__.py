"""The Sightlog Python SDK: an HTTP client for a Sightlog server, needing only httpx and pydantic.

    from sightlog import Client

    with Client("http://127.0.0.1:8400", api_key="...") as client:
        use_case = client.use_cases.create("Line QA")
        client.events.create(use_case.id, "quality_check", event_data={"result": "pass"})
        for event in client.events.iter(use_case.id, event_type="quality_check"):
            print(event.event_id, event.timestamp)

``AsyncClient`` has the same methods, awaited; ``Sink`` sends from a video pipeline in the background;
:mod:`sightlog.sdk.adapters` converts Roboflow ``inference`` results and ``supervision`` objects.
"""

from sightlog.sdk._transport import RetryPolicy
from sightlog.sdk.async_client import AsyncClient
from sightlog.sdk.client import Client
from sightlog.sdk.errors import (
    BadRequest,
    Conflict,
    ErrorDetail,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    SightlogError,
    TransportError,
    Unauthorized,
    Unavailable,
    UnsupportedMediaType,
    ValidationError,
)
from sightlog.sdk.models import (
    BatchResult,
    Bucket,
    CreatedEvent,
    DetectionFilter,
    Event,
    EventPage,
    Health,
    ImageEntry,
    MetadataSchema,
    NewEvent,
    SourceFilter,
    Upload,
    UseCase,
    UseCaseRef,
    ValueFilter,
)
from sightlog.sdk.sink import Sink, SinkStats

__all__ = [
    "AsyncClient",
    "BadRequest",
    "BatchResult",
    "Bucket",
    "Client",
    "Conflict",
    "CreatedEvent",
    "DetectionFilter",
    "ErrorDetail",
    "Event",
    "EventPage",
    "Forbidden",
    "Health",
    "ImageEntry",
    "MetadataSchema",
    "NewEvent",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "RetryPolicy",
    "SightlogError",
    "Sink",
    "SinkStats",
    "SourceFilter",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "Upload",
    "UseCase",
    "UseCaseRef",
    "ValidationError",
    "ValueFilter",
]
