"""Disk quotas: delivered items make room first; an outbox full of undelivered data answers 529."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sightlog.agent import outbox
from tests.agent.conftest import Agent
from tests.api.helpers import assert_error
from tests.conftest import jpeg_bytes, make_event


def image_files(agent: Agent) -> list[Path]:
    return [p for p in (agent.runtime.config.data_dir / "images" / "objects").rglob("*") if p.is_file()]


def test_full_of_undelivered_events_answers_529_and_keeps_everything(make_agent, nowhere: str, use_case: str):
    agent = make_agent(upstream=nowhere, max_events=3)
    for i in range(2):
        assert agent.post("/vision-events", make_event(f"q{i}", use_case)).status_code == 201
    two_more = {"events": [make_event("q2", use_case), make_event("q3", use_case)]}
    body = assert_error(agent.post("/vision-events/batch", two_more), 529, "overloaded")
    assert "not yet delivered" in body["error"]
    assert agent.post("/vision-events", make_event("q2", use_case)).status_code == 201
    assert_error(agent.post("/vision-events", make_event("q3", use_case)), 529, "overloaded")

    health = agent.health()
    assert (health["queue"]["events"], health["stored"]["events"], health["refused"]) == (3, 3, 2)
    assert "sightlog_agent_refused_total 2" in agent.http.get("/metrics").text


def test_full_of_undelivered_images_answers_529_and_keeps_no_stray_file(make_agent, nowhere: str):
    frame = jpeg_bytes(64, 64, (1, 2, 3))
    agent = make_agent(upstream=nowhere, max_bytes=int(len(frame) * 1.5))
    agent.upload(frame)
    response = agent.http.post(
        "/vision-events/upload",
        files={"file": ("b.jpg", jpeg_bytes(64, 64, (9, 9, 9)))},
        headers=agent.headers,
    )
    assert_error(response, 529, "overloaded")
    assert len(image_files(agent)) == 1
    assert agent.health()["queue"]["images"] == 1


def test_delivered_items_are_pruned_to_make_room(make_agent, client, use_case: str, monkeypatch):
    monkeypatch.setattr(outbox, "IMAGE_GRACE_SECONDS", 0.0)
    frames = [jpeg_bytes(48, 48, (i * 40, 0, 0)) for i in range(4)]
    agent = make_agent(max_events=4, max_bytes=int(max(map(len, frames)) * 2.5))
    for i, frame in enumerate(frames):
        source_id = agent.upload(frame)
        event = make_event(f"p{i}", use_case, images=[{"sourceId": source_id}])
        assert agent.post("/vision-events", event).status_code == 201, i
        agent.drained()
    more = {"events": [make_event(f"p{i}", use_case) for i in range(4, 7)]}
    assert agent.post("/vision-events/batch", more).status_code == 201

    health = agent.drained()
    assert health["stored"]["events"] <= 4 and health["stored"]["bytes"] <= health["stored"]["maxBytes"]
    assert len(image_files(agent)) <= 2
    assert client.events.count(use_case) == 7  # everything arrived; only local copies went
    assert [client.images.get(e.images[0].source_id or "") for e in client.events.iter(use_case, sort="asc")
            if e.images] == frames  # fmt: skip


def test_an_image_a_pending_event_names_is_never_pruned(make_agent, nowhere: str, use_case: str, monkeypatch):
    monkeypatch.setattr(outbox, "IMAGE_GRACE_SECONDS", 0.0)
    agent = make_agent(upstream=nowhere, max_events=2)
    source_id = agent.upload()
    agent.post("/vision-events", make_event("n1", use_case, images=[{"sourceId": source_id}]))
    store = agent.runtime.outbox
    store.images_done({source_id: ("upstream-id", None)})  # as if uploaded, its event still waiting
    store._transact(lambda db: store._prune_images(db, 10**9))
    assert store.find_images([source_id])
    (pending,) = store.pending_events(10)
    assert pending.images == {source_id: ("delivered", "upstream-id")}


@pytest.mark.parametrize("size", ["500MB", "20GB", "1.5G", "1048576", "2KiB"])
def test_sizes_on_the_command_line(size: str):
    from sightlog.cli.agent import parse_size

    assert (
        parse_size(size)
        == {
            "500MB": 500 * 1024**2,
            "20GB": 20 * 1024**3,
            "1.5G": int(1.5 * 1024**3),
            "1048576": 1048576,
            "2KiB": 2048,
        }[size]
    )


def test_concurrent_writes_share_commits_and_fail_alone(make_agent, nowhere: str, use_case: str):
    agent = make_agent(upstream=nowhere, max_events=10)
    with ThreadPoolExecutor(8) as pool:
        events = [make_event(f"c{i}", use_case) for i in range(24)]
        answers = list(pool.map(lambda event: agent.post("/vision-events", event), events))
    assert sorted(answer.status_code for answer in answers) == [201] * 10 + [529] * 14
    health = agent.health()
    assert (health["stored"]["events"], health["queue"]["events"], health["refused"]) == (10, 10, 14)
