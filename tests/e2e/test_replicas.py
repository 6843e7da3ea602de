"""Two ``sightlog serve`` replicas over one PostgreSQL schema and one S3 bucket, written to concurrently.

10,000 distinct events go in through both replicas at once (batches of 100, single events and image uploads
referenced by the events); 1,000 of the ids are sent to BOTH replicas with the same content, at the same
moment as far as the test can arrange it. Clients retry 503 answers and dropped connections with a short
backoff, as SPEC §6 says clients do. Afterwards every event must exist exactly once with the content that was
sent, both replicas must answer the same queries identically, and every image must be served byte-identical
by either replica.
"""

from __future__ import annotations

import contextlib
import random
import re
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import postgres_schema
from tests.e2e.helpers import client, unique_png
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess, new_test_key

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

TOTAL = 10_000
THREADS_PER_REPLICA = 4
BATCH = 100
# Ids n with n % 10 == 0 go to both replicas (1,000 of them); the others alternate between the replicas in
# runs of ten, so each replica also gets 4,500 ids of its own.
PURE_SHARED_BATCHES = 6  # batches of 100 made only of shared ids, sent by both replicas at the same moment
SHARED_SINGLES = 200  # shared ids sent one by one (POST /vision-events) to both replicas at the same moment
OWN_SINGLES = 300  # per replica: ids of its own sent one by one, one in three with a freshly uploaded image
POOL_IMAGES_PER_THREAD = 3  # unique images each client thread uploads before the events start
REQUEST_DEADLINE = 30.0  # a request still failing with 503 / connection errors after this long fails the test
BARRIER_TIMEOUT = 30.0
BASE_TIME = datetime(2026, 6, 1, tzinfo=UTC)  # 10,000 events, 20 minutes apart: five monthly partitions
CLASSES = ("defect", "scratch", "dent", "person")


# -- payloads ---------------------------------------------------------------------------------------------


def event_id(n: int) -> str:
    return f"ev-{n:05d}"


def is_shared(n: int) -> bool:
    return n % 10 == 0


def owner(n: int) -> int:
    """Which replica (0 or 1) sends a non-shared id."""
    return (n // 10) % 2


def is_feedback(n: int) -> bool:
    return n % 100 == 99


def feedback_target(n: int) -> int:
    return n - 49  # ≡ 50 (mod 100): always a shared id, written by both replicas while the feedback lands


def feedback_value(n: int) -> str:
    return ("correct", "incorrect", "inconclusive")[(n // 100) % 3]


def timestamp(n: int) -> str:
    moment = BASE_TIME + timedelta(minutes=20 * n, milliseconds=n % 1000)
    if n % 4 == 1:  # the same instant with an offset: stored and compared as an instant
        return moment.astimezone(timezone(timedelta(hours=2))).isoformat(timespec="milliseconds")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def detections(n: int) -> list[dict[str, Any]]:
    rng = random.Random(n)
    return [
        {
            "class": CLASSES[(n + i) % len(CLASSES)],
            "x": rng.randrange(10, 600),
            "y": rng.randrange(10, 400),
            "width": rng.randrange(4, 80),
            "height": rng.randrange(4, 80),
            "confidence": round(0.05 + 0.9 * rng.random(), 4),
        }
        for i in range(1 + n % 3)
    ]


def make_event(n: int, use_case: str, source_id: str | None) -> dict[str, Any]:
    """The event with number ``n``: a pure function of its arguments, so both replicas get the same one."""
    event: dict[str, Any] = {
        "eventId": event_id(n),
        "useCaseId": use_case,
        "timestamp": timestamp(n),
        "deviceId": f"cam-{n % 25:02d}",
        "customMetadata": {"seq": n, "line": f"L{n % 7}", "shift": ("day", "night")[n % 2], "ok": n % 3 == 0},
    }
    if is_feedback(n):
        event["eventType"] = "operator_feedback"
        event["eventData"] = {"relatedEventId": event_id(feedback_target(n)), "feedback": feedback_value(n)}
        return event
    kind = n % 4
    if kind == 0:
        event["eventType"] = "quality_check"
        event["eventData"] = {"result": ("pass", "fail")[n % 2], "confidence": (n % 97) / 100}
    elif kind == 1:
        event["eventType"] = "inventory_count"
        event["eventData"] = {"itemCount": n % 500, "location": f"aisle-{n % 40}"}
    elif kind == 2:
        event["eventType"] = "safety_alert"
        event["eventData"] = {"alertType": "no_helmet", "severity": ("low", "medium", "high")[n % 3]}
    else:
        event["eventType"] = "custom"
        event["eventData"] = {"value": f"reading {n}", "level": n % 11}
    if source_id is not None:
        event["images"] = [
            {
                "sourceId": source_id,
                "label": f"cam-{n % 25:02d}",
                "objectDetections": detections(n),
                "classifications": [{"class": "ok", "confidence": round((n % 100) / 100, 2)}],
            }
        ]
    return event


def pool_source(pool: list[str], n: int) -> str | None:
    """The pool image an event refers to (two events in three have one)."""
    return pool[n % len(pool)] if n % 3 else None


# -- clients that retry like SPEC §6 clients ---------------------------------------------------------------


@dataclass
class ClientStats:
    requests: int = 0
    seconds: float = 0.0  # time spent waiting for answers
    slowest: float = 0.0
    retries_503: int = 0
    retries_transport: int = 0
    transport_errors: Counter[str] = field(default_factory=Counter)
    bad_503: list[str] = field(default_factory=list)  # 503 answers without the SPEC §6 error shape
    unexpected: list[str] = field(default_factory=list)  # any other non-2xx answer, or an exception

    def add(self, other: ClientStats) -> None:
        self.requests += other.requests
        self.seconds += other.seconds
        self.slowest = max(self.slowest, other.slowest)
        self.retries_503 += other.retries_503
        self.retries_transport += other.retries_transport
        self.transport_errors.update(other.transport_errors)
        self.bad_503 += other.bad_503
        self.unexpected += other.unexpected

    def summary(self) -> str:
        return (
            f"{self.requests} requests ({self.seconds:.0f}s in total, slowest {self.slowest:.1f}s), "
            f"{self.retries_503} retries after a 503, {self.retries_transport} "
            f"after a connection error {dict(self.transport_errors)}"
        )


class RetryingClient:
    """httpx client that re-sends on 503 and on connection errors (every request here is idempotent)."""

    def __init__(self, base_url: str, key: str, stats: ClientStats, seed: int) -> None:
        self.http = client(base_url, key, timeout=30.0)
        self.stats = stats
        self.rng = random.Random(seed)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        deadline = time.monotonic() + REQUEST_DEADLINE
        attempt = 0
        while True:
            self.stats.requests += 1
            sent_at = time.monotonic()
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as exc:
                self.stats.retries_transport += 1
                self.stats.transport_errors[type(exc).__name__] += 1
                failure = f"{type(exc).__name__}: {exc}"
            else:
                took = time.monotonic() - sent_at
                self.stats.seconds += took
                self.stats.slowest = max(self.stats.slowest, took)
                if response.status_code != 503:
                    return response
                self.stats.retries_503 += 1
                failure = f"503 {response.text[:300]}"
                try:
                    body = response.json()
                    shaped = body.get("code") == "unavailable" and isinstance(body.get("error"), str)
                except ValueError:
                    shaped = False
                if not shaped:
                    self.stats.bad_503.append(f"{method} {path}: {response.text[:300]}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{method} {path} still failing after {REQUEST_DEADLINE:.0f}s: {failure}"
                )
            attempt += 1
            time.sleep(min(0.02 * 2**attempt, 0.5) * (0.5 + self.rng.random()))

    def expect(self, status: int, method: str, path: str, **kwargs: Any) -> httpx.Response | None:
        response = self.request(method, path, **kwargs)
        if response.status_code != status:
            self.stats.unexpected.append(f"{method} {path}: {response.status_code} {response.text[:500]}")
            return None
        return response


# -- the work of one client thread ------------------------------------------------------------------------


@dataclass
class Item:
    kind: str  # "batch" | "single"
    numbers: list[int]
    shared: bool  # sent by the paired thread of the other replica at the same moment
    upload: bool = False  # a single that first uploads its own image


@dataclass
class Sent:
    """Shared between the threads: what was sent for every id, and every image upload."""

    events: dict[str, dict[str, Any]] = field(default_factory=dict)
    uploads: dict[str, bytes] = field(default_factory=dict)  # sourceId -> bytes
    created: dict[str, list[bool]] = field(default_factory=dict)  # single POSTs: the "created" answers
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, event: dict[str, Any]) -> None:
        with self.lock:
            earlier = self.events.setdefault(event["eventId"], event)
        assert earlier == event, f"test bug: {event['eventId']} sent with two contents"


def plan_work() -> list[list[list[Item]]]:
    """``work[replica][thread]``: the items each client thread sends, shared items in the same order on the
    paired threads of both replicas."""
    rng = random.Random(20_000)
    shared = [n for n in range(TOTAL) if is_shared(n)]
    rng.shuffle(shared)
    pure = shared[: PURE_SHARED_BATCHES * BATCH]
    singles = shared[PURE_SHARED_BATCHES * BATCH : PURE_SHARED_BATCHES * BATCH + SHARED_SINGLES]
    mixed = shared[PURE_SHARED_BATCHES * BATCH + SHARED_SINGLES :]

    shared_items: list[list[Item]] = [[] for _ in range(THREADS_PER_REPLICA)]
    for i in range(PURE_SHARED_BATCHES):
        shared_items[i % THREADS_PER_REPLICA].append(Item("batch", pure[i * BATCH : (i + 1) * BATCH], True))
    for i, n in enumerate(singles):
        shared_items[i % THREADS_PER_REPLICA].append(Item("single", [n], True))
    for items in shared_items:
        rng.shuffle(items)

    work: list[list[list[Item]]] = []
    for replica in (0, 1):
        own = [n for n in range(TOTAL) if not is_shared(n) and owner(n) == replica]
        rng.shuffle(own)
        own_singles, own_batched = own[:OWN_SINGLES], own[OWN_SINGLES:]
        # The remaining shared ids ride in ordinary batches, grouped differently on each replica, so
        # batches of the two replicas overlap in part (their lock sets intersect without being equal).
        extra = list(mixed) if replica == 0 else list(reversed(mixed))
        batched = own_batched + extra
        rng.shuffle(batched)
        own_items = [Item("batch", batched[i : i + BATCH], False) for i in range(0, len(batched), BATCH)]
        own_items += [Item("single", [n], False, upload=i % 3 == 0) for i, n in enumerate(own_singles)]
        rng.shuffle(own_items)
        threads: list[list[Item]] = []
        for t in range(THREADS_PER_REPLICA):
            mine = own_items[t::THREADS_PER_REPLICA]
            sh = shared_items[t]
            # Spread the shared items evenly through the thread's own ones (same positions on both sides).
            merged: list[Item] = []
            step = (len(mine) + len(sh)) / max(len(sh), 1)
            j = 0
            for k, item in enumerate(sh):
                while j < len(mine) and len(merged) < int(k * step):
                    merged.append(mine[j])
                    j += 1
                merged.append(item)
            merged += mine[j:]
            threads.append(merged)
        work.append(threads)
    return work


def run_thread(
    replica: int,
    thread: int,
    server: ServerProcess,
    use_case: str,
    items: list[Item],
    pool: list[str],
    barriers: list[threading.Barrier],
    sent: Sent,
    stats: ClientStats,
) -> None:
    http = RetryingClient(server.url, server.api_key, stats, seed=replica * 100 + thread)
    rng = random.Random(replica * 1000 + thread)
    try:
        for item in items:
            if item.shared:  # wait for the paired thread of the other replica, then both send
                # A broken barrier means the partner failed (that is reported); just carry on.
                with contextlib.suppress(threading.BrokenBarrierError):
                    barriers[thread].wait(timeout=BARRIER_TIMEOUT)
            if item.kind == "batch":
                events = [make_event(n, use_case, pool_source(pool, n)) for n in item.numbers]
                for event in events:
                    sent.record(event)
                response = http.expect(201, "POST", "/vision-events/batch", json={"events": events})
                if response is not None and response.json().get("created") != len(events):
                    stats.unexpected.append(f"batch answered {response.text[:300]}")
                continue
            (n,) = item.numbers
            source = pool_source(pool, n)
            if item.upload:
                data = unique_png(rng)
                uploaded = http.expect(
                    201,
                    "POST",
                    "/vision-events/upload",
                    files={"file": (f"{event_id(n)}.png", data, "application/octet-stream")},
                )
                if uploaded is not None:
                    source = uploaded.json()["sourceId"]
                    with sent.lock:
                        sent.uploads[source] = data
            event = make_event(n, use_case, source)
            sent.record(event)
            response = http.expect(201, "POST", "/vision-events", json=event)
            if response is None:
                continue
            if response.json().get("eventId") != event["eventId"]:
                stats.unexpected.append(f"single answered {response.text[:300]}")
            with sent.lock:
                sent.created.setdefault(event["eventId"], []).append(response.json().get("created"))
    except Exception as exc:
        stats.unexpected.append(f"replica {replica} thread {thread}: {type(exc).__name__}: {exc}")
        for barrier in barriers:
            barrier.abort()  # do not leave the partner waiting
    finally:
        http.close()


def upload_pool(servers: list[ServerProcess], sent: Sent, stats: list[list[ClientStats]]) -> list[str]:
    """Every thread of both replicas uploads a few unique images at once; one image with the same bytes is
    also uploaded by all of them at the same moment (identical bytes are stored once)."""
    common = unique_png(random.Random(-1), side=24)
    gate = threading.Barrier(len(servers) * THREADS_PER_REPLICA)
    results: list[list[tuple[str, bytes]]] = []
    lock = threading.Lock()

    def work(replica: int, thread: int) -> None:
        http = RetryingClient(servers[replica].url, servers[replica].api_key, stats[replica][thread], thread)
        rng = random.Random(f"pool-{replica}-{thread}")
        mine: list[tuple[str, bytes]] = []
        try:
            payloads = [unique_png(rng, side=16) for _ in range(POOL_IMAGES_PER_THREAD)]
            gate.wait(timeout=BARRIER_TIMEOUT)
            for data in [common, *payloads]:
                response = http.expect(
                    201, "POST", "/vision-events/upload", files={"file": ("pool.png", data, "image/png")}
                )
                if response is not None:
                    mine.append((response.json()["sourceId"], data))
        except Exception as exc:
            stats[replica][thread].unexpected.append(f"pool upload: {type(exc).__name__}: {exc}")
        finally:
            http.close()
            with lock:
                results.append(mine)

    threads = [
        threading.Thread(target=work, args=(r, t), daemon=True)
        for r in range(len(servers))
        for t in range(THREADS_PER_REPLICA)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    uploads = dict(item for mine in results for item in mine)
    with sent.lock:
        sent.uploads.update(uploads)
    return sorted(uploads)


def unavailable_reasons(servers: list[ServerProcess]) -> dict[str, int]:
    """Why the replicas answered 503, from the warnings they log (``unavailable: <message>``)."""
    reasons: Counter[str] = Counter()
    for server in servers:
        text = server.stderr_path.read_text(errors="replace")
        reasons.update(m.group(1) for m in re.finditer(r"unavailable: .*?\((.*)\)", text))
    return dict(reasons)


def server_errors(servers: list[ServerProcess]) -> str:
    """The exceptions (and Sightlog frames) of the tracebacks the replicas logged; a 500 logs one."""
    found: list[str] = []
    for name, server in zip("AB", servers, strict=True):
        text = server.stderr_path.read_text(errors="replace")
        if "Traceback" in text:
            lines = [
                line.strip()
                for line in text.splitlines()
                if re.match(r"^[A-Za-z_][\w.]*(Error|Exception)\b", line) or "/sightlog/" in line
            ]
            found += [f"replica {name}: {line}" for line in dict.fromkeys(lines)]
    return "\n".join(found[:60])


# -- reading back -----------------------------------------------------------------------------------------


def page_all(http: RetryingClient, query: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every page of ``query`` (limit 1000) through ``nextCursor``."""
    cursor = None
    while True:
        body = dict(query, limit=1000)
        if cursor:
            body["cursor"] = cursor
        response = http.request("POST", "/vision-events/query", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        yield page
        if not page["hasMore"]:
            return
        cursor = page["nextCursor"]
        assert cursor, page


def all_events(http: RetryingClient, query: dict[str, Any]) -> list[dict[str, Any]]:
    return [event for page in page_all(http, query) for event in page["events"]]


def instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def mismatches(sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    problems = []
    for key in ("eventType", "useCaseId", "deviceId", "eventData", "customMetadata"):
        if stored.get(key) != sent.get(key):
            problems.append(f"{key}: sent {sent.get(key)!r}, stored {stored.get(key)!r}")
    if instant(stored["timestamp"]) != instant(sent["timestamp"]):
        problems.append(f"timestamp: sent {sent['timestamp']}, stored {stored['timestamp']}")
    sent_images, stored_images = sent.get("images") or [], stored.get("images") or []
    if len(sent_images) != len(stored_images):
        problems.append(f"images: sent {len(sent_images)}, stored {len(stored_images)}")
    for i, (s_img, st_img) in enumerate(zip(sent_images, stored_images, strict=False)):
        for key, value in s_img.items():
            if st_img.get(key) != value:
                problems.append(f"images[{i}].{key}: sent {value!r}, stored {st_img.get(key)!r}")
        if st_img.get("width") is None:
            problems.append(f"images[{i}] {s_img['sourceId']}: the image shows as missing")
    return problems


def expected_feedback(n: int) -> dict[str, Any]:
    """The feedback an event should carry: targets have exactly one feedback event."""
    if n % 100 == 50 and n + 49 < TOTAL:
        return {"status": feedback_value(n + 49), "eventId": event_id(n + 49)}
    return {"status": None, "eventId": None}


QUERIES: list[dict[str, Any]] = [
    {"customMetadataFilters": [{"field": "seq", "operator": "gte", "value": 7_500, "type": "number"}]},
    {"customMetadataFilters": [{"field": "line", "operator": "eq", "value": "L3", "type": "string"}]},
    {"deviceId": {"operator": "in", "value": ["cam-03", "cam-10", "cam-24"]}},
    {"detectionFilters": [{"class": "scratch", "minConfidence": 0.5, "minCount": 1}]},
    {"feedback": ["none"], "eventTypes": ["quality_check", "safety_alert"]},
    {"feedback": ["correct", "incorrect"]},
    {"startTime": "2026-07-15T00:00:00Z", "endTime": "2026-08-20T12:00:00+02:00", "sort": "asc"},
    {"sort": "asc", "eventType": "inventory_count"},
]


# -- the test ---------------------------------------------------------------------------------------------


def test_two_replicas_ingest_the_same_events_once(tmp_path: Path) -> None:
    started = time.monotonic()
    key = new_test_key()
    with S3Server(process=True) as s3, postgres_schema() as database_url:
        bucket = s3.create_bucket()
        env = {"SIGHTLOG_DATABASE_URL": database_url, **s3.env(bucket)}
        # The first replica bootstraps workspace and key; the second finds them (same key, same store).
        a = ServerProcess(tmp_path / "replica-a", env=env, api_key=key)
        b = ServerProcess(tmp_path / "replica-b", env=env, api_key=key)
        with a, b:
            servers = [a, b]
            run_and_verify(servers, started)


def run_and_verify(servers: list[ServerProcess], started: float) -> None:
    a, b = servers
    startup = time.monotonic() - started
    with client(a.url, a.api_key) as http:
        response = http.post("/vision-events/use-cases", json={"name": "Replica QA"})
        assert response.status_code == 201, response.text
        use_case = response.json()["id"]
    assert (b.data_dir / "bootstrap-key").exists() is False, "the second replica bootstrapped again"

    stats = [[ClientStats() for _ in range(THREADS_PER_REPLICA)] for _ in servers]
    sent = Sent()
    pool = upload_pool(servers, sent, stats)
    pool_problems = [m for row in stats for s in row for m in s.unexpected]
    assert not pool_problems, f"image uploads failed: {pool_problems[:5]}\n{server_errors(servers)}"
    assert len(pool) == 2 * THREADS_PER_REPLICA * (1 + POOL_IMAGES_PER_THREAD)

    work = plan_work()
    barriers = [threading.Barrier(2) for _ in range(THREADS_PER_REPLICA)]
    threads = [
        threading.Thread(
            target=run_thread,
            args=(r, t, servers[r], use_case, work[r][t], pool, barriers, sent, stats[r][t]),
            name=f"client-{r}-{t}",
            daemon=True,
        )
        for r in range(len(servers))
        for t in range(THREADS_PER_REPLICA)
    ]
    ingest_started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    ingest_seconds = time.monotonic() - ingest_started

    total = ClientStats()
    per_replica = []
    for row in stats:
        replica_total = ClientStats()
        for s in row:
            replica_total.add(s)
        per_replica.append(replica_total.summary())
        total.add(replica_total)
    report = (
        f"{TOTAL} events ({len(sent.events)} distinct ids sent), {len(sent.uploads)} images; "
        f"startup {startup:.1f}s, ingest {ingest_seconds:.1f}s; replica A: {per_replica[0]}; "
        f"replica B: {per_replica[1]}; 503 reasons in the server logs: {unavailable_reasons(servers)}"
    )
    print(report)
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"client threads still running after 120s: {hung}; {report}\n{server_errors(servers)}"
    assert not total.unexpected, (
        f"{len(total.unexpected)} requests failed: {total.unexpected[:5]}; {report}\n"
        f"server tracebacks:\n{server_errors(servers)}"
    )
    assert not total.bad_503, f"503 answers without the SPEC §6 shape: {total.bad_503[:3]}; {report}"
    assert len(sent.events) == TOTAL, f"test bug: {len(sent.events)} ids sent"
    # A shared id sent one by one to both replicas at once: exactly one of them created it (the other one
    # overwrote it), unless a dropped connection hid the answer of a write that went through.
    created = {eid: flags for eid, flags in sent.created.items() if len(flags) == 2}
    assert len(created) == SHARED_SINGLES, f"test bug: {len(created)} shared singles answered"
    both_created = sorted(eid for eid, flags in created.items() if flags.count(True) > 1)
    assert not both_created, (
        f"{len(both_created)} ids sent to both replicas at once were created by both: {both_created[:5]}"
    )
    if total.retries_transport == 0:
        neither = sorted(eid for eid, flags in created.items() if True not in flags)
        assert not neither, f"{len(neither)} ids sent to both replicas were created by neither: {neither[:5]}"
        own = [eid for eid, flags in sent.created.items() if len(flags) == 1 and flags != [True]]
        assert not own, f"{len(own)} new ids sent once were answered created=false: {own[:5]}"

    timings = verify(servers, use_case, sent, report)
    errors = server_errors(servers)
    assert not errors, f"the replicas logged tracebacks:\n{errors}"
    elapsed = time.monotonic() - started
    print(f"{report}; checks: " + ", ".join(f"{k} {v:.1f}s" for k, v in timings.items()))
    print(f"whole test {elapsed:.1f}s")


def verify(servers: list[ServerProcess], use_case: str, sent: Sent, report: str) -> dict[str, float]:
    """Checks (a), (b) and (c); reads go to both replicas at once. Returns how long each part took."""
    pool = ThreadPoolExecutor(max_workers=8)
    readers = [RetryingClient(s.url, s.api_key, ClientStats(), seed=7) for s in servers]
    timings: dict[str, float] = {}
    try:

        def both(fn: Any, *args: Any) -> list[Any]:
            return list(pool.map(lambda reader: fn(reader, *args), readers))

        # (a) every event exists exactly once, with the content that was sent.
        mark = time.monotonic()
        counts = both(lambda r: r.request("POST", "/vision-events/count", json={"useCaseId": use_case}))
        for name, count in zip("AB", counts, strict=True):
            assert count.status_code == 200, count.text
            assert count.json()["count"] == TOTAL, (
                f"replica {name}: count {count.json()} != {TOTAL}; {report}"
            )
        listings = both(lambda r: r.request("GET", "/vision-events/use-cases", params={"status": "all"}))
        for name, listing in zip("AB", listings, strict=True):
            assert listing.status_code == 200, listing.text
            (entry,) = [u for u in listing.json()["useCases"] if u["id"] == use_case]
            assert entry["eventCount"] == TOTAL, f"replica {name}: use-case eventCount {entry}; {report}"

        pages_a, pages_b = both(lambda r: list(page_all(r, {"useCaseId": use_case})))
        events_a = [e for page in pages_a for e in page["events"]]
        ids = [e["eventId"] for e in events_a]
        duplicates = [i for i, c in Counter(ids).items() if c > 1]
        assert not duplicates, f"{len(duplicates)} ids returned more than once while paging: {duplicates[:5]}"
        assert len(ids) == TOTAL, f"paging returned {len(ids)} events, expected {TOTAL}; {report}"
        assert set(ids) == set(sent.events), "paging returned other ids than were sent"
        wrong = {e["eventId"]: p for e in events_a if (p := mismatches(sent.events[e["eventId"]], e))}
        assert not wrong, f"{len(wrong)} events differ from what was sent: {list(wrong.items())[:3]}"
        bad_feedback = {
            e["eventId"]: e["feedback"]
            for e in events_a
            if e["feedback"] != expected_feedback(int(e["eventId"].removeprefix("ev-")))
        }
        assert not bad_feedback, (
            f"{len(bad_feedback)} events carry the wrong feedback: {list(bad_feedback.items())[:5]}"
        )
        timings["(a) count and page"] = time.monotonic() - mark

        # (b) both replicas answer the same queries identically.
        mark = time.monotonic()
        ids_b = [e["eventId"] for page in pages_b for e in page["events"]]
        assert ids == ids_b, "the replicas list the events in different orders"
        assert [p["events"] for p in pages_a] == [p["events"] for p in pages_b], (
            "the replicas return different events for the full query"
        )
        for query in QUERIES:
            body = {"useCaseId": use_case, **query}
            answers = both(all_events, body)
            assert answers[0] == answers[1], f"the replicas answer {query} differently"
            counts = both(lambda r, b=body: r.request("POST", "/vision-events/count", json=b).json())
            assert counts[0] == counts[1] == {"count": len(answers[0])}, (query, counts, len(answers[0]))
            assert answers[0], f"test bug: {query} matches nothing"
            for event in answers[0]:
                assert not mismatches(sent.events[event["eventId"]], event), event["eventId"]
        none = both(
            lambda r: r.request(
                "POST", "/vision-events/count", json={"useCaseId": use_case, "feedback": ["none"]}
            )
        )
        targets = sum(1 for n in range(TOTAL) if expected_feedback(n)["status"] is not None)
        assert [r.json()["count"] for r in none] == [TOTAL - targets] * 2, [r.text for r in none]

        for n in (0, 1, 50, 99, 4_321, 5_000, 9_999):
            got = both(lambda r, n=n: r.request("GET", f"/vision-events/events/{event_id(n)}"))
            assert [g.status_code for g in got] == [200, 200], [g.text for g in got]
            assert got[0].json() == got[1].json(), f"the replicas return {event_id(n)} differently"
            assert not mismatches(sent.events[event_id(n)], got[0].json())
        schemas = both(lambda r: r.request("GET", f"/vision-events/custom-metadata-schema/{use_case}"))
        assert schemas[0].status_code == 200, schemas[0].text
        assert schemas[0].json() == schemas[1].json()
        timings["(b) queries"] = time.monotonic() - mark

        # (c) images uploaded through either replica are served byte-identical by both.
        mark = time.monotonic()

        def fetch(job: tuple[int, str]) -> str | None:
            replica, source_id = job
            response = readers[replica].request("GET", f"/vision-events/images/{source_id}")
            if response.status_code != 200:
                return f"replica {'AB'[replica]}, image {source_id}: {response.status_code} {response.text}"
            if response.content != sent.uploads[source_id]:
                return f"replica {'AB'[replica]} serves other bytes for image {source_id}"
            return None

        jobs = [(replica, source_id) for source_id in sent.uploads for replica in (0, 1)]
        problems = [p for p in pool.map(fetch, jobs) if p]
        assert not problems, f"{len(problems)} of {len(jobs)} image reads failed: {problems[:5]}"
        timings["(c) images"] = time.monotonic() - mark
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
        for reader in readers:
            reader.close()
    return timings
