"""``sightlog demo`` seeds a living workspace through the API, and a re-run refreshes rather than adds."""

from __future__ import annotations

import io

from PIL import Image

from sightlog.cli.demo_scenes import HEIGHT, WIDTH
from sightlog.sdk import Client, Event
from tests.cli.conftest import Run

NAMES = {"Assembly Line QA", "Warehouse Inventory", "Site Safety"}
KINDS = ("object_detections", "classifications", "instance_segmentations", "keypoints")


def _inside(event: Event) -> bool:
    """Every box of every prediction lies within the picture."""
    boxes = [
        (p.x - p.width / 2, p.y - p.height / 2, p.x + p.width / 2, p.y + p.height / 2)
        for image in event.images
        for kind in ("object_detections", "instance_segmentations", "keypoints")
        for p in getattr(image, kind) or ()
    ]
    return all(
        left >= 0 and top >= 0 and right <= WIDTH and bottom <= HEIGHT for left, top, right, bottom in boxes
    )


def test_demo_seeds_and_reseeds(cli: Run, client: Client) -> None:
    first = cli("demo", "--events", "60", "--days", "2")
    assert first.exit_code == 0, first.output
    assert "Seeded 3 use cases with 60 events" in first.stderr

    use_cases = {uc.name: uc for uc in client.use_cases.list() if uc.name in NAMES}
    assert set(use_cases) == NAMES
    events = [event for uc in use_cases.values() for event in client.events.iter(uc.id)]
    observed = [event for event in events if event.event_type != "operator_feedback"]
    assert len(observed) == 60
    assert {e.event_type for e in observed} == {"quality_check", "inventory_count", "safety_alert"}
    assert len(events) > len(observed), "some events should have been reviewed"
    assert any(e.feedback.status for e in observed)
    assert any(e.event_data and e.event_data.get("result") == "fail" for e in observed)
    assert all(e.custom_metadata and e.device_id for e in observed)

    found = {kind for e in observed for image in e.images for kind in KINDS if getattr(image, kind)}
    assert found == set(KINDS)
    assert all(_inside(e) for e in observed)
    pictures = {e.images[0].source_id for e in observed}
    assert 3 <= len(pictures) <= 36
    for source_id in list(pictures)[:3]:
        with Image.open(io.BytesIO(client.images.get(source_id or ""))) as picture:
            assert (picture.format, picture.size) == ("JPEG", (WIDTH, HEIGHT))

    again = cli("demo", "--events", "60", "--days", "2")
    assert again.exit_code == 0, again.output
    after = {uc.name: uc.event_count for uc in client.use_cases.list() if uc.name in NAMES}
    assert after == {name: uc.event_count for name, uc in use_cases.items()}
    assert sum(after.values()) == len(events)
