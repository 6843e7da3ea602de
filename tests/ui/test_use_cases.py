"""The use cases page: counters, create, rename, archive behind a toggle (issue 6, point 2)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import UiServer, minutes_ago

pytestmark = pytest.mark.slow


def test_create_rename_archive(admin_page: Any, ui_server: UiServer) -> None:
    admin_page.goto("/ui/")
    admin_page.fill("#create-use-case input[name=name]", "Paint Shop QA")
    admin_page.click("#create-use-case button[type=submit]")
    row = admin_page.locator("tr[data-use-case=paint-shop-qa]")
    row.wait_for()
    assert "0" in row.locator("td.num").inner_text()
    assert "never" in row.inner_text()

    ui_server.send(
        {
            "eventId": "paint-1",
            "eventType": "custom",
            "useCaseId": "paint-shop-qa",
            "timestamp": minutes_ago(3),
            "eventData": {"value": "drip"},
        }
    )
    admin_page.reload()
    row.locator("text=custom").wait_for()
    assert row.locator("td.num").inner_text() == "1"

    row.locator("button:has-text('Rename')").click()
    row.locator("form.rename input").fill("Paint Shop Inspection")
    row.locator("form.rename button[type=submit]").click()
    row.locator("a:has-text('Paint Shop Inspection')").wait_for()
    assert row.locator(".small").inner_text() == "paint-shop-qa"  # the id never changes

    row.locator("button:has-text('Archive')").click()
    row.wait_for(state="detached")
    admin_page.check("#show-archived")
    admin_page.wait_for_url("**/ui/?archived=1")
    row.locator(".badge:has-text('archived')").wait_for()
    row.locator("button:has-text('Unarchive')").click()
    admin_page.locator("text=Unarchived.").wait_for()  # done: a list reloaded before it still hides the row
    admin_page.uncheck("#show-archived")
    row.wait_for()

    row.locator("a").click()
    admin_page.wait_for_url("**/ui/use-cases/paint-shop-qa")
    admin_page.wait_for_selector("#event-count[data-count='1']")
