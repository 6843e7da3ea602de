"""The synchronous client: ``Client(server, api_key)`` with ``use_cases``, ``events`` and ``images``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from os import PathLike
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar, Unpack

import httpx

from sightlog.sdk import _calls as calls
from sightlog.sdk._calls import Interval, UseCaseStatus
from sightlog.sdk._transport import Call, RetryPolicy, Settings, SyncTransport, Transport
from sightlog.sdk.images import ChannelOrder, ImageSource
from sightlog.sdk.models import (
    BatchResult,
    Bucket,
    CreatedEvent,
    Event,
    EventFields,
    EventPage,
    EventType,
    FeedbackValue,
    Health,
    MetadataSchema,
    NewEvent,
    QueryFilters,
    Upload,
    UseCase,
    UseCaseRef,
)

T = TypeVar("T")


class _Run(Protocol):
    def __call__(self, call: Call[T], /) -> T: ...


class UseCases:
    """``client.use_cases``: the groups events belong to (SPEC §3 rows 5-10, §4 PATCH)."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def list(self, status: UseCaseStatus = "active") -> list[UseCase]:
        """Use cases with their counters; ``status="all"`` includes archived ones."""
        return self._run(calls.list_use_cases(status))

    def create(self, name: str) -> UseCaseRef:
        """Create a use case; its ``id`` is a slug of the name. A name already taken raises ``Conflict``."""
        return self._run(calls.create_use_case(name))

    def rename(self, use_case: str, name: str) -> UseCaseRef:
        """Give a use case a new name; its ``id`` stays the same."""
        return self._run(calls.rename_use_case(use_case, name))

    def archive(self, use_case: str) -> None:
        """Hide a use case from default listings; its events stay queryable."""
        self._run(calls.archive_use_case(use_case))

    def unarchive(self, use_case: str) -> None:
        """Make an archived use case active again (``BadRequest`` if it is active)."""
        self._run(calls.unarchive_use_case(use_case))

    def schema(self, use_case: str) -> MetadataSchema:
        """The custom-metadata fields seen in a use case's events, with the value types seen."""
        return self._run(calls.metadata_schema(use_case))

    def update(self, use_case: str, *, retention_days: int | None) -> UseCase:
        """Change settings: ``retention_days`` (``None`` keeps events forever)."""
        return self._run(calls.update_use_case(use_case, retention_days=retention_days))


class Events:
    """``client.events``: write, read, filter, count and review events (SPEC §3.2-3.6, §4)."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def create(self, use_case: str, event_type: EventType, **fields: Unpack[EventFields]) -> CreatedEvent:
        """Store one event. Without ``event_id`` a UUID4 is generated (and reused by retries, so a retried
        create never stores a duplicate); without ``timestamp`` it is now."""
        return self._run(calls.create_event(use_case, event_type, fields))

    def batch(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> BatchResult:
        """Store up to 100 events at once, all or nothing. Mappings may use camelCase (the wire form) or
        snake_case keys; missing ``eventId`` / ``timestamp`` are filled in as for :meth:`create`."""
        return self._run(calls.create_batch(events))

    def query(
        self,
        use_case: str,
        *,
        sort: Literal["desc", "asc"] = "desc",
        limit: int = 50,
        cursor: str | None = None,
        **filters: Unpack[QueryFilters],
    ) -> EventPage:
        """One page of events matching the filters (newest first unless ``sort="asc"``)."""
        return self._run(calls.query_events(use_case, filters, sort=sort, limit=limit, cursor=cursor))

    def iter(
        self,
        use_case: str,
        *,
        sort: Literal["desc", "asc"] = "desc",
        page_size: int = 100,
        **filters: Unpack[QueryFilters],
    ) -> Iterator[Event]:
        """Every matching event, following ``nextCursor`` page after page as the iteration goes."""
        cursor: str | None = None
        while True:
            page = self.query(use_case, sort=sort, limit=page_size, cursor=cursor, **filters)
            yield from page.events
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    def get(self, event_id: str) -> Event:
        """One event by id (``NotFound`` if there is none)."""
        return self._run(calls.get_event(event_id))

    def delete(self, event_id: str) -> None:
        """Delete one event and its feedback link."""
        self._run(calls.delete_event(event_id))

    def count(self, use_case: str, **filters: Unpack[QueryFilters]) -> int:
        """How many events match the filters."""
        return self._run(calls.count_events(use_case, filters))

    def aggregate(
        self,
        use_case: str,
        *,
        group_by: Iterable[str] = (),
        interval: Interval | None = None,
        timezone: str = "UTC",
        **filters: Unpack[QueryFilters],
    ) -> list[Bucket]:
        """Counts per time bucket (``interval`` in ``timezone``) and up to two ``group_by`` keys such as
        ``"eventType"``, ``"class"`` or ``"customMetadata.line"``."""
        return self._run(
            calls.aggregate_events(use_case, filters, group_by=group_by, interval=interval, timezone=timezone)
        )

    def feedback(
        self,
        event_id: str,
        feedback: FeedbackValue,
        comment: str | None = None,
    ) -> CreatedEvent:
        """Record a human review of an event; returns the ``operator_feedback`` event stored for it."""
        return self._run(calls.give_feedback(event_id, feedback, comment))

    def bundle(self, archive: bytes | str | PathLike[str], *, use_case: str | None = None) -> CreatedEvent:
        """Send a bundle (tar or tar.gz bytes, or a path to one) made for air-gapped sites (SPEC §3.8)."""
        return self._run(calls.post_bundle(archive, use_case))


class Images:
    """``client.images``: upload images and fetch them back."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    def upload(
        self,
        image: ImageSource,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        channels: ChannelOrder = "bgr",
    ) -> Upload:
        """Upload a path, bytes, a file object, a PIL image or a numpy array (``channels`` gives the order
        of a 3- or 4-channel array: OpenCV's ``"bgr"`` by default). Use ``.source_id`` in event images."""
        return self._run(calls.upload_image(image, name=name, metadata=metadata, channels=channels))

    def get(self, source_id: str) -> bytes:
        """The original bytes of an uploaded image."""
        return self._run(calls.image_bytes(source_id))

    def thumbnail(self, source_id: str) -> bytes:
        """A WebP or JPEG thumbnail, longest side at most 320 pixels."""
        return self._run(calls.thumbnail(source_id))

    def annotated(self, event_id: str, index: int = 0) -> bytes:
        """A JPEG of image ``index`` of an event with its predictions drawn."""
        return self._run(calls.annotated(event_id, index))


class ClientBase:
    """What both clients expose about their connection."""

    _transport: Transport

    @property
    def server(self) -> str:
        return self._transport.settings.server

    @property
    def api_key(self) -> str | None:
        return self._transport.settings.api_key

    @property
    def retry(self) -> RetryPolicy:
        return self._transport.settings.retry

    def __repr__(self) -> str:
        return f"<sightlog.{type(self).__name__} {self.server}>"


class Client(ClientBase):
    """A connection to a Sightlog server.

    ``server`` defaults to ``$SIGHTLOG_SERVER`` (else ``http://127.0.0.1:8400``) and ``api_key`` to
    ``$SIGHTLOG_API_KEY``. Connection failures, ``429`` and ``503`` are retried with capped, jittered
    backoff (``max_attempts`` tries in all, or a whole :class:`RetryPolicy`); ``transport`` swaps the httpx
    transport (e.g. ``httpx.MockTransport`` in tests). Use it as a context manager, or call :meth:`close`.
    """

    def __init__(
        self,
        server: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = Settings.resolve(server, api_key, timeout, retry, max_attempts)
        self._transport: SyncTransport = SyncTransport(settings, transport)
        run = self._transport.run
        self.use_cases = UseCases(run)
        self.events = Events(run)
        self.images = Images(run)

    def health(self) -> Health:
        """``GET /health`` (no key needed): status, version and store backend."""
        return self._transport.run(calls.health())

    def workspace(self) -> str:
        """The slug of the workspace the API key belongs to; a quick way to check a key."""
        return self._transport.run(calls.workspace())

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
