"""Which aggregates the store counts by whole local hours or days (services/aggregates.py coarse_grid): only
where every cell of the grid lies in one local bucket. The property test checks the counts themselves."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sightlog.models.query import Grid
from sightlog.services.aggregates import coarse_grid
from sightlog.services.timeutil import EPOCH

HOUR, DAY = 3_600_000_000, 86_400_000_000


def us(iso: str) -> int:
    return (datetime.fromisoformat(iso) - EPOCH) // timedelta(microseconds=1)


@pytest.mark.parametrize(
    ("interval", "zone", "start", "end", "grid"),
    [
        # Days in UTC start at midnight UTC; a range starting at noon counts from the midnight before.
        ("day", "UTC", "2026-11-01T12:00:00+00:00", "2026-12-01T00:00:00+00:00", Grid(DAY, 0)),
        ("week", "UTC", "2026-11-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00", Grid(DAY, 0)),
        # Berlin in summer: days start at 22:00 UTC.
        (
            "day",
            "Europe/Berlin",
            "2026-06-01T00:00:00+00:00",
            "2026-07-01T00:00:00+00:00",
            Grid(DAY, 22 * HOUR),
        ),
        # Kolkata's hours start at half past UTC hours.
        (
            "hour",
            "Asia/Kolkata",
            "2026-06-01T00:10:00+00:00",
            "2026-06-08T00:00:00+00:00",
            Grid(HOUR, HOUR // 2),
        ),
        # Berlin's hours stay whole UTC hours across its clock change; its days do not (23 hours).
        ("hour", "Europe/Berlin", "2026-03-28T00:00:00+00:00", "2026-04-02T00:00:00+00:00", Grid(HOUR, 0)),
        ("day", "Europe/Berlin", "2026-03-28T00:00:00+00:00", "2026-04-02T00:00:00+00:00", None),
        # Lord Howe turns its clock by half an hour: an hour then straddles two local hours.
        ("hour", "Australia/Lord_Howe", "2024-04-06T00:00:00+00:00", "2024-04-07T00:00:00+00:00", None),
        # Too many cells to check one by one: quarter hours.
        ("hour", "UTC", "2026-01-01T00:00:00+00:00", "2026-12-01T00:00:00+00:00", None),
    ],
)
def test_a_coarse_grid_only_where_each_cell_is_one_local_bucket(interval, zone, start, end, grid):
    assert coarse_grid(interval, ZoneInfo(zone), us(start), us(end)) == grid
