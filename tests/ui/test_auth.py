"""Sign-in, the session cookie, sign-out, CSRF and tenancy of the dashboard (issue 6, point 1)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.helpers import client
from tests.ui.conftest import COOKIE, CSRF, UiServer, jpeg, sign_in

pytestmark = pytest.mark.slow


def test_root_and_pages_redirect_to_sign_in(page: Any, ui_server: UiServer) -> None:
    page.goto("/")
    assert page.url == f"{ui_server.url}/ui/login?next=%2Fui%2F"
    page.goto("/ui/use-cases/line-qa?type=custom")
    assert page.url.endswith("/ui/login?next=%2Fui%2Fuse-cases%2Fline-qa%3Ftype%3Dcustom")


def test_sign_in_sets_a_safe_cookie_and_returns_to_the_asked_page(
    page: Any, context: Any, ui_server: UiServer
) -> None:
    ui_server.use_case("Sign-in target")
    page.goto("/ui/use-cases/sign-in-target")
    page.fill("#api-key", "sl_not_a_key_at_all_but_long_enough_0000")
    page.click("button[type=submit]")
    page.wait_for_selector("#login-error:has-text('not valid')")

    page.fill("#api-key", ui_server.process.api_key)
    page.click("button[type=submit]")
    page.wait_for_url("**/ui/use-cases/sign-in-target")
    page.wait_for_selector("#who:has-text('Default')")
    (cookie,) = [c for c in context.cookies() if c["name"] == COOKIE]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"
    assert cookie["secure"] is False  # plain http here; set when served over https
    assert cookie["path"] == "/"
    assert ui_server.process.api_key not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # out of reach of scripts


def test_sign_out_ends_the_session(admin_page: Any, context: Any) -> None:
    admin_page.goto("/ui/")
    admin_page.click("#sign-out")
    admin_page.wait_for_url("**/ui/login")
    assert not [c for c in context.cookies() if c["name"] == COOKIE]
    admin_page.goto("/ui/")
    assert "/ui/login?next=" in admin_page.url


def test_cookie_requests_need_the_csrf_header_and_same_origin(ui_server: UiServer) -> None:
    cookie = ui_server.session_cookie(ui_server.process.api_key)
    with client(ui_server.url) as http:
        http.cookies.set(COOKIE, cookie)
        assert http.get("/vision-events/use-cases").status_code == 200  # reads need no header
        refused = http.post("/vision-events/use-cases", json={"name": "Forged"})
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
        cross = http.post(
            "/vision-events/use-cases",
            json={"name": "Forged"},
            headers={**CSRF, "Origin": "https://evil.test"},
        )
        assert cross.status_code == 403
        for origin in ("null", "http://[", "http://evil.127.0.0.1.nip.test"):
            forged = http.post(
                "/vision-events/use-cases", json={"name": "F"}, headers={**CSRF, "Origin": origin}
            )
            assert forged.status_code == 403, origin
        same = http.post(
            "/vision-events/use-cases",
            json={"name": "Cookie made"},
            headers={**CSRF, "Origin": ui_server.url},
        )
        assert same.status_code == 201, same.text
        assert http.delete("/ui/session").status_code == 403  # sign-out too: no forced sign-out
        # Sign-in itself: another site must not sign this browser in with its own key.
        login = http.post("/ui/session", json={"apiKey": ui_server.process.api_key})
        assert login.status_code == 403


def test_forged_or_revoked_sessions_are_refused(ui_server: UiServer) -> None:
    key = ui_server.key("vision-events:read")
    cookie = ui_server.session_cookie(key)
    version, payload, mac = cookie.split(".")
    forged = f"{version}.{payload}.{mac[:-2]}{'AA' if mac[-2:] != 'AA' else 'BB'}"

    def status(path: str, value: str) -> int:
        # An explicit Cookie header: a client's jar would keep the renewed cookie the server sends back.
        return httpx.get(
            ui_server.url + path, headers={"Cookie": f"{COOKIE}={value}"}, trust_env=False
        ).status_code

    assert status("/ui/", cookie) == 200
    assert status("/vision-events/use-cases", cookie) == 200
    assert status("/vision-events/use-cases", forged) == 401
    assert status("/ui/", forged) == 302
    ui_server.cli("keys", "revoke", key)
    assert status("/vision-events/use-cases", cookie) == 401
    assert status("/ui/session", cookie) == 401
    assert status("/ui/", cookie) == 302


def test_scopes_hold_for_the_session(context: Any, page: Any, ui_server: UiServer) -> None:
    reader = ui_server.key("vision-events:read")
    with client(ui_server.url) as http:
        http.cookies.set(COOKIE, ui_server.session_cookie(reader))
        denied = http.post("/vision-events/use-cases", json={"name": "Nope"}, headers=CSRF)
        assert denied.status_code == 403
        writer_only = ui_server.key("vision-events:write")
        refused = http.post("/ui/session", json={"apiKey": writer_only}, headers=CSRF)
        assert refused.status_code == 403  # the dashboard needs the read scope
    sign_in(context, ui_server, reader)
    page.goto("/ui/")
    page.wait_for_selector("#use-cases, .empty")
    assert page.locator("#create-use-case").count() == 0  # no write controls for a read-only key


def test_another_workspace_sees_nothing(context: Any, page: Any, ui_server: UiServer) -> None:
    use_case = ui_server.use_case("Private line")
    source = ui_server.upload(jpeg())
    outsider = ui_server.key("admin", workspace="acme")
    sign_in(context, ui_server, outsider)
    page.goto("/ui/")
    page.wait_for_selector("#who:has-text('acme')")
    page.wait_for_selector(".empty")
    assert page.locator("text=Private line").count() == 0
    page.goto(f"/ui/use-cases/{use_case}")
    page.wait_for_selector(f"#results-status:has-text(\"No use case '{use_case}'\")")
    assert (
        context.request.post("/vision-events/query", data={"useCaseId": use_case}, headers=CSRF).status == 404
    )
    assert context.request.get(f"/vision-events/images/{source}").status == 404


def test_pages_and_files_are_served_safely(ui_server: UiServer) -> None:
    with client(ui_server.url) as http:
        http.cookies.set(COOKIE, ui_server.session_cookie(ui_server.process.api_key))
        shell = http.get("/ui/use-cases/anything")
        assert shell.status_code == 200 and shell.headers["content-type"].startswith("text/html")
        policy = shell.headers["content-security-policy"]
        assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy
        script = http.get("/ui/static/js/app.js")
        assert script.status_code == 200 and "javascript" in script.headers["content-type"]
        assert script.headers["cache-control"] == "no-cache"
        assert http.get("/ui/static/js/missing.js").json()["code"] == "not_found"
        assert http.get("/ui").headers["location"] == "/ui/"
