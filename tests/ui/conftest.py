"""Fixtures of the dashboard suite: one real ``sightlog serve`` process, one headless Debian Chromium, and a
fresh browser context (signed in or not) per test."""

from __future__ import annotations

import io
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.e2e.helpers import client, run_cli
from tests.support.server import ServerProcess

playwright_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = Path("/usr/bin/chromium")
# Playwright's own browser download is unreachable here; Debian's Chromium, kept offline and quiet.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--no-proxy-server",
]
VIEWPORT = {"width": 1280, "height": 860}
WAIT_MS = 10_000
CSRF = {"X-Sightlog-CSRF": "1"}
COOKIE = "sightlog_session"


def jpeg(width: int = 640, height: int = 480, color: tuple[int, int, int] = (70, 90, 110)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def minutes_ago(n: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=n)).isoformat()


@dataclass
class UiServer:
    """The server under test, an admin API client for seeding it, and CLI access to its store."""

    process: ServerProcess
    http: httpx.Client
    workdir: Path
    workspaces: set[str] = field(default_factory=lambda: {"default"})

    @property
    def url(self) -> str:
        return self.process.url

    def cli(self, *args: str) -> str:
        done = run_cli([*args, "--data-dir", str(self.process.data_dir)], cwd=self.workdir)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    def key(self, *scopes: str, workspace: str = "default") -> str:
        """A new key of ``workspace`` (created, with the workspace, on first use) with ``scopes``."""
        if workspace not in self.workspaces:
            self.cli("workspaces", "create", workspace)
            self.workspaces.add(workspace)
        return self.cli("keys", "create", "--workspace", workspace, *[f"--scope={s}" for s in scopes])

    def session_cookie(self, key: str) -> str:
        """Sign in over HTTP, as the sign-in page does; returns the session cookie's value."""
        with client(self.url) as http:
            response = http.post("/ui/session", json={"apiKey": key}, headers=CSRF)
            assert response.status_code == 200, response.text
            return response.cookies[COOKIE]

    def use_case(self, name: str) -> str:
        response = self.http.post("/vision-events/use-cases", json={"name": name})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def upload(self, image: bytes) -> str:
        response = self.http.post("/vision-events/upload", files={"file": ("frame.jpg", image, "image/jpeg")})
        assert response.status_code == 201, response.text
        return response.json()["sourceId"]

    def send(self, *events: dict[str, Any]) -> None:
        response = self.http.post("/vision-events/batch", json={"events": list(events)})
        assert response.status_code == 201, response.text


@pytest.fixture(scope="session")
def ui_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UiServer]:
    workdir = tmp_path_factory.mktemp("ui")
    with ServerProcess(workdir / "data") as server, client(server.url, server.api_key) as http:
        yield UiServer(process=server, http=http, workdir=workdir)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail("/usr/bin/chromium is missing: scripts/test.sh installs Debian's chromium package")
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class PageErrors:
    """Script errors of one page; a failed image or API load is a network matter, checked by the tests."""

    def __init__(self, page: Any) -> None:
        self.messages: list[str] = []
        page.on("pageerror", lambda exc: self.messages.append(f"uncaught: {exc}"))
        page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "Failed to load resource" not in message.text:
            self.messages.append(message.text)


@pytest.fixture
def context(browser: Any, ui_server: UiServer) -> Iterator[Any]:
    ctx = browser.new_context(base_url=ui_server.url, viewport=VIEWPORT)
    ctx.set_default_timeout(WAIT_MS)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context: Any) -> Iterator[Any]:
    """A page not signed in; fails the test on any uncaught script error."""
    tab = context.new_page()
    errors = PageErrors(tab)
    yield tab
    assert not errors.messages, errors.messages


def wait_true(page: Any, expression: str, timeout_ms: int = WAIT_MS) -> None:
    """Poll a script expression until it is truthy. (Playwright's wait_for_function evaluates strings with
    eval, which the dashboard's Content-Security-Policy rightly forbids.)"""
    deadline = time.monotonic() + timeout_ms / 1000
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout_ms} ms: {expression}")
        page.wait_for_timeout(50)


def sign_in(context: Any, ui_server: UiServer, key: str) -> None:
    """Give the context the session cookie of ``key`` (the form itself is tested in test_auth)."""
    context.add_cookies([{"name": COOKIE, "value": ui_server.session_cookie(key), "url": ui_server.url}])


@pytest.fixture
def admin_page(context: Any, page: Any, ui_server: UiServer) -> Any:
    """A page signed in with the bootstrap admin key."""
    sign_in(context, ui_server, ui_server.process.api_key)
    return page
