"""Counts over time buckets in a client's time zone and up to two group keys (``POST .../aggregate``)."""

from __future__ import annotations

import functools
from collections import defaultdict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sightlog.errors import ErrorDetail, ValidationFailed
from sightlog.models.query import EventAggregate, Grid, QueryPlan
from sightlog.models.records import Workspace
from sightlog.services.events import EventService, parse_model
from sightlog.services.timeutil import EPOCH, now_us

# Fine buckets the store can always group by (see store/sql/aggregate.py): every UTC offset of the tz
# database is whole quarter hours, so a quarter hour never straddles a local hour, day or week.
_FINE_US = {"minute": 60_000_000, "hour": 900_000_000, "day": 900_000_000, "week": 900_000_000}
# Coarser buckets that usually fit: whole local hours, or days (merged into weeks here).
_HOUR_US, _DAY_US = 3_600_000_000, 86_400_000_000
_UNIT = {"hour": ("hour", _HOUR_US), "day": ("day", _DAY_US), "week": ("day", _DAY_US)}
_MAX_COARSE_CELLS = 2_000  # checked one by one against the zone (two conversions each)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            f"timezone '{name[:60]}' is not an IANA time zone such as Europe/Berlin.",
            [ErrorDetail("timezone", "is not an IANA time zone")],
        ) from None


def bucket_start(us: int, interval: str, zone: ZoneInfo) -> datetime:
    """The local start of the minute/hour/day/week (weeks start on Monday) holding instant ``us``."""
    local = (EPOCH + timedelta(microseconds=us)).astimezone(zone)
    if interval == "minute":
        return local.replace(second=0, microsecond=0)
    if interval == "hour":
        return local.replace(minute=0, second=0, microsecond=0)
    day = datetime(local.year, local.month, local.day, tzinfo=zone)
    if interval == "week":
        day -= timedelta(days=day.weekday())
        day = datetime(day.year, day.month, day.day, tzinfo=zone)  # re-resolve the offset after the shift
    return day


def _utc_us(moment: datetime) -> int:
    return (moment - EPOCH) // timedelta(microseconds=1)


def coarse_grid(interval: str, zone: ZoneInfo, start_us: int, end_us: int) -> Grid | None:
    """Local hours or days as one grid of fixed cells over [start, end), if every cell lies within one
    local bucket there (no clock change splits one, no offset of the zone cuts into one); else None.

    Counted by these cells the store returns a row per local bucket and key, instead of one per quarter
    hour: 30 days by class are 250 rows, not 23,000 (the zone arithmetic of this module is the costly
    part of an aggregate served by a rollup).
    """
    unit, size = _UNIT[interval]
    first = _utc_us(bucket_start(start_us, unit, zone))
    if (end_us - first) // size > _MAX_COARSE_CELLS:
        return None
    for cell in range(first, end_us, size):
        if _utc_us(bucket_start(cell + size - 1, unit, zone)) != cell:
            return None
    return Grid(size, first % size)


def _iso(moment: datetime) -> str:
    if moment.utcoffset() == timedelta(0):
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return moment.isoformat()


def _json_value(value: Any) -> Any:
    """Numbers come back from SQL as floats; 7.0 is shown as the 7 it was sent as."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _sort_key(value: Any) -> tuple[int, str]:
    return (0, "") if value is None else (1, f"{type(value).__name__}:{value}")


class AggregateService:
    def __init__(self, events: EventService) -> None:
        self.events = events

    def aggregate(self, workspace: Workspace, raw: Any) -> dict[str, Any]:
        request = parse_model(EventAggregate, raw)
        zone = _zone(request.timezone)
        plan, _ = self.events.plan(workspace, request)
        rows = self._rows(plan, request.groupBy, request.interval, zone)
        # Keyed by the UTC instant: aware datetimes of one zone compare and hash by wall time, which would
        # merge the two passes through an hour that the clock repeats when it goes back.
        # Values are keyed with their type too: False == 0 and True == 1 in Python, not in JSON.
        counts: dict[tuple[datetime | None, tuple[tuple[type, Any], ...]], int] = defaultdict(int)
        # Rows share fine buckets (one row per key value), and the zone arithmetic is the costly part of an
        # aggregate served by the rollup: ~10 µs a call, 23 k rows for 30 days by class.
        interval = request.interval
        utc_start = functools.cache(lambda us: bucket_start(us, interval, zone).astimezone(UTC))
        for start_us, values, n in rows:
            start = utc_start(start_us) if interval else None
            counts[(start, tuple((type(v), v) for v in map(_json_value, values)))] += n
        ordered = sorted(
            ((start, tuple(v for _, v in typed), n) for (start, typed), n in counts.items()),
            key=lambda item: (item[0] or EPOCH, [_sort_key(v) for v in item[1]]),
        )
        return {
            "buckets": [
                {
                    # Back to the zone from the instant: the offset in force then, and the first time the
                    # clock showed in this bucket (02:30, not 02:00, when the clock jumped 02:00 → 02:30).
                    "time": _iso(start.astimezone(zone)) if start else None,
                    "key": dict(zip(request.groupBy, values, strict=True)),
                    "count": n,
                }
                for start, values, n in ordered
            ]
        }

    def _rows(
        self, plan: QueryPlan, group_by: list[str], interval: str | None, zone: ZoneInfo
    ) -> list[tuple[int | None, tuple[Any, ...], int]]:
        """The store's counts by cells that each lie in one local bucket: coarse ones where they fit over
        the time range (up to a day past now when the range is open: later events, if any, are counted by
        quarter hours), quarter hours (minutes) otherwise."""
        store = self.events.store
        if interval is None:
            return store.aggregate(plan, group_by, None)
        fine = Grid(_FINE_US[interval])
        if interval == "minute" or plan.start_ts is None:
            return store.aggregate(plan, group_by, fine)
        end = plan.end_ts if plan.end_ts is not None else max(now_us(), plan.start_ts) + _DAY_US
        grid = coarse_grid(interval, zone, plan.start_ts, end)
        if grid is None:
            return store.aggregate(plan, group_by, fine)
        rows = store.aggregate(replace(plan, end_ts=end), group_by, grid)
        if plan.end_ts is None:
            rows += store.aggregate(replace(plan, start_ts=end), group_by, fine)
        return rows
