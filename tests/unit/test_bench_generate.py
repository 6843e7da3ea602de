"""bench/generate.py continues a store after its latest event, as a fleet's next events would: extending a
10 M store must measure ingest at the end of its history, not inside it."""

from __future__ import annotations

import datetime as dt
import importlib.util
import itertools
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest

DAY_US = 86_400_000_000


def load_generate() -> ModuleType:
    bench = Path(__file__).parents[2] / "bench"
    if str(bench) not in sys.path:
        sys.path.insert(0, str(bench))  # as when run as a script: it imports its neighbour ingest.py
    path = bench / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate = load_generate()


def times(total: int, stored: int, latest: int | None, days: float) -> list[int]:
    history = generate.History(total, 7, *generate._timeline(total, stored, latest, days))
    history.use_case_ids = ["line", "store", "site"]
    return [microseconds(history.event(n)["timestamp"]) for n in range(stored, total)]


def microseconds(timestamp: str) -> int:
    return round(dt.datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp() * 1e6)


def in_time_order(stamps: list[int]) -> bool:
    """Each event after the one before, but for a jitter of up to a second."""
    return all(b > a - 1_000_000 for a, b in itertools.pairwise(stamps))


def test_an_empty_store_gets_the_days_before_now_in_time_order() -> None:
    now = int(time.time() * 1e6)
    stamps = times(3_000, 0, None, 2)
    # The span ends a minute before now; each time has up to a second of jitter.
    assert stamps[0] == pytest.approx(now - 2 * DAY_US - 60_000_000, abs=5_000_000)
    assert stamps[-1] <= now
    assert in_time_order(stamps)


def test_a_store_continues_after_its_latest_event_at_the_historys_rate() -> None:
    latest = int(time.time() * 1e6) - DAY_US  # 10,000 events over 30 days, the last a day ago
    stamps = times(10_300, 10_000, latest, 30)
    assert latest < stamps[0] < latest + 1_000_000  # within the jitter of one second
    assert in_time_order(stamps)
    # 300 of 10,300 events over 30 days: 0.87 days, as the same 300 into an empty store over 0.87 days.
    assert stamps[-1] - stamps[0] == pytest.approx(30 * DAY_US * 300 / 10_300, rel=0.01)


def test_a_continuation_more_than_a_day_ahead_is_refused_before_anything_is_written() -> None:
    now = int(time.time() * 1e6)
    with pytest.raises(SystemExit, match="more than a day ahead"):
        generate._timeline(12_000, 10_000, now, 30)  # 2,000 of 12,000 over 30 days: 5 days from now


def test_http_mode_sends_the_stream_to_a_real_server_and_continues_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "store"
    common = ["--data-dir", str(data), "--http", "--jobs", "3", "--days", "0.01", "--report-every", "100"]
    assert generate.main(["--events", "250", "--batch", "40", *common]) == 0
    assert "done: 250 events" in capsys.readouterr().out
    assert generate.main(["--events", "400", "--batch", "150", *common]) == 0  # over the API's 100
    out = capsys.readouterr().out
    assert "250 events already" in out
    assert "done: 400 events" in out
    settings = generate.Settings(data_dir=data)
    ids, stored, _latest = generate.prepare(settings, generate.BENCH_KEY)
    assert (len(ids), stored) == (3, 400)


def test_http_mode_reports_a_refused_batch_and_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = ["--data-dir", str(tmp_path / "store"), "--days", "0.01", "--http", "--jobs", "2"]
    assert generate.main(["--events", "100", *data]) == 0
    capsys.readouterr()
    # The store's workspace has the bench key: the server refuses another one, and nothing is written.
    assert generate.main(["--events", "200", "--api-key", "sl_" + "x" * 40, *data]) == 1
    out = capsys.readouterr().out
    assert "failed: batch 0: 401" in out or "failed: batch 1: 401" in out
    assert "done: 100 events" in out
