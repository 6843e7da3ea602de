"""Property tests: random events, upserts, deletes and feedback through the HTTP API, then random queries,
counts and aggregates, compared with the plain-Python reference of SPEC §3.6 and §4
(``tests/store/reference.py``), on every backend, and each query under both plans of the store: starting
from a side-table index where the store would, and walking the events (``_plan`` patched to always walk).

Each example runs in a workspace of its own (new use cases ``u0`` and ``u1``), so examples never see each
other's events and event ids need no prefix. Derandomized: CI runs the same examples every time (about a
minute for both backends); ``SIGHTLOG_PROPERTY_EXAMPLES=500`` runs more locally.

On a failure the test minimizes it itself (fewer filters, fewer and simpler events, fewer operations, each
candidate checked in a fresh workspace) and prints a ready-to-run reproduction next to Hypothesis'
falsifying example; Hypothesis' own shrinking would take minutes per failure here and is off unless
``SIGHTLOG_PROPERTY_SHRINK=1``. Each kind of mismatch raises its own exception type, so one run reports
several kinds of bugs when it finds them.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NamedTuple
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, Phase, event, given, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import Connection

from sightlog.models.query import QueryPlan
from sightlog.store.sql import query as sql_query
from sightlog.store.sql.filters import CompiledFilters, SideFilter, compile_filters
from tests.conftest import SCOPE_ADMIN, Api
from tests.store.reference import Reference, RefEvent, parse_instant, value_type

EXAMPLES = int(os.environ.get("SIGHTLOG_PROPERTY_EXAMPLES", "40"))  # more for a deeper run by hand
PAGING_EXAMPLES = max(1, EXAMPLES // 2)
SHRINK = bool(os.environ.get("SIGHTLOG_PROPERTY_SHRINK"))
QUERIES = 5  # per example of the main test, each under both plans, then aggregated
ROLLUP_QUERIES = 3  # per example: equalities and groupings on fields, counted and aggregated
CLOCK_EXAMPLES = max(1, EXAMPLES // 2)
AGGREGATES = 6  # per example of the clock-change test
SEEDS = st.integers(0, 2**32 - 1)


def _settings(examples: int) -> hypothesis_settings:
    return hypothesis_settings(
        max_examples=examples,
        deadline=None,
        derandomize=True,
        database=None,
        # Shrinking a failing example takes minutes here; a failure is minimized by the test itself instead
        # (World.minimal_reproduction). SIGHTLOG_PROPERTY_SHRINK=1 lets Hypothesis shrink as well.
        phases=tuple(Phase) if SHRINK else (Phase.explicit, Phase.reuse, Phase.generate),
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
        ],
    )


# -- vocabularies: tiny, so that values collide and filters match ------------------------------------------

USE_CASES = ("u0", "u1")
# Mixed case, punctuation and a non-ASCII id, so that byte-wise tie-breaking is exercised.
IDS = ("a", "B", "A", "a-1", "a_1", "a.b", "b", "é", "Z", "a1", "ab")
TYPES = ("quality_check", "inventory_count", "safety_alert", "custom", "operator_feedback")
FEEDBACK = ("correct", "incorrect", "inconclusive")
CLASSES = ("cat", "Cat", "dog")
DEVICES = ("cam-1", "Cam-1", "cam_1", "É-cam")
STREAMS = ("s1", "S1", "s%2")
WORKFLOWS = ("wf-a", "WF-a", "wf_b")
EXTERNALS = ("EXT-1", "ext-1", "x_%", "É", "")
METADATA_KEYS = ("k", "K", "line", "n 1")
FIELD_KEYS = (
    "result",
    "confidence",
    "itemCount",
    "location",
    "alertType",
    "severity",
    "externalId",
    "value",
    "extra",
    "k",
    "relatedEventId",
    "feedback",
    "comment",
)
REAL_IMAGE = "IMG"  # replaced by the sourceId of a real upload of the example's workspace
MISSING_IMAGE = "missing-image"  # never uploaded: a warning

# A narrow window, with collisions, across the start of this month (PostgreSQL partitions events by month):
# always in the past, so never "more than 1 day in the future" whenever the suite runs.
BASE = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0) - timedelta(seconds=2)
BASE_US = parse_instant(BASE.isoformat())[0]
OFFSETS_US = (0, 1, 500_000, 999_999, 1_000_000, 2_000_000, 2_000_001, 3_250_000)
QUERY_OFFSETS_US = (-1, *OFFSETS_US, 1_500_000, 10_000_000)
ZONES = ("Z", "Z", "+00:00", "+05:30", "-08:00", "+14:00", "-00:30", None)  # None: no offset → a warning


def format_time(offset_us: int, zone: str | None) -> str:
    return format_instant(BASE + timedelta(microseconds=offset_us), zone)


def format_instant(instant: datetime, zone: str | None) -> str:
    if zone is None:
        return instant.replace(tzinfo=None).isoformat()
    if zone == "Z":
        return instant.isoformat().replace("+00:00", "Z")
    sign = -1 if zone[0] == "-" else 1
    hours, minutes = int(zone[1:3]), int(zone[4:6])
    return instant.astimezone(timezone(sign * timedelta(hours=hours, minutes=minutes))).isoformat()


TIMESTAMPS = st.builds(format_time, st.sampled_from(OFFSETS_US), st.sampled_from(ZONES))


_FIFTHS = st.integers(0, 4)
_THIRDS = st.integers(0, 2)


@st.composite
def _mostly(draw: st.DrawFn, common: st.SearchStrategy[Any], rare: st.SearchStrategy[Any]) -> Any:
    """``common`` four times in five: a small vocabulary makes values collide and filters match."""
    return draw(rare) if draw(_FIFTHS) == 4 else draw(common)  # the simplest choice (0) is common


# Mixed case, a non-ASCII letter in both cases, and LIKE's wildcards; 7 and 7.0, -0.0.
WORDS = ("", "a", "A", "aB", "é", "É", "éA", "Éa", "aÉb", "%", "_", "a_É", "É%", "Zz", " ")
SMALL_NUMBERS = (7, 7.0, -7, 0, -0.0, 0.5, -1.5, 1, 2, 3, 10, 12)
TEXT = _mostly(st.sampled_from(WORDS), st.text(alphabet="aAbé É_%", max_size=3))
NUMBERS = _mostly(
    st.sampled_from(SMALL_NUMBERS), st.one_of(st.integers(-20, 20), st.floats(-20, 20, allow_nan=False))
)
SCALARS = st.one_of(TEXT, NUMBERS, st.booleans())
# Unknown eventData keys of the first three types may hold anything JSON (they are kept, with a warning).
ANY_JSON = st.one_of(
    SCALARS,
    st.none(),
    st.lists(SCALARS, max_size=2),
    st.dictionaries(st.sampled_from(["a"]), SCALARS, max_size=1),
)
CONFIDENCES = _mostly(st.sampled_from([0, 0.25, 0.5, 0.75, 1]), st.floats(0, 1))
EXTERNAL = st.sampled_from(EXTERNALS)

EVENT_DATA = {
    "quality_check": st.fixed_dictionaries(
        {"result": st.sampled_from(["pass", "fail"])},
        optional={"confidence": CONFIDENCES, "externalId": EXTERNAL, "extra": ANY_JSON, "k": ANY_JSON},
    ),
    "inventory_count": st.fixed_dictionaries(
        {"itemCount": st.integers(0, 12)},
        optional={
            "location": TEXT,
            "itemType": TEXT,
            "externalId": EXTERNAL,
            "extra": ANY_JSON,
            "k": ANY_JSON,
        },
    ),
    "safety_alert": st.fixed_dictionaries(
        {"alertType": st.sampled_from(["no_helmet", "No-Helmet", "fire"])},
        optional={
            "severity": st.sampled_from(["low", "medium", "high"]),
            "description": TEXT,
            "externalId": EXTERNAL,
            "extra": ANY_JSON,
        },
    ),
    # Open-ended: any other flat key with a scalar value (null included); no warnings.
    "custom": st.fixed_dictionaries(
        {},
        optional={
            "value": TEXT,
            "externalId": EXTERNAL,
            "extra": st.one_of(SCALARS, st.none()),
            "k": st.one_of(SCALARS, st.none()),
            "itemCount": SCALARS,
            "result": SCALARS,
        },
    ),
    "operator_feedback": st.fixed_dictionaries(
        {"relatedEventId": st.sampled_from((*IDS[:4], "ghost")), "feedback": st.sampled_from(FEEDBACK)},
        optional={"comment": TEXT},
    ),
}

_BOX = {"x": st.just(5), "y": st.just(5), "width": st.just(2), "height": st.just(2)}
_PREDICTION = {"class": st.sampled_from(CLASSES), "confidence": CONFIDENCES}
# Geometry is not what queries look at: fixed shapes keep examples cheap to generate and to shrink.
_POLYGONS = st.sampled_from([[[6, 17], [14, 17], [14, 23]], [[0, 0], [4, 0], [4, 3], [0, 3]]])
_KEYPOINTS = st.sampled_from([[], [{"id": 0, "x": 48, "y": 30, "confidence": 0.7}]])
PREDICTIONS = {
    "objectDetections": st.fixed_dictionaries({**_PREDICTION, **_BOX}, optional={"trackerId": st.just(3)}),
    "classifications": st.fixed_dictionaries(_PREDICTION),
    "instanceSegmentations": st.fixed_dictionaries({**_PREDICTION, **_BOX, "points": _POLYGONS}),
    "keypoints": st.fixed_dictionaries({**_PREDICTION, **_BOX, "keypoints": _KEYPOINTS}),
}
IMAGE_IDS = st.sampled_from([REAL_IMAGE, MISSING_IMAGE])
IMAGES = st.fixed_dictionaries(
    {},
    optional={
        "sourceId": IMAGE_IDS,
        "inputSourceId": IMAGE_IDS,
        "label": st.just("cam view"),
        **{kind: st.lists(strategy, max_size=3) for kind, strategy in PREDICTIONS.items()},
    },
)


_EIGHTHS = st.integers(0, 7)
_USE_CASE = st.sampled_from(("u0", "u0", "u0", "u0", "u1"))
_SOURCES = tuple(
    (name, st.sampled_from(pool))
    for name, pool in (("deviceId", DEVICES), ("streamId", STREAMS), ("workflowId", WORKFLOWS))
)
_METADATA = st.dictionaries(st.sampled_from(METADATA_KEYS), SCALARS, min_size=1, max_size=3)
_IMAGE_LISTS = st.lists(IMAGES, min_size=1, max_size=2)


def _often(draw: st.DrawFn) -> bool:
    """True two times in three."""
    return draw(_THIRDS) > 0


@st.composite
def _events(draw: st.DrawFn, ids: st.SearchStrategy[str], types: st.SearchStrategy[str]) -> dict[str, Any]:
    event_type = draw(types)
    body: dict[str, Any] = {
        "eventId": draw(ids),
        "eventType": event_type,
        "useCaseId": draw(_USE_CASE),
        "timestamp": draw(TIMESTAMPS),
    }
    data = draw(EVENT_DATA[event_type])
    if data or event_type != "custom" or draw(st.booleans()):
        body["eventData"] = data
    for name, pool in _SOURCES:
        if _often(draw):
            body[name] = draw(pool)
    if _often(draw):
        body["customMetadata"] = draw(_METADATA)
    if _often(draw):
        body["images"] = draw(_IMAGE_LISTS)
    if draw(_EIGHTHS) == 0:
        body["cameraNote"] = "not an event field"  # unknown top-level field: ignored, with a warning
    return body


def events(ids: tuple[str, ...] = IDS, types: tuple[str, ...] = TYPES) -> st.SearchStrategy[dict[str, Any]]:
    """Valid events of every type: ids from ``ids``, a narrow time window, tiny vocabularies."""
    return _events(st.sampled_from(ids), st.sampled_from(types))


@st.composite
def feedback_bursts(draw: st.DrawFn) -> list[dict[str, Any]]:
    """One batch: several operator_feedback events on one target at one instant (sent with different
    offsets), eventIds repeating, so that the latest is decided by the order received; often the target
    itself too, before, between or after them."""
    target, use_case = draw(st.sampled_from(IDS[:4])), draw(_USE_CASE)
    offset = draw(st.sampled_from(OFFSETS_US))
    burst = [
        {
            "eventId": draw(st.sampled_from(IDS[4:6])),
            "eventType": "operator_feedback",
            "useCaseId": use_case,
            "timestamp": format_time(offset, draw(st.sampled_from(ZONES[:-1]))),
            "eventData": {"relatedEventId": target, "feedback": draw(st.sampled_from(FEEDBACK))},
        }
        for _ in range(draw(st.integers(3, 5)))
    ]
    if _often(draw):
        reviewed = {**draw(events(types=TYPES[:4])), "eventId": target}
        burst.insert(draw(st.integers(0, len(burst))), reviewed)
    return burst


OPERATIONS = st.one_of(
    st.tuples(st.just("create"), events()),
    st.tuples(st.just("create"), events()),
    st.tuples(st.just("batch"), st.lists(events(), min_size=1, max_size=6)),
    st.tuples(st.just("delete"), st.sampled_from(IDS)),
    st.tuples(st.just("feedback"), st.sampled_from(IDS[:4]), st.sampled_from(FEEDBACK)),
    st.tuples(st.just("batch"), feedback_bursts()),
    st.tuples(st.just("batch"), feedback_bursts()),
)

# Aggregates in time zones: the events above lie seconds apart around one UTC midnight, where zones split
# them into local minutes, hours, days and weeks, but no clock changes. These instants (all in the past, so
# always accepted) are clock changes, and local midnights starting a week, of the zones aggregated in.
CLOCK_CHANGES = (
    ("America/New_York", "2024-03-10T07:00:00+00:00"),  # 02:00 EST → 03:00 EDT
    ("Europe/Berlin", "2024-03-31T01:00:00+00:00"),  # 02:00 CET → 03:00 CEST
    ("Australia/Lord_Howe", "2024-04-06T15:00:00+00:00"),  # 02:00 +11:00 → 01:30 +10:30 (half an hour again)
    ("Australia/Lord_Howe", "2024-04-07T13:30:00+00:00"),  # Monday 00:00 +10:30
    ("Australia/Lord_Howe", "2024-10-05T15:30:00+00:00"),  # 02:00 +10:30 → 02:30 +11:00 (half an hour skips)
    ("Europe/Berlin", "2024-10-27T01:00:00+00:00"),  # 03:00 CEST → 02:00 CET (an hour again)
    ("Europe/Berlin", "2024-10-27T23:00:00+00:00"),  # Monday 00:00 CET
    ("America/New_York", "2024-11-03T06:00:00+00:00"),  # 02:00 EDT → 01:00 EST (an hour again)
    ("Asia/Kolkata", "2024-11-03T18:30:00+00:00"),  # Monday 00:00 +05:30
    ("UTC", "2024-11-04T00:00:00+00:00"),  # Monday 00:00
)
CLOCK_INTERVALS = ("minute", "minute", "hour", "hour", "hour", "day", "week")
AROUND_MINUTES = (-90, -61, -60, -59, -31, -30, -29, -1, 0, 1, 29, 30, 31, 59, 60, 61, 90)
WITHIN_MINUTE_US = (0, 1, 59_999_999)


def around_clock_changes(
    rnd: random.Random, bodies: list[dict[str, Any]]
) -> tuple[str, list[dict[str, Any]]]:
    """The events moved around one (sometimes two) of the CLOCK_CHANGES, and the first one's zone. Drawn
    with ``rnd``: Hypothesis repeats its few choices of one ``sampled_from`` in most examples."""
    changes = rnd.sample(CLOCK_CHANGES, rnd.choice((1, 1, 2)))

    def timestamp() -> str:
        change = datetime.fromisoformat(rnd.choice(changes)[1])
        moment = change + timedelta(
            minutes=rnd.choice(AROUND_MINUTES), microseconds=rnd.choice(WITHIN_MINUTE_US)
        )
        return format_instant(moment, rnd.choice(ZONES[:-1]))

    return changes[0][0], [{**body, "timestamp": timestamp()} for body in bodies]


# Where a time range starts and ends, from a clock change: ranges on one side of it are counted by whole
# local hours or days (services/aggregates.py coarse_grid), ranges across it by quarter hours.
RANGE_FROM_CHANGE = (-8 * 1440, -1440, -120, -30, 0, 60, 1440)
RANGE_TO_CHANGE = (None, -60, 30, 60, 1440, 8 * 1440)


def range_around_a_change(rnd: random.Random, zone: str) -> dict[str, str]:
    change = datetime.fromisoformat(rnd.choice([c for z, c in CLOCK_CHANGES if z == zone]))
    start = change + timedelta(
        minutes=rnd.choice(RANGE_FROM_CHANGE), microseconds=rnd.choice(WITHIN_MINUTE_US)
    )
    times = {"startTime": format_instant(start, "Z")}
    if (to := rnd.choice(RANGE_TO_CHANGE)) is not None:
        times["endTime"] = format_instant(change + timedelta(minutes=to), "Z")
    return times


# -- queries -----------------------------------------------------------------------------------------------
# Drawn with a plain ``random.Random`` seeded by Hypothesis: Hypothesis' own mutations repeat the same small
# sub-structures across examples (two thirds of the queries were duplicates), while a seeded generator gives
# a new query every time. A failing query is minimized by ``World.minimal_reproduction`` instead.

FIELD_WORDS = (*WORDS, "pass", "PASS", "fail", "no_helmet", "fire", "high", "correct", "EXT-1", *IDS)
SOURCE_VOCABULARY = {
    "deviceId": DEVICES,
    "streamId": STREAMS,
    "workflowId": WORKFLOWS,
    "externalId": EXTERNALS,
}
# contains and exists twice: case folding and presence are where backends differ most.
VALUE_OPERATORS = (
    "eq", "neq", "gt", "gte", "lt", "lte", "in", "nin",
    "contains", "contains", "exists", "exists", "not_exists",
)  # fmt: skip
SOURCE_OPERATORS = ("eq", "neq", "in", "nin", "contains", "contains")
ALL_KINDS = ("string", "number", "boolean")
GROUP_FIELDS = ("eventType", "deviceId", "streamId", "workflowId", "class", "feedback")
INTERVALS = (None, "minute", "hour", "day", "week")
TIME_ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe")
LISTS = ("customMetadataFilters", "eventFieldFilters", "detectionFilters")
ATOM_WEIGHTS = {
    "customMetadataFilters": 4,
    "eventFieldFilters": 4,
    "detectionFilters": 3,
    "startTime": 1,
    "endTime": 1,
    "timeRange": 1,
    "eventType": 1,
    "eventTypes": 1,
    "deviceId": 1,
    "streamId": 1,
    "workflowId": 1,
    "externalId": 1,
    "feedback": 2,
    "hasWarnings": 1,
}


def _add(pool: list[Any], value: Any) -> None:
    """Append unless already there; 7 and 7.0, 0 and False are different values here."""
    if not any(type(v) is type(value) and v == value for v in pool):
        pool.append(value)


def _variants(text: str) -> list[str]:
    """The text, its other cases, and every substring in its own and the swapped case."""
    out = [text, text.upper(), text.lower()]
    for i in range(len(text)):
        for j in range(i + 1, len(text) + 1):
            out += [text[i:j], text[i:j].swapcase()]
    return list(dict.fromkeys(out))


class Pools:
    """Where filter values come from: mostly what the given stored events hold (and variants: the other
    case, substrings, neighbouring numbers and instants), sometimes the fixed vocabularies, so that drawn
    filters often split the stored events instead of matching all or none of them."""

    def __init__(self, stored: list[RefEvent]) -> None:
        self.keys: dict[str, list[str]] = {"m": [], "d": []}
        self.untyped: dict[str, list[str]] = {"m": [], "d": []}  # keys holding null, a list or an object
        self.values: dict[tuple[str, str, str], list[Any]] = {}  # (namespace, key, type) -> values
        self.sources: dict[str, list[str]] = {name: [] for name in SOURCE_VOCABULARY}
        self.offsets = list(QUERY_OFFSETS_US)
        self.confidences: list[Any] = [0, 0.25, 0.5, 0.75, 1]
        self.classes = [*CLASSES, "bird"]
        for ev in stored:
            if 0 <= ev.ts - BASE_US <= OFFSETS_US[-1]:  # not server-stamped feedback: not reproducible
                _add(self.offsets, ev.ts - BASE_US)
            for namespace, fields in (("m", ev.body.get("customMetadata") or {}), ("d", ev.data)):
                for key, value in fields.items():
                    _add(self.keys[namespace], key)
                    kind = value_type(value)
                    if kind is None:
                        _add(self.untyped[namespace], key)
                    else:
                        _add(self.values.setdefault((namespace, key, kind), []), value)
            external = ev.data.get("externalId")
            for name, value in (
                ("deviceId", ev.body.get("deviceId")),
                ("streamId", ev.body.get("streamId")),
                ("workflowId", ev.body.get("workflowId")),
                ("externalId", external if isinstance(external, str) else None),
            ):
                if value is not None:
                    _add(self.sources[name], value)
            for image in ev.body.get("images") or ():
                for kind in PREDICTIONS:
                    for prediction in image.get(kind) or ():
                        _add(self.confidences, prediction["confidence"])


class QueryMaker:
    """Random queries over one example's stored events. Most are built around an anchor event: a filter
    made of one stored event's own values usually matches it and splits the others, so a server that
    misses (or adds) a match shows."""

    def __init__(self, ref: Reference, rnd: random.Random) -> None:
        self.ref, self.rnd = ref, rnd
        self._pools: dict[tuple[str, str | None], Pools] = {}
        self.everything = Pools([])  # of the use case being queried

    def stored(self, use_case: str) -> list[str]:
        mine = [e for e in self.ref.events.values() if e.body["useCaseId"] == use_case]
        return [e.event_id for e in sorted(mine, key=lambda e: e.received)]  # reproducible order

    def pools(self, use_case: str, anchor: str | None) -> Pools:
        if (use_case, anchor) not in self._pools:
            chosen = [self.ref.events[i] for i in ([anchor] if anchor else self.stored(use_case))]
            self._pools[(use_case, anchor)] = Pools(chosen)
        return self._pools[(use_case, anchor)]

    # -- small helpers -------------------------------------------------------------------------------------

    def mostly(self, seen: list[Any] | tuple[Any, ...], otherwise: Any) -> Any:
        """A seen value four times in five (when there is one), else ``otherwise()``."""
        return self.rnd.choice(seen) if seen and self.rnd.random() < 0.8 else otherwise()

    def text(self, words: tuple[str, ...] = WORDS) -> str:
        if self.rnd.random() < 0.8:
            return self.rnd.choice(words)
        return "".join(self.rnd.choice("aAbé É_%") for _ in range(self.rnd.randint(0, 3)))

    def number(self) -> Any:
        if self.rnd.random() < 0.8:
            return self.rnd.choice(SMALL_NUMBERS)
        return self.rnd.randint(-20, 20) if self.rnd.random() < 0.5 else self.rnd.uniform(-20, 20)

    def some(self, one: Any, operator: str) -> Any:
        """One value, or a list of 1-3 values for ``in`` / ``nin``."""
        return [one() for _ in range(self.rnd.randint(1, 3))] if operator in ("in", "nin") else one()

    def strings(self, seen: list[str], operator: str, words: tuple[str, ...]) -> str:
        """Exact stored values for equality, variants (case, substrings) for contains, both for orderings."""
        variants = [v for text in seen for v in _variants(text)]
        if operator in ("eq", "neq", "in", "nin"):
            return self.mostly(seen, lambda: self.mostly(variants, lambda: self.text(words)))
        if operator == "contains":
            return self.mostly(variants, lambda: self.text(words))
        return self.mostly(seen + variants, lambda: self.text(words))

    def numbers(self, seen: list[Any]) -> Any:
        def near() -> Any:
            return self.rnd.choice(seen) + self.rnd.choice([0.5, -0.5, 1, -1]) if seen else self.number()

        exact = [*seen, *(float(v) for v in seen)]  # 7 and 7.0 alike
        return self.mostly(exact, lambda: near() if self.rnd.random() < 0.5 else self.number())

    def time(self, pools: Pools) -> str:
        offset = self.rnd.choice(pools.offsets) + self.rnd.choice([0, 0, -1, 1])
        return format_time(offset, self.rnd.choice(ZONES))

    # -- filters -------------------------------------------------------------------------------------------

    def source_filter(self, pools: Pools, name: str) -> dict[str, Any]:
        operator = self.rnd.choice(SOURCE_OPERATORS)
        vocabulary = (*SOURCE_VOCABULARY[name], "zz")
        return {
            "operator": operator,
            "value": self.some(lambda: self.strings(pools.sources[name], operator, vocabulary), operator),
        }

    def value_filter(
        self,
        pools: Pools,
        namespace: str,
        field: str | None = None,
        operators: tuple[str, ...] = VALUE_OPERATORS,
    ) -> dict[str, Any]:
        vocabulary = METADATA_KEYS if namespace == "m" else FIELD_KEYS
        field = field or self.mostly(pools.keys[namespace], lambda: self.rnd.choice(vocabulary))
        operator = self.rnd.choice(operators)
        if operator in ("exists", "not_exists"):
            untyped = self.everything.untyped[namespace]  # present, though of no filter type
            if untyped and self.rnd.random() < 0.5:
                field = self.rnd.choice(untyped)
            flt: dict[str, Any] = {"field": field, "operator": operator}
            if self.rnd.random() < 0.5:  # a type changes nothing here
                flt["type"] = self.rnd.choice(ALL_KINDS)
            return flt
        allowed = ("string",) if operator == "contains" else ALL_KINDS
        if operator in ("gt", "gte", "lt", "lte"):
            allowed = ("number", "string")  # no ordering of booleans
        held = [k for k in allowed if (namespace, field, k) in pools.values]  # types the field holds
        kind = self.mostly(held, lambda: self.rnd.choice(allowed))
        seen = pools.values.get((namespace, field, kind), [])
        words = WORDS if namespace == "m" else FIELD_WORDS
        one = {
            "string": lambda: self.strings(seen, operator, words),
            "number": lambda: self.numbers(seen),
            "boolean": lambda: self.rnd.random() < 0.5,
        }[kind]
        flt = {"field": field, "operator": operator, "value": self.some(one, operator)}
        if self.rnd.random() < 0.75:  # usually explicit; otherwise the value's own type
            flt["type"] = kind
        return flt

    def detection_filter(self, pools: Pools) -> dict[str, Any]:
        flt: dict[str, Any] = {"class": self.rnd.choice(pools.classes)}
        for name, choices in (
            ("minConfidence", pools.confidences),
            ("maxConfidence", pools.confidences),
            ("minCount", (0, 1, 1, 2, 3)),
            ("maxCount", (0, 0, 1, 2)),
        ):
            if self.rnd.random() < 0.5:
                flt[name] = self.rnd.choice(choices)
        return flt

    def one_or_two(self, make: Any) -> list[Any]:
        """Mostly one: two filters of one kind rarely leave anything to see."""
        return [make() for _ in range(2 if self.rnd.random() < 0.25 else 1)]

    def atom(self, pools: Pools) -> dict[str, Any]:
        kind = self.rnd.choices(list(ATOM_WEIGHTS), weights=list(ATOM_WEIGHTS.values()))[0]
        return self.atom_of_kind(kind, pools)

    def atom_of_kind(self, kind: str, pools: Pools) -> dict[str, Any]:
        rnd = self.rnd
        match kind:
            case "customMetadataFilters" | "eventFieldFilters":
                namespace = "m" if kind == "customMetadataFilters" else "d"
                return {kind: self.one_or_two(lambda: self.value_filter(pools, namespace))}
            case "detectionFilters":
                return {kind: self.one_or_two(lambda: self.detection_filter(pools))}
            case "startTime" | "endTime":
                return {kind: self.time(pools)}
            case "timeRange":
                return {"startTime": self.time(pools), "endTime": self.time(pools)}
            case "eventType":
                return {kind: rnd.choice(TYPES)}
            case "eventTypes":
                return {kind: rnd.sample(TYPES, rnd.randint(1, 3))}
            case "feedback":
                return {kind: rnd.sample([*FEEDBACK, "none"], rnd.randint(1, 3))}
            case "hasWarnings":
                return {kind: rnd.random() < 0.5}
            case _:
                return {kind: self.source_filter(pools, kind)}

    def grouping(
        self,
        use_case: str,
        intervals: tuple[str | None, ...] = INTERVALS,
        zones: tuple[str, ...] = TIME_ZONES,
    ) -> dict[str, Any]:
        """What ``POST /vision-events/aggregate`` adds to the filters: 0-2 group keys (fields the stored
        events hold, mostly), an interval and a time zone."""
        pools = self.pools(use_case, None)

        def key() -> str:
            where = self.rnd.random()
            if where < 0.5:
                return self.rnd.choice(GROUP_FIELDS)
            namespace, vocabulary = ("m", METADATA_KEYS) if where < 0.75 else ("d", FIELD_KEYS)
            field = self.mostly(pools.keys[namespace], lambda: self.rnd.choice(vocabulary))
            return f"{'customMetadata' if namespace == 'm' else 'eventData'}.{field}"

        keys: list[str] = []
        for _ in range(self.rnd.choice((0, 1, 1, 2, 2))):
            if (name := key()) not in keys:
                keys.append(name)
        return {
            "groupBy": keys,
            "interval": self.rnd.choice(intervals),
            "timezone": self.rnd.choice(zones),
        }

    def rollup_aggregate(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A query and a grouping of the kind the field rollup answers (store/sql/attr_rollup.py):
        equalities on one or two custom metadata or eventData fields, those fields grouped by or not, maybe
        the event type, in a time range or not (its partial quarter hours are counted from the events)."""
        rnd = self.rnd
        use_case = rnd.choice([name for name in USE_CASES if self.stored(name)])
        pools = self.everything = self.pools(use_case, None)
        namespace = rnd.choice(("m", "m", "d"))
        filters, group_prefix = {
            "m": ("customMetadataFilters", "customMetadata."),
            "d": ("eventFieldFilters", "eventData."),
        }[namespace]
        held = pools.keys[namespace] or (METADATA_KEYS if namespace == "m" else FIELD_KEYS)
        fields = rnd.sample(held, min(len(held), rnd.randint(1, 2)))
        query: dict[str, Any] = {"useCaseId": use_case}
        group_by: list[str] = []
        for field in fields:
            role = rnd.choice(("filter", "group", "group", "both"))
            if role != "group":
                flt = self.value_filter(pools, namespace, field, operators=("eq", "in"))
                query.setdefault(filters, []).append(flt)
            if role != "filter":
                group_by.append(group_prefix + field)
        if len(group_by) < 2 and rnd.random() < 0.4:
            group_by.insert(rnd.randint(0, len(group_by)), "eventType")
        if rnd.random() < 0.3:
            query["eventTypes"] = rnd.sample(TYPES, rnd.randint(1, 3))
        if rnd.random() < 0.5:
            query.update(self.atom_of_kind(rnd.choice(("startTime", "endTime", "timeRange")), pools))
        interval = rnd.choice((None, "hour", "day", "week"))
        return query, {"groupBy": group_by, "interval": interval, "timezone": rnd.choice(TIME_ZONES)}

    def query(self, limits: tuple[int | None, ...] = (None, 1, 2, 3, 1000)) -> dict[str, Any]:
        rnd = self.rnd
        use_case = rnd.choice(("u0", "u0", "u0", "u1"))
        if not self.stored(use_case):  # both use cases are queried unfiltered anyway
            use_case = "u1" if use_case == "u0" else "u0"
        stored = self.stored(use_case)
        anchor = rnd.choice(stored) if stored and rnd.random() < 2 / 3 else None
        pools, self.everything = self.pools(use_case, anchor), self.pools(use_case, None)
        query: dict[str, Any] = {"useCaseId": use_case}
        for atom in self.one_or_two(lambda: self.atom(pools)):
            for key, value in atom.items():
                if key in LISTS:
                    query.setdefault(key, []).extend(value)
                else:
                    query[key] = value
        sort = rnd.choice([None, "asc", "desc"])
        if sort:
            query["sort"] = sort
        limit = rnd.choice(limits)
        if limit:
            query["limit"] = limit
        return query


# -- mismatches: one exception type each, so that Hypothesis reports each kind found, not just the first --


class ResultMismatch(AssertionError):
    """The query returned other events, or in another order, than SPEC §3.6 says."""


class CountMismatch(AssertionError):
    """POST /vision-events/count disagrees with the number of matching events."""


class FeedbackMismatch(AssertionError):
    """An event's feedback is not its latest operator_feedback (by timestamp, ties: received last)."""


class EventMismatch(AssertionError):
    """A returned event does not echo what was stored (fields, timestamp, warnings, images)."""


class UseCaseMismatch(AssertionError):
    """Use-case eventCount / lastEventAt / eventTypes disagree with the stored events."""


class AggregateMismatch(AssertionError):
    """POST /vision-events/aggregate disagrees with the matching events' buckets, keys or counts."""


class BucketTimeMismatch(AssertionError):
    """Aggregate buckets right, but a bucket's start shown as another wall time and offset than the zone's
    clock shows at that instant."""


class Problem(NamedTuple):
    kind: type[AssertionError]
    text: str

    def __str__(self) -> str:
        return self.text


# -- the store's two plans ---------------------------------------------------------------------------------


class Plans:
    """Stands in for ``sightlog.store.sql.query._plan``: the store's own choice, or (``walk``) always
    walking — the events, or (every other time, where the query has an equality) that equality's
    candidates in time order. On the tiny data sets here the store almost always starts from a side-table
    index when some filter has one, so the walks are forced to check those plans as well."""

    def __init__(self) -> None:
        self.real = sql_query._plan
        self.walk = False
        self.started_from_index = False  # since the last ``use``: a real plan started from an index
        self.index_plans = self.walks = self.candidate_walks = 0  # over the whole test

    def __call__(
        self, conn: Connection, plan: QueryPlan, cap: int, *, any_: bool = False
    ) -> tuple[CompiledFilters, SideFilter | None, SideFilter | None]:
        if self.walk:
            self.walks += 1
            dialect = conn.dialect.name
            walkable = [s.in_time_order is not None for s in compile_filters(plan, dialect).side]
            if any(walkable) and self.walks % 2 and not any_:
                self.candidate_walks += 1
                filters = compile_filters(plan, dialect, start_elsewhere=dialect == "sqlite")
                return filters, None, filters.side[walkable.index(True)]
            return compile_filters(plan, dialect), None, None
        filters, driver, walked = self.real(conn, plan, cap, any_=any_)
        if driver is not None:
            self.started_from_index = True
            self.index_plans += 1
        return filters, driver, walked

    @contextmanager
    def use(self, *, walk: bool) -> Iterator[None]:
        self.walk, self.started_from_index = walk, False
        try:
            yield
        finally:
            self.walk = False


@pytest.fixture
def plans(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[Plans]:
    """The store's plans made switchable (the app runs in this process); after a test that passed, checks
    that both plans ran."""
    plans, failed = Plans(), request.session.testsfailed
    monkeypatch.setattr(sql_query, "_plan", plans)
    yield plans
    if request.session.testsfailed == failed:
        assert plans.index_plans > 0, "no query started from a side-table index"
        assert plans.walks > 0, "no query was forced to walk the events"
        assert plans.candidate_walks > 0, "no query was forced to walk an equality's candidates"


def _plan_name(walk: bool) -> str:
    return "walking the events or an equality's candidates (_plan forced)" if walk else "the store's own plan"


# -- running against the server ----------------------------------------------------------------------------

_workspaces = itertools.count()


class World:
    """One example's own workspace on the server, and the reference it must agree with."""

    def __init__(self, api: Api, plans: Plans | None = None) -> None:
        self.root, self.plans = api, plans
        auth = api.services.auth
        workspace = auth.create_workspace(f"prop-{next(_workspaces)}-{uuid.uuid4().hex[:8]}")
        self.api = Api(
            client=api.client, services=api.services, key=auth.create_key(workspace, {SCOPE_ADMIN})
        )
        for name in USE_CASES:
            assert self.api.use_case(name) == name
        self.ref = Reference()
        self.history: list[tuple[Any, ...]] = []  # operations applied, images as placeholders
        self.known_images: set[str] = set()
        self._image: str | None = None

    def localize(self, event: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``event`` with the placeholder image id replaced by a real upload of this workspace."""
        images = event.get("images")
        if not images:
            return event
        if self._image is None and any(
            REAL_IMAGE in (i.get("sourceId"), i.get("inputSourceId")) for i in images
        ):
            self._image = self.api.upload()
            self.known_images.add(self._image)
        return {
            **event,
            "images": [
                {k: (self._image if v == REAL_IMAGE else v) for k, v in image.items()} for image in images
            ],
        }

    def apply(self, operation: tuple[Any, ...]) -> None:
        self.history.append(operation)
        api, ref = self.api, self.ref
        match operation:
            case ("create", event):
                body = self.localize(event)
                response = api.post("/vision-events", body)
                assert response.status_code == 201, response.text
                created = ref.write(body, self.known_images)
                assert response.json() == {"eventId": body["eventId"], "created": created}
            case ("batch", batch):
                bodies = [self.localize(e) for e in batch]
                response = api.post("/vision-events/batch", {"events": bodies})
                assert response.status_code == 201, response.text
                assert response.json()["eventIds"] == [b["eventId"] for b in bodies]
                ref.write_batch(bodies, self.known_images)
            case ("delete", event_id):
                response = api.delete(f"/vision-events/events/{quote(event_id, safe='')}")
                assert response.status_code == (204 if ref.delete(event_id) else 404), response.text
            case ("feedback", event_id, value):
                response = api.post(
                    f"/vision-events/events/{quote(event_id, safe='')}/feedback", {"feedback": value}
                )
                if not ref.exists(event_id):
                    assert response.status_code == 404, response.text
                    return
                assert response.status_code == 201, response.text
                feedback_id = response.json()["eventId"]
                stored = api.get(f"/vision-events/events/{quote(feedback_id, safe='')}").json()
                ref.write(
                    {
                        "eventId": feedback_id,
                        "eventType": "operator_feedback",
                        "useCaseId": ref.events[event_id].body["useCaseId"],
                        "timestamp": stored["timestamp"],
                        "eventData": {"relatedEventId": event_id, "feedback": value},
                    },
                    self.known_images,
                )
            case _:
                raise AssertionError(operation)

    def page_through(self, query: dict[str, Any], between_pages: Any = None) -> list[dict[str, Any]]:
        """Every page of ``query`` to the end; ``between_pages(i)`` runs after page ``i`` was read."""
        limit = query.get("limit", 50)
        seen: list[dict[str, Any]] = []
        cursor = None
        for page_number in itertools.count():
            body = dict(query, cursor=cursor) if cursor else query
            response = self.api.post("/vision-events/query", body)
            assert response.status_code == 200, (query, response.text)
            page = response.json()
            assert len(page["events"]) <= limit, page
            assert page["hasMore"] == (page["nextCursor"] is not None), page
            seen.extend(page["events"])
            cursor = page["nextCursor"]
            if cursor is None:
                return seen
            assert page_number < 200, f"paging does not end: {[e['eventId'] for e in seen][:50]}"
            if between_pages is not None:
                between_pages(page_number)
        raise AssertionError("unreachable")

    # -- checks: each returns the first disagreement with the reference, or None ---------------------------

    def query_problem(self, query: dict[str, Any], walk: bool = False) -> Problem | None:
        """Results, events and count of ``query`` (with ``walk``: under the plan that walks the events)."""
        if self.plans is None:
            assert not walk
            return self._query_problem(query)
        with self.plans.use(walk=walk):
            return self._query_problem(query)

    def _query_problem(self, query: dict[str, Any]) -> Problem | None:
        expected = self.ref.select(query)
        got = self.page_through(query)
        got_ids, expected_ids = [e["eventId"] for e in got], [e.event_id for e in expected]
        if got_ids != expected_ids:
            return Problem(
                ResultMismatch,
                f"query {query}\n  server   {got_ids}\n  expected {expected_ids}\n"
                f"  missing {sorted(set(expected_ids) - set(got_ids))}"
                f" extra {sorted(set(got_ids) - set(expected_ids))}",
            )
        for shown, ref_event in zip(got, expected, strict=True):
            if (problem := self.event_problem(shown, ref_event)) is not None:
                return Problem(problem.kind, f"query {query}\n  {problem}")
        filters = _filters(query)
        response = self.api.post("/vision-events/count", filters)
        assert response.status_code == 200, response.text
        if response.json() != {"count": len(expected)}:
            text = f"count {filters}\n  server {response.json()}  expected {len(expected)}: {expected_ids}"
            return Problem(CountMismatch, text)
        return None

    def event_problem(self, shown: dict[str, Any], ref_event: RefEvent) -> Problem | None:
        body, event_id = ref_event.body, ref_event.event_id
        if shown["feedback"] != self.ref.feedback(event_id):
            text = f"event {event_id!r}: feedback {shown['feedback']}, expected {self.ref.feedback(event_id)}"
            return Problem(FeedbackMismatch, text)
        for key in ("eventId", "eventType", "useCaseId", "deviceId", "streamId", "workflowId"):
            if shown.get(key) != body.get(key):
                return Problem(
                    EventMismatch, f"event {event_id!r}: {key} {shown.get(key)!r}, sent {body.get(key)!r}"
                )
        for key in ("customMetadata", "eventData"):
            if shown.get(key) != body.get(key):
                return Problem(
                    EventMismatch, f"event {event_id!r}: {key} {shown.get(key)!r}, sent {body.get(key)!r}"
                )
        if not shown["timestamp"].endswith("Z") or parse_instant(shown["timestamp"])[0] != ref_event.ts:
            text = f"event {event_id!r}: timestamp shown {shown['timestamp']}, sent {body['timestamp']}"
            return Problem(EventMismatch, text)
        if bool(shown["warnings"]) != ref_event.warned:
            text = f"event {event_id!r}: warnings {shown['warnings']}, expected some: {ref_event.warned}"
            return Problem(EventMismatch, text)
        shown_images, images = shown.get("images") or [], body.get("images") or []
        if len(shown_images) != len(images):
            return Problem(
                EventMismatch, f"event {event_id!r}: {len(shown_images)} images, {len(images)} sent"
            )
        for shown_image, image in zip(shown_images, images, strict=True):
            if {k: v for k, v in shown_image.items() if k in image} != image:
                return Problem(EventMismatch, f"event {event_id!r}: image shown {shown_image}, sent {image}")
            for key, url in (("sourceId", "url"), ("inputSourceId", "inputUrl")):
                if (shown_image[url] is not None) != (image.get(key) in self.known_images):
                    return Problem(
                        EventMismatch, f"event {event_id!r}: image {shown_image} has the wrong {url}"
                    )
        return None

    def use_case_problem(self) -> Problem | None:
        response = self.api.get("/vision-events/use-cases", params={"status": "all"})
        assert response.status_code == 200, response.text
        listed = {u["id"]: u for u in response.json()["useCases"]}
        if set(listed) != set(USE_CASES):
            return Problem(UseCaseMismatch, f"use cases listed: {sorted(listed)}")
        for name in USE_CASES:
            expected, shown = self.ref.use_case(name), listed[name]
            last = shown["lastEventAt"]
            if (
                shown["eventCount"] != expected["eventCount"]
                or (parse_instant(last)[0] if last is not None else None) != expected["lastEventAt"]
                or sorted(shown["eventTypes"]) != expected["eventTypes"]
            ):
                text = f"use case {name}: listed {shown}, expected {expected} (lastEventAt in µs)"
                return Problem(UseCaseMismatch, text)
        return None

    def aggregate_problem(self, request: dict[str, Any]) -> Problem | None:
        expected = self.ref.aggregate(request)
        response = self.api.post("/vision-events/aggregate", request)
        assert response.status_code == 200, (request, response.text)
        got = response.json()["buckets"]
        if got == expected:
            return None
        missing = [b for b in expected if b not in got]
        extra = [b for b in got if b not in expected]

        def instants(buckets: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [{**b, "time": b["time"] and parse_instant(b["time"])[0]} for b in buckets]

        return Problem(
            BucketTimeMismatch if instants(got) == instants(expected) else AggregateMismatch,
            f"aggregate {request}\n  server   {got}\n  expected {expected}\n"
            + (
                f"  missing {missing}\n  extra {extra}"
                if missing or extra
                else "  (the same buckets, in another order)"
            ),
        )

    def check_query(self, query: dict[str, Any]) -> None:
        """The query under the store's own plan; again walking the events if the store started from an
        index (else the same plan would run again)."""
        self._statistics(query, self.ref.select(query))
        for walk in (False, True):
            if walk and (self.plans is None or not self.plans.started_from_index):
                event("plan: walked only")
                return
            if (problem := self.query_problem(query, walk)) is not None:

                def check(world: World, query: dict[str, Any], walk: bool = walk) -> Problem | None:
                    return world.query_problem(query, walk)

                repro = self.minimal_reproduction(check, query, problem.kind)
                raise problem.kind(f"{problem}\n{repro}\n  (plan: {_plan_name(walk)})")
        event("plan: index, then walked")

    def check_aggregate(self, request: dict[str, Any]) -> None:
        event(f"aggregate: {len(self.ref.aggregate(request))} buckets")
        if (problem := self.aggregate_problem(request)) is not None:
            repro = self.minimal_reproduction(World.aggregate_problem, request, problem.kind)
            raise problem.kind(f"{problem}\n{repro}")

    def check_use_cases(self) -> None:
        if (problem := self.use_case_problem()) is not None:
            repro = self.minimal_reproduction(lambda world, _: world.use_case_problem(), None, problem.kind)
            raise problem.kind(f"{problem}\n{repro}")

    def _statistics(self, query: dict[str, Any], expected: list[RefEvent]) -> None:
        """How selective the drawn filters are (see --hypothesis-show-statistics)."""

        def share(found: int, total: int) -> str:
            return "none" if not found else "all" if found == total else "some"

        mine = [e for e in self.ref.events.values() if e.body["useCaseId"] == query["useCaseId"]]
        event(f"query: {share(len(expected), len(mine))}")
        for key in query.keys() - {"useCaseId", "sort", "limit"}:
            alone = {"useCaseId": query["useCaseId"], key: query[key]}
            event(f"{key}: {share(sum(self.ref.matches(e, alone) for e in mine), len(mine))}")

    # -- minimizing a failure: cheaper and more to the point than shrinking the whole example --------------

    def minimal_reproduction(
        self, check: Any, query: dict[str, Any] | None, kind: type[AssertionError]
    ) -> str:
        """Drop query filters while ``check(world, query)`` still reports a problem of this kind; then find a
        small set of writes that shows it in a fresh workspace: the final events as one batch if that
        suffices, else the history of operations, shortened. Returns a ready-to-read reproduction."""

        def problem_of(world: World, query: dict[str, Any] | None) -> Problem | None:
            problem = check(world, query)
            return problem if problem is not None and problem.kind is kind else None

        try:
            if query is not None:
                query = self._smaller_query(problem_of, query)
            found = self._from_final_events(problem_of, query) or self._from_history(problem_of, query)
            return found or (
                "Not reproduced in a fresh workspace (neither by the final events nor by the same "
                "operations); see the falsifying example, or rerun with SIGHTLOG_PROPERTY_SHRINK=1."
            )
        except Exception as exc:  # never hide the original failure
            return f"(could not minimize: {exc!r})"

    def _from_final_events(self, problem_of: Any, query: dict[str, Any] | None) -> str | None:
        bodies = [self._portable(e.body) for e in sorted(self.ref.events.values(), key=lambda e: e.received)]
        world = self.replay(bodies)
        if world is None or problem_of(world, query) is None:
            return None
        shorter = _shortest(bodies, lambda trial: self.replay(trial), problem_of, query)
        bodies, world = shorter or (bodies, world)
        simpler = _simplest(bodies, lambda trial: self.replay(trial), problem_of, query)
        bodies, world = simpler or (bodies, world)
        return (
            f"{REPRO}\n  POST /vision-events/batch {_json({'events': bodies})}\n"
            f"  then {problem_of(world, query)}"
        )

    def _from_history(self, problem_of: Any, query: dict[str, Any] | None) -> str | None:
        operations = list(self.history)
        world = self.rerun(operations)
        if world is None or problem_of(world, query) is None:
            return None
        shorter = _shortest(operations, self.rerun, problem_of, query)
        operations, world = shorter or (operations, world)
        for i in range(len(operations)):  # fewer events inside each batch
            if operations[i][0] != "batch":
                continue
            batch = list(operations[i][1])

            def with_batch(trial: list[dict[str, Any]], i: int = i) -> World | None:
                return (
                    self.rerun([*operations[:i], ("batch", trial), *operations[i + 1 :]]) if trial else None
                )

            for reduce in (_shortest, _simplest):
                found = reduce(batch, with_batch, problem_of, query)
                if found is not None:
                    batch, world = found
                    operations[i] = ("batch", batch)
        steps = "\n".join(f"  {_describe(op)}" for op in operations)
        return f"{REPRO} (the order of writes matters)\n{steps}\n  then {problem_of(world, query)}"

    def _smaller_query(self, problem_of: Any, query: dict[str, Any]) -> dict[str, Any]:
        def candidates(q: dict[str, Any]) -> list[dict[str, Any]]:
            out = [{k: v for k, v in q.items() if k != key} for key in q if key != "useCaseId"]
            group_by = q.get("groupBy", [])
            if len(group_by) > 1:
                out += [{**q, "groupBy": [name]} for name in group_by]
            for key in LISTS:
                items = q.get(key, [])
                for i, item in enumerate(items):
                    if len(items) > 1:
                        out.append({**q, key: items[:i] + items[i + 1 :]})
                    for name in item.keys() - {"class", "field", "operator", "value"}:
                        simpler = {k: v for k, v in item.items() if k != name}
                        out.append({**q, key: [*items[:i], simpler, *items[i + 1 :]]})
            return out

        smaller = True
        while smaller:
            smaller = False
            for trial in candidates(query):
                if problem_of(self, trial) is not None:
                    query, smaller = trial, True
                    break
        return query

    def _portable(self, body: dict[str, Any]) -> dict[str, Any]:
        if not body.get("images") or self._image is None:
            return body
        images = [
            {k: (REAL_IMAGE if v == self._image else v) for k, v in image.items()} for image in body["images"]
        ]
        return {**body, "images": images}

    def rerun(self, operations: list[tuple[Any, ...]]) -> World | None:
        """A fresh workspace after ``operations``; None if one of them no longer behaves as expected."""
        world = World(self.root, self.plans)
        try:
            for operation in operations:
                world.apply(operation)
        except AssertionError:
            return None
        return world

    def replay(self, bodies: list[dict[str, Any]]) -> World | None:
        """A fresh workspace holding ``bodies`` (written as one batch); None if the server rejects them."""
        world = World(self.root, self.plans)
        if bodies:
            localized = [world.localize(body) for body in bodies]
            if world.api.post("/vision-events/batch", {"events": localized}).status_code != 201:
                return None
            world.ref.write_batch(localized, world.known_images)
        return world


REQUIRED = ("eventId", "eventType", "useCaseId", "timestamp")
REPRO = "MINIMAL REPRODUCTION (verified in a fresh workspace with use cases u0, u1; IMG = an uploaded image)"
REDUCTION_BUDGET = 150  # fresh workspaces per minimizing step


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _describe(operation: tuple[Any, ...]) -> str:
    match operation:
        case ("create", body):
            return f"POST /vision-events {_json(body)}"
        case ("batch", bodies):
            return f"POST /vision-events/batch {_json({'events': bodies})}"
        case ("delete", event_id):
            return f"DELETE /vision-events/events/{event_id}"
        case ("feedback", event_id, value):
            return f"POST /vision-events/events/{event_id}/feedback {_json({'feedback': value})}"
    return repr(operation)


def _shortest(items: list[Any], build: Any, problem_of: Any, query: Any) -> tuple[list[Any], World] | None:
    """Leave out one item at a time while ``build(items)`` still shows a problem; None if nothing went."""
    found = None
    i, budget = 0, REDUCTION_BUDGET
    while i < len(items) and budget > 0:
        budget -= 1
        trial = items[:i] + items[i + 1 :]
        world = build(trial)
        if world is not None and problem_of(world, query) is not None:
            items, found = trial, (trial, world)
        else:
            i += 1
    return found


def _simplest(
    bodies: list[dict[str, Any]], build: Any, problem_of: Any, query: Any
) -> tuple[list[dict[str, Any]], World] | None:
    """Simpler event bodies (fewer fields, images, predictions) while ``build`` still shows a problem."""
    found, budget, smaller = None, REDUCTION_BUDGET, True
    while smaller and budget > 0:
        smaller = False
        for i, body in enumerate(bodies):
            for simpler in _simpler(body):
                budget -= 1
                trial = [*bodies[:i], simpler, *bodies[i + 1 :]]
                world = build(trial)
                if world is not None and problem_of(world, query) is not None:
                    bodies, found, smaller = trial, (trial, world), True
                    break
                if budget <= 0:
                    break
            if smaller or budget <= 0:
                break
    return found


def _simpler(body: dict[str, Any]) -> list[dict[str, Any]]:
    """Candidate simplifications of one event body, each one thing left out (some may be invalid)."""
    out = [{k: v for k, v in body.items() if k != key} for key in body if key not in REQUIRED]
    for nested in ("eventData", "customMetadata"):
        for key in body.get(nested) or {}:
            out.append({**body, nested: {k: v for k, v in body[nested].items() if k != key}})
    images = body.get("images") or []
    for i, image in enumerate(images):
        out.append({**body, "images": images[:i] + images[i + 1 :]})
        for key, value in image.items():
            simpler_images = [{k: v for k, v in image.items() if k != key}]
            if isinstance(value, list):
                simpler_images += [{**image, key: value[:j] + value[j + 1 :]} for j in range(len(value))]
            out += [
                {**body, "images": [*images[:i], simpler, *images[i + 1 :]]} for simpler in simpler_images
            ]
    in_utc = format_time(parse_instant(body["timestamp"])[0] - BASE_US, "Z")
    if body["timestamp"] != in_utc:
        out.append({**body, "timestamp": in_utc})
    return out


def _random(data: st.DataObject, written: Any) -> random.Random:
    """A generator for the queries, seeded by Hypothesis and by what was written (examples that Hypothesis
    built alike still get different queries), but not by the month that the timestamps fall in."""

    def timeless(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: timeless(v) for k, v in value.items() if k != "timestamp"}
        if isinstance(value, list | tuple):
            return [timeless(v) for v in value]
        return value

    return random.Random(f"{data.draw(SEEDS, label='query seed')}:{timeless(written)!r}")


def _filters(query: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in query.items() if k not in ("sort", "limit")}


@_settings(EXAMPLES)
@given(operations=st.lists(OPERATIONS, min_size=4, max_size=16), data=st.data())
def test_queries_match_the_reference(
    api: Api, plans: Plans, operations: list[Any], data: st.DataObject
) -> None:
    world = World(api, plans)
    for operation in operations:
        world.apply(operation)
    stored = [(e.event_id, e.body["useCaseId"], e.ts) for e in world.ref.events.values()]
    note(f"stored (id, use case, µs): {stored}")
    maker = QueryMaker(world.ref, _random(data, operations))
    for name in USE_CASES:  # everything, as stored
        world.check_query({"useCaseId": name, "sort": "asc", "limit": 1000})
        world.check_aggregate({"useCaseId": name, **maker.grouping(name)})
    world.check_use_cases()
    for _ in range(QUERIES):
        query = maker.query()
        note(f"query: {query}")
        world.check_query(query)
        request = {**_filters(query), **maker.grouping(query["useCaseId"])}
        note(f"aggregate: {request}")
        world.check_aggregate(request)
    for _ in range(ROLLUP_QUERIES):
        query, grouping = maker.rollup_aggregate()
        note(f"rollup query: {query}")
        world.check_query(query)  # and its count
        note(f"rollup aggregate: {grouping}")
        world.check_aggregate({**query, **grouping})


@_settings(CLOCK_EXAMPLES)
@given(bodies=st.lists(events(), min_size=2, max_size=12), data=st.data())
def test_aggregates_across_clock_changes(api: Api, bodies: list[dict[str, Any]], data: st.DataObject) -> None:
    """Buckets in time zones where the clock is turned forward or back (by an hour, or by half an hour on
    Lord Howe Island), and around the local midnights that start a week; mostly in the zone that changed."""
    rnd = _random(data, bodies)
    zone, batch = around_clock_changes(rnd, bodies)
    world = World(api)
    world.apply(("batch", batch))
    stored = [(e.event_id, e.body["useCaseId"], e.body["timestamp"]) for e in world.ref.events.values()]
    note(f"stored (id, use case, timestamp): {stored}")
    maker = QueryMaker(world.ref, rnd)
    for _ in range(AGGREGATES):
        use_case = maker.rnd.choice([name for name in USE_CASES if maker.stored(name)])
        grouping = maker.grouping(use_case, intervals=CLOCK_INTERVALS, zones=(*[zone] * 5, *TIME_ZONES))
        request = {"useCaseId": use_case, **grouping}
        if maker.rnd.random() < 0.25:
            request["eventTypes"] = maker.rnd.sample(TYPES, 2)
        if maker.rnd.random() < 0.5:
            request |= range_around_a_change(maker.rnd, zone)
        note(f"aggregate: {request}")
        world.check_aggregate(request)


# -- paging while events arrive ----------------------------------------------------------------------------

NEW_IDS = ("0", "A+", "B+", "a+", "a-1+", "b+", "é+", "~")


@_settings(PAGING_EXAMPLES)
@given(
    initial=st.lists(events(), min_size=1, max_size=10, unique_by=lambda e: e["eventId"]),
    arrivals=st.lists(
        st.tuples(st.integers(0, 4), events(ids=NEW_IDS, types=TYPES[:4])),
        max_size=6,
        unique_by=lambda pair: pair[1]["eventId"],
    ),
    data=st.data(),
)
def test_paging_while_events_arrive(
    api: Api, initial: list[dict[str, Any]], arrivals: list[tuple[int, dict[str, Any]]], data: st.DataObject
) -> None:
    """Keyset paging: an event that existed when the first page was read is seen exactly once, however many
    events arrive (before or after the cursor, with equal timestamps) between pages."""
    world = World(api)
    world.apply(("batch", initial))
    query = QueryMaker(world.ref, _random(data, initial)).query(limits=(1, 2, 3))
    note(f"query: {query}")
    existing = [e.event_id for e in world.ref.select(query)]

    def arrive(page_number: int) -> None:
        for after_page, new_event in arrivals:
            if after_page == page_number:
                world.apply(("create", new_event))

    got = world.page_through(query, arrive)
    got_ids = [e["eventId"] for e in got]
    counts = Counter(got_ids)
    assert all(n == 1 for n in counts.values()), f"repeated: {counts}"
    assert [i for i in existing if counts[i] != 1] == [], f"skipped; server {got_ids}, existing {existing}"
    arrived = {new_event["eventId"] for _, new_event in arrivals}
    assert set(got_ids) <= set(existing) | arrived, got_ids
    keys = [(parse_instant(e["timestamp"])[0], e["eventId"].encode()) for e in got]
    assert keys == sorted(keys, reverse=query.get("sort", "desc") == "desc"), keys
    for shown in got:  # anything new that showed up must match the filters too
        assert world.ref.matches(world.ref.events[shown["eventId"]], query), shown
