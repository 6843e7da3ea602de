"""Request plumbing shared by the routes: services, authentication with scopes, JSON bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import urlsplit

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from sightlog.errors import BadRequest, ErrorDetail, Forbidden, ValidationFailed
from sightlog.models.records import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, ApiKey, Workspace
from sightlog.services import Services
from sightlog.services.auth import AuthService
from sightlog.ui import sessions
from sightlog.ui.sessions import SESSION_COOKIE

# The dashboard's scripts send this header on every request; a page of another site cannot (see check_csrf).
CSRF_HEADER = "X-Sightlog-CSRF"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def services(request: Request) -> Services:
    return request.app.state.services


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


async def current_key(request: Request) -> ApiKey:
    """The key presented with the request; without one, the key of the dashboard's session cookie."""
    key = presented_key(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if key is None and cookie:
        if request.method not in SAFE_METHODS:
            check_csrf(request)
        codec = request.app.state.ui_sessions
        return await run_in_threadpool(sessions.authenticate, services(request).store, codec, cookie)
    auth = services(request).auth
    if not auth.blocking:
        return auth.authenticate(key)
    return await run_in_threadpool(auth.authenticate, key)


def _hostname(url: str) -> str | None:
    try:
        return urlsplit(url).hostname
    except ValueError:  # e.g. an unbalanced "[" in a forged header
        return None


def check_csrf(request: Request) -> None:
    """Refuse a cookie-authenticated write unless it comes from the dashboard's own scripts.

    SameSite=Lax already keeps the cookie off other sites' POSTs in current browsers; this check does not
    rely on that (older browsers; sibling subdomains count as the same site). A write must carry the custom
    header, which a cross-site form cannot send and a cross-site script may send only after a CORS preflight
    this server never approves; and when the browser names the page's origin (it does on every POST), that
    origin's host must be this server's. Ports are not compared: a proxy may pass on the host without the
    port it listens on.
    """
    if request.headers.get(CSRF_HEADER) != "1":
        raise Forbidden(f"A dashboard request that changes data must carry the {CSRF_HEADER}: 1 header.")
    origin = request.headers.get("origin")
    if origin is not None:
        mine = _hostname(f"//{request.headers.get('host', '')}")
        if mine is None or _hostname(origin) != mine:
            raise Forbidden("This request comes from another site's page; it was refused.")


def _scoped(scope: str) -> Callable[..., Any]:
    async def dependency(key: Annotated[ApiKey, Depends(current_key)]) -> Workspace:
        AuthService.require(key, scope)
        return key.workspace

    return dependency


ReadWorkspace = Annotated[Workspace, Depends(_scoped(SCOPE_READ))]
WriteWorkspace = Annotated[Workspace, Depends(_scoped(SCOPE_WRITE))]
AdminWorkspace = Annotated[Workspace, Depends(_scoped(SCOPE_ADMIN))]
AppServices = Annotated[Services, Depends(services)]


async def json_body(request: Request) -> Any:
    body = await request.body()
    if not body:
        raise BadRequest("The request body is empty; send a JSON object.")
    if b"\\u0000" in body:  # PostgreSQL text cannot hold NUL; refuse it on every backend alike
        problem = "strings may not contain the NUL character (\\u0000)"
        raise ValidationFailed(f"The body is invalid: {problem}.", [ErrorDetail("body", problem)])
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"The body is not valid JSON: {exc}.") from None


JsonBody = Annotated[Any, Depends(json_body)]
