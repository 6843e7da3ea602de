"""``sightlog demo``: seed a workspace with realistic use cases, events, images and reviews, over the API.

Everything but the timestamps is derived from fixed seeds, and every event has a fixed ``eventId``, so
running it again overwrites the demo events (moving them to the last days again) instead of adding more.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from rich.markup import escape

from sightlog.cli.console import err, progress_bar
from sightlog.cli.demo_scenes import Scene, assembly_line, site_safety, warehouse
from sightlog.cli.remote import DEFAULT_SERVER, ApiKey, ServerUrl, connected
from sightlog.cli.send import MAX_BATCH
from sightlog.sdk import Client

VARIANTS = 12  # distinct pictures per use case; events reuse them
FEEDBACK_RATE = 0.05
WARNING_RATE = 0.01
SHIFTS = ("morning", "evening", "night")


def _quality(scene: Scene, rng: random.Random) -> dict[str, Any]:
    failed = scene.facts["defects"] > 0
    return {
        "result": "fail" if failed else "pass",
        "confidence": round(rng.uniform(0.8, 0.99), 3),
        "externalId": f"SN-{rng.randrange(10**6):06d}",
    }


def _quality_meta(rng: random.Random) -> dict[str, Any]:
    return {
        "line_id": rng.randint(1, 4),
        "shift": rng.choice(SHIFTS),
        "part_number": rng.choice(("A-113", "A-114", "B-220", "C-031")),
        "temperature": round(rng.gauss(78, 6), 1),
        "inspected": rng.random() < 0.3,
    }


def _inventory(scene: Scene, rng: random.Random) -> dict[str, Any]:
    aisle = rng.randint(1, 12)
    return {"itemCount": scene.facts["boxes"], "location": f"aisle-{aisle}", "itemType": "carton"}


def _inventory_meta(rng: random.Random) -> dict[str, Any]:
    return {
        "zone": rng.choice("ABC"),
        "scanner": rng.choice(("fixed", "drone")),
        "shift": rng.choice(SHIFTS),
    }


def _safety(scene: Scene, rng: random.Random) -> dict[str, Any]:
    facts = scene.facts
    if facts["unprotected"]:
        alert, severity = "no_hardhat", "high"
        text = f"{facts['unprotected']} of {facts['people']} workers without a hardhat"
    elif facts["in_zone"]:
        alert, severity, text = "restricted_zone", "medium", "worker inside the restricted zone"
    else:
        alert, severity, text = "ppe_check", "low", f"{facts['people']} workers, all protected"
    return {"alertType": alert, "severity": severity, "description": text}


def _safety_meta(rng: random.Random) -> dict[str, Any]:
    return {
        "site": rng.choice(("plant-1", "plant-2")),
        "zone": rng.choice(("north-gate", "scaffold", "loading-bay")),
        "crew_size": rng.randint(2, 9),
        "night": rng.random() < 0.2,
    }


@dataclass(frozen=True)
class Story:
    """One demo use case: what it pictures, and how its events read."""

    key: str
    name: str
    event_type: str
    share: float
    draw: Callable[[random.Random], Scene]
    event_data: Callable[[Scene, random.Random], dict[str, Any]]
    metadata: Callable[[random.Random], dict[str, Any]]
    devices: tuple[str, ...]
    workflow: str


STORIES = (
    Story("qa", "Assembly Line QA", "quality_check", 0.4, assembly_line, _quality, _quality_meta,
          ("line1-cam", "line2-cam", "line3-cam", "line4-cam"), "defect-detector-v3"),
    Story("inventory", "Warehouse Inventory", "inventory_count", 0.3, warehouse, _inventory, _inventory_meta,
          ("shelf-cam-01", "shelf-cam-02", "drone-7"), "carton-counter"),
    Story("safety", "Site Safety", "safety_alert", 0.3, site_safety, _safety, _safety_meta,
          ("gate-cam", "crane-cam", "bay-cam"), "ppe-monitor"),
)  # fmt: skip


@dataclass(frozen=True)
class Picture:
    source_id: str
    scene: Scene


def demo(
    events: Annotated[
        int, typer.Option(min=3, help="How many events to create (plus a few reviews).")
    ] = 3000,
    days: Annotated[int, typer.Option(min=1, help="Spread the events over this many past days.")] = 7,
    server: ServerUrl = DEFAULT_SERVER,
    api_key: ApiKey = None,
) -> None:
    """Seed a demo workspace: three use cases, thousands of events with pictures and predictions of all
    four kinds, custom metadata, failed checks and human reviews.

    It is safe to run again: events have fixed ids, so a re-run refreshes them instead of adding more.

    ```
    sightlog demo --server http://127.0.0.1:8400 --api-key "$SIGHTLOG_API_KEY"
    ```
    """
    started = time.perf_counter()
    now = datetime.now(UTC)
    with connected(server, api_key) as client, progress_bar() as progress:
        use_cases = _use_cases(client)
        drawing = progress.add_task("Pictures", total=len(STORIES) * VARIANTS)
        pictures = {
            story.key: _pictures(client, story, lambda: progress.advance(drawing)) for story in STORIES
        }
        bodies = [
            body
            for story, count in zip(STORIES, _split(events), strict=True)
            for body in _events(story, use_cases[story.name], pictures[story.key], count, days, now)
        ]
        task = progress.add_task("Events", total=len(bodies))
        for start in range(0, len(bodies), MAX_BATCH):
            batch = bodies[start : start + MAX_BATCH]
            client.events.batch(batch)
            progress.advance(task, len(batch))
    reviews = len(bodies) - events
    err.print(
        f"Seeded {len(STORIES)} use cases with {events} events and {reviews} reviews "
        f"({len(STORIES) * VARIANTS} pictures) in {time.perf_counter() - started:.1f} s. "
        f"Open [bold]{escape(server)}/ui[/bold] to look around."
    )


def _use_cases(client: Client) -> dict[str, str]:
    """The ids of the demo use cases by name, creating those that do not exist yet."""
    ids = {use_case.name: use_case.id for use_case in client.use_cases.list("all")}
    for story in STORIES:
        if story.name not in ids:
            ids[story.name] = client.use_cases.create(story.name).id
    return ids


def _pictures(client: Client, story: Story, uploaded: Callable[[], None]) -> list[Picture]:
    pictures = []
    for variant in range(VARIANTS):
        scene = story.draw(random.Random(f"{story.key}-{variant}"))
        upload = client.images.upload(scene.jpeg, name=f"demo-{story.key}-{variant:02d}.jpg")
        pictures.append(Picture(upload.source_id, scene))
        uploaded()
    return pictures


def _split(total: int) -> list[int]:
    counts = [int(total * story.share) for story in STORIES]
    counts[0] += total - sum(counts)
    return counts


def _events(
    story: Story, use_case: str, pictures: list[Picture], count: int, days: int, now: datetime
) -> Iterator[dict[str, Any]]:
    """The events of one use case, oldest first, evenly spread over the last ``days``, and their reviews."""
    span = timedelta(days=days).total_seconds()
    for index in range(count):
        rng = random.Random(f"{story.key}-event-{index}")
        picture = rng.choice(pictures)
        event_id = f"demo-{story.key}-{index:05d}"
        timestamp = now - timedelta(seconds=span * (1 - (index + rng.random()) / count))
        data = story.event_data(picture.scene, rng)
        if rng.random() < WARNING_RATE:
            data["operatorNote"] = "re-checked by hand"  # not a field of the type: stored with a warning
        yield {
            "eventId": event_id,
            "eventType": story.event_type,
            "useCaseId": use_case,
            "timestamp": timestamp.isoformat(),
            "eventData": data,
            "deviceId": rng.choice(story.devices),
            "streamId": f"{story.key}-stream-{rng.randint(1, 3)}",
            "workflowId": story.workflow,
            "customMetadata": story.metadata(rng),
            "images": [{"sourceId": picture.source_id, "label": "camera frame", **picture.scene.predictions}],
        }
        if rng.random() < FEEDBACK_RATE:
            verdict = rng.choices(("correct", "incorrect", "inconclusive"), weights=(7, 2, 1))[0]
            yield {
                "eventId": f"{event_id}-review",
                "eventType": "operator_feedback",
                "useCaseId": use_case,
                "timestamp": min(now, timestamp + timedelta(minutes=rng.randint(2, 90))).isoformat(),
                "eventData": {
                    "relatedEventId": event_id,
                    "feedback": verdict,
                    "comment": "reviewed in the demo",
                },
            }
