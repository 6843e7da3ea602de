"""Engines and the single write path.

SQLite allows one writer at a time, and every commit pays an fsync. Rather than let request threads fight
for the write lock, all writes go through :class:`GroupCommitWriter`: one thread takes every write that is
waiting, runs them in one transaction and commits them together — many concurrent single-event writes share
one fsync, and an acknowledgement is only given after the commit that made the write durable. One bad write
cannot sink its neighbours: when a write fails, the group runs again with each write inside its own
SAVEPOINT.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import queue
import threading
from collections.abc import Callable, Collection, Iterator
from concurrent.futures import Future
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, make_url
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError, PendingRollbackError

from sightlog.errors import Unavailable

log = logging.getLogger(__name__)
T = TypeVar("T")
WriteFn = Callable[[Connection], Any]

# How many queued writes one commit may carry; bounds the latency a single write can add to its group.
MAX_GROUP = 64
# SQLite checkpoints the WAL into the database once it holds this many pages (4 KiB each: 64 MiB), and
# truncates it back to WAL_SIZE_LIMIT afterwards. The default, 1,000 pages, checkpoints after almost every
# commit here: a batch of 100 events dirties hundreds of scattered index pages. Checkpointing less often
# writes a page that later commits dirty again once, not once per commit (bench/ingest.py: batch ingest
# +17%; plain sqlite3 on the same rows +46%). Recovery replays at most this much WAL after a crash.
WAL_AUTOCHECKPOINT_PAGES = 16_384
WAL_SIZE_LIMIT = 64 * 1024 * 1024


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def make_engine(url: str, *, for_writes: bool) -> Engine:
    """An engine for reads (plain BEGIN) or writes (BEGIN IMMEDIATE on SQLite)."""
    if not is_sqlite(url):
        return _postgres_engine(url)
    # Pooled connections keep SQLite's page cache warm between requests.
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event below decide how transactions start (pysqlite would defer BEGIN).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: the WAL is fsynced at every commit, so an acknowledged write survives power loss.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA temp_store=MEMORY")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={WAL_SIZE_LIMIT}")
        cursor.close()
        # SQLite's lower() folds ASCII only; `contains` filters are case-insensitive for every script.
        dbapi_conn.create_function("unicode_lower", 1, _unicode_lower, deterministic=True)

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if for_writes else "BEGIN")

    return engine


# A partitioned network must turn into 503s, not requests that hang: bounded connects, TCP keepalives and a
# send timeout notice a dead peer, and a statement timeout bounds the rest.
_PG_CONNECT_ARGS = {
    "connect_timeout": 5,
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,
    # Plan every statement with its values. psycopg would otherwise prepare a statement after 5 runs, and
    # PostgreSQL keep a generic plan for it until the table's statistics change: a plan made on an empty
    # table (the id lookup of ingest as a scan) lived on where autovacuum is off, ingest falling from
    # 2,300 to 650 events/s within 2 minutes; and a generic plan cannot tell a rare value from a common one.
    "prepare_threshold": None,
}
STATEMENT_TIMEOUT_MS = 30_000


def _postgres_engine(url: str) -> Engine:
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=8, max_overflow=8, pool_timeout=10, connect_args=_PG_CONNECT_ARGS
    )

    @event.listens_for(engine, "connect")
    def _configure(dbapi_conn: Any, _record: Any) -> None:
        with dbapi_conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {STATEMENT_TIMEOUT_MS}")
        dbapi_conn.commit()

    return engine


def _unicode_lower(value: object) -> object:
    return value.lower() if isinstance(value, str) else value


def unavailable(exc: DBAPIError) -> Unavailable:
    reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else type(exc.orig).__name__
    return Unavailable(f"The event store is unavailable ({reason}); retry shortly.")


@contextmanager
def translate_errors() -> Iterator[None]:
    """A database that cannot be reached (or dropped the connection) is a 503 the client retries."""
    try:
        yield
    except (OperationalError, InterfaceError) as exc:
        raise unavailable(exc) from exc


def lock_key(*parts: object) -> int:
    """A signed 64-bit advisory-lock key naming one thing (an event id of a workspace, a use case)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class _Write(NamedTuple):
    fn: WriteFn
    future: Future[Any]
    lock_keys: Collection[int]


_Outcome = tuple[Future[Any], Any, BaseException | None]  # (future, result, error) of one write


def _lock(conn: Connection, keys: list[int]) -> None:
    """Take every advisory lock of a group at its start, in one global order, so that writers on several
    replicas touching the same event ids wait for each other instead of deadlocking."""
    if keys and conn.dialect.name == "postgresql":
        conn.exec_driver_sql("SELECT count(pg_advisory_xact_lock(k)) FROM unnest(%s::bigint[]) AS k", (keys,))


class ProcessLock:
    """An exclusive lock shared by the processes writing one SQLite file (``serve --workers N``).

    SQLite's own busy handler waits for the write lock by sleeping and polling, up to 100 ms a time, so a
    writer can starve behind the others for seconds; a kernel file lock wakes the next writer at once.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    @contextmanager
    def held(self) -> Iterator[None]:
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        os.close(self._fd)


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for in-memory databases and other backends)."""
    database = make_url(url).database if is_sqlite(url) else None
    return Path(database) if database and database != ":memory:" else None


class GroupCommitWriter:
    """Serialises writes on one connection and commits them in groups."""

    def __init__(self, engine: Engine, process_lock: ProcessLock | None = None) -> None:
        self._engine = engine
        self._process_lock = process_lock
        self._queue: queue.SimpleQueue[_Write | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="sightlog-writer", daemon=True)
        self._thread.start()

    def submit(self, fn: Callable[[Connection], T], lock_keys: Collection[int] = ()) -> Future[T]:
        """Queue a write; ``lock_keys`` are advisory locks (PostgreSQL) it needs against other processes."""
        future: Future[T] = Future()
        self._queue.put(_Write(fn, future, lock_keys))
        return future

    def run(self, fn: Callable[[Connection], T], lock_keys: Collection[int] = ()) -> T:
        return self.submit(fn, lock_keys).result()

    def close(self) -> None:
        """Finish every queued write, then stop."""
        self._queue.put(None)
        self._thread.join()
        if self._process_lock is not None:
            self._process_lock.close()

    def _held(self) -> AbstractContextManager[None]:
        return self._process_lock.held() if self._process_lock is not None else nullcontext()

    def _loop(self) -> None:
        stopping = False
        while not stopping:
            item = self._queue.get()
            if item is None:
                break
            group = [item]
            while len(group) < MAX_GROUP:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stopping = True
                    break
                group.append(nxt)
            self._commit_group(group)

    def _commit_group(self, group: list[_Write]) -> None:
        try:
            outcomes = self._run_group(group, isolated=False)
            if outcomes is None:  # a write failed: again, each write in a savepoint of its own
                outcomes = self._run_group(group, isolated=True)
        except Exception as exc:  # the commit itself failed: nothing in the group is durable
            failure = _as_store_error(exc)
            log.warning("write group of %d failed: %s", len(group), exc)
            for write in group:
                write.future.set_exception(failure)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(_as_store_error(error))

    def _run_group(self, group: list[_Write], *, isolated: bool) -> list[_Outcome] | None:
        """Run the writes of a group in one transaction and commit those that succeeded.

        ``isolated``: each write inside a savepoint, so that a failing one is rolled back alone. Writes rarely
        fail, and a savepoint is not free: SQLite copies every page a write changes into the savepoint's
        journal (at 10 M events, thousands of pages per commit), PostgreSQL opens a subtransaction. So a
        group runs without them first; if a write fails, that transaction is rolled back and None returned
        (unless the write was alone: its error is then the group's whole outcome).
        """
        outcomes: list[_Outcome] = []
        with self._held(), self._engine.connect() as conn, conn.begin() as transaction:
            _lock(conn, sorted({key for write in group for key in write.lock_keys}))
            for fn, future, _keys in group:
                savepoint = conn.begin_nested() if isolated else None
                try:
                    result = fn(conn)
                except Exception as exc:
                    if _connection_lost(exc, conn):
                        raise  # nothing more can run on this connection: the whole group fails
                    if savepoint is None:
                        transaction.rollback()
                        return [(future, None, exc)] if len(group) == 1 else None
                    savepoint.rollback()  # the caller gets its error; neighbours still commit
                    outcomes.append((future, None, exc))
                else:
                    if savepoint is not None:
                        savepoint.commit()
                    outcomes.append((future, result, None))
        return outcomes


def _connection_lost(exc: BaseException, conn: Connection) -> bool:
    return conn.invalidated or (isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _as_store_error(exc: BaseException) -> BaseException:
    if isinstance(exc, OperationalError | InterfaceError):
        return unavailable(exc)
    if isinstance(exc, PendingRollbackError):  # the connection died under an earlier statement
        return Unavailable("The event store connection was lost; retry shortly.")
    return exc
