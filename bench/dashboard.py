"""Dashboard benchmark (issue 6): how long the explorer takes to show its first page, in a real browser.

Run from the project root with the project's virtualenv, on a store made by ``generate.py``::

    .venv/bin/python bench/dashboard.py --data-dir /tmp/sl-10m [--database-url ...] [--runs 10]

Starts ``sightlog serve`` on the store, signs in over HTTP (as the sign-in page does), opens the explorer of
``assembly-line-qa`` in Debian's headless Chromium, and times, per load, the moment the first result tile is
on screen and the moment the total count is shown; prints p50 / p95.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

from generate import BENCH_KEY
from ingest import ServerProcess, percentile

CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--database-url")
    parser.add_argument("--api-key", default=BENCH_KEY)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args(argv)

    log = Path(tempfile.mkdtemp(prefix="sightlog-ui-bench-")) / "server.log"
    server = ServerProcess(args.data_dir, log, args.database_url, args.api_key)
    server.start(timeout=300)
    first_tile: list[float] = []
    counted: list[float] = []
    try:
        signed_in = httpx.post(
            f"{server.url}/ui/session", json={"apiKey": args.api_key}, headers={"X-Sightlog-CSRF": "1"}
        )
        signed_in.raise_for_status()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            context = browser.new_context(base_url=server.url, viewport={"width": 1440, "height": 900})
            context.add_cookies(
                [
                    {"name": name, "value": value, "url": server.url}
                    for name, value in signed_in.cookies.items()
                ]
            )
            page = context.new_page()
            for run in range(args.runs + 1):  # the first load warms the browser cache and the store
                started = time.perf_counter()
                page.goto("/ui/use-cases/assembly-line-qa")
                page.wait_for_selector("#results .tile, #results tbody tr", timeout=60_000)
                tile = time.perf_counter() - started
                page.wait_for_selector("text=/[0-9,]+ events/", timeout=60_000)
                count = time.perf_counter() - started
                if run:
                    first_tile.append(tile * 1000)
                    counted.append(count * 1000)
            browser.close()
    finally:
        server.stop()
    for name, values in (("first page on screen", first_tile), ("total count on screen", counted)):
        values.sort()
        print(f"{name:24} p50 {percentile(values, 50):7.0f} ms   p95 {percentile(values, 95):7.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
