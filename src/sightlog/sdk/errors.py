"""The exceptions the SDK raises: one per error code of SPEC §6, plus one for an unreachable server.

Every non-2xx answer becomes one of these, carrying the status, the machine ``code``, the server's
sentence and its per-field ``details``::

    SightlogError                      any failure talking to a Sightlog server
    ├── BadRequest                     400 bad_request
    │   └── ValidationError            400 validation_error   (details: one entry per problem)
    ├── Unauthorized                   401 unauthorized
    ├── Forbidden                      403 forbidden
    ├── NotFound                       404 not_found
    ├── Conflict                       409 conflict
    ├── PayloadTooLarge                413 payload_too_large
    ├── UnsupportedMediaType           415 unsupported_media_type
    ├── RateLimited                    429 rate_limited        (retried before it is raised)
    ├── Unavailable                    503 unavailable         (retried before it is raised)
    └── TransportError                 no answer: connection refused, reset, timed out (retried first)

``ValidationError`` is a ``BadRequest``, so ``except BadRequest`` catches every 400.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

__all__ = [
    "BadRequest",
    "Conflict",
    "ErrorDetail",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "RateLimited",
    "SightlogError",
    "TransportError",
    "Unauthorized",
    "Unavailable",
    "UnsupportedMediaType",
    "ValidationError",
]


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem inside a request: where (``events[3].timestamp``) and what."""

    loc: str
    message: str


class SightlogError(Exception):
    """Base of every SDK error. ``status`` is ``None`` when no HTTP answer arrived."""

    status: int | None = None
    code: str = "error"

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str | None = None,
        details: list[ErrorDetail] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status
        if code is not None:
            self.code = code
        self.details: list[ErrorDetail] = details or []

    def __str__(self) -> str:
        prefix = f"{self.status} {self.code}" if self.status is not None else self.code
        lines = [f"{prefix}: {self.message}"]
        lines += [f"  {d.loc}: {d.message}" for d in self.details]
        return "\n".join(lines)


class BadRequest(SightlogError):
    status = 400
    code = "bad_request"


class ValidationError(BadRequest):
    code = "validation_error"


class Unauthorized(SightlogError):
    status = 401
    code = "unauthorized"


class Forbidden(SightlogError):
    status = 403
    code = "forbidden"


class NotFound(SightlogError):
    status = 404
    code = "not_found"


class Conflict(SightlogError):
    status = 409
    code = "conflict"


class PayloadTooLarge(SightlogError):
    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(SightlogError):
    status = 415
    code = "unsupported_media_type"


class RateLimited(SightlogError):
    status = 429
    code = "rate_limited"


class Unavailable(SightlogError):
    status = 503
    code = "unavailable"


class TransportError(SightlogError):
    code = "transport_error"


_BY_CODE: dict[str, type[SightlogError]] = {
    cls.code: cls
    for cls in (
        BadRequest,
        ValidationError,
        Unauthorized,
        Forbidden,
        NotFound,
        Conflict,
        PayloadTooLarge,
        UnsupportedMediaType,
        RateLimited,
        Unavailable,
    )
}
_BY_STATUS: dict[int, type[SightlogError]] = {
    cls.status: cls for cls in _BY_CODE.values() if cls is not ValidationError and cls.status is not None
}


def error_from_response(response: httpx.Response) -> SightlogError:
    """The exception for a non-2xx answer; tolerates bodies that are not the SPEC §6 shape (a proxy's)."""
    body: Any
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    code = body.get("code") if isinstance(body.get("code"), str) else None
    message = body.get("error")
    if not isinstance(message, str) or not message:
        text = response.text.strip()[:200]
        message = text or f"HTTP {response.status_code} {response.reason_phrase}"
    details = [
        ErrorDetail(str(d.get("loc", "")), str(d.get("message", "")))
        for d in body.get("details") or ()
        if isinstance(d, dict)
    ]
    cls = _BY_CODE.get(code or "") or _BY_STATUS.get(response.status_code)
    if cls is None:
        cls = BadRequest if 400 <= response.status_code < 500 else SightlogError
    return cls(message, status=response.status_code, code=code, details=details)
