"""Request plumbing shared by the routes: services, authentication with scopes, JSON bodies."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, Request
from starlette.concurrency import run_in_threadpool

from sightlog.errors import BadRequest, ErrorDetail, ValidationFailed
from sightlog.models.records import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE, ApiKey, Workspace
from sightlog.services import Services
from sightlog.services.auth import AuthService


def services(request: Request) -> Services:
    return request.app.state.services


def presented_key(request: Request) -> str | None:
    auth = request.headers.get("authorization")
    if auth and auth[:7].lower() == "bearer ":
        return auth[7:].strip()
    return request.headers.get("x-api-key") or request.query_params.get("api_key")


async def current_key(request: Request) -> ApiKey:
    return await run_in_threadpool(services(request).auth.authenticate, presented_key(request))


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
