"""The forwarder: one thread that delivers the outbox upstream, for as long as it takes.

Each round uploads pending images first (a few at a time), recording the upstream sourceId of each, then
sends pending events in order, in batches, with their local sourceIds replaced by upstream's and the
agent's device id added where an event names none. An event waits while an image it names is still to
be uploaded. Every step is recorded in the outbox, so a restarted agent resumes where it stopped; a batch
whose answer was lost is simply sent again (events are idempotent by eventId).

Failures upstream (unreachable, 5xx, 429, a bad key) stop the round and the thread waits with capped,
jittered backoff before the next. What upstream refuses for good (a 400 naming an event, a 413) is kept
as rejected, with the reason, and the rest goes on.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import orjson

from sightlog.agent.outbox import PENDING, Outbox, PendingEvent, PendingImage
from sightlog.agent.report import Stats
from sightlog.sdk import _calls as calls
from sightlog.sdk._transport import Call, RetryPolicy, SyncTransport
from sightlog.sdk._transport import Settings as ClientSettings
from sightlog.sdk.errors import (
    BadRequest,
    PayloadTooLarge,
    SightlogError,
    UnsupportedMediaType,
    ValidationError,
)
from sightlog.store.blobs import LocalBlobStore

log = logging.getLogger("sightlog.agent")

IDLE_WAIT_SECONDS = 1.0  # also how soon a write is noticed if its wake-up was missed
UPLOADS_PER_LANE = 32  # per round: a round stays short, so events interleave with a long image backlog
MAX_UPLOAD_LANES = 8
# An upstream that answers an upload within this is served by one upload at a time; see upload_lanes.
LANE_LATENCY_SECONDS = 0.015
MAX_BATCH_BYTES = 4 * 1024 * 1024  # well under the server's 10 MiB JSON limit
# Refusals that are about the item sent, not about upstream's state: retrying cannot help.
_REFUSED = (BadRequest, PayloadTooLarge, UnsupportedMediaType)
_EVENT_INDEX = re.compile(r"^events\[(\d+)\]")


def upload_lanes(latency: float) -> int:
    """How many uploads to keep in flight, given how long one takes (seconds, a moving average).

    In flight = rate x latency (Little's law): a distant upstream needs several uploads under way or the
    outbox drains one round trip at a time. A near one is best served by a single lane: more threads only
    compete for the GIL with the request handlers (measured with bench/agent.py: 4 lanes to an upstream
    answering in a few ms cut the agent's intake of images from ~188 to ~163 events/s)."""
    return max(1, min(MAX_UPLOAD_LANES, math.ceil(latency / LANE_LATENCY_SECONDS)))


def _reason(exc: SightlogError) -> str:
    details = "; ".join(f"{d.loc}: {d.message}" if d.loc else d.message for d in exc.details)
    return f"{exc.message} ({details})" if details else exc.message


class Upstream:
    """The upstream server, through the SDK's transport. One attempt per call (the forwarder keeps its own
    endless backoff), and events sent as the agent stored them, not re-modelled by the SDK."""

    def __init__(self, server: str, api_key: str) -> None:
        timeout = httpx.Timeout(30.0, connect=5.0)
        settings = ClientSettings.resolve(server, api_key, timeout, RetryPolicy(max_attempts=1), None)
        self._transport = SyncTransport(settings)

    def workspace(self) -> str:
        return self._transport.run(calls.workspace())

    def upload(self, data: bytes, name: str | None, metadata: dict[str, Any] | None) -> str:
        return self._transport.run(
            calls.upload_image(data, name=name, metadata=metadata, channels="bgr")
        ).source_id

    def batch(self, events: list[dict[str, Any]]) -> None:
        body = orjson.dumps({"events": events})
        headers = {"Content-Type": "application/json"}
        self._transport.run(
            Call("POST", f"{calls.BASE}/batch", lambda _: None, content=body, headers=headers)
        )

    def close(self) -> None:
        self._transport.close()


class Forwarder:
    def __init__(
        self,
        outbox: Outbox,
        blobs: LocalBlobStore,
        upstream: Upstream,
        stats: Stats,
        *,
        device_id: str,
        batch_size: int,
        max_backoff: float,
    ) -> None:
        self.outbox = outbox
        self.blobs = blobs
        self.upstream = upstream
        self.stats = stats
        self.device_id = device_id
        self.batch_size = batch_size
        self.backoff = RetryPolicy(backoff=0.25, max_backoff=max_backoff)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._pool = ThreadPoolExecutor(MAX_UPLOAD_LANES, thread_name_prefix="sightlog-upload")
        self.upload_latency = 0.0  # seconds per upload, a moving average
        self._thread = threading.Thread(target=self._run, name="sightlog-forwarder", daemon=True)
        outbox.on_change = self._wake.set

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)
        self._pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            self._wake.clear()  # before the round: a write during it makes the wait below return at once
            try:
                busy = self._round()
            except SightlogError as exc:
                failures += 1
                self.stats.upstream_failed(_reason(exc))
                log.info("upstream: %s; next attempt after backoff (failure %d in a row)", exc, failures)
                self._stop.wait(self.backoff.backoff_delay(failures))
                continue
            except Exception as exc:  # never let the thread die: it is the only way data leaves
                failures += 1
                log.exception("forwarder round failed")
                self.stats.upstream_failed(f"{type(exc).__name__}: {exc}")
                self._stop.wait(self.backoff.backoff_delay(failures))
                continue
            failures = 0
            if not busy:
                self._wake.wait(IDLE_WAIT_SECONDS)

    def _round(self) -> bool:
        """One pass: the workspace slug if unknown, then images, then one batch of events."""
        if self.outbox.meta("workspace") is None:
            self.outbox.set_meta("workspace", self.upstream.workspace())
            self.stats.upstream_answered()
        uploaded = self._upload_images()
        return self._send_events() or uploaded

    # -- images --------------------------------------------------------------------------------------

    def _upload_images(self) -> bool:
        lanes = upload_lanes(self.upload_latency)
        pending = self.outbox.pending_images(UPLOADS_PER_LANE * lanes)
        if not pending:
            return False
        futures = [self._pool.submit(self._upload_lane, pending[lane::lanes]) for lane in range(lanes)]
        outcomes: dict[str, tuple[str | None, str | None]] = {}
        trouble: SightlogError | None = None
        for future in futures:
            uploaded, refused, lane_trouble = future.result()
            outcomes.update({local_id: (upstream_id, None) for local_id, upstream_id in uploaded.items()})
            for local_id, reason in refused.items():
                outcomes[local_id] = (None, reason)
                self.stats.rejected(f"image {local_id}: {reason}")
            trouble = trouble or lane_trouble
        if outcomes:
            self.outbox.images_done(outcomes)
            self.stats.delivered(images=sum(1 for upstream_id, _ in outcomes.values() if upstream_id))
        if trouble is not None:
            raise trouble
        return True

    def _upload_lane(
        self, images: list[PendingImage]
    ) -> tuple[dict[str, str], dict[str, str], SightlogError | None]:
        """Upload one after another: (uploaded local id -> upstream id, refused local id -> reason, and
        what stopped the lane early if upstream is in trouble)."""
        uploaded: dict[str, str] = {}
        refused: dict[str, str] = {}
        for image in images:
            started = time.monotonic()
            try:
                uploaded[image.local_id] = self._upload(image)
            except _REFUSED as exc:
                refused[image.local_id] = _reason(exc)
            except SightlogError as exc:
                return uploaded, refused, exc
            # Lanes update the average unlocked: a lost update between two of them only slows the estimate.
            self.upload_latency += 0.2 * (time.monotonic() - started - self.upload_latency)
        return uploaded, refused, None

    def _upload(self, image: PendingImage) -> str:
        try:
            with self.blobs.open(image.sha256) as stream:
                data = stream.read()
        except FileNotFoundError:
            # Cannot happen short of someone deleting files in the data directory; not worth retrying.
            raise BadRequest(f"The bytes of image {image.local_id} are missing from the outbox.") from None
        metadata = orjson.loads(image.metadata) if image.metadata else None
        return self.upstream.upload(data, image.name, metadata)

    # -- events --------------------------------------------------------------------------------------

    def _send_events(self) -> bool:
        batch: list[PendingEvent] = []
        size = 0
        for event in self.outbox.pending_events(self.batch_size):
            if any(state == PENDING for state, _ in event.images.values()):
                break  # its images go first; the next round uploads them
            if batch and size + event.size > MAX_BATCH_BYTES:
                break
            batch.append(event)
            size += event.size
        if not batch:
            return False
        self._deliver(batch)
        return True

    def _deliver(self, batch: list[PendingEvent]) -> None:
        try:
            self.upstream.batch([self._wire(event) for event in batch])
        except ValidationError as exc:
            blamed = _blamed(exc, len(batch))
            if not blamed:
                self._one_by_one(batch, exc)
                return
            self._reject([(batch[i], reason) for i, reason in blamed.items()])
            rest = [event for i, event in enumerate(batch) if i not in blamed]
            if rest:
                self._deliver(rest)
            return
        except _REFUSED as exc:
            self._one_by_one(batch, exc)
            return
        self.outbox.events_done(delivered=[event.seq for event in batch])
        self.stats.delivered(events=len(batch))

    def _one_by_one(self, batch: list[PendingEvent], exc: SightlogError) -> None:
        """A refusal that names no event: alone, the event is refused for good; in a batch, find which."""
        if len(batch) == 1:
            self._reject([(batch[0], _reason(exc))])
            return
        for event in batch:
            self._deliver([event])

    def _reject(self, reasons: list[tuple[PendingEvent, str]]) -> None:
        self.outbox.events_done(rejected={event.seq: reason for event, reason in reasons})
        for event, reason in reasons:
            log.warning("upstream refused event %r for good: %s", event.event_id, reason)
            self.stats.rejected(f"event {event.event_id}: {reason}")

    def _wire(self, event: PendingEvent) -> dict[str, Any]:
        """The body to send: as validated, with upstream sourceIds and the device id, without the warnings
        the agent's validation noted (upstream notes its own)."""
        body = orjson.loads(event.body)
        body.pop("warnings", None)
        if not body.get("deviceId"):
            body["deviceId"] = self.device_id
        for entry in body.get("images") or ():
            for key in ("sourceId", "inputSourceId"):
                _, upstream_id = event.images.get(entry.get(key), (None, None))
                if upstream_id:
                    entry[key] = upstream_id
        return body


def _blamed(exc: ValidationError, count: int) -> dict[int, str]:
    """Which events of a batch a 400 names (``events[3].timestamp``), with why; empty if it names none."""
    reasons: dict[int, list[str]] = {}
    for detail in exc.details:
        match = _EVENT_INDEX.match(detail.loc)
        if match is None or int(match.group(1)) >= count:
            return {}
        where = detail.loc[match.end() :].lstrip(".")
        reasons.setdefault(int(match.group(1)), []).append(
            f"{where}: {detail.message}" if where else detail.message
        )
    return {index: "; ".join(messages) for index, messages in reasons.items()}
