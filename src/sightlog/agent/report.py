"""What the agent says about itself: counters kept by the forwarder, and the /health and /metrics bodies."""

from __future__ import annotations

import threading
import time
from collections import deque
from datetime import UTC, datetime
from typing import Any

from sightlog import __version__
from sightlog.agent.config import AgentConfig
from sightlog.agent.outbox import Figures

RATE_WINDOW_SECONDS = 60.0


class Stats:
    """The forwarder's counters since the agent started (the outbox's figures survive restarts)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started = time.monotonic()
        self._recent: deque[tuple[float, int]] = deque()  # (monotonic time, events delivered then)
        self.delivered_events = 0
        self.delivered_images = 0
        self.upstream_errors = 0
        self.upstream_up: bool | None = None  # None until the first call upstream
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_delivery_at: float | None = None
        self.last_rejection: str | None = None

    def delivered(self, events: int = 0, images: int = 0) -> None:
        """Upstream answered a write (``events`` and ``images`` of it stored; zero when it refused them)."""
        with self._lock:
            self.upstream_up = True
            if events or images:
                self.delivered_events += events
                self.delivered_images += images
                self.last_delivery_at = time.time()
            if events:
                self._recent.append((time.monotonic(), events))

    def rejected(self, reason: str) -> None:
        self.last_rejection = reason

    def upstream_failed(self, reason: str) -> None:
        with self._lock:
            self.upstream_errors += 1
            self.upstream_up = False
            self.last_error = reason
            self.last_error_at = time.time()

    def upstream_answered(self) -> None:
        self.upstream_up = True

    def rate(self) -> float:
        """Events delivered per second over the last minute (or since start, when that is shorter)."""
        with self._lock:
            now = time.monotonic()
            while self._recent and self._recent[0][0] < now - RATE_WINDOW_SECONDS:
                self._recent.popleft()
            span = min(RATE_WINDOW_SECONDS, max(now - self._started, 1.0))
            return sum(n for _, n in self._recent) / span


def _iso(moment: float | None) -> str | None:
    return datetime.fromtimestamp(moment, UTC).isoformat().replace("+00:00", "Z") if moment else None


def health(config: AgentConfig, figures: Figures, stats: Stats) -> dict[str, Any]:
    """The body of ``GET /health``."""
    oldest = figures.oldest_pending
    return {
        "status": "ok",
        "version": __version__,
        "deviceId": config.device_id,
        "queue": {
            "events": figures.pending_events,
            "images": figures.pending_images,
            "bytes": figures.pending_bytes,
            "oldestAgeSeconds": round(time.time() - oldest, 3) if oldest else None,
        },
        "stored": {
            "events": figures.stored_events,
            "bytes": figures.stored_bytes,
            "maxEvents": config.max_events,
            "maxBytes": config.max_bytes,
        },
        "delivered": {
            "events": stats.delivered_events,
            "images": stats.delivered_images,
            "eventsPerSecond": round(stats.rate(), 3),
            "lastAt": _iso(stats.last_delivery_at),
        },
        "rejected": {
            "events": figures.rejected_events,
            "images": figures.rejected_images,
            "last": stats.last_rejection,
        },
        "refused": figures.refused,
        "upstream": {
            "url": config.upstream,
            "reachable": stats.upstream_up,
            "errors": stats.upstream_errors,
            "lastError": stats.last_error,
            "lastErrorAt": _iso(stats.last_error_at),
        },
    }


_METRICS: list[tuple[str, str, str, str]] = [
    # (name, type, help, where in the /health body)
    ("queue_events", "gauge", "Events waiting to be forwarded.", "queue.events"),
    ("queue_images", "gauge", "Images waiting to be uploaded.", "queue.images"),
    ("queue_bytes", "gauge", "Bytes waiting to be forwarded.", "queue.bytes"),
    ("oldest_undelivered_age_seconds", "gauge", "Age of the oldest item waiting.", "queue.oldestAgeSeconds"),
    ("stored_events", "gauge", "Events in the outbox, delivered or not.", "stored.events"),
    ("stored_bytes", "gauge", "Bytes in the outbox, delivered or not.", "stored.bytes"),
    ("max_events", "gauge", "Quota of events in the outbox.", "stored.maxEvents"),
    ("max_bytes", "gauge", "Quota of bytes in the outbox.", "stored.maxBytes"),
    ("delivered_events_total", "counter", "Events delivered since start.", "delivered.events"),
    ("delivered_images_total", "counter", "Images uploaded since start.", "delivered.images"),
    (
        "delivery_rate_events_per_second",
        "gauge",
        "Delivered per second, last minute.",
        "delivered.eventsPerSecond",
    ),
    ("rejected_events", "gauge", "Events upstream refused for good, still stored.", "rejected.events"),
    ("rejected_images", "gauge", "Images upstream refused for good, still stored.", "rejected.images"),
    ("refused_total", "counter", "Writes answered 529 because the outbox was full.", "refused"),
    ("upstream_up", "gauge", "1 when the last call upstream succeeded.", "upstream.reachable"),
    ("upstream_errors_total", "counter", "Failed calls upstream since start.", "upstream.errors"),
]


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float | bool | None) -> str:
    """Integers exactly (a byte count is not 1.07374e+10), a missing figure as 0, booleans as 0 or 1."""
    return repr(value) if isinstance(value, float) else str(int(value or 0))


def prometheus(body: dict[str, Any]) -> str:
    """The /health figures in the Prometheus text format (``GET /metrics``)."""
    lines = [
        "# HELP sightlog_agent_info The agent's version, device id and upstream.",
        "# TYPE sightlog_agent_info gauge",
        f'sightlog_agent_info{{version="{_label(body["version"])}",device_id="{_label(body["deviceId"])}",'
        f'upstream="{_label(body["upstream"]["url"])}"}} 1',
    ]
    for name, kind, help_text, path in _METRICS:
        value: Any = body
        for key in path.split("."):
            value = value[key]
        lines += [
            f"# HELP sightlog_agent_{name} {help_text}",
            f"# TYPE sightlog_agent_{name} {kind}",
            f"sightlog_agent_{name} {_number(value)}",
        ]
    if body["upstream"]["lastError"]:
        lines += [
            "# HELP sightlog_agent_last_upstream_error_info The last error talking to upstream.",
            "# TYPE sightlog_agent_last_upstream_error_info gauge",
            f'sightlog_agent_last_upstream_error_info{{message="{_label(body["upstream"]["lastError"])}",'
            f'at="{body["upstream"]["lastErrorAt"]}"}} 1',
        ]
    return "\n".join(lines) + "\n"
