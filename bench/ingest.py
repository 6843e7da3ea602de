"""Ingest benchmark: a real Sightlog server under batch and single-event load, against raw SQLite.

Run from the project root with the project's virtualenv::

    .venv/bin/python bench/ingest.py                      # 20 s per phase, batch + single + raw baseline
    .venv/bin/python bench/ingest.py --seconds 15 --mode batch
    .venv/bin/python bench/ingest.py --database-url postgresql+psycopg://user:pw@127.0.0.1/sightlog_bench

What it does (see bench/README.md):

1. starts ``python -m sightlog serve`` on a free port with its own temporary data directory, waits for
   ``/health`` and creates a use case;
2. **batch**: ``--clients`` threads, each with one keep-alive ``httpx.Client``, POST
   ``/vision-events/batch`` with ``--batch`` events per request for ``--seconds``; counts events
   acknowledged with 201 and request latencies;
3. **single**: ``--single-clients`` threads POST ``/vision-events`` one event per request (this is what
   the group-commit writer exists for);
4. **raw**: after the server has stopped, plain ``sqlite3`` (WAL, synchronous=FULL) inserts the same rows
   into Sightlog's events/event_attrs/detections tables (and event_keys, where the schema has it; DDL
   compiled from its schema module) with ``executemany``, one transaction per ``--batch`` events — a
   ceiling for any server on this schema;
5. prints a summary (events/s, server/raw ratio, latency percentiles, CPU use, machine, date).

Every request body is generated and serialised (orjson) before its timed phase; a short warm-up phase per
mode measures the rate so that enough bodies are generated. Event ids are unique, so every request inserts
(no upserts). The server process is stopped on exit, also on Ctrl-C and errors.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import datetime as dt
import gc
import hashlib
import itertools
import json
import math
import os
import platform
import random
import shlex
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson

TARGET_BATCH = 5_000
STRETCH_BATCH = 10_000
TARGET_RATIO = 0.25
STRETCH_RATIO = 0.40

CLASSES = ("scratch", "dent", "crack", "missing_screw", "ok")
SHIFTS = ("A", "B", "C")


# -- event generation ----------------------------------------------------------------------------------


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def make_event(event_id: str, use_case: str, rng: random.Random, now: float) -> dict[str, Any]:
    """One quality_check event: 3 object detections, 5 customMetadata keys, a timestamp in the last day."""
    return {
        "eventId": event_id,
        "eventType": "quality_check",
        "useCaseId": use_case,
        "timestamp": _iso(now - rng.uniform(0, 86_400)),
        "deviceId": f"cam-{rng.randrange(16):02d}",
        "eventData": {"result": "fail" if rng.random() < 0.1 else "pass"},
        "customMetadata": {
            "line_id": rng.randrange(1, 13),
            "shift": rng.choice(SHIFTS),
            "part_number": f"PN-{rng.randrange(100_000):05d}",
            "temperature": round(rng.uniform(18.0, 32.0), 2),
            "inspected": rng.random() < 0.8,
        },
        "images": [
            {
                "objectDetections": [
                    {
                        "class": rng.choice(CLASSES),
                        "x": rng.randrange(20, 1900),
                        "y": rng.randrange(20, 1060),
                        "width": rng.randrange(8, 200),
                        "height": rng.randrange(8, 200),
                        "confidence": round(rng.uniform(0.3, 1.0), 4),
                    }
                    for _ in range(3)
                ]
            }
        ],
    }


class EventFactory:
    """Unique event ids across the whole run (``<run>-<prefix><n>``)."""

    def __init__(self, use_case: str, seed: int = 1) -> None:
        self.use_case = use_case
        self.run = uuid.uuid4().hex[:8]
        self.rng = random.Random(seed)
        self.counter = itertools.count()
        self.now = time.time()

    def events(self, n: int, prefix: str) -> list[dict[str, Any]]:
        return [
            make_event(f"{self.run}-{prefix}{next(self.counter):09d}", self.use_case, self.rng, self.now)
            for _ in range(n)
        ]

    def batch_bodies(self, n_requests: int, batch: int) -> list[bytes]:
        return [orjson.dumps({"events": self.events(batch, "b")}) for _ in range(n_requests)]

    def single_bodies(self, n_requests: int) -> list[bytes]:
        return [orjson.dumps(e) for e in self.events(n_requests, "s")]


# -- measurements of this machine ----------------------------------------------------------------------


def machine_info() -> dict[str, Any]:
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "cpu_model": model,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        "kernel": platform.release(),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "sightlog_src": source_fingerprint(),
    }


def source_fingerprint() -> str:
    """sha256 (12 hex digits) over the server's source files, to tell runs against different code apart."""
    try:
        import sightlog
    except ImportError:
        return "?"
    root = Path(sightlog.__file__).parent
    digest = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        digest.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def loadavg() -> str:
    with contextlib.suppress(OSError):
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    return "?"


def machine_busy_seconds() -> float | None:
    """CPU seconds all CPUs spent busy (not idle/iowait) so far, from /proc/stat."""
    try:
        fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    except (OSError, ValueError):
        return None
    return (sum(fields) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu_seconds(pid: int) -> float | None:
    """user + system CPU time of a process (all its threads) and its worker processes, from /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    own = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = children.read_text().split() if children.exists() else []
    return own + sum(process_cpu_seconds(int(kid)) or 0.0 for kid in kids)


class FsyncCounter:
    """Counts fsync + fdatasync calls of one process with ``perf stat`` on the syscall tracepoints.

    In-kernel counting, so it does not slow the process down (unlike strace). With SQLite in WAL mode and
    synchronous=FULL every commit fdatasyncs the WAL once (checkpoints add a few more), so over a phase of
    single-event writes this is the number of group commits. ``None`` where perf is missing or not allowed.
    """

    EVENTS = "syscalls:sys_enter_fdatasync,syscalls:sys_enter_fsync"

    def __init__(self, pid: int, out: Path) -> None:
        self.out = out
        self.proc: subprocess.Popen[bytes] | None = None
        perf = shutil.which("perf")
        if perf is None:
            return
        cmd = [perf, "stat", "-x", ",", "-e", self.EVENTS, "-p", str(pid), "-o", str(out)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.3)  # attach
        if self.proc.poll() is not None:
            self.proc = None

    def stop(self) -> int | None:
        if self.proc is None:
            return None
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return None
        total = 0
        with contextlib.suppress(OSError):
            for line in self.out.read_text().splitlines():
                parts = line.split(",")
                if len(parts) > 2 and parts[2].startswith("syscalls:"):
                    if not parts[0].strip().isdigit():
                        return None  # "<not supported>" / "<not counted>"
                    total += int(parts[0])
            return total
        return None


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return math.nan
    k = (len(sorted_values) - 1) * p / 100
    lo, hi = math.floor(k), math.ceil(k)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


# -- the server process --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerProcess:
    """``python -m sightlog serve`` in its own session; stopped (SIGINT, then TERM, then KILL) on exit."""

    def __init__(
        self,
        data_dir: Path,
        log_path: Path,
        database_url: str | None,
        key: str,
        workers: int = 1,
        settings: dict[str, str] | None = None,
    ) -> None:
        """``settings``: more of the server's environment (``SIGHTLOG_*`` variables)."""
        self.workers = workers
        self.settings = settings or {}
        self.data_dir = data_dir
        self.log_path = log_path
        self.database_url = database_url
        self.key = key
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        env = dict(os.environ, **self.settings, SIGHTLOG_BOOTSTRAP_KEY=self.key)
        env.pop("SIGHTLOG_DATABASE_URL", None)
        if self.database_url:
            env["SIGHTLOG_DATABASE_URL"] = self.database_url
        for _attempt in range(3):
            self.port = free_port()
            cmd = [sys.executable, "-m", "sightlog", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
            cmd += ["--data-dir", str(self.data_dir), "--workers", str(self.workers)]
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    cmd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
                )
            if self._wait_healthy(timeout):
                return
            if "already in use" not in self.log_path.read_text(errors="replace"):
                break
        raise RuntimeError(
            f"the server did not come up; its log:\n{self.log_path.read_text(errors='replace')}"
        )

    def _wait_healthy(self, timeout: float) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return True
            time.sleep(0.1)
        self.stop()
        return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, 20), (signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(sig)
            try:
                proc.wait(wait)
                return
            except subprocess.TimeoutExpired:
                continue


# -- HTTP load -----------------------------------------------------------------------------------------


@dataclass
class PhaseResult:
    name: str
    clients: int
    events_per_request: int
    seconds: float = 0.0
    requests_ok: int = 0
    requests_failed: int = 0
    events_ok: int = 0
    events_per_s: float = 0.0
    p50_ms: float = math.nan
    p95_ms: float = math.nan
    p99_ms: float = math.nan
    max_ms: float = math.nan
    server_cpu_pct: float | None = None  # 100% = one core
    other_cpu_pct: float | None = None  # everything else on the machine (other users' processes, kernel)
    client_cpu_pct: float | None = None
    fsyncs: int | None = None  # fsync + fdatasync calls of the server (or of the raw baseline)
    pool_exhausted: bool = False
    first_error: str | None = None
    loadavg: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


def run_load(
    name: str,
    base_url: str,
    key: str,
    path: str,
    bodies: list[bytes],
    events_per_body: int,
    clients: int,
    seconds: float,
    server_pid: int | None = None,
    count_fsyncs: Path | None = None,
) -> PhaseResult:
    """``clients`` threads, one keep-alive httpx.Client each, POST pre-serialised bodies until time is up."""
    result = PhaseResult(name=name, clients=clients, events_per_request=events_per_body, loadavg=loadavg())
    next_body = itertools.count().__next__  # atomic under the GIL
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failed = [0] * clients
    last_done = [0.0] * clients
    errors: list[str] = []
    exhausted = threading.Event()
    ready = threading.Barrier(clients + 1)
    go = threading.Event()
    deadline = 0.0

    def client(i: int) -> None:
        lat = latencies[i]
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        with httpx.Client(base_url=base_url, headers=headers, timeout=120, limits=limits) as http:
            http.get("/health")  # open the keep-alive connection before the clock starts
            ready.wait()
            go.wait()
            while True:
                t0 = time.perf_counter()
                if t0 >= deadline:
                    return
                n = next_body()
                if n >= len(bodies):
                    exhausted.set()
                    return
                try:
                    response = http.post(path, content=bodies[n])
                    status, text = response.status_code, response.text if response.status_code != 201 else ""
                except httpx.HTTPError as exc:
                    status, text = -1, repr(exc)
                t1 = time.perf_counter()
                last_done[i] = t1
                if status == 201:
                    lat.append(t1 - t0)
                else:
                    failed[i] += 1
                    if not errors:
                        errors.append(f"{status}: {text[:500]}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    ready.wait()  # every client is connected
    fsyncs = FsyncCounter(server_pid, count_fsyncs) if count_fsyncs and server_pid else None
    cpu_server0 = process_cpu_seconds(server_pid) if server_pid else None
    cpu_client0 = time.process_time()
    busy0 = machine_busy_seconds()
    start = time.perf_counter()
    deadline = start + seconds
    go.set()
    for t in threads:
        t.join()
    end = max([*last_done, start + 1e-9])
    wall = end - start
    cpu_client1 = time.process_time()
    busy1 = machine_busy_seconds()
    cpu_server1 = process_cpu_seconds(server_pid) if server_pid else None
    if fsyncs is not None:
        result.fsyncs = fsyncs.stop()

    all_lat = sorted(x for lat in latencies for x in lat)
    result.seconds = wall
    result.requests_ok = len(all_lat)
    result.requests_failed = sum(failed)
    result.events_ok = result.requests_ok * events_per_body
    result.events_per_s = result.events_ok / wall
    if all_lat:
        result.p50_ms, result.p95_ms, result.p99_ms = (percentile(all_lat, p) * 1000 for p in (50, 95, 99))
        result.max_ms = all_lat[-1] * 1000
    if cpu_server0 is not None and cpu_server1 is not None:
        result.server_cpu_pct = 100 * (cpu_server1 - cpu_server0) / wall
    result.client_cpu_pct = 100 * (cpu_client1 - cpu_client0) / wall
    if busy0 is not None and busy1 is not None and result.server_cpu_pct is not None:
        others = 100 * (busy1 - busy0) / wall - result.server_cpu_pct - result.client_cpu_pct
        result.other_cpu_pct = max(others, 0.0)
    result.pool_exhausted = exhausted.is_set()
    result.first_error = errors[0] if errors else None
    return result


def warm_up_and_size(
    name: str,
    server: ServerProcess,
    factory: EventFactory,
    path: str,
    per_request: int,
    clients: int,
    seconds: float,
    warmup: float,
) -> list[bytes]:
    """A short untimed run; returns enough pre-serialised bodies for ``seconds`` at twice its rate."""
    make = (lambda n: factory.batch_bodies(n, per_request)) if per_request > 1 else factory.single_bodies
    guess = max(4 * clients, int(warmup * (20_000 / per_request if per_request > 1 else 3_000)))
    warm = run_load(
        f"{name} warm-up", server.url, server.key, path, make(guess), per_request, clients, warmup
    )
    if warm.requests_ok == 0:
        raise RuntimeError(f"{name} warm-up: no request succeeded; first error: {warm.first_error}")
    if ANALYZE_AFTER_WARMUP and server.database_url and server.database_url.startswith("postgresql"):
        analyze(server.database_url)
    rate = warm.requests_ok / warm.seconds
    n = int(rate * seconds * 2) + 4 * clients
    t0 = time.perf_counter()
    bodies = make(n)
    took = time.perf_counter() - t0
    size = sum(map(len, bodies)) / len(bodies)
    print(
        f"  {name}: warm-up {warm.events_per_s:,.0f} events/s; generated {n:,} bodies "
        f"({size / 1024:.1f} KiB each) in {took:.1f}s",
        file=sys.stderr,
    )
    return bodies


# --analyze: a long-running PostgreSQL has statistics from autovacuum; a store seconds old has none yet.
ANALYZE_AFTER_WARMUP = False


def analyze(database_url: str) -> None:
    """ANALYZE the store (what autovacuum does within its first minute), so the timed phase measures the
    steady state rather than plans made without statistics."""
    from sqlalchemy import create_engine

    engine = create_engine(database_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    print("  ANALYZE after warm-up (--analyze)", file=sys.stderr)


# -- raw SQLite baseline -------------------------------------------------------------------------------

# The columns the raw baseline fills (the rest are NULL, as for Sightlog's non-feedback events).
RAW_EVENT_COLUMNS = (
    "pk", "workspace_pk", "event_id", "use_case_pk", "event_type", "ts", "device_id", "has_warnings",
    "received_at", "body",
)  # fmt: skip
RAW_INSERTS = {
    "events": f"INSERT INTO events ({', '.join(RAW_EVENT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(RAW_EVENT_COLUMNS))})",
    "event_attrs": 'INSERT INTO event_attrs (event_pk, ns, "key", value_type, str_value, num_value, '
    "use_case_pk, ts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    "detections": "INSERT INTO detections (event_pk, class_name, confidence, use_case_pk, ts) "
    "VALUES (?, ?, ?, ?, ?)",
    # Newer schemas keep the (workspace, eventId) uniqueness in event_keys instead of a UNIQUE on events.
    "event_keys": "INSERT INTO event_keys (workspace_pk, event_id, pk, ts) VALUES (?, ?, ?, ?)",
}
RAW_TABLES = tuple(RAW_INSERTS)


def raw_schema() -> tuple[str, str, tuple[str, ...]]:
    """(DDL script, where it came from, tables): Sightlog's own tables and indexes, compiled for SQLite.

    The tables an event is written to: events, event_attrs, detections, and event_keys where the schema
    has it. Foreign keys to workspaces/use_cases stay in the DDL; SQLite does not enforce them unless asked
    (Sightlog does not ask), so they cost nothing.
    """
    from sqlalchemy.dialects import sqlite as sqlite_dialect
    from sqlalchemy.schema import CreateIndex, CreateTable

    from sightlog.store.sql import schema

    dialect = sqlite_dialect.dialect()
    statements = []
    tables = tuple(name for name in RAW_TABLES if name in schema.metadata.tables)
    for name in tables:
        table = schema.metadata.tables[name]
        statements.append(str(CreateTable(table).compile(dialect=dialect)).strip())
        statements += [
            str(CreateIndex(ix).compile(dialect=dialect)).strip()
            for ix in table.indexes
            if ix._ddl_if is None or ix._ddl_if.dialect == "sqlite"  # not PostgreSQL's form of an index
        ]
    return ";\n".join(statements) + ";\n", "src/sightlog/store/sql/schema.py", tables


def _attr(ns: str, key: str, value: Any) -> tuple[str, str, str, str | None, float | None]:
    if isinstance(value, bool):
        return (ns, key, "b", None, float(value))
    if isinstance(value, int | float):
        return (ns, key, "n", None, float(value))
    return (ns, key, "s", value, None)


def raw_rows(events: list[dict[str, Any]], first_pk: int, now_us: int) -> dict[str, list[tuple[Any, ...]]]:
    """The rows Sightlog writes for ``events`` (what services/ingest.to_row produces), per table."""
    rows: dict[str, list[tuple[Any, ...]]] = {name: [] for name in RAW_TABLES}
    for pk, e in enumerate(events, first_pk):
        ts = int(dt.datetime.fromisoformat(e["timestamp"]).timestamp() * 1_000_000)
        body = orjson.dumps(dict(e, warnings=[])).decode()
        rows["events"].append(
            (pk, 1, e["eventId"], 1, e["eventType"], ts, e.get("deviceId"), False, now_us, body)
        )
        rows["event_attrs"] += [(pk, *_attr("m", k, v), 1, ts) for k, v in e["customMetadata"].items()]
        rows["event_attrs"] += [(pk, *_attr("d", k, v), 1, ts) for k, v in e["eventData"].items()]
        rows["detections"] += [
            (pk, d["class"], d["confidence"], 1, ts) for img in e["images"] for d in img["objectDetections"]
        ]
        rows["event_keys"].append((1, e["eventId"], pk, ts))
    return rows


class RawStore:
    """Plain stdlib sqlite3 with Sightlog's pragmas (WAL, synchronous=FULL, checkpoint size) and tables."""

    def __init__(self, path: Path) -> None:
        from sightlog.store.sql.engine import WAL_AUTOCHECKPOINT_PAGES

        self.conn = sqlite3.connect(path, isolation_level=None)
        for pragma in (
            "journal_mode=WAL",
            "synchronous=FULL",
            "cache_size=-65536",
            "temp_store=MEMORY",
            f"wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
        ):
            self.conn.execute(f"PRAGMA {pragma}")
        ddl, self.schema_from, self.tables = raw_schema()
        self.conn.executescript(ddl)
        self.next_pk = 1

    def rows(self, events: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
        rows = raw_rows(events, self.next_pk, time.time_ns() // 1000)
        self.next_pk += len(events)
        return rows

    def write(self, rows: dict[str, list[tuple[Any, ...]]]) -> None:
        """One transaction: executemany per table, COMMIT (WAL append + fsync)."""
        self.conn.execute("BEGIN IMMEDIATE")
        for table in self.tables:
            self.conn.executemany(RAW_INSERTS[table], rows[table])
        self.conn.execute("COMMIT")

    def close(self) -> None:
        self.conn.close()


def run_raw(db_path: Path, factory: EventFactory, batch: int, seconds: float) -> PhaseResult:
    """executemany into WAL/synchronous=FULL SQLite, one transaction per ``batch`` events.

    Rows are generated between transactions and the clock only runs inside BEGIN..COMMIT, so this measures
    SQLite (with the stdlib driver) alone.
    """
    result = PhaseResult(name="raw sqlite3", clients=1, events_per_request=batch, loadavg=loadavg())
    raw = RawStore(db_path)
    busy, lat = 0.0, []
    rows: dict[str, list[tuple[Any, ...]]] = {}
    fsyncs = FsyncCounter(os.getpid(), db_path.with_suffix(".perf"))
    while busy < seconds:
        rows = raw.rows(factory.events(batch, "r"))
        t0 = time.perf_counter()
        raw.write(rows)
        took = time.perf_counter() - t0
        busy += took
        lat.append(took)
    result.fsyncs = fsyncs.stop()
    raw.close()
    lat.sort()
    result.seconds = busy
    result.requests_ok = len(lat)
    result.events_ok = len(lat) * batch
    result.events_per_s = result.events_ok / busy
    result.p50_ms, result.p95_ms, result.p99_ms = (percentile(lat, p) * 1000 for p in (50, 95, 99))
    result.max_ms = lat[-1] * 1000
    result.client_cpu_pct = None  # would include the row generation between transactions
    result.extra = {
        "schema_from": raw.schema_from,
        "tables": list(raw.tables),
        "rows_per_event": {t: len(rows[t]) / batch for t in raw.tables},
    }
    return result


# -- profiling -----------------------------------------------------------------------------------------


def start_profiler(
    pid: int, out: Path, seconds: float, rate: int, opts: str
) -> subprocess.Popen[bytes] | None:
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(exe).exists():
        print("  --profile: py-spy not found (pip install py-spy); not profiling", file=sys.stderr)
        return None
    fmt = {".svg": "flamegraph", ".json": "speedscope"}.get(out.suffix, "raw")
    cmd = [exe, "record", "--pid", str(pid), "--rate", str(rate), "--duration", str(math.ceil(seconds))]
    cmd += ["--format", fmt, "--output", str(out), *shlex.split(opts)]
    print(f"  profiling the server: {' '.join(cmd)}", file=sys.stderr)
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


# -- in-process stage costs ----------------------------------------------------------------------------


def _best_per_call(make_inputs: Any, fn: Any, reps: int = 5, n: int = 30) -> float:
    """Fastest (over ``reps`` rounds) mean seconds per ``fn`` call; the minimum filters out noise from
    other processes on a shared machine."""
    best = math.inf
    for _ in range(reps):
        inputs = [make_inputs() for _ in range(n)]
        gc.collect()
        t0 = time.perf_counter()
        for x in inputs:
            fn(x)
        best = min(best, (time.perf_counter() - t0) / n)
    return best


def run_stages(batch: int, tmp: Path) -> str:
    """CPU cost of each step of an ingest request, measured in this process against a scratch store.

    No HTTP, no threads, no GIL contention: what each request costs the server at the least. Uses Sightlog's
    own functions (validation, to_row, SqlStore), so it follows the code as it changes.
    """
    import cProfile
    import pstats

    from sightlog.models.events import EventIn
    from sightlog.services.ingest import to_row
    from sightlog.services.timeutil import now_us
    from sightlog.services.validation import validate_event
    from sightlog.store.sql.store import SqlStore

    tmp.mkdir(parents=True, exist_ok=True)
    store = SqlStore(f"sqlite:///{tmp / 'stages.db'}")
    # prepare() creates or migrates the schema; older versions of the store called it create_schema().
    (store.prepare if hasattr(store, "prepare") else store.create_schema)()  # type: ignore[attr-defined]
    workspace = store.create_workspace("default", "Default")
    use_case = store.create_use_case(workspace.pk, "Bench", "bench")
    factory = EventFactory(use_case.slug)
    now = now_us()

    raw = RawStore(tmp / "stages-raw.db")

    def body() -> bytes:
        return orjson.dumps({"events": factory.events(batch, "t")})

    def parsed() -> list[dict[str, Any]]:
        return factory.events(batch, "t")

    def valid() -> list[Any]:
        return [validate_event(e, "", now) for e in parsed()]

    def rows() -> list[Any]:
        return [to_row(e, use_case.pk) for e in valid()]

    stages = [
        ("orjson.loads(request body)           [event loop]", body, orjson.loads),
        ("validate_event x N                   [worker]", parsed,
         lambda evs: [validate_event(e, f"events[{i}]", now) for i, e in enumerate(evs)]),
        ("  of which EventIn.model_validate    (pydantic)", parsed,
         lambda evs: [EventIn.model_validate(e) for e in evs]),
        ("to_row x N (body dumps, attrs, dets) [worker]", valid,
         lambda vs: [to_row(v, use_case.pk) for v in vs]),
        ("API-key lookup (read transaction)    [worker]", lambda: None, lambda _: store.find_key("0" * 64)),
        ("use-case lookup (read transaction)   [worker]", lambda: None,
         lambda _: store.resolve_use_cases(workspace.pk, {use_case.slug})),
        ("SqlStore.write_events + COMMIT       [writer]", rows,
         lambda r: store.write_events(workspace.pk, r)),
        ("response orjson.dumps                [event loop]", lambda: [f"id-{i}" for i in range(batch)],
         lambda ids: orjson.dumps({"created": len(ids), "eventIds": ids})),
        ("raw sqlite3: executemany + COMMIT    (baseline)",
         lambda: raw.rows(factory.events(batch, "t")), raw.write),
    ]  # fmt: skip
    events = f"{batch} event{'s' if batch != 1 else ''}"
    out = [f"Per-request CPU cost of each ingest step, {events} per request (fastest of 5 rounds):"]
    costs = []
    for label, make, fn in stages:
        seconds = _best_per_call(make, fn)
        costs.append((label, seconds))
    server_total = sum(s for label, s in costs if "[" in label)
    for label, seconds in costs:
        share = f"{100 * seconds / server_total:5.1f}%" if "[" in label or "of which" in label else "      "
        out.append(f"  {seconds * 1e3:8.3f} ms  {share}  {label}")
    out.append(
        f"  {server_total * 1e3:8.3f} ms  100.0%  sum of the server's steps (without HTTP and threads)"
    )
    out.append(f"  => at most {batch / server_total:,.0f} events/s from one core, before HTTP")

    # Inside write_events: cumulative time of the store's helper functions and the driver calls.
    samples = [rows() for _ in range(30)]
    profiler = cProfile.Profile()
    profiler.enable()
    for r in samples:
        store.write_events(workspace.pk, r)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = max(
        (
            ct
            for (file, _, fn), (_, _, _, ct, _) in stats.items()
            if fn == "write_events" and "sightlog" in file
        ),
        default=0.0,
    )
    rows_out = []
    for (file, line, fn), (_, ncalls, _, ct, _) in stats.items():
        if (file.endswith("store/sql/events.py") and not fn.startswith("<") and fn != "write_events") or (
            file == "~" and any(m in fn for m in ("executemany", "'execute'", "'commit'"))
        ):
            rows_out.append((ct, ncalls, f"{Path(file).name}:{line}({fn})" if file != "~" else fn))
    if total:
        out.append("  inside SqlStore.write_events (cProfile, inclusive; shares of write_events):")
        for ct, ncalls, name in sorted(rows_out, reverse=True)[:12]:
            out.append(f"    {100 * ct / total:5.1f}%  {ncalls / len(samples):5.1f} calls/request  {name}")
    raw.close()
    store.close()
    return "\n".join(out)


# -- profile summary -----------------------------------------------------------------------------------

# (label, test) in priority order: a sample goes to the first category one of whose frames (or, for
# "leaf:" tests, whose innermost frame) contains the text. Frames look like "func (path/file.py:line)".
PROFILE_CATEGORIES: list[tuple[str, tuple[str, ...]]] = [
    (
        "idle: waiting for work / a lock / a result",
        ("leaf:Condition.wait (", "leaf:Queue.get (", "leaf:select ("),
    ),
    ("event loop: orjson.loads of the request body (deps.json_body)", ("leaf:json_body (",)),
    ("event loop: receiving the request body", ("Request.body (", "Request.stream (")),
    ("response: render + send", ("JSONResponse.render", "Response.__call__", "RequestResponseCycle.send")),
    ("auth: API-key lookup, a read transaction per request", ("AuthService.authenticate",)),
    ("use-case lookup, a read transaction per request", ("SqlStore.resolve_use_cases",)),
    ("validation: pydantic EventIn.model_validate", ("BaseModel.model_validate", "validate_python")),
    ("validation: rest of validate_event (time parsing, rules, body copy)", ("validate_event (",)),
    ("to_row: stored body orjson.dumps, attrs, predictions", ("to_row (",)),
    ("writer: COMMIT (WAL append + fsync)", ("leaf:DefaultDialect.do_commit",)),
    ("writer: executemany of events/event_attrs/detections (SQLite + binding)", ("do_executemany",)),
    ("writer: other single SQL statements (SQLite)", ("leaf:DefaultDialect.do_execute",)),
    ("writer: _add_stats (SQLAlchemy upsert build/compile)", ("_add_stats (",)),
    ("writer: _find existing ids (SQLAlchemy select build/compile)", ("_find (",)),
    ("writer: _refresh_feedback (SQLAlchemy select build/compile)", ("_refresh_feedback (",)),
    ("writer: _add_metadata_fields (SQLAlchemy insert build/compile)", ("_add_metadata_fields (",)),
    ("writer: row tuples and the rest of write_events", ("write_events (",)),
    ("writer: group loop, savepoints, transaction handling", ("GroupCommitWriter.",)),
    ("threadpool hand-off (anyio to_thread, futures, queues)", ("anyio/", "concurrent/futures", "queue.py")),
    ("event loop: uvloop/httptools in C (Runner.run is the innermost Python frame)", ("leaf:Runner.run (",)),
    (
        "HTTP/ASGI plumbing: uvicorn, starlette, fastapi routing and dependencies",
        ("uvicorn/", "starlette/", "fastapi/"),
    ),
]


def _categorise(frames: list[str]) -> str:
    leaf = frames[-1]
    for label, tests in PROFILE_CATEGORIES:
        for test in tests:
            if test.startswith("leaf:"):
                if test[5:] in leaf:
                    return label
            elif any(test in f for f in frames):
                return label
    return "other"


def summarise_profile(path: Path, top: int = 25) -> str:
    """Categorised totals of a py-spy ``--format raw`` profile (collapsed stacks), plus the hottest leaves."""
    categories: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = stack.split(";")
        thread = frames[0] if frames[0].startswith("thread ") else ""
        kind = ("writer" if "sightlog-writer" in thread else "worker" if "AnyIO worker" in thread
                else "event loop" if "MainThread" in thread else "other")  # fmt: skip
        category = _categorise(frames)
        categories[category] += n
        total += n
        if not category.startswith("idle"):
            threads[kind] += n
            leaves[frames[-1]] += n
    busy = total - sum(v for k, v in categories.items() if k.startswith("idle"))
    out = [f"{path}: {total:,} samples, {busy:,} not idle"]
    out.append("  by thread (share of non-idle samples): " + ", ".join(
        f"{k} {100 * v / max(busy, 1):.0f}%" for k, v in threads.most_common()))  # fmt: skip
    out.append(f"  {'% busy':>7}  category")
    for label, n in categories.most_common():
        if not label.startswith("idle"):
            out.append(f"  {100 * n / max(busy, 1):6.1f}%  {label}")
    out.append("  hottest innermost frames (% of non-idle samples):")
    for leaf, n in leaves.most_common(top):
        out.append(f"  {100 * n / max(busy, 1):6.1f}%  {leaf}")
    return "\n".join(out)


# -- reporting -----------------------------------------------------------------------------------------


def fmt_ms(x: float) -> str:
    return "-" if math.isnan(x) else f"{x:,.1f}"


def fmt_pct(x: float | None) -> str:
    return "-" if x is None else f"{x:.0f}%"


def _verdict(value: float, target: float, stretch: float) -> str:
    return "stretch met" if value >= stretch else "target met" if value >= target else "BELOW target"


def report(results: dict[str, PhaseResult], machine: dict[str, Any], args: argparse.Namespace) -> str:
    out: list[str] = []
    w = out.append
    w("")
    w(f"Sightlog ingest benchmark — {machine['date']}")
    w(
        f"machine: {machine['nproc']} CPUs, {machine['cpu_model']}; Python {machine['python']}; "
        f"SQLite {machine['sqlite']}; Linux {machine['kernel']}"
    )
    w(
        f"backend: {args.backend}; {args.seconds:g}s per phase; {args.batch} events/batch request; "
        f"sightlog source {machine['sightlog_src']}"
    )
    w("")
    header = (
        f"{'phase':<14}{'clients':>8}{'ev/req':>7}{'events/s':>11}{'requests':>10}{'failed':>7}"
        f"{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'srv CPU':>8}{'cli CPU':>8}{'oth CPU':>8}{'fsyncs':>8}"
    )
    w(header)
    w("-" * len(header))
    for r in results.values():
        w(
            f"{r.name:<14}{r.clients:>8}{r.events_per_request:>7}{r.events_per_s:>11,.0f}"
            f"{r.requests_ok:>10,}{r.requests_failed:>7}"
            f"{fmt_ms(r.p50_ms):>9}{fmt_ms(r.p95_ms):>9}{fmt_ms(r.p99_ms):>9}"
            f"{fmt_pct(r.server_cpu_pct):>8}{fmt_pct(r.client_cpu_pct):>8}{fmt_pct(r.other_cpu_pct):>8}"
            f"{'-' if r.fsyncs is None else r.fsyncs:>8}"
        )
    w(f"CPU columns: 100% = one core of {machine['nproc']}; 'oth' = every other process on the machine")
    w("raw sqlite3: one 'request' = one transaction of --batch events; its clock runs only inside them")
    w("")
    batch, raw, single = results.get("batch"), results.get("raw"), results.get("single")
    if batch:
        verdict = _verdict(batch.events_per_s, TARGET_BATCH, STRETCH_BATCH)
        w(
            f"server batch:     {batch.events_per_s:>9,.0f} events/s"
            f"  (target ≥ {TARGET_BATCH:,}, stretch {STRETCH_BATCH:,}: {verdict})"
        )
    if raw:
        per_event = raw.extra.get("rows_per_event", {})
        rows = ", ".join(f"{n:g} {table}" for table, n in per_event.items())
        w(f"raw sqlite3:      {raw.events_per_s:>9,.0f} events/s  (rows per event: {rows};")
        w(f"                  schema from {raw.extra.get('schema_from')})")
    if batch and raw:
        ratio = batch.events_per_s / raw.events_per_s
        verdict = _verdict(ratio, TARGET_RATIO, STRETCH_RATIO)
        w(
            f"ratio server/raw: {ratio:>9.2f}           "
            f" (target ≥ {TARGET_RATIO}, stretch {STRETCH_RATIO}: {verdict})"
        )
    if single:
        w(
            f"server single:    {single.events_per_s:>9,.0f} events/s"
            f"  ({single.clients} clients, 1 event/request)"
        )
    w("")
    if single and single.fsyncs:
        w(
            f"group commit (single): {single.fsyncs:,} fsyncs for {single.requests_ok:,} events "
            f"= {single.requests_ok / single.fsyncs:.1f} events per fsync group"
        )
    if batch and batch.fsyncs:
        w(
            f"group commit (batch):  {batch.fsyncs:,} fsyncs for {batch.requests_ok:,} requests "
            f"= {batch.requests_ok / batch.fsyncs:.2f} requests per fsync group"
        )
    if raw and raw.fsyncs:
        w(f"raw sqlite3:           {raw.fsyncs:,} fsyncs for {raw.requests_ok:,} commits (+ WAL checkpoints)")
    for r in results.values():
        if r.pool_exhausted:
            w(f"WARNING: {r.name} used up its pre-generated bodies early (it ran faster than in the warm-up)")
        if r.first_error:
            w(f"WARNING: {r.name}: {r.requests_failed} failed requests; first: {r.first_error}")
    w("load average at phase start: " + "; ".join(f"{r.name} {r.loadavg}" for r in results.values()))
    return "\n".join(out)


# -- main ----------------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawTextHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=20, help="timed duration of each phase (default 20)")
    p.add_argument("--clients", type=int, default=8, help="concurrent clients in batch mode (default 8)")
    p.add_argument(
        "--single-clients", type=int, default=32, help="concurrent clients in single mode (default 32)"
    )
    p.add_argument(
        "--batch", type=int, default=100, help="events per batch request and per raw commit (default 100)"
    )
    p.add_argument("--mode", choices=("batch", "single", "both"), default="both")
    p.add_argument(
        "--database-url", help="SIGHTLOG_DATABASE_URL for the server (default: SQLite in the data dir)"
    )
    p.add_argument(
        "--api-key", help="an existing write key (needed when --database-url already has a workspace)"
    )
    p.add_argument("--workers", type=int, default=1, help="server processes (sightlog serve --workers)")
    p.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: ANALYZE after each warm-up, to measure the steady state of a store with statistics",
    )
    p.add_argument("--no-raw", action="store_true", help="skip the raw sqlite3 baseline")
    p.add_argument("--warmup", type=float, default=2.0, help="untimed warm-up seconds per mode (default 2)")
    p.add_argument("--keep", action="store_true", help="keep the temporary data dir (server log, databases)")
    p.add_argument(
        "--profile",
        type=Path,
        metavar="FILE",
        help="py-spy record the server during each timed phase (FILE-batch.txt / FILE-single.txt when both\n"
        "run); .txt = raw collapsed stacks (summarised at the end), .svg flamegraph, .json speedscope",
    )
    p.add_argument("--profile-rate", type=int, default=200, help="py-spy samples per second (default 200)")
    p.add_argument(
        "--profile-opts",
        default="--threads --nonblocking",
        help="py-spy record options (default '--threads --nonblocking'; add --gil to sample only the\n"
        "thread holding the GIL, --idle to keep waiting threads, --native for C frames)",
    )
    p.add_argument(
        "--stages",
        action="store_true",
        help="only measure, in this process and without a server, the CPU cost of each ingest step\n"
        "(parse, validate, to_row, lookups, write_events + commit, raw baseline) for 1 and --batch events",
    )
    p.add_argument(
        "--summarise",
        type=Path,
        nargs="+",
        metavar="FILE",
        help="only summarise existing py-spy raw profiles (categorised hot spots) and exit",
    )
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the results as JSON")
    args = p.parse_args(argv)
    args.backend = (args.database_url or "sqlite").split(":", 1)[0].split("+", 1)[0]
    return args


def profile_path(base: Path, phase: str, several: bool) -> Path:
    return base.with_name(f"{base.stem}-{phase}{base.suffix}") if several else base


def main(argv: list[str] | None = None) -> int:
    global ANALYZE_AFTER_WARMUP
    args = parse_args(argv)
    ANALYZE_AFTER_WARMUP = args.analyze
    if args.summarise:
        print("\n\n".join(summarise_profile(path) for path in args.summarise))
        return 0
    if args.stages:
        print(f"machine: {machine_info()}")
        with tempfile.TemporaryDirectory(prefix="sightlog-stages-") as scratch:
            for n in sorted({args.batch, 1}, reverse=True):
                print("\n" + run_stages(n, Path(scratch) / f"n{n}"))
        return 0
    machine = machine_info()
    tmp = Path(tempfile.mkdtemp(prefix="sightlog-bench-"))
    key = args.api_key or "sl_bench_" + uuid.uuid4().hex  # lowercase letters: the roboflow SDK insists
    server = ServerProcess(tmp / "data", tmp / "server.log", args.database_url, key, args.workers)
    profilers: list[subprocess.Popen[bytes]] = []

    def cleanup() -> None:
        for p in profilers:
            if p.poll() is None:
                p.terminate()
        server.stop()

    atexit.register(cleanup)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    results: dict[str, PhaseResult] = {}
    summaries: list[str] = []
    phases = [
        ("batch", "/vision-events/batch", args.batch, args.clients),
        ("single", "/vision-events", 1, args.single_clients),
    ]
    phases = [p for p in phases if args.mode in (p[0], "both")]
    try:
        print(f"starting the server in {tmp}", file=sys.stderr)
        server.start()
        r = httpx.post(
            f"{server.url}/vision-events/use-cases",
            json={"name": f"bench {uuid.uuid4().hex[:8]}"},
            headers={"Authorization": f"Bearer {key}"},
            timeout=30,
        )
        if r.status_code == 401:
            raise RuntimeError(
                "the bootstrap key was not accepted (the database already has a workspace?): "
                "pass --api-key with a write key of it"
            )
        r.raise_for_status()
        factory = EventFactory(r.json()["id"])
        print(f"server pid {server.pid} on {server.url}; use case {factory.use_case}", file=sys.stderr)

        for name, path, per_request, clients in phases:
            bodies = warm_up_and_size(
                name, server, factory, path, per_request, clients, args.seconds, args.warmup
            )
            profiler = None
            if args.profile:
                out = profile_path(args.profile.resolve(), name, len(phases) > 1)
                profiler = start_profiler(server.pid, out, args.seconds, args.profile_rate, args.profile_opts)
                if profiler is not None:
                    profilers.append(profiler)
                    time.sleep(0.5)  # let py-spy attach
            results[name] = run_load(
                f"server {name}",
                server.url,
                key,
                path,
                bodies,
                per_request,
                clients,
                args.seconds,
                server.pid,
                tmp / f"fsyncs-{name}.perf",
            )
            del bodies
            if profiler is not None:
                out_text, _ = profiler.communicate(timeout=args.seconds + 60)
                last = out_text.decode(errors="replace").strip().splitlines()[-1:]
                print(f"  py-spy: {' '.join(last)}", file=sys.stderr)
                if out.suffix not in (".svg", ".json") and out.exists():
                    summaries.append(summarise_profile(out))
            print(f"  {name}: {results[name].events_per_s:,.0f} events/s", file=sys.stderr)

        server.stop()  # the raw baseline gets the machine to itself
        if not args.no_raw:
            print("raw sqlite3 baseline", file=sys.stderr)
            results["raw"] = run_raw(tmp / "raw.db", factory, args.batch, args.seconds)
    finally:
        cleanup()
        if args.keep:
            print(f"kept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)

    print(report(results, machine, args))
    for summary in summaries:
        print("\n" + summary)
    if args.json:
        payload: dict[str, Any] = {
            "machine": machine,
            "args": {k: str(v) for k, v in vars(args).items()},
            "results": {k: asdict(v) for k, v in results.items()},
        }
        if "batch" in results and "raw" in results:
            payload["ratio"] = results["batch"].events_per_s / results["raw"].events_per_s
        args.json.write_text(json.dumps(payload, indent=2, default=str))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
