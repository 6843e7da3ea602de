"""The README's screenshots can be made: the main pages render a demo workspace without script errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from tests.ui.conftest import UiServer
from tests.ui.screenshots import SIZE, capture, seed_demo

pytestmark = pytest.mark.slow


def test_main_pages_of_a_demo_workspace(admin_page: Any, ui_server: UiServer, tmp_path: Path) -> None:
    seed_demo(ui_server.process, events=300)
    admin_page.set_viewport_size(SIZE)
    for shot in capture(admin_page, tmp_path):
        with Image.open(shot) as image:
            assert image.size == (SIZE["width"], SIZE["height"])
            # A blank or broken page is nearly one colour; a rendered one has many.
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 20) or ()) > 200
