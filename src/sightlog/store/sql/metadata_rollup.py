"""Event counts per custom metadata value and pair of values, kept in step with the events.

"How many events on line 7 in shift b", "events per line in shift b": over millions of events these read
hundreds of thousands of side-table rows. ``attr_rollup`` counts, per (use case, quarter hour, event type),
the events holding each value of a field, and each pair of values of two fields (in name order), adjusted in
the transaction that writes or removes the events. Aggregates and counts whose filters are equalities on at
most two such fields, grouped by those fields and the event type, read it instead (the partial quarter
hours at the edges of a time range still come from the events, as for ``event_rollup``).

Only fields with few values can be counted this way: a field is rolled up from its first event, among the
first ``MAX_FIELDS`` of its use case, until it shows more than ``MAX_VALUES`` values or a string longer than
``MAX_VALUE_CHARS``; then it is dropped for good and its questions go to the events. Rows written for it
before are left behind: at most one batch's worth, never read again.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, true, tuple_

from sightlog.models.query import QueryPlan, ValueFilter
from sightlog.store.sql import rollups
from sightlog.store.sql.schema import attr_rollup, rollup_fields, rollup_values

MAX_FIELDS = 6  # per use case: every event adds a row per rolled-up field and per ordered pair of them
MAX_VALUES = 50
MAX_VALUE_CHARS = 100
_METADATA = "customMetadata."
_KEY = ("use_case_pk", "field", "field2", "value2", "num2", "value", "num", "bucket", "event_type")
_SINGLE = ("", 0.0)  # (value2, num2) of the rows that count one field's values

Value = tuple[str, float]  # (type letter + string, number): how attr_rollup holds a value
Rows = list[tuple[int | None, tuple[Any, ...], int]]


def encode(value_type: str, text: str | None, number: float | None) -> Value:
    """Custom metadata values are scalars (validation): strings, numbers and booleans."""
    if value_type == "s":
        return "s" + (text or ""), 0.0
    return value_type, (number or 0.0) + 0.0  # + 0.0: -0.0 and 0.0 are one value


def decode(value: str, number: float) -> str | float | bool:
    if value[:1] == "s":
        return value[1:]
    return bool(number) if value == "b" else number


# -- writing ------------------------------------------------------------------------------------------------

# An event to count: (use case, ts, event type, custom metadata as (field, value type, text, number)).
Counted = tuple[int, int, str, Sequence[tuple[str, str, str | None, float | None]]]


def adjust(conn: Connection, counted: Sequence[Counted], sign: int) -> None:
    """Add (sign 1) or take away (-1) events from the counts of their rolled-up fields."""
    named = {(uc, field) for uc, _, _, attrs in counted for field, *_ in attrs}
    if not named:
        return
    rolled = _rolled_up_fields(conn, named, add_new=sign > 0)
    values = [(uc, ts, et, _values_of(uc, attrs, rolled)) for uc, ts, et, attrs in counted]
    if sign > 0:
        dropped = _note_values(conn, {(uc, f, v) for uc, _, _, vs in values for f, v in vs.items()})
        rolled -= dropped
        values = [
            (uc, ts, et, {f: v for f, v in vs.items() if (uc, f) in rolled}) for uc, ts, et, vs in values
        ]
    deltas: Counter[tuple[Any, ...]] = Counter()
    for uc, ts, event_type, by_field in values:
        bucket = rollups.bucket_of(ts)
        for field, value in by_field.items():
            deltas[(uc, field, "", *_SINGLE, *value, bucket, event_type)] += sign
        for (field, value), (field2, value2) in itertools.combinations(sorted(by_field.items()), 2):
            deltas[(uc, field, field2, *value2, *value, bucket, event_type)] += sign
    rollups.add_counts(conn, "attr_rollup", _KEY, deltas)


def _values_of(
    uc: int, attrs: Iterable[tuple[str, str, str | None, float | None]], rolled: set[tuple[int, str]]
) -> dict[str, Value]:
    return {field: encode(*value) for field, *value in attrs if (uc, field) in rolled}


def _rolled_up_fields(
    conn: Connection, named: set[tuple[int, str]], *, add_new: bool
) -> set[tuple[int, str]]:
    """The named (use case, field) pairs that are rolled up; with ``add_new``, fields never seen before are
    registered, rolled up while their use case has fewer than MAX_FIELDS."""
    use_cases = sorted({uc for uc, _ in named})
    known = _field_states(conn, use_cases)
    new = sorted(named - known.keys())
    if add_new and new:
        active = Counter(uc for (uc, _), rolled in known.items() if rolled)
        rows = []
        for uc, field in new:
            rows.append((uc, field, active[uc] < MAX_FIELDS))
            active[uc] += 1
        _insert_new(conn, "rollup_fields (use_case_pk, field, rolled_up)", rows)
        known = _field_states(conn, use_cases)  # a concurrent writer may have registered some first
    return {key for key in named if known.get(key)}


def _field_states(conn: Connection, use_cases: list[int]) -> dict[tuple[int, str], bool]:
    f = rollup_fields.c
    query = select(f.use_case_pk, f.field, f.rolled_up).where(f.use_case_pk.in_(use_cases))
    return {(uc, field): rolled for uc, field, rolled in conn.execute(query)}


def _note_values(conn: Connection, seen: set[tuple[int, str, Value]]) -> set[tuple[int, str]]:
    """Record the values seen of rolled-up fields; returns the fields that now have too many (or too long)
    values, which are dropped instead.

    Under concurrent writers (PostgreSQL) two may each add values to one field and pass the bound together
    unnoticed: a soft bound, which only costs rollup rows.
    """
    v = rollup_values.c
    fields = sorted({(uc, field) for uc, field, _ in seen})
    known = {
        (uc, field, (value, num))
        for uc, field, value, num in conn.execute(
            select(v.use_case_pk, v.field, v.value, v.num).where(tuple_(v.use_case_pk, v.field).in_(fields))
        )
    }
    new = sorted(seen - known)
    if not new:
        return set()
    held = Counter((uc, field) for uc, field, _ in known) + Counter((uc, field) for uc, field, _ in new)
    too_long = {(uc, field) for uc, field, (value, _) in new if len(value) > MAX_VALUE_CHARS + 1}
    dropped = too_long | {key for key, n in held.items() if n > MAX_VALUES}
    _insert_new(
        conn,
        "rollup_values (use_case_pk, field, value, num)",
        [(uc, field, value, num) for uc, field, (value, num) in new if (uc, field) not in dropped],
    )
    if dropped:
        f = rollup_fields.c
        conn.execute(
            rollup_fields.update()
            .where(tuple_(f.use_case_pk, f.field).in_(sorted(dropped)))
            .values(rolled_up=False)
        )
    return dropped


def _insert_new(conn: Connection, table_and_columns: str, rows: list[tuple[Any, ...]]) -> None:
    """Insert the rows that are not there yet (one statement: few values, few fields)."""
    if not rows:
        return
    mark = "%s" if conn.dialect.name == "postgresql" else "?"
    row = f"({', '.join([mark] * len(rows[0]))})"
    conn.exec_driver_sql(
        f"INSERT INTO {table_and_columns} VALUES {', '.join([row] * len(rows))} ON CONFLICT DO NOTHING",
        tuple(value for row in rows for value in row),
    )


# -- reading ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    allowed: list[Value] | None  # None: not filtered
    grouped: bool


Reader = Callable[[int | None, int | None], Rows]


def reader(conn: Connection, plan: QueryPlan, group_by: list[str], bucket_us: int | None) -> Reader | None:
    """How to read this aggregate from the rollup between two quarter hours, if it can be."""
    fields = _fields(plan, group_by)
    if fields is None or bucket_us not in (None, rollups.BUCKET_US):
        return None
    f = rollup_fields.c
    rolled = conn.execute(
        select(func.count()).where(
            f.use_case_pk == plan.use_case_pk, f.field.in_([x.name for x in fields]), f.rolled_up == true()
        )
    ).scalar_one()
    if rolled != len(fields):
        return None
    return lambda start, end: _read(conn, plan, group_by, bucket_us, fields, start, end)


def _fields(plan: QueryPlan, group_by: list[str]) -> list[_Field] | None:
    """The one or two metadata fields the aggregate names, if the rollup can answer it."""
    if (
        plan.sources
        or plan.field_filters
        or plan.detection_filters
        or plan.feedback is not None
        or plan.has_warnings is not None
        or any(k != "eventType" and not k.startswith(_METADATA) for k in group_by)
    ):
        return None
    filters: dict[str, ValueFilter] = {}
    for flt in plan.metadata_filters:
        if flt.operator not in ("eq", "in") or flt.field in filters:
            return None
        filters[flt.field] = flt
    grouped = [k.removeprefix(_METADATA) for k in group_by if k != "eventType"]
    names = list(dict.fromkeys([*filters, *grouped]))
    if not 1 <= len(names) <= 2:
        return None
    return [_Field(n, _allowed(filters[n]) if n in filters else None, n in grouped) for n in names]


def _allowed(flt: ValueFilter) -> list[Value]:
    kind = {"string": "s", "number": "n", "boolean": "b"}[flt.type or "string"]
    return sorted({encode(kind, str(v), None if kind == "s" else float(v)) for v in flt.values()})


def _read(
    conn: Connection,
    plan: QueryPlan,
    group_by: list[str],
    bucket_us: int | None,
    fields: list[_Field],
    start: int | None,
    end: int | None,
) -> Rows:
    """Counts per key, where a grouped field without a filter also has the events lacking it (None).

    Those are counted by inclusion-exclusion over the rollup's totals: with fields F and G both grouped,
    events lacking both = all, less those with F, less those with G, plus those with both.
    """
    by_type = "eventType" in group_by
    totals: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {}

    def total(present: list[_Field]) -> dict[tuple[Any, ...], int]:
        names = tuple(f.name for f in present)
        if names not in totals:
            totals[names] = _sums(conn, plan, present, bucket_us, by_type, start, end)
        return totals[names]

    lackable = [f.name for f in fields if f.allowed is None and f.grouped]
    counts: defaultdict[tuple[Any, ...], int] = defaultdict(int)
    for lacking in _subsets(lackable):
        for subtracted in _subsets(lacking):
            present = [f for f in fields if f.name not in lacking or f.name in subtracted]
            sign = -1 if len(subtracted) % 2 else 1
            for (bucket, event_type, *values), n in total(present).items():
                value_of = dict(zip([f.name for f in present if f.grouped], values, strict=True))
                value_of.update(dict.fromkeys(lacking))  # summed over the subtracted ones
                key = tuple(
                    event_type if k == "eventType" else value_of[k.removeprefix(_METADATA)] for k in group_by
                )
                counts[(bucket, key)] += sign * n
    return [(bucket, key, n) for (bucket, key), n in counts.items() if n > 0]


def _subsets(names: list[str]) -> list[tuple[str, ...]]:
    return [c for size in range(len(names) + 1) for c in itertools.combinations(names, size)]


def _sums(
    conn: Connection,
    plan: QueryPlan,
    fields: list[_Field],
    bucket_us: int | None,
    by_type: bool,
    start: int | None,
    end: int | None,
) -> dict[tuple[Any, ...], int]:
    """Events holding every one of ``fields`` (none: all events), with their filters: count per (bucket or
    None, event type or None, values of the grouped fields)."""
    if not fields:
        bare = replace(plan, metadata_filters=[])
        rows = rollups.read(conn, bare, ["eventType"] if by_type else [], bucket_us, start, end)
        return {(bucket, key[0] if by_type else None): n for bucket, key, n in rows}
    r = attr_rollup.c
    first, *rest = sorted(fields, key=lambda f: f.name)  # a pair's row is keyed by the fields in name order
    second = rest[0] if rest else None
    where = [r.use_case_pk == plan.use_case_pk, r.field == first.name, *_matching(r.value, r.num, first)]
    if second is None:
        where += [r.field2 == "", r.value2 == _SINGLE[0], r.num2 == _SINGLE[1]]
    else:
        where += [r.field2 == second.name, *_matching(r.value2, r.num2, second)]
        if first.allowed is not None and second.allowed is None:
            # The second field's value comes first in the key: naming its values turns the filter on the
            # first into one seek per value instead of a scan of every pair. (Two IN lists, which SQLite
            # seeks by, not one of pairs, which it scans; every pair of the field's rows is in both.)
            held = _values_held(conn, plan.use_case_pk, second.name)
            where += [r.value2.in_({v for v, _ in held}), r.num2.in_({n for _, n in held})]
    where += rollups.window(attr_rollup, plan, start, end)
    keys: list[ColumnElement[Any]] = [r.bucket] if bucket_us else []
    keys += [r.event_type] if by_type else []
    value_columns = {first.name: (r.value, r.num)}
    if second is not None:
        value_columns[second.name] = (r.value2, r.num2)
    grouped = [f.name for f in fields if f.grouped]  # in the caller's order
    keys += [column for name in grouped for column in value_columns[name]]
    query = select(*keys, func.sum(r.event_count)).where(*where)
    if keys:
        query = query.group_by(*keys)
    sums: dict[tuple[Any, ...], int] = {}
    skip = bool(bucket_us) + by_type
    for row in conn.execute(query):
        bucket = row[0] if bucket_us else None
        event_type = row[skip - 1] if by_type else None
        raw = row[skip:-1]
        key = (bucket, event_type, *(decode(raw[i], raw[i + 1]) for i in range(0, len(raw), 2)))
        sums[key] = int(row[-1] or 0)  # no rows at all: NULL
    return sums


def _values_held(conn: Connection, use_case_pk: int, field: str) -> list[Value]:
    v = rollup_values.c
    query = select(v.value, v.num).where(v.use_case_pk == use_case_pk, v.field == field)
    return [(value, num) for value, num in conn.execute(query)]


def _matching(
    value: ColumnElement[str], num: ColumnElement[float], field: _Field
) -> list[ColumnElement[bool]]:
    if field.allowed is None:
        return []
    return [or_(*(and_(value == v, num == n) for v, n in field.allowed))]
