"""Instants as integer microseconds since the Unix epoch (UTC), and their ISO 8601 forms."""

from __future__ import annotations

import time
from datetime import UTC, datetime

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def now_us() -> int:
    return time.time_ns() // 1000


def parse_instant(text: str) -> tuple[int, bool]:
    """Parse ISO 8601; returns (microseconds, had_offset). A value without offset is read as UTC.

    Raises ValueError with a readable message for anything else.
    """
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"'{text[:60]}' is not an ISO 8601 timestamp such as 2026-05-01T12:30:00Z") from None
    had_offset = parsed.tzinfo is not None
    if not had_offset:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        parsed = parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"'{text[:60]}' lies outside the years 1 to 9999 (UTC)") from None
    delta = parsed - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds, had_offset


def format_instant(us: int) -> str:
    """UTC with a ``Z``; fractions only as precise as needed (ms or µs)."""
    seconds, micros = divmod(us, 1_000_000)
    base = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    if micros == 0:
        return base + "Z"
    if micros % 1000 == 0:
        return f"{base}.{micros // 1000:03d}Z"
    return f"{base}.{micros:06d}Z"
