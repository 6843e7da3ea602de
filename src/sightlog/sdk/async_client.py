"""The asyncio client: the same methods as :class:`~sightlog.sdk.client.Client`, to be awaited.

Requests are built by the same functions (``_calls``) as the sync client's; only sending differs.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Iterable, Mapping
from os import PathLike
from types import TracebackType
from typing import Any, Literal, Protocol, Self, TypeVar, Unpack

import httpx

from sightlog.sdk import _calls as calls
from sightlog.sdk._calls import Interval, UseCaseStatus
from sightlog.sdk._transport import AsyncTransport, Call, RetryPolicy, Settings
from sightlog.sdk.client import ClientBase
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
    def __call__(self, call: Call[T], /) -> Awaitable[T]: ...


class AsyncUseCases:
    """``client.use_cases``; see :class:`sightlog.sdk.client.UseCases`."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    async def list(self, status: UseCaseStatus = "active") -> list[UseCase]:
        return await self._run(calls.list_use_cases(status))

    async def create(self, name: str) -> UseCaseRef:
        return await self._run(calls.create_use_case(name))

    async def rename(self, use_case: str, name: str) -> UseCaseRef:
        return await self._run(calls.rename_use_case(use_case, name))

    async def archive(self, use_case: str) -> None:
        await self._run(calls.archive_use_case(use_case))

    async def unarchive(self, use_case: str) -> None:
        await self._run(calls.unarchive_use_case(use_case))

    async def schema(self, use_case: str) -> MetadataSchema:
        return await self._run(calls.metadata_schema(use_case))

    async def update(self, use_case: str, *, retention_days: int | None) -> UseCase:
        return await self._run(calls.update_use_case(use_case, retention_days=retention_days))


class AsyncEvents:
    """``client.events``; see :class:`sightlog.sdk.client.Events`."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    async def create(
        self, use_case: str, event_type: EventType, **fields: Unpack[EventFields]
    ) -> CreatedEvent:
        return await self._run(calls.create_event(use_case, event_type, fields))

    async def batch(self, events: Iterable[NewEvent | Mapping[str, Any]]) -> BatchResult:
        return await self._run(calls.create_batch(events))

    async def query(
        self,
        use_case: str,
        *,
        sort: Literal["desc", "asc"] = "desc",
        limit: int = 50,
        cursor: str | None = None,
        **filters: Unpack[QueryFilters],
    ) -> EventPage:
        return await self._run(calls.query_events(use_case, filters, sort=sort, limit=limit, cursor=cursor))

    async def iter(
        self,
        use_case: str,
        *,
        sort: Literal["desc", "asc"] = "desc",
        page_size: int = 100,
        **filters: Unpack[QueryFilters],
    ) -> AsyncIterator[Event]:
        cursor: str | None = None
        while True:
            page = await self.query(use_case, sort=sort, limit=page_size, cursor=cursor, **filters)
            for event in page.events:
                yield event
            if not page.has_more or page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def get(self, event_id: str) -> Event:
        return await self._run(calls.get_event(event_id))

    async def delete(self, event_id: str) -> None:
        await self._run(calls.delete_event(event_id))

    async def count(self, use_case: str, **filters: Unpack[QueryFilters]) -> int:
        return await self._run(calls.count_events(use_case, filters))

    async def aggregate(
        self,
        use_case: str,
        *,
        group_by: Iterable[str] = (),
        interval: Interval | None = None,
        timezone: str = "UTC",
        **filters: Unpack[QueryFilters],
    ) -> list[Bucket]:
        return await self._run(
            calls.aggregate_events(use_case, filters, group_by=group_by, interval=interval, timezone=timezone)
        )

    async def feedback(
        self,
        event_id: str,
        feedback: FeedbackValue,
        comment: str | None = None,
    ) -> CreatedEvent:
        return await self._run(calls.give_feedback(event_id, feedback, comment))

    async def bundle(
        self, archive: bytes | str | PathLike[str], *, use_case: str | None = None
    ) -> CreatedEvent:
        return await self._run(calls.post_bundle(archive, use_case))


class AsyncImages:
    """``client.images``; see :class:`sightlog.sdk.client.Images`."""

    def __init__(self, run: _Run) -> None:
        self._run = run

    async def upload(
        self,
        image: ImageSource,
        *,
        name: str | None = None,
        metadata: Mapping[str, Any] | None = None,
        channels: ChannelOrder = "bgr",
    ) -> Upload:
        # Reading a file or encoding a JPEG blocks: do it off the event loop.
        call = await asyncio.to_thread(
            calls.upload_image, image, name=name, metadata=metadata, channels=channels
        )
        return await self._run(call)

    async def get(self, source_id: str) -> bytes:
        return await self._run(calls.image_bytes(source_id))

    async def thumbnail(self, source_id: str) -> bytes:
        return await self._run(calls.thumbnail(source_id))

    async def annotated(self, event_id: str, index: int = 0) -> bytes:
        return await self._run(calls.annotated(event_id, index))


class AsyncClient(ClientBase):
    """The asyncio twin of :class:`~sightlog.sdk.client.Client` (same arguments, same methods, awaited).
    Use ``async with AsyncClient() as client:`` or call :meth:`aclose`."""

    def __init__(
        self,
        server: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 30.0,
        max_attempts: int | None = None,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = Settings.resolve(server, api_key, timeout, retry, max_attempts)
        self._transport: AsyncTransport = AsyncTransport(settings, transport)
        run = self._transport.run
        self.use_cases = AsyncUseCases(run)
        self.events = AsyncEvents(run)
        self.images = AsyncImages(run)

    async def health(self) -> Health:
        return await self._transport.run(calls.health())

    async def workspace(self) -> str:
        return await self._transport.run(calls.workspace())

    async def aclose(self) -> None:
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()
