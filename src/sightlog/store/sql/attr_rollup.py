"""Event counts per value, and pair of values, of custom metadata and eventData fields, kept in step.

"How many events on line 7 in shift b", "failed checks per day": over millions of events these read
hundreds of thousands of side-table rows. ``attr_rollup`` counts, per (use case, quarter hour, event type),
the events holding each value of a field, and each pair of values of two fields of one namespace (in name
order), adjusted in the transaction that writes or removes the events. Aggregates and counts whose filters
are equalities on at most two such fields, grouped by those fields and the event type, read it instead (the
partial quarter hours at the edges of a time range still come from the events, as for ``event_rollup``).

Fields are named as custom metadata keys are ("line_id"), and eventData fields with ``DATA`` before their
key ("eventData.result"): a custom metadata key never holds a dot (SPEC §3.2), so the two never meet.

Only fields with few values can be counted this way. A field is rolled up from its first batch, among the
first ``MAX_FIELDS`` of its use case and namespace (the most used first when several arrive together), while
it shows at most ``MAX_VALUES`` values, each a scalar of at most ``MAX_VALUE_CHARS``; past that it is
dropped for good and its questions go to the events. Rows written for it before are left behind: at most one
batch's worth, never read again.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, or_, select, true, tuple_

from sightlog.models.query import Grid, QueryPlan, ValueFilter
from sightlog.store.sql import rollups
from sightlog.store.sql.schema import attr_rollup, rollup_fields, rollup_values

MAX_FIELDS = 6  # per use case and namespace: every event adds a row per rolled-up field and pair of them
MAX_VALUES = 50
MAX_VALUE_CHARS = 100
MAX_NAME_CHARS = 100  # as the field columns hold
DATA = "eventData."
_METADATA = "customMetadata."
_KEY = ("use_case_pk", "field", "field2", "value2", "num2", "value", "num", "bucket", "event_type")
_SINGLE = ("", 0.0)  # (value2, num2) of the rows that count one field's values

Value = tuple[str, float]  # (type letter + string, number): how attr_rollup holds a value
Rows = list[tuple[int | None, tuple[Any, ...], int]]


def encode(value_type: str, text: str | None, number: float | None) -> Value:
    """Strings as "s" and the string; numbers ("n"), booleans ("b") and the others ("x": null, list or
    object, which eventData may hold) by their number."""
    if value_type == "s":
        return "s" + (text or ""), 0.0
    return value_type, (number or 0.0) + 0.0  # + 0.0: -0.0 and 0.0 are one value


def decode(value: str, number: float) -> str | float | bool:
    if value[:1] == "s":
        return value[1:]
    return bool(number) if value == "b" else number


def name_of(namespace: str, key: str) -> str:
    """The rollup's name for a custom metadata ("m") or eventData ("d") field."""
    return key if namespace == "m" else DATA + key


def _field_of(name: str) -> tuple[str, str]:
    """(namespace, key) of a rollup name."""
    return ("d", name.removeprefix(DATA)) if name.startswith(DATA) else ("m", name)


def _fits(value: Value) -> bool:
    """Whether a value can be counted: a scalar, at most MAX_VALUE_CHARS long."""
    return value[0] != "x" and len(value[0]) <= MAX_VALUE_CHARS + 1


# -- writing ------------------------------------------------------------------------------------------------

# A field's value as event_attrs holds it: (namespace, key, value type, text, number).
Attr = tuple[str, str, str, str | None, float | None]
# An event to count: (use case, ts, event type, its fields).
Counted = tuple[int, int, str, Sequence[Attr]]
# Whether a field is rolled up, by (use case, namespace, key): the form ingest holds fields in.
States = dict[tuple[int, str, str], bool]


def adjust(conn: Connection, counted: Sequence[Counted], sign: int) -> None:
    """Add (sign 1) or take away (-1) events from the counts of their rolled-up fields."""
    if not any(attrs for *_, attrs in counted):
        return
    states = _field_states(conn, sorted({uc for uc, *_ in counted}))
    if sign > 0:
        _admit(conn, counted, states)
    keys: list[tuple[Any, ...]] = []  # one per row to add the event to (counted at once, in C)
    for uc, ts, event_type, attrs in counted:
        bucket = rollups.bucket_of(ts)
        # Sorted by namespace, then name: pairs are of one namespace, keyed by their names in order.
        kept = sorted(
            (ns, name_of(ns, key), encode(value_type, text, number))
            for ns, key, value_type, text, number in attrs
            if states.get((uc, ns, key))
        )
        keys += [(uc, name, "", *_SINGLE, *value, bucket, event_type) for _, name, value in kept]
        keys += [
            (uc, name, name2, *value2, *value, bucket, event_type)
            for (ns, name, value), (ns2, name2, value2) in itertools.combinations(kept, 2)
            if ns == ns2
        ]
    deltas = Counter(keys)
    if sign < 0:
        deltas = Counter({key: -n for key, n in deltas.items()})
    rollups.add_counts(conn, "attr_rollup", _KEY, deltas)


def _admit(conn: Connection, counted: Sequence[Counted], states: States) -> None:
    """Register the fields of these new events never seen before, and drop the rolled-up ones whose values
    no longer fit; ``states`` is brought up to date."""
    seen: defaultdict[tuple[int, str, str], set[Value]] = defaultdict(set)
    uses: Counter[tuple[int, str, str]] = Counter()  # of new fields
    for uc, _, _, attrs in counted:
        for ns, key, value_type, text, number in attrs:
            state = states.get((uc, ns, key))
            if state is not False:
                seen[(uc, ns, key)].add(encode(value_type, text, number))
                if state is None:
                    uses[(uc, ns, key)] += 1
    new = [field for field in uses if len(name_of(*field[1:])) <= MAX_NAME_CHARS]
    if new:
        # A field that cannot be counted already takes no place; the others take places most used first, so
        # that the fields of a use case's first batch are chosen as the migrations choose them.
        active = Counter((uc, ns) for (uc, ns, _), rolled in states.items() if rolled)
        rows = []
        for uc, ns, key in sorted(new, key=lambda field: (-uses[field], field)):
            values = seen[(uc, ns, key)]
            rolled = len(values) <= MAX_VALUES and all(map(_fits, values)) and active[(uc, ns)] < MAX_FIELDS
            active[(uc, ns)] += rolled
            rows.append((uc, name_of(ns, key), rolled))
        _insert_new(conn, "rollup_fields (use_case_pk, field, rolled_up)", sorted(rows))
        # A concurrent writer may have registered some first.
        states.update(_field_states(conn, sorted({uc for uc, _, _ in new})))
    rolled = [field for field in seen if states.get(field)]
    values = {(uc, name_of(ns, key), value) for uc, ns, key in rolled for value in seen[(uc, ns, key)]}
    for uc, name in _note_values(conn, values):
        states[(uc, *_field_of(name))] = False


def _field_states(conn: Connection, use_cases: list[int]) -> States:
    f = rollup_fields.c
    query = select(f.use_case_pk, f.field, f.rolled_up).where(f.use_case_pk.in_(use_cases))
    return {(uc, *_field_of(name)): rolled for uc, name, rolled in conn.execute(query)}


def _note_values(conn: Connection, seen: set[tuple[int, str, Value]]) -> set[tuple[int, str]]:
    """Record the values seen of rolled-up fields; returns the fields that now have too many values, or one
    that does not fit, which are dropped instead.

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
    unfit = {(uc, field) for uc, field, value in new if not _fits(value)}
    dropped = unfit | {key for key, n in held.items() if n > MAX_VALUES}
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


def reader(conn: Connection, plan: QueryPlan, group_by: list[str], grid: Grid | None) -> Reader | None:
    """How to read this aggregate from the rollup between two quarter hours, if it can be."""
    fields = _fields(plan, group_by)
    if fields is None or not rollups.fits(grid):
        return None
    f = rollup_fields.c
    rolled = conn.execute(
        select(func.count()).where(
            f.use_case_pk == plan.use_case_pk, f.field.in_([x.name for x in fields]), f.rolled_up == true()
        )
    ).scalar_one()
    if rolled != len(fields):
        return None
    return lambda start, end: _read(conn, plan, group_by, grid, fields, start, end)


def count_of(conn: Connection, plan: QueryPlan, namespace: str, flt: ValueFilter) -> int | None:
    """The events of the plan's use case and time range (whole quarter hours) that pass one filter on a
    value, if the rollup counts them: how a query plan tells a frequent value from a rare one."""
    one = QueryPlan(plan.use_case_pk, plan.start_ts, plan.end_ts)
    if namespace == "m":
        one.metadata_filters = [flt]
    else:
        one.field_filters = [flt]
    read = reader(conn, one, [], None)
    return None if read is None else sum(n for _, _, n in read(*rollups.aligned_range(one)))


def _fields(plan: QueryPlan, group_by: list[str]) -> list[_Field] | None:
    """The one or two fields (of one namespace) the aggregate names, if the rollup can answer it."""
    if (
        plan.sources
        or plan.detection_filters
        or plan.feedback is not None
        or plan.has_warnings is not None
        or any(k != "eventType" and not k.startswith((_METADATA, DATA)) for k in group_by)
    ):
        return None
    filters: dict[str, ValueFilter] = {}
    named = [(f.field, f) for f in plan.metadata_filters] + [(DATA + f.field, f) for f in plan.field_filters]
    for name, flt in named:
        if flt.operator not in ("eq", "in") or name in filters:
            return None
        filters[name] = flt
    grouped = [_name_of_key(k) for k in group_by if k != "eventType"]
    names = list(dict.fromkeys([*filters, *grouped]))
    if not 1 <= len(names) <= 2 or len({_field_of(n)[0] for n in names}) > 1:
        return None
    return [_Field(n, _allowed(filters[n]) if n in filters else None, n in grouped) for n in names]


def _name_of_key(group_key: str) -> str:
    """The rollup's name for a group key: "customMetadata.line_id" -> "line_id", "eventData.result" as is."""
    return group_key.removeprefix(_METADATA)


def _allowed(flt: ValueFilter) -> list[Value]:
    kind = {"string": "s", "number": "n", "boolean": "b"}[flt.type or "string"]
    return sorted({encode(kind, str(v), None if kind == "s" else float(v)) for v in flt.values()})


def _read(
    conn: Connection,
    plan: QueryPlan,
    group_by: list[str],
    grid: Grid | None,
    fields: list[_Field],
    start: int | None,
    end: int | None,
) -> Rows:
    """Counts per key, where a grouped field without a filter also has the events lacking it (None).

    Those are counted by inclusion-exclusion over the rollup's totals: with fields F and G both grouped,
    events lacking both = all, less those with F, less those with G, plus those with both. Values stay
    encoded until the end: decoded, False and 0.0 would be one key to Python.
    """
    by_type = "eventType" in group_by
    totals: dict[tuple[str, ...], dict[tuple[Any, ...], int]] = {}

    def total(present: list[_Field]) -> dict[tuple[Any, ...], int]:
        names = tuple(f.name for f in present)
        if names not in totals:
            totals[names] = _sums(conn, plan, present, grid, by_type, start, end)
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
                key = tuple(event_type if k == "eventType" else value_of[_name_of_key(k)] for k in group_by)
                counts[(bucket, key)] += sign * n
    return [(bucket, _decoded(group_by, key), n) for (bucket, key), n in counts.items() if n > 0]


def _decoded(group_by: list[str], key: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(
        v if k == "eventType" or v is None else decode(*v) for k, v in zip(group_by, key, strict=True)
    )


def _subsets(names: list[str]) -> list[tuple[str, ...]]:
    return [c for size in range(len(names) + 1) for c in itertools.combinations(names, size)]


def _sums(
    conn: Connection,
    plan: QueryPlan,
    fields: list[_Field],
    grid: Grid | None,
    by_type: bool,
    start: int | None,
    end: int | None,
) -> dict[tuple[Any, ...], int]:
    """Events holding every one of ``fields`` (none: all events), with their filters: count per (bucket or
    None, event type or None, values of the grouped fields)."""
    if not fields:
        bare = replace(plan, metadata_filters=[], field_filters=[])
        rows = rollups.read(conn, bare, ["eventType"] if by_type else [], grid, start, end)
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
    keys: list[ColumnElement[Any]] = [rollups.floor(r.bucket, grid)] if grid else []
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
    skip = bool(grid) + by_type
    for row in conn.execute(query):
        bucket = row[0] if grid else None
        event_type = row[skip - 1] if by_type else None
        raw = row[skip:-1]
        key = (bucket, event_type, *((raw[i], raw[i + 1]) for i in range(0, len(raw), 2)))
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
    # The two IN lists are what the database seeks by (an OR of pairs it would check row by row, over
    # every value of the field); the OR then drops the cross pairs they let through ("sb" with 7.0).
    return [
        value.in_(sorted({v for v, _ in field.allowed})),
        num.in_(sorted({n for _, n in field.allowed})),
        or_(*(and_(value == v, num == n) for v, n in field.allowed)),
    ]
