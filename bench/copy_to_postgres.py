"""Copy a SQLite store made by ``generate.py`` into a PostgreSQL store, for the 10M-event query benchmark.

Run from the project root with the project's virtualenv::

    .venv/bin/python bench/copy_to_postgres.py --from-data-dir /tmp/sl-10m \\
        --database-url postgresql+psycopg://postgres@127.0.0.1/sightlog_bench

Loading 10 million events through PostgreSQL's write path takes hours on a 2-core machine (its ingest rate
is measured separately, see RESULTS.md); the rows that path writes are the same on both backends, so this
copies them: the database is migrated to the current schema, the search indexes are dropped, every table
is streamed with ``COPY``, the sequences are moved past the copied keys, the indexes are built from the
loaded data, and ``VACUUM (ANALYZE)`` gives the planner its statistics and marks the pages all-visible, as
autovacuum does for a store that has been taking inserts for a while — without it, every index-only scan
visits the heap. The target database must be empty.
"""

from __future__ import annotations

import argparse
import sqlite3
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from sqlalchemy import create_engine, text

from generate import set_indexes
from sightlog.config import Settings
from sightlog.store.sql import SqlStore
from sightlog.store.sql.partitions import MonthlyPartitions
from sightlog.store.sql.schema import metadata

LARGE_TABLES = ("event_attrs", "detections", "events", "event_keys")  # biggest first
SERIAL_TABLES = ("workspaces", "api_keys", "use_cases", "images")


def copy_table(source_path: Path, target_url: str, table: str, columns: list[str]) -> str:
    import psycopg

    started = time.perf_counter()
    source = sqlite3.connect(source_path)
    names = ", ".join(f'"{c}"' for c in columns)
    rows = 0
    with psycopg.connect(target_url) as target, target.cursor() as cursor:
        with cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
            for row in source.execute(f"SELECT {names} FROM {table}"):
                copy.write_row(row)
                rows += 1
        target.commit()
    source.close()
    return f"  {table}: {rows:,} rows in {time.perf_counter() - started:,.0f} s"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--from-data-dir", type=Path, required=True)
    parser.add_argument("--database-url", required=True)
    args = parser.parse_args(argv)

    store = SqlStore(args.database_url)
    store.prepare()  # migrates the empty database
    store.close()
    settings = Settings(data_dir=args.from_data_dir, database_url=args.database_url)
    set_indexes(settings, create=False)

    source = sqlite3.connect(args.from_data_dir / "sightlog.db")
    engine = create_engine(args.database_url)
    first, last = source.execute("SELECT min(ts), max(ts) FROM events").fetchone()
    MonthlyPartitions(engine).ensure_for([*range(first, last, 86_400_000_000), last])

    source.close()
    plain_url = args.database_url.replace("postgresql+psycopg://", "postgresql://")
    database = args.from_data_dir / "sightlog.db"
    tables = [(t.name, [c.name for c in t.columns]) for t in metadata.sorted_tables]
    # Referenced tables first (COPY checks foreign keys); the big ones then two at a time.
    for name, columns in tables:
        if name not in LARGE_TABLES:
            print(copy_table(database, plain_url, name, columns), flush=True)
    with ProcessPoolExecutor(max_workers=2) as pool:
        large = [(n, c) for n, c in tables if n in LARGE_TABLES]
        large.sort(key=lambda table: LARGE_TABLES.index(table[0]))
        for report in pool.map(
            copy_table, *zip(*[(database, plain_url, n, c) for n, c in large], strict=True)
        ):
            print(report, flush=True)
    with engine.begin() as conn:
        for table in SERIAL_TABLES:
            conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{table}', 'pk'), max(pk)) FROM {table}")
            )
        conn.execute(text("SELECT setval('events_pk_seq', max(pk)) FROM events"))
    print("building the search indexes:", flush=True)
    set_indexes(settings, create=True)
    started = time.perf_counter()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM (ANALYZE)"))
    print(f"  VACUUM (ANALYZE): {time.perf_counter() - started:,.0f} s", flush=True)
    engine.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
