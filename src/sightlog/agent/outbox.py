"""The outbox: everything the agent accepted, on disk before any 2xx answer, until it is pruned.

SQLite in WAL mode with ``synchronous=FULL`` (a commit is on disk when it returns) holds the rows. Image
bytes are files in a content-addressed folder, the server's ``LocalBlobStore`` (temp file, fsync, rename,
directory fsync), written before the row that names them is committed::

    events        seq (the delivery order), eventId, body as validated, size, state, times, error
    images        local sourceId, sha256, size, what the server records of an upload, state,
                  the upstream sourceId once uploaded, error
    event_images  the local images each event names (an image a pending event needs is never pruned)
    meta          small facts, such as the workspace slug upstream answered

    state: pending ─┬─ delivered
                    └─ rejected    upstream refused it for good (kept with the reason)

Quotas count every stored event and image (``max_events``, ``max_bytes``: event bodies plus image files).
A write that would pass one first prunes done items (delivered or rejected), oldest first; when that is
not enough it is refused with :class:`Overloaded` (529) and nothing already stored is dropped.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, cast

import orjson

from sightlog.errors import SightlogError, Unavailable
from sightlog.models.records import EventRow, ImageRecord
from sightlog.store.blobs import LocalBlobStore

T = TypeVar("T")
PENDING, DELIVERED, REJECTED = "pending", "delivered", "rejected"
# A delivered image is kept at least this long for the event that names it, which clients send after
# the upload: pruned sooner, that event would reach upstream without its image.
IMAGE_GRACE_SECONDS = 60.0
PRUNE_CHUNK = 500
_IN_CHUNK = 500  # host parameters per IN (...) list, well below SQLite's limit

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    body TEXT NOT NULL,
    size INTEGER NOT NULL,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    done_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS events_by_state ON events (state, seq);
CREATE INDEX IF NOT EXISTS events_by_id ON events (event_id);
CREATE TABLE IF NOT EXISTS images (
    local_id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    size INTEGER NOT NULL,
    format TEXT NOT NULL,
    mime TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    name TEXT,
    metadata TEXT,
    received_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    upstream_id TEXT,
    done_at REAL,
    error TEXT
);
CREATE INDEX IF NOT EXISTS images_by_state ON images (state, received_at);
CREATE INDEX IF NOT EXISTS images_by_sha ON images (sha256);
CREATE TABLE IF NOT EXISTS event_images (
    seq INTEGER NOT NULL REFERENCES events (seq) ON DELETE CASCADE,
    local_id TEXT NOT NULL,
    PRIMARY KEY (seq, local_id)
);
CREATE INDEX IF NOT EXISTS event_images_by_image ON event_images (local_id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Overloaded(SightlogError):
    """529: the outbox is full of data not yet delivered; the client should retry later."""

    status_code = 529
    code = "overloaded"


@dataclass(frozen=True, slots=True)
class Quota:
    max_events: int
    max_bytes: int


@dataclass(frozen=True, slots=True)
class PendingImage:
    local_id: str
    sha256: str
    name: str | None
    metadata: str | None


@dataclass(frozen=True, slots=True)
class PendingEvent:
    seq: int
    event_id: str
    body: str
    size: int
    # local sourceId it names -> (state of that image, its upstream sourceId); pruned images are absent
    images: Mapping[str, tuple[str, str | None]]


@dataclass(frozen=True, slots=True)
class Figures:
    """What /health and /metrics report about the outbox."""

    pending_events: int
    pending_images: int
    pending_bytes: int
    oldest_pending: float | None  # epoch seconds
    stored_events: int
    stored_bytes: int
    rejected_events: int
    rejected_images: int
    refused: int  # 529 answers since start


@dataclass(eq=False)
class _Job(Generic[T]):
    """One write waiting for its group's commit."""

    work: Callable[[sqlite3.Connection], T]
    result: T | None = None
    error: BaseException | None = None
    done: bool = False


class Outbox:
    """One SQLite connection shared by the request threads and the forwarder, one lock around it (SQLite
    takes one writer at a time anyway, and no transaction waits on the network). Writes are committed in
    groups, so that concurrent requests share one fsync instead of queueing for one each."""

    def __init__(self, path: Path, blobs: LocalBlobStore, quota: Quota) -> None:
        self.blobs = blobs
        self.quota = quota
        self.on_change = lambda: None  # set by the forwarder, called after each write it should see
        self.refused = 0
        self._lock = threading.Lock()  # the writing connection
        self._read_lock = threading.Lock()  # the reading one: in WAL mode reads never wait for a commit
        self._turn = threading.Condition()  # the write queue and who commits it
        self._queue: list[_Job[Any]] = []
        self._committing = False
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        for pragma in ("journal_mode=WAL", "synchronous=FULL", "foreign_keys=ON", "busy_timeout=30000"):
            self._db.execute(f"PRAGMA {pragma}")
        self._db.executescript(_SCHEMA)
        self._reader = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        self._doomed: list[str] = []  # blobs of pruned images, removed once the prune commits
        self._events, self._bytes = self._totals()

    def close(self) -> None:
        with self._lock, self._read_lock:
            self._reader.close()
            self._db.close()

    # -- transactions --------------------------------------------------------------------------------

    def _totals(self) -> tuple[int, int]:
        events, event_bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events"
        ).fetchone()
        (image_bytes,) = self._db.execute("SELECT COALESCE(SUM(size), 0) FROM images").fetchone()
        return events, event_bytes + image_bytes

    def _transact(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` in a transaction whose commit it shares with the writes that arrive meanwhile: a
        writer that finds no commit under way commits every queued write (leader/follower group commit)."""
        job: _Job[T] = _Job(work)
        with self._turn:
            self._queue.append(job)
            while not job.done:
                if self._committing:
                    self._turn.wait()
                    continue
                group, self._queue = self._queue, []
                self._committing = True
                self._turn.release()
                try:
                    self._commit(group)
                finally:
                    self._turn.acquire()
                    self._committing = False
                    self._turn.notify_all()
        if job.error is not None:
            raise job.error
        return cast(T, job.result)

    def _commit(self, group: list[_Job[Any]]) -> None:
        committed = False
        failure: BaseException = Unavailable("The agent could not write its outbox; retry.")
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
                for job in group:
                    saved = (self._events, self._bytes, len(self._doomed))
                    db.execute("SAVEPOINT job")
                    try:
                        job.result = job.work(db)
                    except Exception as exc:  # this write fails alone; its neighbours still commit
                        db.execute("ROLLBACK TO job")
                        self._events, self._bytes = saved[:2]
                        del self._doomed[saved[2] :]
                        job.error = exc
                    db.execute("RELEASE job")
                db.execute("COMMIT")
                committed = True
            except sqlite3.Error as exc:  # disk full, I/O error: nothing of the group is stored
                failure = Unavailable(f"The agent could not write its outbox ({exc}); retry.")
            finally:
                if committed:
                    self._remove_doomed()
                else:
                    if db.in_transaction:
                        db.execute("ROLLBACK")
                    self._doomed.clear()
                    self._events, self._bytes = self._totals()
                for job in group:
                    if not committed and job.error is None:
                        job.error = failure
                    job.done = True

    def _remove_doomed(self) -> None:
        """Delete the files of pruned images that no remaining row shares (uploads are de-duplicated)."""
        for sha256 in self._doomed:
            if self._db.execute("SELECT 1 FROM images WHERE sha256 = ?", (sha256,)).fetchone() is None:
                self.blobs.path(sha256).unlink(missing_ok=True)
        self._doomed.clear()

    # -- intake --------------------------------------------------------------------------------------

    def add_image(self, record: ImageRecord, metadata_json: str | None) -> None:
        def work(db: sqlite3.Connection) -> None:
            if not self.blobs.exists(record.sha256):
                # Identical bytes were pruned between the upload's write and this row.
                raise Unavailable("The image was pruned while it was being stored; send it again.")
            self._make_room(db, 0, record.size)
            db.execute(
                "INSERT INTO images (local_id, sha256, size, format, mime, width, height, name, metadata,"
                " received_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    record.source_id,
                    record.sha256,
                    record.size,
                    record.format,
                    record.mime,
                    record.width,
                    record.height,
                    record.name,
                    metadata_json,
                    time.time(),
                ),
            )
            self._bytes += record.size

        try:
            self._transact(work)
        except Overloaded:
            # The file was written before the refusal: it goes after this commit, unless a row shares it.
            self._transact(lambda _db: self._doomed.append(record.sha256))
            raise
        self.on_change()

    def add_events(self, rows: Sequence[EventRow]) -> list[bool]:
        """Store validated events (ids unique within ``rows``); True for each id not seen before."""
        sizes = [len(row.body) for row in rows]
        now = time.time()

        def work(db: sqlite3.Connection) -> set[str]:
            self._make_room(db, len(rows), sum(sizes))
            seen = self._seen(db, [row.event_id for row in rows])
            for row, size in zip(rows, sizes, strict=True):
                cursor = db.execute(
                    "INSERT INTO events (event_id, body, size, received_at) VALUES (?, ?, ?, ?)",
                    (row.event_id, row.body, size, now),
                )
                named = _named_images(row.body)
                if named:
                    db.executemany(
                        "INSERT OR IGNORE INTO event_images (seq, local_id)"
                        " SELECT ?, local_id FROM images WHERE local_id = ?",
                        [(cursor.lastrowid, source_id) for source_id in named],
                    )
            self._events += len(rows)
            self._bytes += sum(sizes)
            return seen

        seen = self._transact(work)
        self.on_change()
        return [row.event_id not in seen for row in rows]

    @staticmethod
    def _seen(db: sqlite3.Connection, event_ids: list[str]) -> set[str]:
        seen: set[str] = set()
        for start in range(0, len(event_ids), _IN_CHUNK):
            chunk = event_ids[start : start + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            seen.update(
                r[0] for r in db.execute(f"SELECT event_id FROM events WHERE event_id IN ({marks})", chunk)
            )
        return seen

    def find_images(self, source_ids: Collection[str]) -> dict[str, ImageRecord]:
        ids = list(source_ids)
        found: dict[str, ImageRecord] = {}
        with self._read_lock:
            for start in range(0, len(ids), _IN_CHUNK):
                chunk = ids[start : start + _IN_CHUNK]
                marks = ",".join("?" * len(chunk))
                for row in self._reader.execute(
                    "SELECT local_id, sha256, format, mime, width, height, size, name, received_at"
                    f" FROM images WHERE local_id IN ({marks})",
                    chunk,
                ):
                    found[row[0]] = ImageRecord(*row[:-1], created_at=int(row[-1] * 1e6))
        return found

    # -- quotas --------------------------------------------------------------------------------------

    def _make_room(self, db: sqlite3.Connection, events: int, nbytes: int) -> None:
        if self._over(events, nbytes) == (0, 0):
            return
        # Free a twentieth more than needed, so that a full outbox does not prune on every write.
        slack_events, slack_bytes = max(1, self.quota.max_events // 20), self.quota.max_bytes // 20
        _, over_bytes = self._over(events, nbytes)
        if over_bytes:  # image files hold most of the bytes
            self._prune_images(db, over_bytes + slack_bytes)
        over_events, over_bytes = self._over(events, nbytes)
        if over_events or over_bytes:
            self._prune_events(
                db,
                over_events + slack_events if over_events else 0,
                over_bytes + slack_bytes if over_bytes else 0,
            )
        if self._over(events, nbytes) != (0, 0):
            self.refused += 1
            raise Overloaded(
                f"The agent's outbox is full of data not yet delivered upstream ({self._events} events, "
                f"{self._bytes} bytes; limits {self.quota.max_events} events, {self.quota.max_bytes} bytes). "
                "Retry later."
            )

    def _over(self, events: int, nbytes: int) -> tuple[int, int]:
        return (
            max(0, self._events + events - self.quota.max_events),
            max(0, self._bytes + nbytes - self.quota.max_bytes),
        )

    def _prune_events(self, db: sqlite3.Connection, events: int, nbytes: int) -> None:
        freed_events = freed_bytes = 0
        while freed_events < events or freed_bytes < nbytes:
            sizes = db.execute(
                "DELETE FROM events WHERE seq IN (SELECT seq FROM events WHERE state <> 'pending'"
                " ORDER BY seq LIMIT ?) RETURNING size",
                (PRUNE_CHUNK,),
            ).fetchall()
            if not sizes:
                return
            freed_events += len(sizes)
            freed_bytes += sum(size for (size,) in sizes)
            self._events -= len(sizes)
            self._bytes -= sum(size for (size,) in sizes)

    def _prune_images(self, db: sqlite3.Connection, nbytes: int) -> None:
        freed = 0
        cutoff = time.time() - IMAGE_GRACE_SECONDS
        while freed < nbytes:
            removed = db.execute(
                "DELETE FROM images WHERE local_id IN (SELECT i.local_id FROM images i"
                " WHERE i.state <> 'pending' AND i.done_at < ? AND NOT EXISTS (SELECT 1 FROM event_images ei"
                " JOIN events e ON e.seq = ei.seq WHERE ei.local_id = i.local_id AND e.state = 'pending')"
                " ORDER BY i.done_at LIMIT ?) RETURNING sha256, size",
                (cutoff, PRUNE_CHUNK),
            ).fetchall()
            if not removed:
                return
            self._doomed.extend(sha256 for sha256, _ in removed)
            freed += sum(size for _, size in removed)
            self._bytes -= sum(size for _, size in removed)

    # -- the forwarder's side ------------------------------------------------------------------------

    def pending_images(self, limit: int) -> list[PendingImage]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT local_id, sha256, name, metadata FROM images WHERE state = 'pending'"
                " ORDER BY received_at LIMIT ?",
                (limit,),
            ).fetchall()
        return [PendingImage(*row) for row in rows]

    def images_done(self, outcomes: Mapping[str, tuple[str | None, str | None]]) -> None:
        """Record uploads: local sourceId -> (upstream sourceId, None) or (None, why upstream refused it)."""
        now = time.time()
        rows = [
            (DELIVERED if upstream_id else REJECTED, upstream_id, error, now, local_id)
            for local_id, (upstream_id, error) in outcomes.items()
        ]
        self._transact(
            lambda db: db.executemany(
                "UPDATE images SET state = ?, upstream_id = ?, error = ?, done_at = ? WHERE local_id = ?",
                rows,
            )
        )

    def pending_events(self, limit: int) -> list[PendingEvent]:
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT seq, event_id, body, size FROM events WHERE state = 'pending' ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
            if not rows:
                return []
            named: dict[int, dict[str, tuple[str, str | None]]] = {}
            for seq, local_id, state, upstream_id in self._reader.execute(
                "SELECT ei.seq, ei.local_id, i.state, i.upstream_id FROM event_images ei"
                " JOIN images i ON i.local_id = ei.local_id WHERE ei.seq BETWEEN ? AND ?",
                (rows[0][0], rows[-1][0]),
            ):
                named.setdefault(seq, {})[local_id] = (state, upstream_id)
        return [PendingEvent(*row, images=named.get(row[0], {})) for row in rows]

    def events_done(self, delivered: Sequence[int] = (), rejected: Mapping[int, str] | None = None) -> None:
        """Record the outcome of events by ``seq``: delivered, or rejected with the reason."""
        now = time.time()

        def work(db: sqlite3.Connection) -> None:
            db.executemany(
                "UPDATE events SET state = 'delivered', done_at = ? WHERE seq = ?",
                [(now, seq) for seq in delivered],
            )
            db.executemany(
                "UPDATE events SET state = 'rejected', done_at = ?, error = ? WHERE seq = ?",
                [(now, error, seq) for seq, error in (rejected or {}).items()],
            )

        self._transact(work)

    # -- meta, figures, housekeeping -----------------------------------------------------------------

    def meta(self, key: str) -> str | None:
        return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        self._transact(
            lambda db: db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))
        )
        self._meta[key] = value

    def figures(self) -> Figures:
        with self._read_lock:
            db = self._reader
            events, event_bytes = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM events WHERE state = 'pending'"
            ).fetchone()
            images, image_bytes = db.execute(
                "SELECT COUNT(*), COALESCE(SUM(size), 0) FROM images WHERE state = 'pending'"
            ).fetchone()
            oldest = [
                row[0]
                for row in (
                    db.execute(
                        "SELECT received_at FROM events WHERE state = 'pending' ORDER BY seq LIMIT 1"
                    ).fetchone(),
                    db.execute(
                        "SELECT received_at FROM images WHERE state = 'pending' ORDER BY received_at LIMIT 1"
                    ).fetchone(),
                )
                if row is not None
            ]
            (rejected_events,) = db.execute("SELECT COUNT(*) FROM events WHERE state = 'rejected'").fetchone()
            (rejected_images,) = db.execute("SELECT COUNT(*) FROM images WHERE state = 'rejected'").fetchone()
            return Figures(
                pending_events=events,
                pending_images=images,
                pending_bytes=event_bytes + image_bytes,
                oldest_pending=min(oldest, default=None),
                stored_events=self._events,
                stored_bytes=self._bytes,
                rejected_events=rejected_events,
                rejected_images=rejected_images,
                refused=self.refused,
            )

    def sweep(self) -> int:
        """Delete image files no row names: left by a crash between a file's write and its row's commit,
        or by a refused upload. Run at start, before any request; returns how many were removed."""
        with self._read_lock:
            known = {sha256 for (sha256,) in self._reader.execute("SELECT DISTINCT sha256 FROM images")}
        removed = 0
        for folder in (self.blobs.root / "tmp", self.blobs.root / "objects"):
            for parent, _, names in os.walk(folder):
                for name in names:
                    if folder.name == "tmp" or name not in known:
                        Path(parent, name).unlink(missing_ok=True)
                        removed += 1
        return removed


def _named_images(body: str) -> set[str]:
    """The sourceIds an event's image entries name (some may be uploads the agent never saw)."""
    entries = orjson.loads(body).get("images") or ()
    return {entry[key] for entry in entries for key in ("sourceId", "inputSourceId") if entry.get(key)}
