"""``Sink``: hand events over from a video pipeline without ever waiting on the network.

``send()`` puts an event in a bounded in-memory queue and returns; one background thread uploads the
images and posts the events in batches. Every event ends up in exactly one counter::

    send() ─┬─ throttled   within the cooldown of its stream: not queued
            ├─ dropped     the queue was full (or close() timed out with it still queued)
            └─ queued ─┬─ sent      stored by the server
                       └─ failed    rejected for good (a 4xx such as a validation error)

While the server is unreachable (connection errors, 429, 503, other 5xx) events stay queued and the
worker retries with backoff; each event carries its eventId from ``send()`` on, so a batch re-sent after
a lost answer overwrites itself instead of storing a duplicate.
"""

from __future__ import annotations

import atexit
import collections
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sightlog.sdk.adapters import to_predictions
from sightlog.sdk.client import Client
from sightlog.sdk.errors import SightlogError
from sightlog.sdk.images import ChannelOrder, EncodedImage, ImageSource, encode_image
from sightlog.sdk.models import ImageEntry, NewEvent, Scalar

log = logging.getLogger("sightlog.sink")

_BATCH_INDEX = re.compile(r"^events\[(\d+)\]")
_DROP_LOG_SECONDS = 1.0  # at most one "queue full" warning per second, each with the count since the last


@dataclass(frozen=True, slots=True)
class SinkStats:
    """A consistent snapshot of a sink's counters."""

    sent: int
    throttled: int
    failed: int
    queued: int
    dropped: int


@dataclass(slots=True, eq=False)  # compared by identity: each one is a distinct event
class _Pending:
    event: NewEvent
    image: EncodedImage | None  # released once uploaded
    entry: ImageEntry | None  # predictions and label
    source_id: str | None = None  # set once uploaded, so a retried batch does not upload again

    def body(self) -> NewEvent:
        """The event to post, its image entry pointing at the uploaded image."""
        if self.source_id is None and self.entry is None:
            return self.event
        entry = self.entry or ImageEntry()
        if self.source_id is not None:
            entry = entry.model_copy(update={"source_id": self.source_id})
        return self.event.model_copy(update={"images": [entry]})


def _transient(error: SightlogError) -> bool:
    """Worth waiting for: no answer, overload, server-side trouble. Other 4xx will not change on retry."""
    return error.status is None or error.status >= 500 or error.status in (408, 429)


class Sink:
    """A background sender of events to one use case.

    ``client`` is a :class:`Client`, or a server URL (then ``api_key`` and the environment complete it).
    ``cooldown_seconds`` keeps at most one event per stream (``stream_id``) in that many seconds; the
    others are counted as ``throttled``. Counters are logged every ``log_interval`` seconds when they
    changed (logger ``sightlog.sink``) and by :meth:`close`, which also runs at interpreter exit. ``close``
    waits up to ``close_timeout`` seconds (``None``: as long as it takes) for the queue to drain.
    """

    def __init__(
        self,
        client: Client | str | None = None,
        *,
        use_case: str,
        api_key: str | None = None,
        batch_size: int = 100,
        max_queue: int = 1000,
        cooldown_seconds: float | None = None,
        channels: ChannelOrder = "bgr",
        log_interval: float = 60.0,
        close_timeout: float | None = 30.0,
    ) -> None:
        if batch_size < 1 or max_queue < 1:
            raise ValueError("batch_size and max_queue must be at least 1")
        self._owns_client = not isinstance(client, Client)
        self.client = client if isinstance(client, Client) else Client(client, api_key)
        self.use_case = use_case
        self.batch_size = batch_size
        self.max_queue = max_queue
        self.cooldown_seconds = cooldown_seconds
        self.channels = channels
        self.log_interval = log_interval
        self.close_timeout = close_timeout

        self._lock = threading.Condition()
        self._queue: collections.deque[_Pending] = collections.deque()
        self._inflight: list[_Pending] = []
        self._given_up: list[_Pending] = []  # in flight when close() timed out, counted as dropped
        self._counts = dict.fromkeys(("sent", "throttled", "failed", "dropped"), 0)
        self._last_accepted: dict[str | None, float] = {}
        self._drops_unlogged = 0
        self._last_drop_log = float("-inf")
        self._last_stats_log = time.monotonic()
        self._last_logged: SinkStats | None = None
        self._closing = False
        self._worker = threading.Thread(target=self._work, name=f"sightlog-sink-{use_case}", daemon=True)
        self._worker.start()
        atexit.register(self._close_at_exit)

    # -- counters --------------------------------------------------------------------------------------

    def stats(self) -> SinkStats:
        with self._lock:
            return SinkStats(queued=len(self._queue) + len(self._inflight), **self._counts)

    @property
    def sent(self) -> int:
        return self.stats().sent

    @property
    def throttled(self) -> int:
        return self.stats().throttled

    @property
    def failed(self) -> int:
        return self.stats().failed

    @property
    def queued(self) -> int:
        return self.stats().queued

    @property
    def dropped(self) -> int:
        return self.stats().dropped

    # -- the producer side ---------------------------------------------------------------------------

    def send(
        self,
        image: ImageSource | None = None,
        predictions: Any = None,
        *,
        event_type: str = "custom",
        event_data: Mapping[str, Any] | None = None,
        custom_metadata: Mapping[str, Scalar] | None = None,
        device_id: str | None = None,
        stream_id: str | None = None,
        workflow_id: str | None = None,
        timestamp: datetime | str | None = None,
        event_id: str | None = None,
        label: str | None = None,
        class_names: Sequence[str] | None = None,
    ) -> str | None:
        """Queue one event and return its eventId at once; ``None`` if it was throttled or dropped.

        ``predictions`` may be an inference result, ``sv.Detections`` / ``KeyPoints`` /
        ``Classifications`` or prediction lists by kind (see :func:`~sightlog.sdk.adapters.to_predictions`).
        They are converted here, and the image read (path) or encoded (PIL, numpy) here, so that the queue
        holds small immutable data rather than frames or files the pipeline may reuse. The timestamp is
        the time of this call unless given. Invalid arguments (including malformed predictions) raise
        here; the server's rejections are counted as ``failed``.
        """
        if self._closing:
            raise RuntimeError("this Sink is closed")
        now = time.monotonic()
        with self._lock:
            if self._cooling(stream_id, now):  # checked first: a throttled frame is not worth encoding
                self._counts["throttled"] += 1
                return None
        fields = {
            "event_data": event_data,
            "custom_metadata": custom_metadata,
            "device_id": device_id,
            "stream_id": stream_id,
            "workflow_id": workflow_id,
            "timestamp": timestamp,
            "event_id": event_id,
        }
        event = NewEvent.model_validate(
            {"use_case_id": self.use_case, "event_type": event_type}
            | {k: v for k, v in fields.items() if v is not None}
        )
        encoded = None if image is None else encode_image(image, channels=self.channels)
        lists = to_predictions(predictions, class_names)
        entry = ImageEntry.model_validate(lists | {"label": label}) if lists or label is not None else None
        pending = _Pending(event, encoded, entry)
        with self._lock:
            if self._closing:  # close() ran while this event was being prepared
                raise RuntimeError("this Sink is closed")
            if self._cooling(stream_id, now):  # another thread sent for this stream meanwhile
                self._counts["throttled"] += 1
                return None
            if len(self._queue) + len(self._inflight) >= self.max_queue:
                self._count_drop()
                return None
            if self.cooldown_seconds is not None:
                self._last_accepted[stream_id] = now
            self._queue.append(pending)
            self._lock.notify_all()
        return event.event_id

    def _cooling(self, stream_id: str | None, now: float) -> bool:
        """Called with the lock held."""
        if self.cooldown_seconds is None:
            return False
        last = self._last_accepted.get(stream_id)
        return last is not None and now - last < self.cooldown_seconds

    def _count_drop(self) -> None:
        """Called with the lock held."""
        self._counts["dropped"] += 1
        self._drops_unlogged += 1
        now = time.monotonic()
        if now - self._last_drop_log >= _DROP_LOG_SECONDS:
            log.warning(
                "Sink queue full (max_queue=%d): dropped %d event(s) since the last warning, %d in all",
                self.max_queue,
                self._drops_unlogged,
                self._counts["dropped"],
            )
            self._drops_unlogged = 0
            self._last_drop_log = now

    # -- draining --------------------------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued event is sent or failed; ``False`` if ``timeout`` seconds passed first."""
        with self._lock:
            return self._lock.wait_for(lambda: not (self._queue or self._inflight), timeout)

    def close(self, timeout: float | None = None) -> SinkStats:
        """Stop accepting events and deliver what is queued, waiting up to ``timeout`` seconds (default:
        ``close_timeout``); then log the final counters. Events still undelivered at the deadline are
        counted as dropped (and moved back to ``sent`` or ``failed`` should their batch still complete)."""
        with self._lock:
            first = not self._closing
            self._closing = True
            self._lock.notify_all()
        if first:
            atexit.unregister(self._close_at_exit)
        self._worker.join(self.close_timeout if timeout is None else timeout)
        with self._lock:
            left = len(self._queue) + len(self._inflight)
            if left:
                self._counts["dropped"] += left
                self._queue.clear()
                self._given_up += self._inflight
                self._inflight = []
                self._lock.notify_all()
                log.error("Sink closed with %d event(s) undelivered; counted as dropped", left)
            stats = SinkStats(queued=0, **self._counts)
        if first:
            log.info("Sink closed: %s", _describe(stats))
            if self._owns_client and not self._worker.is_alive():
                self.client.close()
        return stats

    def _close_at_exit(self) -> None:
        self.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- the worker ------------------------------------------------------------------------------------

    def _work(self) -> None:
        while self._take():
            self._deliver()

    def _take(self) -> bool:
        """Move the next batch in flight, waiting for events; ``False`` once closing with nothing left."""
        with self._lock:
            while not self._queue and not self._closing:
                self._lock.wait(self._until_stats_log())
                self._maybe_log_stats()
            self._maybe_log_stats()  # also when busy: the queue may never run empty
            count = min(self.batch_size, len(self._queue))
            self._inflight = [self._queue.popleft() for _ in range(count)]
            return bool(self._inflight)

    def _deliver(self) -> None:
        """Send the in-flight batch, waiting out outages, until every event in it is sent or failed."""
        attempt = 0
        while True:
            with self._lock:
                pending = list(self._inflight)
            if not pending:
                return
            try:
                self._upload_images(pending)
                with self._lock:
                    pending = list(self._inflight)
                self._post(pending)
            except SightlogError as exc:  # only transient errors get here
                attempt += 1
                delay = self.client.retry.backoff_delay(attempt)
                log.warning(
                    "Sightlog server unavailable (%s); %d event(s) kept queued, retrying in %.1fs",
                    exc,
                    self.queued,
                    delay,
                )
                with self._lock:
                    self._lock.wait_for(lambda: not self._inflight, delay)  # close() may give up meanwhile
                    self._maybe_log_stats()
            except Exception:
                # A bug must not kill the worker (the queue would fill and drop everything after it).
                log.exception("Sink could not send %d event(s); counted as failed", len(pending))
                self._settle(pending, "failed")

    def _upload_images(self, pending: list[_Pending]) -> None:
        for item in pending:
            if item.image is None or item.source_id is not None:
                continue
            try:
                item.source_id = self.client.images.upload(
                    item.image.content, name=item.image.filename
                ).source_id
            except SightlogError as exc:
                if _transient(exc):
                    raise
                self._settle([item], "failed", exc)
            else:
                item.image = None  # the bytes are on the server now; free them

    def _post(self, items: list[_Pending]) -> None:
        """Post ``items`` as one batch; rejected events are failed one by one and the others re-posted."""
        if not items:
            return
        try:
            self.client.events.batch([item.body() for item in items])
        except SightlogError as exc:
            if _transient(exc):
                raise
            named = (_BATCH_INDEX.match(d.loc) for d in exc.details)
            rejected = {int(m.group(1)) for m in named if m is not None and int(m.group(1)) < len(items)}
            if not rejected and len(items) > 1:
                # The error names no event (e.g. the whole batch is too large): halve until it does.
                middle = len(items) // 2
                self._post(items[:middle])
                self._post(items[middle:])
                return
            failed = [item for i, item in enumerate(items) if i in rejected or not rejected]
            self._settle(failed, "failed", exc)
            self._post([item for item in items if item not in failed])
            return
        self._settle(items, "sent")

    def _settle(self, items: list[_Pending], outcome: str, error: BaseException | None = None) -> None:
        with self._lock:
            done = [item for item in items if item in self._inflight]
            late = [item for item in items if item in self._given_up]
            self._inflight = [item for item in self._inflight if item not in done]
            self._given_up = [item for item in self._given_up if item not in late]
            self._counts["dropped"] -= len(late)  # close() had counted them as dropped
            self._counts[outcome] += len(done) + len(late)
            self._lock.notify_all()
        settled = done + late
        if error is not None and settled:
            ids = ", ".join(item.event.event_id for item in settled[:5])
            more = f" and {len(settled) - 5} more" if len(settled) > 5 else ""
            log.error("Sightlog rejected %d event(s) (%s%s): %s", len(settled), ids, more, error)

    def _until_stats_log(self) -> float:
        return max(0.0, self._last_stats_log + self.log_interval - time.monotonic())

    def _maybe_log_stats(self) -> None:
        """Called with the lock held."""
        if self._until_stats_log() > 0:
            return
        self._last_stats_log = time.monotonic()
        stats = SinkStats(queued=len(self._queue) + len(self._inflight), **self._counts)
        if stats != self._last_logged:
            log.info("Sink: %s", _describe(stats))
            self._last_logged = stats


def _describe(stats: SinkStats) -> str:
    return (
        f"sent={stats.sent} queued={stats.queued} failed={stats.failed} "
        f"throttled={stats.throttled} dropped={stats.dropped}"
    )
