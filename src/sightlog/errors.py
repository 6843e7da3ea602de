"""The domain exceptions of Sightlog.

Every failure that reaches a client is one of these; the server renders each as the single JSON error
shape of SPEC §6 (``{"error", "code", "details"}``) with the status code below::

    SightlogError                      500 internal (never raised on purpose for bad input)
    ├── BadRequest                     400 bad_request
    │   └── ValidationFailed           400 validation_error   (details: one entry per problem)
    ├── Unauthorized                   401 unauthorized
    ├── Forbidden                      403 forbidden
    ├── NotFound                       404 not_found
    ├── Conflict                       409 conflict
    ├── PayloadTooLarge                413 payload_too_large
    ├── UnsupportedMediaType           415 unsupported_media_type
    ├── RateLimited                    429 rate_limited
    └── Unavailable                    503 unavailable        (store down; clients retry)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One problem inside a request: where (``events[3].timestamp``) and what."""

    loc: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"loc": self.loc, "message": self.message}


class SightlogError(Exception):
    status_code = 500
    code = "internal_error"

    def __init__(self, message: str, details: list[ErrorDetail] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []


class BadRequest(SightlogError):
    status_code = 400
    code = "bad_request"


class ValidationFailed(BadRequest):
    code = "validation_error"


class Unauthorized(SightlogError):
    status_code = 401
    code = "unauthorized"


class Forbidden(SightlogError):
    status_code = 403
    code = "forbidden"


class NotFound(SightlogError):
    status_code = 404
    code = "not_found"


class Conflict(SightlogError):
    status_code = 409
    code = "conflict"


class PayloadTooLarge(SightlogError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMediaType(SightlogError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(SightlogError):
    status_code = 429
    code = "rate_limited"


class Unavailable(SightlogError):
    status_code = 503
    code = "unavailable"
