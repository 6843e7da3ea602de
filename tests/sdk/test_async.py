"""``AsyncClient``: the same methods as ``Client``, awaited, against a real server."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pytest

from sightlog import AsyncClient
from sightlog.sdk import Conflict, NewEvent, NotFound, Unauthorized
from tests.support.server import ServerProcess

T0 = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def run(server: ServerProcess, scenario: Callable[[AsyncClient], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        async with AsyncClient(server.url, server.api_key) as client:
            return await scenario(client)

    return asyncio.run(main())


def test_use_cases(server: ServerProcess) -> None:
    name = f"Async {uuid.uuid4().hex[:6]}"

    async def scenario(client: AsyncClient) -> None:
        assert (await client.health()).status == "ok"
        assert await client.workspace() == "default"
        created = await client.use_cases.create(name)
        with pytest.raises(Conflict):
            await client.use_cases.create(name)
        assert (await client.use_cases.rename(created.id, name + " 2")).name == name + " 2"
        await client.use_cases.archive(created.id)
        assert created.id in {u.id for u in await client.use_cases.list("inactive")}
        await client.use_cases.unarchive(created.id)
        assert created.id in {u.id for u in await client.use_cases.list()}
        assert (await client.use_cases.update(created.id, retention_days=7)).retention_days == 7
        await client.events.create(created.id, "custom", custom_metadata={"line": "A"})
        assert (await client.use_cases.schema(created.id)).fields["line"].types == ["string"]

    run(server, scenario)


def test_events_and_images(server: ServerProcess) -> None:
    async def scenario(client: AsyncClient) -> None:
        use_case = (await client.use_cases.create(f"Async events {uuid.uuid4().hex[:6]}")).id
        frame = np.zeros((30, 40, 3), dtype=np.uint8)
        upload = await client.images.upload(frame, name="frame")
        assert (await client.images.get(upload.source_id))[:2] == b"\xff\xd8"  # a JPEG
        assert await client.images.thumbnail(upload.source_id)

        boxes = [{"class": "car", "x": 20, "y": 15, "width": 10, "height": 8, "confidence": 0.8}]
        first = await client.events.create(
            use_case,
            "custom",
            timestamp=T0,
            images=[{"sourceId": upload.source_id, "objectDetections": boxes}],
        )
        assert (await client.images.annotated(first.event_id, 0))[:2] == b"\xff\xd8"
        batch = await client.events.batch(
            [
                NewEvent(use_case_id=use_case, event_type="custom", timestamp=T0 + timedelta(minutes=i))
                for i in range(1, 6)
            ]
        )
        assert batch.created == 5

        page = await client.events.query(use_case, sort="asc", limit=2)
        assert page.has_more and [e.event_id for e in page.events] == [first.event_id, batch.event_ids[0]]
        everything = [e.event_id async for e in client.events.iter(use_case, sort="asc", page_size=2)]
        assert everything == [first.event_id, *batch.event_ids]
        assert await client.events.count(use_case, start_time=T0 + timedelta(minutes=3)) == 3
        buckets = await client.events.aggregate(use_case, group_by=["class"])
        assert {b.key["class"]: b.count for b in buckets} == {"car": 1}

        review = await client.events.feedback(first.event_id, "correct")
        assert (await client.events.get(first.event_id)).feedback.event_id == review.event_id
        await client.events.delete(batch.event_ids[0])
        with pytest.raises(NotFound):
            await client.events.get(batch.event_ids[0])

    run(server, scenario)


def test_errors_map_the_same_way(server: ServerProcess) -> None:
    async def scenario() -> None:
        async with AsyncClient(server.url, "sl_not_a_key_abcdefghijklmnopqrstuvwxyz") as client:
            with pytest.raises(Unauthorized):
                await client.use_cases.list()

    asyncio.run(scenario())
