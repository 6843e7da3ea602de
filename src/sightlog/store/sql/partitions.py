"""Monthly range partitions of ``events`` on PostgreSQL, created ahead of the data that needs them."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, text

log = logging.getLogger(__name__)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Any constant works: it only has to be the same for every Sightlog process on the database.
_PARTITION_LOCK = 0x5167_6C6F_6701
MONTHS_AHEAD = 2


def _month(ts: int) -> tuple[int, int]:
    moment = _EPOCH + timedelta(microseconds=ts)
    return moment.year, moment.month


def _start_us(year: int, month: int) -> int:
    delta = datetime(year, month, 1, tzinfo=UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000


def _next(year: int, month: int) -> tuple[int, int]:
    return (
        (year + 1, 1) if month == 12 else (year, month + 1)
    )  # year 10000 never comes: timestamps stop at 9999


class MonthlyPartitions:
    """Remembers which months exist, so the check on each write is a set lookup."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._known: set[tuple[int, int]] = set()
        self._lock = threading.Lock()

    def ensure_ahead(self, now_us: int) -> None:
        """This month and the next ones, so ingest never waits on DDL in the normal course of time."""
        months = [_month(now_us)]
        for _ in range(MONTHS_AHEAD):
            months.append(_next(*months[-1]))
        self.ensure_months(months)

    def ensure_for(self, timestamps: Iterable[int]) -> None:
        needed = {_month(ts) for ts in timestamps} - self._known
        if needed:
            self.ensure_months(needed)

    def ensure_months(self, months: Iterable[tuple[int, int]]) -> None:
        with self._lock:
            missing = sorted(set(months) - self._known)
            if not missing:
                return
            # Its own short transaction: creating a partition locks the parent table, so it must not sit
            # inside a long write group. The advisory lock serialises replicas doing the same.
            with self._engine.begin() as conn:
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PARTITION_LOCK})
                for year, month in missing:
                    start, end = _start_us(year, month), _start_us(*_next(year, month))
                    conn.execute(
                        text(
                            f"CREATE TABLE IF NOT EXISTS events_y{year:04d}m{month:02d} PARTITION OF events "
                            f"FOR VALUES FROM ({start}) TO ({end})"
                        )
                    )
            self._known.update(missing)
            log.info("event partitions ready: %s", ", ".join(f"{y}-{m:02d}" for y, m in missing))
