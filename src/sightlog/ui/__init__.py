"""The web dashboard: static HTML, CSS and ES modules (no build step), and its signed session cookies.

The HTTP side (pages, sign-in, the static mount) lives in ``sightlog.server.routes.ui``; this package holds
what does not need FastAPI, so that it ships inside the wheel and can be tested on its own.
"""

from __future__ import annotations

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"

__all__ = ["STATIC_DIR"]
