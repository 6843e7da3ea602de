"""The dashboard under /ui (SPEC §4): sign-in and sign-out, the page shell and its static files.

Pages are one HTML shell whose ES modules draw each view from the JSON API; the shell is only served to a
signed-in browser, and the API calls it makes are authorised by the same session cookie (``deps.py``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from starlette.concurrency import run_in_threadpool
from starlette.responses import FileResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from sightlog.config import Settings
from sightlog.errors import BadRequest, Unauthorized
from sightlog.models.records import SCOPE_READ, ApiKey
from sightlog.server.deps import AppServices, JsonBody, ReadWorkspace, check_csrf, services
from sightlog.server.responses import JSONResponse
from sightlog.services.auth import AuthService, hash_key
from sightlog.ui import STATIC_DIR
from sightlog.ui.neighbours import neighbours
from sightlog.ui.sessions import SESSION_COOKIE, SessionCodec

router = APIRouter(include_in_schema=False)

# Pages load nothing but this server's own files and never run inline script, so injected markup is inert.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; "
        "frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


class _StaticFiles(StaticFiles):
    """Static files revalidated on every use (cheap with their ETag), so an upgrade shows at once."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["Cache-Control"] = "no-cache"
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response


def install(app: FastAPI, settings: Settings) -> None:
    """Register the dashboard; call before the API routers so that ``GET /`` lands here."""
    app.state.ui_sessions = SessionCodec.for_data_dir(settings.data_dir)
    app.mount("/ui/static", _StaticFiles(directory=STATIC_DIR), name="ui-static")
    app.include_router(router)


def _codec(request: Request) -> SessionCodec:
    return request.app.state.ui_sessions


async def _session(request: Request) -> tuple[ApiKey, str] | None:
    """The signed-in key and its hash, if the session cookie is genuine, current and its key live."""
    key_hash = _codec(request).read(request.cookies.get(SESSION_COOKIE, ""))
    if key_hash is None:
        return None
    found = await run_in_threadpool(services(request).store.find_key, key_hash)
    return (found, key_hash) if found is not None and found.allows(SCOPE_READ) else None


def _set_session(response: Response, request: Request, key_hash: str) -> None:
    codec = _codec(request)
    response.set_cookie(
        SESSION_COOKIE,
        codec.issue(key_hash),
        max_age=codec.lifetime,
        path="/",  # the API under /vision-events needs it too
        httponly=True,
        # Lax, not Strict: a bookmarked or shared /ui link opened from another site must arrive signed in.
        # Cross-site writes are stopped by check_csrf; cross-site reads by the same-origin policy.
        samesite="lax",
        secure=request.url.scheme == "https",
    )


def _whoami(key: ApiKey) -> dict[str, Any]:
    return {
        "workspace": {"slug": key.workspace.slug, "name": key.workspace.name},
        "scopes": sorted(key.scopes),
        "keyPrefix": key.prefix,
        "keyName": key.name,
    }


def _page(name: str) -> Response:
    return FileResponse(STATIC_DIR / name, media_type="text/html", headers=PAGE_HEADERS)


@router.get("/")
async def root() -> Response:
    return RedirectResponse("/ui/", status_code=302)


@router.get("/ui")
async def ui_root() -> Response:
    return RedirectResponse("/ui/", status_code=302)


@router.get("/ui/login")
async def login_page(request: Request) -> Response:
    if await _session(request) is not None:
        return RedirectResponse("/ui/", status_code=302)
    return _page("login.html")


@router.post("/ui/session")
async def sign_in(request: Request, services: AppServices, body: JsonBody) -> Response:
    check_csrf(request)  # also stops another site from signing a browser in with the attacker's key
    key = body.get("apiKey") if isinstance(body, dict) else None
    if not isinstance(key, str) or not key.strip():
        raise BadRequest("Enter an API key.")
    found = await run_in_threadpool(services.auth.authenticate, key.strip())
    AuthService.require(found, SCOPE_READ)
    response = JSONResponse(_whoami(found))
    _set_session(response, request, hash_key(key.strip()))
    return response


@router.get("/ui/session")
async def session_info(request: Request) -> Response:
    """Who is signed in; also renews the cookie, so an open dashboard (a wall screen) stays signed in."""
    session = await _session(request)
    if session is None:
        raise Unauthorized("Not signed in to the dashboard.")
    response = JSONResponse(_whoami(session[0]))
    _set_session(response, request, session[1])
    return response


@router.delete("/ui/session", status_code=204)
async def sign_out(request: Request) -> Response:
    check_csrf(request)
    response = Response(status_code=204)
    response.delete_cookie(
        SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=request.url.scheme == "https"
    )
    return response


@router.post("/ui/neighbours")
async def event_neighbours(workspace: ReadWorkspace, services: AppServices, body: JsonBody) -> Response:
    return JSONResponse(await run_in_threadpool(neighbours, services, workspace, body))


@router.get("/ui/{page:path}")
async def page(request: Request) -> Response:
    if await _session(request) is None:
        wanted = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/ui/login?next={quote(wanted, safe='')}", status_code=302)
    return _page("index.html")
