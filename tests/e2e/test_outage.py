"""PostgreSQL goes away while a real ``sightlog serve`` ingests (SPEC §6, §7).

While the database is unreachable every request must fail fast with 503 ``unavailable`` in the SPEC §6
shape (never a 500, never a hang) and ``GET /health`` must say the store is down; once it is back the server
must recover by itself. Afterwards every acknowledged event is stored exactly once and complete, no batch is
stored in part, and re-sending what got a 503 succeeds.

Two ways to lose the database: a TCP proxy between server and PostgreSQL that is cut and restored, and
PostgreSQL terminating the server's backends (``pg_terminate_backend``) mid-ingest.
"""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, make_url, text
from sqlalchemy.pool import NullPool

from tests.conftest import POSTGRES_URL, postgres_schema
from tests.e2e.helpers import client, wait_until
from tests.support.server import ServerProcess
from tests.support.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

PRODUCERS = 3
BATCH = 20
MAX_LATENCY = 5.0  # no request may take longer than this, outage or not
OUTAGE_SECONDS = 2.5
RECOVERY_TIMEOUT = 10.0
AFTER_RECOVERY_SECONDS = 1.5  # ingest keeps going this long after the server is healthy again
BACKOFF = 0.05
BASE_TIME = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)


# -- payloads ---------------------------------------------------------------------------------------------


def make_event(event_id: str, use_case: str, n: int) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": ("quality_check", "inventory_count", "safety_alert")[n % 3],
        "useCaseId": use_case,
        "timestamp": (BASE_TIME + timedelta(milliseconds=n)).isoformat().replace("+00:00", "Z"),
        "eventData": [
            {"result": ("pass", "fail")[n % 2], "confidence": (n % 100) / 100},
            {"itemCount": n % 1000, "location": f"aisle-{n % 13}"},
            {"alertType": "no_vest", "severity": ("low", "medium", "high")[n % 3], "description": event_id},
        ][n % 3],
        "deviceId": f"cam-{n % 9}",
        "customMetadata": {"seq": n, "token": uuid.uuid4().hex, "night": n % 2 == 0},
    }


# -- the producer -----------------------------------------------------------------------------------------


@dataclass
class Attempt:
    """One POST /vision-events/batch: what was sent, when, and what came back."""

    batch: list[dict[str, Any]]
    sent_at: float
    answered_at: float = 0.0
    status: int | None = None  # None: no HTTP answer (transport error)
    body: Any = None
    error: str | None = None

    @property
    def ids(self) -> list[str]:
        return [e["eventId"] for e in self.batch]

    @property
    def latency(self) -> float:
        return self.answered_at - self.sent_at


@dataclass
class Producer:
    """Threads that send batches back to back and record every answer."""

    url: str
    key: str
    use_case: str
    prefix: str
    attempts: list[Attempt] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _threads: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        for i in range(PRODUCERS):
            thread = threading.Thread(target=self._run, args=(i,), name=f"producer-{i}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def finish(self) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join(timeout=30)
        hung = [t.name for t in self._threads if t.is_alive()]
        assert not hung, f"producer threads hung: {hung}"

    def _run(self, worker: int) -> None:
        seq = 0
        with client(self.url, self.key, timeout=30.0) as http:
            while not self.stop.is_set():
                batch = []
                for _ in range(BATCH):
                    seq += 1
                    n = worker * 1_000_000 + seq
                    batch.append(make_event(f"{self.prefix}-{worker}-{seq:06d}", self.use_case, n))
                attempt = Attempt(batch, time.monotonic())
                try:
                    response = http.post("/vision-events/batch", json={"events": batch})
                except httpx.TransportError as exc:
                    attempt.error = f"{type(exc).__name__}: {exc}"
                else:
                    attempt.status = response.status_code
                    try:
                        attempt.body = response.json()
                    except ValueError:
                        attempt.body = response.text
                attempt.answered_at = time.monotonic()
                with self._lock:
                    self.attempts.append(attempt)
                if attempt.status != 201:
                    time.sleep(BACKOFF)  # a client backs off a little before its next try

    # -- views --------------------------------------------------------------------------------------------

    def snapshot(self) -> list[Attempt]:
        with self._lock:
            return list(self.attempts)

    def acked_after(self, moment: float) -> int:
        return sum(1 for a in self.snapshot() if a.status == 201 and a.sent_at > moment)

    def failed_after(self, moment: float) -> int:
        return sum(1 for a in self.snapshot() if a.status == 503 and a.sent_at > moment)

    def summary(self) -> str:
        attempts = self.snapshot()
        statuses = Counter(a.status for a in attempts)
        slowest = max((a.latency for a in attempts), default=0.0)
        return f"{len(attempts)} batches of {BATCH}: statuses {dict(statuses)}, slowest answer {slowest:.2f}s"


# -- checks -----------------------------------------------------------------------------------------------


def check_error_shape(body: Any, where: str) -> list[str]:
    """SPEC §6 for a 503: ``{"error": sentence, "code": "unavailable", "details": [...]}``."""
    if not isinstance(body, dict):
        return [f"{where}: not a JSON object: {body!r}"]
    problems = []
    if body.get("code") != "unavailable":
        problems.append(f"{where}: code {body.get('code')!r}, expected 'unavailable': {body}")
    if not isinstance(body.get("error"), str) or not body.get("error"):
        problems.append(f"{where}: no error sentence: {body}")
    if not isinstance(body.get("details"), list):
        problems.append(f"{where}: details is not a list: {body}")
    return problems


def answer_problems(producer: Producer) -> list[str]:
    """Every batch must get 201 or a well-formed 503, quickly; anything else is listed."""
    problems = []
    for a in producer.snapshot():
        if a.status == 201:
            if not isinstance(a.body, dict) or a.body.get("created") != BATCH:
                problems.append(f"201 with body {a.body}")
        elif a.status == 503:
            problems += check_error_shape(a.body, "batch 503")
        else:
            problems.append(f"batch answered {a.status if a.status is not None else a.error}: {a.body}")
        if a.latency > MAX_LATENCY:
            problems.append(f"a batch took {a.latency:.1f}s to answer ({a.status}): the server hung")
    return problems


def check_outcome(server: ServerProcess, producer: Producer) -> dict[str, int]:
    """The answers (201 or 503 only, no hang, no traceback) and the stored data (see verify_store).

    The data is checked even when some answers were wrong, so that a failure reports on both."""
    failures = []
    problems = answer_problems(producer)
    if problems:
        failures.append(f"{len(problems)} bad answers ({producer.summary()}): {problems[:5]}")
    errors = server_errors(server)
    if errors:
        failures.append("the server logged tracebacks:\n" + "\n".join(errors[:40]))
    try:
        counts = verify_store(server, producer)
    except AssertionError as exc:
        failures.append(f"the stored data is wrong: {exc}")
        counts = {}
    if failures and counts:
        failures.append(f"(the stored data is right: {counts})")
    assert not failures, "\n".join(failures)
    return counts


def all_events(http: httpx.Client, use_case: str) -> dict[str, dict[str, Any]]:
    events: dict[str, dict[str, Any]] = {}
    cursor = None
    while True:
        body: dict[str, Any] = {"useCaseId": use_case, "limit": 1000}
        if cursor:
            body["cursor"] = cursor
        response = http.post("/vision-events/query", json=body)
        assert response.status_code == 200, response.text
        page = response.json()
        for event in page["events"]:
            assert event["eventId"] not in events, f"event {event['eventId']} returned twice while paging"
            events[event["eventId"]] = event
        if not page["hasMore"]:
            return events
        cursor = page["nextCursor"]


def mismatches(sent: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    problems = [
        f"{key}: sent {sent.get(key)!r}, stored {stored.get(key)!r}"
        for key in ("eventType", "useCaseId", "deviceId", "eventData", "customMetadata")
        if stored.get(key) != sent.get(key)
    ]
    if datetime.fromisoformat(stored["timestamp"].replace("Z", "+00:00")) != datetime.fromisoformat(
        sent["timestamp"].replace("Z", "+00:00")
    ):
        problems.append(f"timestamp: sent {sent['timestamp']}, stored {stored['timestamp']}")
    return problems


def verify_store(server: ServerProcess, producer: Producer) -> dict[str, int]:
    """Nothing acknowledged lost, nothing doubled or half-written; re-sending the 503s succeeds."""
    use_case = producer.use_case
    attempts = producer.snapshot()
    sent = {e["eventId"]: e for a in attempts for e in a.batch}
    acked = {eid for a in attempts if a.status == 201 for eid in a.ids}
    failed = [a for a in attempts if a.status != 201]
    with client(server.url, server.api_key) as http:
        stored = all_events(http, use_case)
        lost = sorted(acked - stored.keys())
        assert not lost, f"{len(lost)} acknowledged events are missing, e.g. {lost[:5]}\n{server.logs()}"
        unknown = sorted(stored.keys() - sent.keys())
        assert not unknown, f"events nobody sent are stored: {unknown[:5]}"
        wrong = {eid: p for eid, event in stored.items() if (p := mismatches(sent[eid], event))}
        assert not wrong, f"{len(wrong)} stored events differ from what was sent: {list(wrong.items())[:3]}"
        torn = [a.ids for a in attempts if 0 < sum(eid in stored for eid in a.ids) < BATCH]
        assert not torn, f"{len(torn)} batches are stored in part (all-or-nothing): {torn[:2]}"
        assert_counts(http, use_case, len(stored))
        # A 503 may have come after a commit that went through; either way the batch is all there or not.
        committed_anyway = sum(1 for a in failed if a.ids[0] in stored)

        # Re-sending everything that failed is safe and succeeds now.
        for a in failed:
            response = http.post("/vision-events/batch", json={"events": a.batch})
            assert response.status_code == 201, (
                f"re-sending a failed batch: {response.status_code} {response.text}"
            )
        stored = all_events(http, use_case)
        missing, extra = sent.keys() - stored.keys(), stored.keys() - sent.keys()
        assert not missing and not extra, f"after re-sending: {len(missing)} missing, {len(extra)} extra"
        wrong = {eid: p for eid, event in stored.items() if (p := mismatches(sent[eid], event))}
        assert not wrong, f"{len(wrong)} events differ after re-sending: {list(wrong.items())[:3]}"
        assert_counts(http, use_case, len(sent))
    return {
        "events sent": len(sent),
        "acknowledged": len(acked),
        "failed batches": len(failed),
        "failed but committed": committed_anyway,
    }


def assert_counts(http: httpx.Client, use_case: str, expected: int) -> None:
    count = http.post("/vision-events/count", json={"useCaseId": use_case})
    assert count.status_code == 200, count.text
    assert count.json()["count"] == expected, f"count {count.json()} != {expected} distinct events stored"
    listing = http.get("/vision-events/use-cases", params={"status": "all"})
    assert listing.status_code == 200, listing.text
    (entry,) = [u for u in listing.json()["useCases"] if u["id"] == use_case]
    assert entry["eventCount"] == expected, f"use-case eventCount {entry['eventCount']} != {expected}"


def server_errors(server: ServerProcess) -> list[str]:
    """The exceptions (and Sightlog frames) in the tracebacks the server logged; a 500 logs one."""
    text = server.stderr_path.read_text(errors="replace")
    if "Traceback" not in text:
        return []
    lines = [
        line.strip()
        for line in text.splitlines()
        if re.match(r"^[A-Za-z_][\w.]*(Error|Exception|Exit)\b", line) or "/sightlog/" in line
    ]
    return list(dict.fromkeys(lines))


# -- helpers ----------------------------------------------------------------------------------------------


def health(url: str) -> tuple[int | None, Any, float]:
    """(status, body, seconds) of GET /health; status None when there was no HTTP answer."""
    started = time.monotonic()
    try:
        response = httpx.get(url + "/health", timeout=MAX_LATENCY * 2, trust_env=False)
    except httpx.TransportError as exc:
        return None, f"{type(exc).__name__}: {exc}", time.monotonic() - started
    try:
        body = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body, time.monotonic() - started


@dataclass
class Run:
    """A server under test and its producer."""

    server: ServerProcess
    producer: Producer

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = RECOVERY_TIMEOUT) -> None:
        assert wait_until(predicate, timeout, interval=0.05), (
            f"timed out after {timeout:.0f}s waiting for {what} ({self.producer.summary()})\n"
            + "\n".join(server_errors(self.server)[:40])
            + f"\n{self.server.logs()}"
        )

    def wait_for_acks(self, after: float, what: str, n: int = 5) -> None:
        self.wait(lambda: self.producer.acked_after(after) >= n, what)


@contextmanager
def running(server: ServerProcess, prefix: str) -> Iterator[Run]:
    """A new use case and producer threads writing batches to it until the block ends."""
    with client(server.url, server.api_key) as http:
        response = http.post("/vision-events/use-cases", json={"name": f"Outage {prefix}"})
        assert response.status_code == 201, response.text
        use_case = response.json()["id"]
    producer = Producer(server.url, server.api_key, use_case, prefix)
    producer.start()
    try:
        yield Run(server, producer)
    finally:
        producer.finish()


# -- 1. a proxy between the server and PostgreSQL is cut, then restored -------------------------------------


def test_cut_link_to_postgres_answers_503_and_loses_nothing(tmp_path: Path) -> None:
    with postgres_schema() as database_url:
        url = make_url(database_url)
        with TcpProxy(upstream_port=url.port or 5432, upstream_host=url.host or "127.0.0.1") as proxy:
            proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
            with ServerProcess(tmp_path / "data", env={"SIGHTLOG_DATABASE_URL": proxied}) as server:
                with running(server, "cut") as run:
                    outages = [outage_cycle(run, proxy, cycle) for cycle in range(2)]
                counts = check_outcome(server, run.producer)
                print(f"proxy outage: {run.producer.summary()}; {counts}; per outage: {outages}")


def outage_cycle(run: Run, proxy: TcpProxy, cycle: int) -> dict[str, Any]:
    """Ingest, cut the link (everything answers 503 fast, /health names the store), restore, ingest again."""
    server, producer = run.server, run.producer
    run.wait_for_acks(time.monotonic(), "201s before the cut")

    severed = proxy.cut()
    cut_at = time.monotonic()
    run.wait(lambda: producer.failed_after(cut_at) >= 3, "503s after the cut")
    status, body, took = health(server.url)
    assert status == 503, f"GET /health during the outage answered {status}: {body}\n{server.logs()}"
    assert not check_error_shape(body, "/health"), check_error_shape(body, "/health")
    assert "store" in body["error"].lower(), f"/health does not name the store: {body}"
    assert took < MAX_LATENCY, f"/health took {took:.1f}s during the outage"
    with client(server.url, server.api_key, timeout=MAX_LATENCY * 2) as http:
        for method, path, payload in (
            ("POST", "/vision-events/query", {"useCaseId": producer.use_case}),
            ("POST", "/vision-events", make_event(f"single-{cycle}", producer.use_case, 7)),
            ("GET", "/vision-events/use-cases", None),
        ):
            sent_at = time.monotonic()
            response = http.request(method, path, json=payload)
            took = time.monotonic() - sent_at
            assert response.status_code == 503, (
                f"{method} {path} during the outage: {response.status_code} {response.text}\n{server.logs()}"
            )
            assert not check_error_shape(response.json(), path), response.text
            assert took < MAX_LATENCY, f"{method} {path} took {took:.1f}s during the outage"
    time.sleep(max(0.0, OUTAGE_SECONDS - (time.monotonic() - cut_at)))

    restore_at = time.monotonic()
    acked_during = [
        a
        for a in producer.snapshot()
        if a.status == 201 and cut_at < a.sent_at and a.answered_at < restore_at
    ]
    assert not acked_during, f"{len(acked_during)} batches got 201 while the database was unreachable"
    proxy.restore()
    run.wait(lambda: health(server.url)[0] == 200, "/health 200 after restore")
    healthy_after = time.monotonic() - restore_at
    run.wait_for_acks(restore_at, "201s after restore")
    time.sleep(AFTER_RECOVERY_SECONDS)
    return {
        "connections cut": severed,
        "503s": producer.failed_after(cut_at) - producer.failed_after(restore_at),
        "healthy again after": f"{healthy_after:.2f}s",
    }


# -- 2. PostgreSQL terminates the server's connections ----------------------------------------------------


def test_terminated_backends_recover_by_themselves(tmp_path: Path) -> None:
    app_name = f"sightlog-outage-{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, poolclass=NullPool)

    def terminate() -> int:
        """Terminate every backend of the server under test (and only those); returns how many."""
        with admin.begin() as conn:
            rows = conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": app_name},
            ).all()
        return len(rows)

    try:
        with postgres_schema() as database_url:
            url = make_url(database_url).update_query_dict({"application_name": app_name})
            env = {"SIGHTLOG_DATABASE_URL": url.render_as_string(hide_password=False)}
            with ServerProcess(tmp_path / "data", env=env) as server:
                with running(server, "term") as run:
                    terminated = []
                    run.wait_for_acks(time.monotonic(), "the first 201s")
                    for round_no in range(4):
                        terminated.append(terminate())
                        run.wait_for_acks(time.monotonic(), f"201s after termination {round_no + 1}")
                        time.sleep(0.5)
                    status, body, _ = health(server.url)
                    assert status == 200, f"/health after the terminations: {status} {body}\n{server.logs()}"
                assert sum(terminated) > 0, "no backend of the server was terminated: the test proved nothing"
                counts = check_outcome(server, run.producer)
                print(f"terminated backends per round {terminated}: {run.producer.summary()}; {counts}")
    finally:
        admin.dispose()
