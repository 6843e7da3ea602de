"""Garbage-collector settings for the long-running processes (``sightlog serve`` and ``sightlog agent``)."""

from __future__ import annotations

import gc

# Python's cyclic collector runs a young-generation pass every 700 container allocations by default, and
# a full pass over the whole heap every hundred of those. Ingest allocates a few hundred objects per event
# (parsed JSON, rows, models) that reference counting frees anyway; at the default thresholds the
# collector took ~8% of the server's CPU under batch ingest (perf). These thresholds cut that to a
# fraction (bench/ingest.py: batch ingest +11%); young cyclic garbage is still collected every few
# hundred events.
YOUNG_THRESHOLD = 50_000
OLDER_THRESHOLDS = (50, 100)


def settle() -> None:
    """Call once startup is done: what exists now (modules, the app, caches) lives for the whole process,
    so it is moved out of the collector's sight (``gc.freeze``) and never scanned again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
