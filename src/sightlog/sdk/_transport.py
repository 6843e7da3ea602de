"""HTTP plumbing shared by ``Client`` and ``AsyncClient``: requests as data, retries, error mapping.

Every API method builds a :class:`Call` (what to send and how to read the answer) without doing any I/O;
:class:`SyncTransport` and :class:`AsyncTransport` differ only in how they send it and how they wait.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Generic, TypeVar

import httpx

from sightlog import __version__
from sightlog.sdk.errors import SightlogError, TransportError, Unauthorized, error_from_response

log = logging.getLogger("sightlog.sdk")
T = TypeVar("T")

DEFAULT_SERVER = "http://127.0.0.1:8400"
SERVER_ENV = "SIGHTLOG_SERVER"
API_KEY_ENV = "SIGHTLOG_API_KEY"
USER_AGENT = f"sightlog-python/{__version__}"

# No request reached the server: always safe to send again.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The request may have been processed before the connection broke: only idempotent calls are re-sent.
_MAYBE_SENT = (
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
    httpx.ReadTimeout,
    httpx.WriteTimeout,
)
RETRY_STATUSES = frozenset({429, 503})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to re-send a request the server did not take.

    Retried: connection failures, ``429`` and ``503``. A ``Retry-After`` header is obeyed (up to
    ``max_retry_after`` seconds); otherwise the wait doubles from ``backoff`` up to ``max_backoff``, with
    jitter so that many clients recovering together do not hammer the server in lockstep.
    """

    max_attempts: int = 5
    backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 60.0

    def backoff_delay(self, attempt: int) -> float:
        """Equal jitter: half the capped exponential step is fixed, the other half random."""
        step = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return step / 2 + random.uniform(0, step / 2)

    def delay(
        self, outcome: httpx.Response | httpx.TransportError, attempt: int, idempotent: bool
    ) -> float | None:
        """Seconds to wait before attempt ``attempt + 1``, or ``None`` when ``outcome`` is final."""
        if attempt >= self.max_attempts:
            return None
        if isinstance(outcome, httpx.Response):
            if outcome.status_code not in RETRY_STATUSES:
                return None
            retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
            if retry_after is not None:
                return min(retry_after, self.max_retry_after)
            return self.backoff_delay(attempt)
        if isinstance(outcome, _NOT_SENT) or (idempotent and isinstance(outcome, _MAYBE_SENT)):
            return self.backoff_delay(attempt)
        return None


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds (``"2"``) or an HTTP date; ``None`` when absent or unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - datetime.now(UTC)).total_seconds())


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One API request and how to read its successful answer. ``idempotent`` says whether re-sending it
    after a connection broke mid-request is harmless (true for event writes: they carry their eventId)."""

    method: str
    path: str
    parse: Callable[[httpx.Response], T]
    params: Mapping[str, str] | None = None
    json: Any = None
    content: bytes | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    data: Mapping[str, str] | None = None
    headers: Mapping[str, str] | None = None
    idempotent: bool = True

    def request_args(self) -> dict[str, Any]:
        args: dict[str, Any] = {"method": self.method, "url": self.path}
        for name in ("params", "json", "content", "files", "data", "headers"):
            value = getattr(self, name)
            if value is not None:
                args[name] = value
        return args


@dataclass(slots=True)
class Settings:
    """Where and how to connect; unset arguments come from ``SIGHTLOG_SERVER`` / ``SIGHTLOG_API_KEY``."""

    server: str
    api_key: str | None
    timeout: float | httpx.Timeout
    retry: RetryPolicy
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def resolve(
        cls,
        server: str | None,
        api_key: str | None,
        timeout: float | httpx.Timeout,
        retry: RetryPolicy | None,
        max_attempts: int | None,
    ) -> Settings:
        policy = retry or RetryPolicy()
        if max_attempts is not None:
            policy = RetryPolicy(max_attempts, policy.backoff, policy.max_backoff, policy.max_retry_after)
        url = (server or os.environ.get(SERVER_ENV) or DEFAULT_SERVER).rstrip("/")
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV) or None
        headers = {"User-Agent": USER_AGENT}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return cls(url, key, timeout, policy, headers)

    def client_args(self) -> dict[str, Any]:
        return {"base_url": self.server, "headers": self.headers, "timeout": self.timeout}


class Transport:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def _delay(
        self, call: Call[Any], outcome: httpx.Response | httpx.TransportError, attempt: int
    ) -> float | None:
        delay = self.settings.retry.delay(outcome, attempt, call.idempotent)
        if delay is not None:
            what = (
                f"HTTP {outcome.status_code}"
                if isinstance(outcome, httpx.Response)
                else type(outcome).__name__
            )
            log.info(
                "%s %s: %s; retrying in %.2fs (attempt %d of %d)",
                call.method,
                call.path,
                what,
                delay,
                attempt + 1,
                self.settings.retry.max_attempts,
            )
        return delay

    def _finish(self, call: Call[T], outcome: httpx.Response | httpx.TransportError, attempt: int) -> T:
        if isinstance(outcome, httpx.TransportError):
            raise TransportError(
                f"{call.method} {self.settings.server}{call.path} failed after {attempt} attempt(s): "
                f"{type(outcome).__name__}: {outcome or 'no detail'}"
            ) from outcome
        if not outcome.is_success:
            raise self._error(outcome)
        try:
            return call.parse(outcome)
        except (ValueError, KeyError, TypeError) as exc:  # pydantic's ValidationError is a ValueError
            # Most likely not a Sightlog server at this address (or a proxy's page).
            kind = outcome.headers.get("content-type", "no content type")
            raise SightlogError(
                f"{call.method} {self.settings.server}{call.path}: unexpected answer "
                f"(HTTP {outcome.status_code}, {kind}): {exc}",
                status=outcome.status_code,
                code="unexpected_response",
            ) from exc

    def _error(self, response: httpx.Response) -> SightlogError:
        error = error_from_response(response)
        if isinstance(error, Unauthorized) and not self.settings.api_key:
            error.message += f" (no API key was given: pass api_key= or set {API_KEY_ENV})"
        return error


class SyncTransport(Transport):
    def __init__(self, settings: Settings, transport: httpx.BaseTransport | None = None) -> None:
        super().__init__(settings)
        self.http = httpx.Client(transport=transport, **settings.client_args())

    def run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome: httpx.Response | httpx.TransportError = self.http.request(**call.request_args())
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._delay(call, outcome, attempt)
            if delay is None:
                return self._finish(call, outcome, attempt)
            time.sleep(delay)

    def close(self) -> None:
        self.http.close()


class AsyncTransport(Transport):
    def __init__(self, settings: Settings, transport: httpx.AsyncBaseTransport | None = None) -> None:
        super().__init__(settings)
        self.http = httpx.AsyncClient(transport=transport, **settings.client_args())

    async def run(self, call: Call[T]) -> T:
        attempt = 0
        while True:
            attempt += 1
            try:
                outcome: httpx.Response | httpx.TransportError = await self.http.request(
                    **call.request_args()
                )
            except httpx.TransportError as exc:
                outcome = exc
            delay = self._delay(call, outcome, attempt)
            if delay is None:
                return self._finish(call, outcome, attempt)
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self.http.aclose()
