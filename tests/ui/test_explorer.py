"""The explorer and the event detail against a real server (issue 6, points 3 and 4)."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import quote

import pytest

from tests.ui.conftest import UiServer, jpeg, minutes_ago, wait_true

pytestmark = pytest.mark.slow

EVENTS = 12
SLASHED = "cam/7/evt-05"  # event ids may hold slashes; the dashboard must URL-encode them
WIDTH, HEIGHT = 640, 480


def event_id(i: int) -> str:
    return SLASHED if i == 5 else f"qa-{i:02d}"


def detections(i: int) -> list[dict[str, Any]]:
    """Two dents (one unsure) on every fourth event, one scratch elsewhere."""
    if i % 4 == 0:
        return [
            {"class": "dent", "x": 100 + 10 * i, "y": 120, "width": 60, "height": 40, "confidence": 0.9},
            {"class": "dent", "x": 400, "y": 300 + i, "width": 90, "height": 50, "confidence": 0.4},
        ]
    return [{"class": "scratch", "x": 320, "y": 200, "width": 30 + i, "height": 20, "confidence": 0.7}]


def qa_event(i: int, use_case: str, source: str) -> dict[str, Any]:
    image: dict[str, Any] = {"inputSourceId": source, "objectDetections": detections(i)}
    if i == 1:  # one of every other kind, to be drawn too
        image["classifications"] = [{"class": "ok", "confidence": 0.8}]
        image["instanceSegmentations"] = [
            {"class": "rust", "x": 50, "y": 50, "width": 20, "height": 20, "confidence": 0.6,
             "points": [[40, 40], [60, 40], [60, 60]]}
        ]  # fmt: skip
        image["keypoints"] = [
            {"class": "hand", "x": 500, "y": 100, "width": 40, "height": 80, "confidence": 0.9,
             "keypoints": [{"id": 0, "x": 495, "y": 70, "confidence": 0.9}]}
        ]  # fmt: skip
    return {
        "eventId": event_id(i),
        "eventType": "quality_check",
        "useCaseId": use_case,
        "timestamp": minutes_ago(i + 1),  # qa-00 is the newest
        "eventData": {"result": "fail" if i % 4 == 0 else "pass"},
        "deviceId": f"line{i % 3 + 1}-cam",
        "customMetadata": {"line_id": i % 3 + 1, "shift": ("morning", "night")[i % 2]},
        "images": [image],
    }


@pytest.fixture(scope="module")
def qa(ui_server: UiServer) -> str:
    use_case = ui_server.use_case("Explorer QA")
    source = ui_server.upload(jpeg(WIDTH, HEIGHT))
    ui_server.send(*(qa_event(i, use_case, source) for i in range(EVENTS)))
    return use_case


def tile_ids(page: Any) -> list[str]:
    return page.locator("#results .tile").evaluate_all("tiles => tiles.map(t => t.dataset.eventId)")


def wait_count(page: Any, n: int) -> None:
    page.wait_for_selector(f"#event-count[data-count='{n}']")


def add_filter(page: Any, kind: str) -> Any:
    page.click("#add-filter")
    dialog = page.locator("#filter-editor")
    dialog.locator("select[name=kind]").select_option(kind)
    return dialog


def test_ingested_events_appear_newest_first_with_count_and_chart(admin_page: Any, qa: str) -> None:
    admin_page.goto(f"/ui/use-cases/{qa}")
    wait_count(admin_page, EVENTS)
    admin_page.wait_for_selector("#results .tile >> nth=11")
    assert tile_ids(admin_page) == [event_id(i) for i in range(EVENTS)]
    assert admin_page.locator("h1").inner_text() == "Explorer QA"
    admin_page.wait_for_selector("#chart svg.chart .bar rect")
    bars = admin_page.locator("#chart .bar rect").count()
    assert bars >= 1
    # Every tile draws its boxes over a lazily loaded thumbnail of the input image.
    first = admin_page.locator("#results .tile").first
    assert first.locator("img").get_attribute("loading") == "lazy"
    assert first.locator("rect.box").count() == 2

    admin_page.click("#view-list")
    admin_page.wait_for_selector("#results tbody tr >> nth=11")
    assert "view=list" in admin_page.url


def test_filter_by_metadata_then_class_updates_count_and_url(admin_page: Any, qa: str) -> None:
    admin_page.goto(f"/ui/use-cases/{qa}")
    wait_count(admin_page, EVENTS)

    dialog = add_filter(admin_page, "meta")
    # Field names and their types come from the inferred schema.
    dialog.locator("#fields-meta option[value=line_id]").wait_for(state="attached")
    dialog.locator("input[name=field]").fill("line_id")
    dialog.locator("input[name=field]").dispatch_event("change")
    assert dialog.locator("select[name=type]").input_value() == "number"
    dialog.locator("input[name=value]").fill("2")
    dialog.locator("button[type=submit]").click()
    wait_count(admin_page, 4)
    assert "meta.line_id.eq.number=2" in admin_page.url
    wait_true(admin_page, "document.querySelectorAll('#results .tile').length === 4")
    assert tile_ids(admin_page) == ["qa-01", "qa-04", "qa-07", "qa-10"]

    dialog = add_filter(admin_page, "class")
    dialog.locator("input[name=class]").fill("dent")
    dialog.locator("button[type=submit]").click()  # minimum confidence 0.5 by default
    wait_count(admin_page, 1)
    assert "class.dent=0.5" in admin_page.url
    chips = admin_page.locator("#chips .chip").all_inner_texts()
    assert any("line_id = 2" in c for c in chips) and any("dent ≥ 0.50" in c for c in chips)

    # The URL is the view: a reload, or another tab given the link, shows the same.
    shared = admin_page.url
    admin_page.reload()
    wait_count(admin_page, 1)
    assert tile_ids(admin_page) == ["qa-04"]
    other = admin_page.context.new_page()
    other.goto(shared)
    wait_count(other, 1)
    assert tile_ids(other) == ["qa-04"]
    assert other.locator("#chips .chip").all_inner_texts() == chips
    other.close()

    # Removing a chip widens the view again.
    admin_page.locator("#chips .chip[data-kind=class] .chip-remove").click()
    wait_count(admin_page, 4)


def expected_rect(det: dict[str, Any]) -> tuple[float, float, float, float]:
    return (det["x"] - det["width"] / 2, det["y"] - det["height"] / 2, det["width"], det["height"])


def test_detail_draws_the_stored_boxes_where_they_are(admin_page: Any, ui_server: UiServer, qa: str) -> None:
    stored = ui_server.http.get("/vision-events/events/qa-04").json()["images"][0]["objectDetections"]
    admin_page.goto(f"/ui/use-cases/{qa}/events/qa-04")
    overlay = admin_page.locator("#stage svg.overlay")
    overlay.wait_for()
    wait_true(admin_page, "document.querySelector('#stage img.photo').complete")
    assert overlay.get_attribute("viewBox") == f"0 0 {WIDTH} {HEIGHT}"
    rects = overlay.locator("rect[data-kind=objectDetections]")
    assert rects.count() == len(stored) == 2
    drawn = [tuple(float(r.get_attribute(a)) for a in ("x", "y", "width", "height")) for r in rects.all()]
    assert drawn == [expected_rect(d) for d in stored]

    # On screen, through the viewBox's "meet" fit: the same place as on the letterboxed image.
    frame = overlay.bounding_box()
    scale = min(frame["width"] / WIDTH, frame["height"] / HEIGHT)
    left = frame["x"] + (frame["width"] - WIDTH * scale) / 2
    top = frame["y"] + (frame["height"] - HEIGHT * scale) / 2
    photo = admin_page.locator("#stage img.photo").bounding_box()
    assert photo == pytest.approx(frame, abs=1)
    for rect, det in zip(rects.all(), stored, strict=True):
        # The box's screen rectangle includes its 2 px stroke, which grows it evenly on every side.
        box = rect.bounding_box()
        assert box["x"] + box["width"] / 2 == pytest.approx(left + det["x"] * scale, abs=1)
        assert box["y"] + box["height"] / 2 == pytest.approx(top + det["y"] * scale, abs=1)
        assert box["width"] == pytest.approx(det["width"] * scale + 2, abs=1)
        assert box["height"] == pytest.approx(det["height"] * scale + 2, abs=1)

    # The confidence slider and the class toggles hide what they should.
    admin_page.locator("#min-confidence").evaluate(
        "el => { el.value = '0.5'; el.dispatchEvent(new Event('input', {bubbles: true})); }"
    )
    assert overlay.locator("rect[data-kind=objectDetections]").count() == 1
    admin_page.locator("#class-toggles input[data-class=dent]").uncheck()
    assert admin_page.locator("#stage svg.overlay rect[data-kind=objectDetections]").count() == 0


def test_every_kind_of_prediction_is_drawn(admin_page: Any, qa: str) -> None:
    admin_page.goto(f"/ui/use-cases/{qa}/events/qa-01")
    overlay = admin_page.locator("#stage svg.overlay")
    overlay.wait_for()
    assert overlay.locator("rect[data-kind=objectDetections]").count() == 1
    assert overlay.locator("polygon.polygon").get_attribute("points") == "40,40 60,40 60,60"
    assert overlay.locator("circle.keypoint").count() == 1
    assert "ok 80%" in overlay.locator("[data-kind=classifications] text").text_content()
    assert admin_page.locator("#class-toggles input").count() == 4


def test_detail_navigation_by_keys_and_slashed_ids(admin_page: Any, qa: str) -> None:
    admin_page.goto(f"/ui/use-cases/{qa}?shift=ignored")
    wait_count(admin_page, EVENTS)
    admin_page.locator("#results .tile").nth(4).click()
    admin_page.wait_for_url(re.compile(r"/events/qa-04\?"))
    admin_page.wait_for_selector("#next-event:not([disabled])")
    admin_page.keyboard.press("ArrowRight")
    admin_page.wait_for_url(re.compile(f"/events/{re.escape(quote(SLASHED, safe=''))}\\?"))
    admin_page.wait_for_selector("h1.event-id:has-text('cam/7/evt-05')")
    admin_page.wait_for_selector("#prev-event:not([disabled])")
    admin_page.keyboard.press("ArrowLeft")
    admin_page.wait_for_url(re.compile(r"/events/qa-04\?"))
    admin_page.wait_for_selector("h1.event-id:has-text('qa-04')")
    admin_page.keyboard.press("Escape")
    admin_page.wait_for_url(re.compile(f"/ui/use-cases/{qa}\\?shift=ignored$"))
    wait_count(admin_page, EVENTS)


def test_clicking_a_metadata_value_filters_by_it(admin_page: Any, qa: str) -> None:
    admin_page.goto(f"/ui/use-cases/{qa}/events/qa-03")
    admin_page.locator(".value-link[data-field=shift]").click()
    admin_page.wait_for_url(re.compile(r"meta\.shift\.eq\.string=night"))
    wait_count(admin_page, 6)
