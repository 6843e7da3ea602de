"""Helpers shared by the end-to-end tests: clean environments, CLI runs, payloads and small images."""

from __future__ import annotations

import io
import os
import random
import re
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

CLI_TIMEOUT = 60.0
# Whatever the calling shell exported: terminal width and proxies must not shape what the CLI prints or
# where the HTTP clients connect.
_DROPPED = {"COLUMNS", "LINES", "http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"}


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The inherited environment without ``SIGHTLOG_*`` settings (nor width / proxy variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLOG_") and k not in _DROPPED}
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra or {})
    return env


def run_cli(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    timeout: float = CLI_TIMEOUT,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m sightlog ARGS`` to completion, capturing stdout and stderr separately."""
    return subprocess.run(
        [sys.executable, "-m", "sightlog", *args],
        cwd=cwd,
        env=clean_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def client(base_url: str, key: str | None = None, timeout: float = 30.0) -> httpx.Client:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.Client(base_url=base_url, headers=headers, timeout=timeout, trust_env=False)


def assert_error_shape(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """SPEC §6: ``{"error": sentence, "code": machine code, "details": [...]}``."""
    assert response.status_code == status, f"expected {status}, got {response.status_code}: {response.text}"
    body = response.json()
    assert isinstance(body, dict), body
    assert set(body) >= {"error", "code", "details"}, body
    assert isinstance(body["error"], str) and body["error"], body
    assert body["code"] == code, body
    assert isinstance(body["details"], list), body
    return body


def assert_no_traceback(*outputs: str) -> None:
    for text in outputs:
        assert "Traceback" not in text, f"a traceback was printed:\n{text}"
        assert not re.search(r'File ".*", line \d+', text), f"a traceback was printed:\n{text}"


def unique_png(rng: random.Random, side: int = 12) -> bytes:
    """A small PNG of random pixels, so no two uploads share bytes (uploads are de-duplicated by content)."""
    out = io.BytesIO()
    Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3)).save(out, "PNG")
    return out.getvalue()


def jpeg_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (10, 120, 200)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def simple_event(event_id: str, use_case: str, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": event_id,
        "eventType": "quality_check",
        "useCaseId": use_case,
        "timestamp": "2026-01-15T10:00:00Z",
        "eventData": {"result": "pass"},
    }
    event.update(overrides)
    return event


def wait_until(predicate: Any, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
