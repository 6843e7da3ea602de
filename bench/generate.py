"""Generate a realistic synthetic history for the query benchmark (issue 4), through the service layer.

Run from the project root with the project's virtualenv::

    .venv/bin/python bench/generate.py --events 10000000 --data-dir /tmp/sl-10m
    .venv/bin/python bench/generate.py --events 10000000 --data-dir /tmp/sl-10m-pg \\
        --database-url postgresql+psycopg://127.0.0.1/sightlog_bench

The history spans the ``--days`` (30) before now, written in time order (as cameras would send it):

- 3 use cases: ``assembly-line-qa`` 70 %, ``warehouse-inventory`` 20 %, ``site-safety`` 10 %;
- types: quality_check 60 % (5 % ``result=fail``), inventory_count 25 %, safety_alert 15 %;
- 50 devices, 100 streams, 5 workflows;
- custom metadata ``line_id`` (int 1-20), ``shift`` (a/b/c), ``part_number`` (5,000 values, log-uniform, so
  some are rare), ``temperature`` (float 15-90), ``operator`` (200 names), ``inspected`` (bool);
- 0-10 predictions of 8 classes (object detections, some classifications);
- 2 % with warnings (an unknown eventData key), 5 % reviewed by an ``operator_feedback`` event.

Events go through ``IngestService.create_batch`` (validation, rows, side tables, counters: the same code as
``POST /vision-events/batch``, without HTTP) in batches of ``--batch``. The workspace is ``default`` with the
API key ``--api-key``, so ``bench/query.py`` can serve the store right after. The rate is printed for every
``--report-every`` events, so the first and last lines give the ingest rate on an empty and a full store.
An existing store is continued: event ids carry on, and the new events follow its latest one at the
history's rate, as a fleet's next events would. So an interrupted run resumes where it stopped, and extending
a store by N events measures ingest at its size: the same stream as N events over ``N / total * days`` into
an empty store (bench/README.md).

``--http`` sends the batches to a real server instead (``sightlog serve`` on the store, one process), from
``--jobs`` clients as ``POST /vision-events/batch`` of 100 events (the API's limit): the rate a fleet's
uploads get, with HTTP, authentication and the writer's grouping of concurrent batches into one commit. The
bodies are all made before the clock starts, so that making them takes no CPU from the server.
"""

from __future__ import annotations

import argparse
import datetime as dt
import itertools
import multiprocessing as mp
import random
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
from sqlalchemy import create_engine, event
from sqlalchemy.schema import CreateIndex, DropIndex

from ingest import ServerProcess
from sightlog.config import Settings
from sightlog.services import Services
from sightlog.store.sql.schema import detections, event_attrs, events

BENCH_KEY = "sl_bench_" + "0123456789abcdef" * 2
USE_CASES = (("Assembly Line QA", 0.70), ("Warehouse Inventory", 0.20), ("Site Safety", 0.10))
CLASSES = ("scratch", "dent", "crack", "missing_screw", "person", "helmet", "forklift", "pallet")
CLASS_WEIGHTS = (20, 18, 6, 8, 20, 14, 6, 8)
OPERATORS = tuple(
    f"{first} {last}"
    for first in ("Anna", "Ben", "Chloe", "Dmitri", "Eva", "Farid", "Grace", "Hana", "Ivan", "Joanna")
    for last in (
        "Ng", "Okafor", "Schmidt", "Rossi", "Kowalski", "Tanaka", "Silva", "Dubois", "Haddad", "Larsen",
        "Murphy", "Novak", "Patel", "Quinn", "Reyes", "Sato", "Varga", "Weber", "Yilmaz", "Zhang",
    )
)  # fmt: skip
DAYS = 30
# How far ahead of now a continuation may run: a little under the day the server accepts (SPEC §3.2).
AHEAD_US = 86_000_000_000


def _iso(ts_us: int) -> str:
    return (
        dt.datetime.fromtimestamp(ts_us / 1e6, dt.UTC)
        .isoformat(timespec="microseconds")
        .replace("+00:00", "Z")
    )


class History:
    """Seeded events in time order: event ``n`` of ``total`` sits at ``n / total`` of the span."""

    def __init__(self, total: int, seed: int, end_us: int, span_us: int) -> None:
        self.total = total
        self.rng = random.Random(seed)
        self.end_us = end_us
        self.span_us = span_us
        self.use_case_ids: list[str] = []
        self.recent: list[tuple[str, str]] = []  # (eventId, useCaseId) of recent events, for feedback

    def event(self, n: int) -> dict[str, Any]:
        rng = self.rng
        ts = self.end_us - self.span_us + int(self.span_us * n / self.total) + rng.randrange(1_000_000)
        use_case = rng.choices(self.use_case_ids, weights=[w for _, w in USE_CASES])[0]
        kind = rng.random()
        if kind < 0.60:
            event_type, data = (
                "quality_check",
                {
                    "result": "fail" if rng.random() < 0.05 else "pass",
                    "confidence": round(rng.random(), 3),
                },
            )
        elif kind < 0.85:
            event_type, data = (
                "inventory_count",
                {"itemCount": rng.randrange(200), "location": f"aisle-{rng.randrange(40)}"},
            )
        else:
            event_type, data = (
                "safety_alert",
                {
                    "alertType": rng.choice(("no_helmet", "restricted_zone", "forklift_near_miss")),
                    "severity": rng.choice(("low", "medium", "high")),
                },
            )
        if rng.random() < 0.02:
            data["firmware_note"] = "unexpected key"  # unknown eventData key: the event earns a warning
        device = rng.randrange(50)
        event = {
            "eventId": f"ev-{n:09d}",
            "eventType": event_type,
            "useCaseId": use_case,
            "timestamp": _iso(ts),
            "deviceId": f"cam-{device:02d}",
            "streamId": f"stream-{device * 2 + rng.randrange(2):03d}",
            "workflowId": f"workflow-{rng.randrange(5)}",
            "eventData": data,
            "customMetadata": {
                "line_id": rng.randrange(1, 21),
                "shift": rng.choice("abc"),
                # Log-uniform: PN-0000 is on one part in twelve, PN-4321 on about 200 in 10M events.
                "part_number": f"PN-{int(5000 ** rng.random()) - 1:04d}",
                "temperature": round(rng.uniform(15.0, 90.0), 2),
                "operator": rng.choice(OPERATORS),
                "inspected": rng.random() < 0.7,
            },
            "images": [{"objectDetections": self._detections(), "classifications": self._classifications()}],
        }
        self.recent.append((event["eventId"], use_case))
        if len(self.recent) > 5000:
            del self.recent[:1000]
        return event

    def _detections(self) -> list[dict[str, Any]]:
        rng = self.rng
        return [
            {
                "class": cls,
                "x": 20 + int(rng.random() * 1880),
                "y": 20 + int(rng.random() * 1040),
                "width": 8 + int(rng.random() * 192),
                "height": 8 + int(rng.random() * 192),
                "confidence": round(0.3 + rng.random() * 0.7, 3),
            }
            for cls in rng.choices(CLASSES, weights=CLASS_WEIGHTS, k=int(rng.random() * 11))
        ]

    def _classifications(self) -> list[dict[str, Any]]:
        if self.rng.random() >= 0.1:
            return []
        return [{"class": self.rng.choices(CLASSES, weights=CLASS_WEIGHTS)[0], "confidence": 0.9}]

    def feedback(self, n: int, ts_iso: str) -> dict[str, Any]:
        event_id, use_case = self.rng.choice(self.recent)
        return {
            "eventId": f"fb-{n:09d}",
            "eventType": "operator_feedback",
            "useCaseId": use_case,
            "timestamp": ts_iso,
            "eventData": {
                "relatedEventId": event_id,
                "feedback": self.rng.choices(("correct", "incorrect", "inconclusive"), weights=(6, 3, 1))[0],
            },
        }


def bodies(history: History, first: int, total: int, batch_size: int) -> Iterator[bytes]:
    """Serialised batches (``{"events": [...]}``) of events ``first`` to ``total``."""
    n = first
    while n < total:
        batch: list[dict[str, Any]] = []
        while len(batch) < batch_size and n < total:
            event = history.event(n)
            batch.append(event)
            n += 1
            # Feedback events count among the events; about 1 in 20 events is reviewed.
            if history.rng.random() < 0.05 and len(batch) < batch_size and n < total:
                batch.append(history.feedback(n, event["timestamp"]))
                n += 1
        yield orjson.dumps({"events": batch})


def produce(history: History, first: int, total: int, batch_size: int, jobs: int, out: mp.Queue) -> None:
    """Child process: the batches of events ``first`` to ``total``, then one ``None`` per job."""
    for body in bodies(history, first, total, batch_size):
        out.put(body)
    for _ in range(jobs):
        out.put(None)


def ingest(settings: Settings, batches: mp.Queue, done: Any) -> None:
    """Child process: ``create_batch`` every batch it takes from the queue; counts events in ``done``.

    Validation and row building run in parallel in the jobs; the store serialises their writes.
    """
    services = Services.open(settings)
    services.store.start_writer()
    try:
        workspace = services.auth.workspace("default")
        while (body := batches.get()) is not None:
            events = orjson.loads(body)
            services.ingest.create_batch(workspace, events)
            with done.get_lock():
                done.value += len(events["events"])
    finally:
        services.store.close()


def start_jobs(
    settings: Settings, history: History, span: tuple[int, int, int], jobs: int, done: Any
) -> list[mp.Process]:
    """A producer of the batches of events ``span`` (first, total, batch size) and ``jobs`` processes that
    ingest them."""
    batches: mp.Queue = mp.Queue(maxsize=8 * jobs)
    producer = mp.Process(target=produce, args=(history, *span, jobs, batches), daemon=True)
    workers = [mp.Process(target=ingest, args=(settings, batches, done)) for _ in range(jobs)]
    for process in (producer, *workers):
        process.start()
    return workers


def start_clients(
    url: str, api_key: str, batches: list[bytes], clients: int, done: Any, failures: list[str]
) -> list[threading.Thread]:
    take = itertools.count().__next__  # atomic under the GIL
    threads = [
        threading.Thread(target=post, args=(url, api_key, batches, take, done, failures))
        for _ in range(clients)
    ]
    for thread in threads:
        thread.start()
    return threads


def post(url: str, api_key: str, batches: list[bytes], take: Any, done: Any, failures: list[str]) -> None:
    """Thread: POST the batches it takes (``take()`` hands out their positions) until none is left, or any
    client has failed; counts events in ``done``."""
    headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}
    with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
        while not failures and (n := take()) < len(batches):
            try:
                response = client.post("/vision-events/batch", content=batches[n])
            except httpx.HTTPError as exc:
                failures.append(f"batch {n}: {exc!r}")
                return
            if response.status_code != 201:
                failures.append(f"batch {n}: {response.status_code} {response.text[:500]}")
                return
            with done.get_lock():
                done.value += len(response.json()["eventIds"])


def prepare(settings: Settings, api_key: str) -> tuple[list[str], int, int | None]:
    """Workspace ``default`` with ``api_key``, the use cases; returns their ids, the events stored and the
    time of the latest (None on an empty store)."""
    services = Services.open(settings)
    try:
        services.auth.bootstrap(settings.data_dir, api_key)
        workspace = services.auth.workspace("default")
        slugs = {u.name: u.slug for u in services.store.list_use_cases(workspace.pk, None)}
        for name, _ in USE_CASES:
            if name not in slugs:
                slugs[name] = services.use_cases.create(workspace, {"name": name}).slug
        listed = services.store.list_use_cases(workspace.pk, None)
        latest = max((u.last_event_at for u in listed if u.last_event_at is not None), default=None)
        return [slugs[name] for name, _ in USE_CASES], sum(u.event_count for u in listed), latest
    finally:
        services.store.close()


# Secondary indexes that loading does not read (it finds events through event_keys and feedback through
# ix_events_related); --bulk builds them once at the end, from sorted data, instead of row by row.
DEFERRED_INDEXES = [
    index
    for table in (events, event_attrs, detections)
    for index in table.indexes
    if index.name != "ix_events_related"
]


def set_indexes(settings: Settings, create: bool) -> None:
    engine = create_engine(settings.resolved_database_url())
    if engine.dialect.name == "sqlite":
        # SQLite sorts an index's entries in its page cache (2 MB by default) and temporary files: give
        # it memory and a second thread, or 90 million entries take an hour.
        @event.listens_for(engine, "connect")
        def _sort_in_memory(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA cache_size=-2000000")
            dbapi_conn.execute("PRAGMA threads=2")

    with engine.begin() as conn:
        for index in DEFERRED_INDEXES:
            if index._ddl_if is not None and index._ddl_if.dialect != engine.dialect.name:
                continue  # the other backend's form of an index
            started = time.perf_counter()
            if create:
                conn.execute(CreateIndex(index, if_not_exists=True))
                print(f"  index {index.name}: {time.perf_counter() - started:,.0f} s", flush=True)
            else:
                conn.execute(DropIndex(index, if_exists=True))
    engine.dispose()


def _timeline(total: int, stored: int, latest: int | None, days: float) -> tuple[int, int]:
    """(end, span) of the history, in microseconds: ending a minute ago on an empty store; continuing a
    store right after its latest event, at most AHEAD_US ahead of now."""
    span = int(days * 86_400_000_000)
    now = int(time.time() * 1e6)
    if latest is None:
        return now - 60_000_000, span
    end = latest + 1 + span * (total - stored) // total
    if end > now + AHEAD_US:
        raise SystemExit(
            f"The {total - stored:,} new events would run until {_iso(end)}, more than a day ahead of now, "
            "which the server refuses: extend the store by fewer events, or later."
        )
    print(f"continuing after the latest stored event ({_iso(latest)}) until {_iso(end)}", flush=True)
    return end, span


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, required=True, help="events to have in the store (feedback included)"
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", help="default: SQLite in the data directory")
    parser.add_argument("--api-key", default=BENCH_KEY)
    parser.add_argument(
        "--batch", type=int, help="events per batch (default 500; with --http 100, the API's)"
    )
    parser.add_argument("--jobs", type=int, default=2, help="ingesting processes (with --http: clients)")
    parser.add_argument("--http", action="store_true", help="send the batches to a real server (see above)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--days", type=float, default=DAYS, help=f"span of the history (default {DAYS})")
    parser.add_argument("--report-every", type=int, default=250_000)
    parser.add_argument(
        "--bulk", action="store_true", help="drop the search indexes while loading, build them at the end"
    )
    args = parser.parse_args(argv)
    if args.bulk and args.http:
        parser.error("--bulk loads through the service layer; it does not go with --http")
    batch = args.batch or (100 if args.http else 500)

    settings = Settings(data_dir=args.data_dir, database_url=args.database_url, max_batch_events=batch)
    use_case_ids, stored, latest = prepare(settings, args.api_key)
    backend = "postgresql" if args.database_url else "sqlite"
    print(f"store: {backend}, {stored:,} events already; target {args.events:,}", flush=True)
    history = History(args.events, args.seed + stored, *_timeline(args.events, stored, latest, args.days))
    history.use_case_ids = use_case_ids
    if args.bulk:
        set_indexes(settings, create=False)

    done = mp.Value("q", 0)
    failures: list[str] = []
    server = None
    if args.http:
        batches = list(bodies(history, stored, args.events, batch))
        log = Path(tempfile.mkdtemp(prefix="sightlog-generate-")) / "server.log"
        limit = {"SIGHTLOG_MAX_BATCH_EVENTS": str(batch)}  # for a --batch over the API's 100
        server = ServerProcess(args.data_dir, log, args.database_url, args.api_key, settings=limit)
        server.start(timeout=300)
        print(f"server: sightlog serve, 1 process ({server.url}); {args.jobs} clients", flush=True)
        workers: list[Any] = start_clients(server.url, args.api_key, batches, args.jobs, done, failures)
    else:
        workers = start_jobs(settings, history, (stored, args.events, batch), args.jobs, done)
    started = window_start = time.perf_counter()
    reported = 0
    try:
        while any(worker.is_alive() for worker in workers):
            time.sleep(0.5)
            if done.value - reported >= args.report_every:
                now = time.perf_counter()
                rate = (done.value - reported) / (now - window_start)
                print(
                    f"{stored + done.value:>12,} events  {rate:8,.0f} ev/s  ({now - started:,.0f} s)",
                    flush=True,
                )
                window_start, reported = now, done.value
    finally:
        if server is not None:
            server.stop()
    failed = failures or [worker.exitcode for worker in workers if getattr(worker, "exitcode", 0)]
    for failure in failures:
        print(f"failed: {failure}", flush=True)
    print(f"done: {stored + done.value:,} events in {time.perf_counter() - started:,.0f} s", flush=True)
    if args.bulk:
        print("building the search indexes:", flush=True)
        set_indexes(settings, create=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
