"""Feedback from the detail view, and the explorer's live mode (issue 6, points 3 and 4)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import UiServer, minutes_ago

pytestmark = pytest.mark.slow


def alert(event_id: str, use_case: str, minutes: float) -> dict[str, Any]:
    return {
        "eventId": event_id,
        "eventType": "safety_alert",
        "useCaseId": use_case,
        "timestamp": minutes_ago(minutes),
        "eventData": {"alertType": "no_hardhat", "severity": "high"},
    }


def test_feedback_is_stored_and_filterable(admin_page: Any, ui_server: UiServer) -> None:
    use_case = ui_server.use_case("Review desk")
    ui_server.send(*(alert(f"alert-{i}", use_case, i + 1) for i in range(3)))
    admin_page.goto(f"/ui/use-cases/{use_case}/events/alert-1")
    admin_page.wait_for_selector("#feedback-status:has-text('Not reviewed')")
    admin_page.fill("#feedback-comment", "helmet was on")
    admin_page.click("button[data-feedback=incorrect]")
    admin_page.wait_for_selector("#feedback-status:has-text('incorrect')")
    assert admin_page.locator("button[data-feedback=incorrect]").get_attribute("aria-pressed") == "true"
    stored = ui_server.http.get("/vision-events/events/alert-1").json()["feedback"]
    assert stored["status"] == "incorrect"
    review = ui_server.http.get(f"/vision-events/events/{stored['eventId']}").json()
    assert review["eventData"]["comment"] == "helmet was on"

    admin_page.click("#back")
    admin_page.click("#add-filter")
    dialog = admin_page.locator("#filter-editor")
    dialog.locator("select[name=kind]").select_option("feedback")
    dialog.locator("input[name=feedback][value=incorrect]").check()
    dialog.locator("button[type=submit]").click()
    admin_page.wait_for_selector("#event-count[data-count='1']")
    assert "feedback=incorrect" in admin_page.url
    tiles = admin_page.locator("#results .tile")
    assert tiles.count() == 1 and tiles.first.get_attribute("data-event-id") == "alert-1"
    assert tiles.first.locator(".fb-incorrect").count() == 1


def test_live_mode_shows_new_events(admin_page: Any, ui_server: UiServer) -> None:
    use_case = ui_server.use_case("Live gate")
    ui_server.send(alert("gate-1", use_case, 5))
    admin_page.goto(f"/ui/use-cases/{use_case}")
    admin_page.wait_for_selector("#event-count[data-count='1']")
    admin_page.check("#live")
    admin_page.wait_for_selector("#live:checked")
    assert "live=1" in admin_page.url
    ui_server.send(alert("gate-2", use_case, 0))
    admin_page.wait_for_selector("#results .tile.fresh[data-event-id=gate-2]", timeout=15_000)
    admin_page.wait_for_selector("#event-count[data-count='2']")
    ids = admin_page.locator("#results .tile").evaluate_all("ts => ts.map(t => t.dataset.eventId)")
    assert ids == ["gate-2", "gate-1"]
