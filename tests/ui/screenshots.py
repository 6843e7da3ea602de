"""Screenshots of the dashboard's main pages, from a server seeded by ``sightlog demo``, for the README.

    .venv/bin/python -m tests.ui.screenshots      # rewrites docs/screenshots/*.png

``test_screenshots.py`` runs the same capture into a temporary folder, so this script cannot rot.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from tests.e2e.helpers import run_cli
from tests.support.server import ServerProcess
from tests.ui.conftest import CHROMIUM, CHROMIUM_ARGS, COOKIE, playwright_api, wait_true

DOCS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
SIZE = {"width": 1440, "height": 900}
PAGES = ("use-cases", "explorer-grid", "explorer-list", "event-detail")


def seed_demo(server: ServerProcess, events: int = 1500) -> None:
    done = run_cli(
        ["demo", "--server", server.url, "--api-key", server.api_key, "--events", str(events)],
        cwd=server.data_dir,
    )
    assert done.returncode == 0, done.stderr


def _settled(page: Any) -> None:
    """Wait until thumbnails and images on screen have loaded, so no picture is half drawn."""
    page.wait_for_load_state("networkidle")
    wait_true(
        page,
        """[...document.images]
            .filter((i) => i.getBoundingClientRect().top < innerHeight)
            .every((i) => i.complete && i.naturalWidth > 0)""",
    )


def capture(page: Any, out_dir: Path) -> list[Path]:
    """Screenshot the use cases, the explorer (grid and list) and one failed check's detail."""
    out_dir.mkdir(parents=True, exist_ok=True)
    shots = [out_dir / f"{name}.png" for name in PAGES]
    page.goto("/ui/")
    page.wait_for_selector("#use-cases")
    _settled(page)
    page.screenshot(path=shots[0])

    page.click("text=Assembly Line QA")
    page.wait_for_selector("#chart svg.chart")
    page.goto(page.url + "?range=7d&type=quality_check&chart=class")  # a few chips, classes stacked
    page.wait_for_selector("#chart .legend-item >> nth=2")
    page.wait_for_selector("#results .tile >> nth=11")
    _settled(page)
    page.screenshot(path=shots[1])

    page.click("#view-list")
    page.wait_for_selector("#results tbody tr >> nth=11")
    _settled(page)
    page.screenshot(path=shots[2])

    page.click("#view-grid")
    page.locator("#results .tile:has(.tone-bad)").first.click()
    page.wait_for_selector("#stage svg.overlay")
    page.wait_for_selector("#next-event:not([disabled])")
    _settled(page)
    page.screenshot(path=shots[3])
    return shots


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, ServerProcess(Path(tmp) / "data") as server:
        seed_demo(server)
        with playwright_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.url, viewport=SIZE)
            page = context.new_page()
            page.goto("/ui/login")
            page.fill("#api-key", server.api_key)
            page.click("button[type=submit]")
            page.wait_for_url("**/ui/")
            assert any(c["name"] == COOKIE for c in context.cookies())
            for shot in capture(page, DOCS):
                print(shot)
            browser.close()


if __name__ == "__main__":
    main()
