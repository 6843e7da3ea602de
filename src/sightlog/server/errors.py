"""The one error shape of SPEC §6, for every failure path (ours, Starlette's and unexpected ones)."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from sightlog.errors import ErrorDetail, SightlogError
from sightlog.server.responses import JSONResponse
from sightlog.services.validation import pydantic_details

log = logging.getLogger("sightlog.server")

_STATUS_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    503: "unavailable",
}


def error_body(message: str, code: str, details: list[ErrorDetail] | None = None) -> dict[str, Any]:
    return {"error": message, "code": code, "details": [d.as_dict() for d in details or ()]}


def error_response(
    status: int, message: str, code: str, details: list[ErrorDetail] | None = None
) -> Response:
    headers = {"Retry-After": "1"} if status == 503 else None
    return JSONResponse(error_body(message, code, details), status_code=status, headers=headers)


async def _sightlog_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SightlogError)
    if exc.status_code >= 500:
        log.warning("%s: %s", exc.code, exc.message)
    return error_response(exc.status_code, exc.message, exc.code, exc.details)


async def _http_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = "There is nothing at this path; see /docs for the API."
    elif status == 405:
        message = "This path does not accept that method; see /docs for the API."
    else:
        message = str(exc.detail) if exc.detail else "The request could not be handled."
    code = _STATUS_CODES.get(status, "bad_request" if status < 500 else "internal_error")
    return error_response(status, message.rstrip(".") + ".", code)


async def _request_validation_error(_request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    details = [
        ErrorDetail(".".join(str(p) for p in err.get("loc", ()) if p != "body"), err.get("msg", "is invalid"))
        for err in exc.errors()
    ]
    first = details[0] if details else ErrorDetail("request", "is invalid")
    return error_response(
        400, f"The request is invalid: {first.loc} {first.message}.", "validation_error", details
    )


async def _unexpected_error(_request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", exc_info=exc)
    return error_response(500, "The server hit an unexpected error; it has been logged.", "internal_error")


def install(app: FastAPI) -> None:
    app.add_exception_handler(SightlogError, _sightlog_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _request_validation_error)
    app.add_exception_handler(Exception, _unexpected_error)


__all__ = ["error_response", "install", "pydantic_details"]
