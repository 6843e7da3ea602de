"""Child processes started by test helpers, killed at interpreter exit if a test crashed before teardown."""

from __future__ import annotations

import atexit
import contextlib
import subprocess

LIVE: set[subprocess.Popen[bytes]] = set()


@atexit.register
def _kill_leftovers() -> None:  # pragma: no cover - only runs on abnormal test exits
    for proc in list(LIVE):
        if proc.poll() is None:
            with contextlib.suppress(OSError):
                proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=5)
    LIVE.clear()
