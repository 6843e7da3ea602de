"""Query benchmark (issue 4): p50/p95 of the queries users run, over HTTP, on a store made by generate.py.

Run from the project root with the project's virtualenv, after ``bench/generate.py``::

    .venv/bin/python bench/query.py --data-dir /tmp/sl-10m
    .venv/bin/python bench/query.py --data-dir /tmp/sl-10m-pg \\
        --database-url postgresql+psycopg://127.0.0.1/sightlog_bench

It starts ``python -m sightlog serve`` on the store, runs every query once to warm up, then ``--runs`` times
each (round robin, so a slow moment of the machine spreads over all queries), and prints per query p50,
p95, the target and whether it is met; then the server's RSS and the size of the database on disk. Queries
run against ``assembly-line-qa``, the use case with 70 % of the events; times are relative to the newest
event, so an old store measures the same windows.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from generate import BENCH_KEY
from ingest import ServerProcess, percentile

USE_CASE = "assembly-line-qa"
PAGE_MS, AGGREGATE_MS, COUNT_MS, USE_CASES_MS = 50, 300, 500, 20


@dataclass
class Query:
    name: str
    target_ms: float
    run: Callable[[], Any]


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def value(field: str, operator: str, operand: Any, kind: str) -> dict[str, Any]:
    """One customMetadataFilters / eventFieldFilters entry."""
    return {"field": field, "operator": operator, "value": operand, "type": kind}


class Bench:
    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        newest = self.post("/vision-events/query", {"useCaseId": USE_CASE, "limit": 1})["events"][0]
        self.now = dt.datetime.fromisoformat(newest["timestamp"].replace("Z", "+00:00"))

    def post(self, path: str, body: dict[str, Any]) -> Any:
        response = self.client.post(path, json=body)
        if response.status_code != 200:
            raise RuntimeError(f"{path} {body}: {response.status_code} {response.text}")
        return response.json()

    def since(self, **delta: float) -> str:
        return _iso(self.now - dt.timedelta(**delta))

    def page(self, **filters: Any) -> Callable[[], Any]:
        return lambda: self.post("/vision-events/query", {"useCaseId": USE_CASE, **filters})

    def count(self, **filters: Any) -> Callable[[], Any]:
        return lambda: self.post("/vision-events/count", {"useCaseId": USE_CASE, **filters})

    def aggregate(self, **request: Any) -> Callable[[], Any]:
        return lambda: self.post("/vision-events/aggregate", {"useCaseId": USE_CASE, **request})

    def twentieth_page(self, **filters: Any) -> Callable[[], Any]:
        """The request for page 20 (its cursor found once, beforehand): what scrolling far costs."""
        body = {"useCaseId": USE_CASE, "limit": 50, **filters}
        for _ in range(19):
            body["cursor"] = self.post("/vision-events/query", body)["nextCursor"]
        return lambda: self.post("/vision-events/query", body)

    def queries(self) -> list[Query]:
        def meta(*filters: dict[str, Any]) -> dict[str, Any]:
            return {"customMetadataFilters": list(filters)}

        fail = {"eventType": "quality_check", "eventFieldFilters": [value("result", "eq", "fail", "string")]}
        line_7, shift_b = value("line_id", "eq", 7, "number"), value("shift", "eq", "b", "string")
        four = {
            "startTime": self.since(days=7),
            "eventType": "quality_check",
            "deviceId": {"operator": "in", "value": ["cam-03", "cam-07", "cam-11", "cam-19"]},
            **meta(value("line_id", "in", [3, 7], "number"), value("inspected", "eq", True, "boolean")),
        }
        one_device = {"deviceId": {"operator": "eq", "value": "cam-07"}, "startTime": self.since(hours=24)}
        one_hour = {"sort": "asc", "startTime": self.since(hours=3), "endTime": self.since(hours=2)}
        crack = {"detectionFilters": [{"class": "crack", "minConfidence": 0.9}]}
        rare = meta(value("part_number", "eq", "PN-4321", "string"))
        ann = meta(value("operator", "contains", "ann", "string"))
        return [
            Query("latest page", PAGE_MS, self.page()),
            Query("type + result=fail", PAGE_MS, self.page(**fail)),
            Query("one device, 24 h", PAGE_MS, self.page(**one_device)),
            Query("line_id=7 AND shift=b", PAGE_MS, self.page(**meta(line_7, shift_b))),
            Query("temperature > 85", PAGE_MS, self.page(**meta(value("temperature", "gt", 85, "number")))),
            Query("rare part_number", PAGE_MS, self.page(**rare)),
            Query("class crack, confidence >= 0.9", PAGE_MS, self.page(**crack)),
            Query("feedback incorrect", PAGE_MS, self.page(feedback=["incorrect"])),
            Query("4 filters, 7 days", PAGE_MS, self.page(**four)),
            Query("20th page, shift=b", PAGE_MS, self.twentieth_page(**meta(shift_b))),
            Query('operator contains "ann"', PAGE_MS, self.page(**ann)),
            Query("ascending, one hour", PAGE_MS, self.page(**one_hour)),
            Query("hourly by type, 7 days", AGGREGATE_MS, self.aggregate(
                startTime=self.since(days=7), interval="hour", groupBy=["eventType"])),
            Query("daily by class, 30 days", AGGREGATE_MS, self.aggregate(
                startTime=self.since(days=30), interval="day", groupBy=["class"])),
            Query("by line_id where shift=b", AGGREGATE_MS, self.aggregate(
                groupBy=["customMetadata.line_id"], **meta(shift_b))),
            Query("count: type + result=fail", COUNT_MS, self.count(**fail)),
            Query("count: line_id=7 AND shift=b", COUNT_MS, self.count(**meta(line_7, shift_b))),
            Query("use-case list", USE_CASES_MS, lambda: self.client.get("/vision-events/use-cases").json()),
        ]  # fmt: skip


def rss_mb(pid: int) -> float:
    """Resident memory of the server and its children (workers), from /proc."""
    total = 0
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    for p in pids:
        for line in Path(f"/proc/{p}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total / 1024


def database_size(data_dir: Path, database_url: str | None) -> tuple[int, int]:
    """(bytes on disk, events) of the store."""
    import sqlalchemy

    url = database_url or f"sqlite:///{data_dir / 'sightlog.db'}"
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as conn:
        events = conn.execute(sqlalchemy.text("SELECT sum(event_count) FROM use_case_stats")).scalar_one()
        if engine.dialect.name == "postgresql":
            size = conn.execute(sqlalchemy.text("SELECT pg_database_size(current_database())")).scalar_one()
        else:
            size = sum(f.stat().st_size for f in data_dir.glob("sightlog.db*"))
    engine.dispose()
    return int(size), int(events or 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url", help="default: SQLite in the data directory")
    parser.add_argument("--api-key", default=BENCH_KEY)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--only", help="run only queries whose name contains this text")
    args = parser.parse_args(argv)

    log = Path(tempfile.mkdtemp(prefix="sightlog-query-bench-")) / "server.log"
    server = ServerProcess(args.data_dir, log, args.database_url, args.api_key)
    server.start(timeout=300)
    try:
        with httpx.Client(
            base_url=server.url, headers={"Authorization": f"Bearer {args.api_key}"}, timeout=120
        ) as client:
            bench = Bench(client)
            queries = [q for q in bench.queries() if not args.only or args.only in q.name]
            for query in queries:  # warm-up: first touch of each index
                query.run()
            times: dict[str, list[float]] = {q.name: [] for q in queries}
            for _ in range(args.runs):
                for query in queries:
                    started = time.perf_counter()
                    query.run()
                    times[query.name].append((time.perf_counter() - started) * 1000)
            rss = rss_mb(server.pid)
    finally:
        server.stop()
    size, events = database_size(args.data_dir, args.database_url)

    backend = "postgresql" if args.database_url else "sqlite"
    print(f"# query benchmark: {backend}, {events:,} events, {args.runs} runs per query")
    when = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"
    print(f"# {when}, {platform.node()}, {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{'query':34} {'p50 ms':>8} {'p95 ms':>8} {'target':>7}  verdict")
    for query in queries:
        values = sorted(times[query.name])
        p50, p95 = percentile(values, 50), percentile(values, 95)
        verdict = "ok" if p95 <= query.target_ms else f"MISSED by {p95 - query.target_ms:,.0f} ms"
        print(f"{query.name:34} {p50:8.1f} {p95:8.1f} {query.target_ms:7.0f}  {verdict}")
    print(f"server RSS after the run: {rss:,.0f} MB (target 500)")
    print(f"database on disk: {size / 2**30:,.2f} GiB, {size / max(events, 1):,.0f} bytes per event")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
