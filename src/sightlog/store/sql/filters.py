"""Compiling the filters of a :class:`QueryPlan` into SQL conditions over ``events`` and its side tables.

A filter on metadata, eventData or predictions compiles twice: as a *probe* (a correlated ``EXISTS`` that
checks one event, for plans that walk the events newest first) and, where an index can answer it, as the
*candidates* it allows (event keys read from ``ix_attrs_value`` or ``ix_detections_class`` within the use
case and time range, for plans that start from the filter). ``query.py`` chooses between the two.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    ColumnElement,
    FromClause,
    Select,
    String,
    and_,
    false,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
    tuple_,
)
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import FunctionElement, GenericFunction

from sightlog.models.query import DetectionFilter, QueryPlan, SourceFilter, ValueFilter
from sightlog.store.sql.schema import (
    STR_PREFIX,
    detections,
    event_attrs,
    events,
    indexed_number,
    indexed_text,
)

_VALUE_TYPE = {"string": "s", "number": "n", "boolean": "b"}
_SOURCE_COLUMN_NAMES = {
    "deviceId": "device_id",
    "streamId": "stream_id",
    "workflowId": "workflow_id",
    "externalId": "external_id",
}
_ORDERINGS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


class unicode_lower(GenericFunction[str]):
    """lower() that folds every script: PostgreSQL's own, a Python function registered on SQLite."""

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _lower_default(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    # The database's collation, not a column's "C" (byte order), under which lower() folds only ASCII.
    return f'lower(({compiler.process(element.clauses, **kw)}) COLLATE "default")'


@compiles(unicode_lower, "sqlite")
def _lower_sqlite(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


class unindexed(FunctionElement[Any]):
    """A column SQLite may not use an index for (``+column``): forces a plan that starts elsewhere."""

    inherit_cache = True

    def __init__(self, column: ColumnElement[Any]) -> None:
        super().__init__(column)
        self.type = column.type  # the column's own, so that comparisons bind values alike


@compiles(unindexed)
def _unindexed_default(element: unindexed, compiler: Any, **kw: Any) -> str:
    return compiler.process(element.clauses, **kw)


@compiles(unindexed, "sqlite")
def _unindexed_sqlite(element: unindexed, compiler: Any, **kw: Any) -> str:
    return f"+{compiler.process(element.clauses, **kw)}"


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def contains(column: ColumnElement[Any], text: str) -> ColumnElement[bool]:
    return unicode_lower(column).like(_like_pattern(text), escape="\\")


@dataclass(slots=True)
class SideFilter:
    """One filter on a side table: how to check an event (given its key column), and (if indexed) which
    events may match."""

    check: Callable[[ColumnElement[Any]], ColumnElement[bool]]
    candidates: Select[Any] | None = None
    exact: bool = False  # the candidates are exactly the matching events
    unique: bool = False  # no event is among the candidates twice
    value: tuple[str, ValueFilter] | None = None  # (namespace, filter) of a filter on a value
    # An equality or a short IN list: the candidates of each value, which its index holds in time order.
    in_time_order: list[Select[Any]] | None = None

    @property
    def probe(self) -> ColumnElement[bool]:
        return self.check(events.c.pk)


@dataclass(slots=True)
class CompiledFilters:
    """``scope``: use case and time range; ``own``: other conditions on events' own columns."""

    scope: list[ColumnElement[bool]]
    own: list[ColumnElement[bool]]
    side: list[SideFilter] = field(default_factory=list)
    start_elsewhere: bool = False

    def conditions(self, driver: SideFilter | None = None) -> list[ColumnElement[bool]]:
        """Every condition; with ``driver``, the plan starts from its candidates."""
        probes = [s.probe for s in self.side if s is not driver or not s.exact]
        if driver is None or driver.candidates is None:
            return [*self.scope, *self.own, *probes]
        # (pk, ts) lets PostgreSQL look each candidate up in its one partition; SQLite by rowid alone.
        keys = driver.candidates.subquery()
        started = tuple_(events.c.pk, events.c.ts).in_(select(keys.c.event_pk, keys.c.ts))
        if self.start_elsewhere:
            started = events.c.pk.in_(select(keys.c.event_pk))
        return [started, *self.scope, *self.own, *probes]


def compile_filters(plan: QueryPlan, dialect: str, *, start_elsewhere: bool = False) -> CompiledFilters:
    """``start_elsewhere`` (SQLite): keep the planner off the events indexes, so that a plan can start
    from a side table's candidates; SQLite's planner has no statistics of values to decide that itself."""

    def col(column: ColumnElement[Any]) -> ColumnElement[Any]:
        return unindexed(column) if start_elsewhere else column

    scope: list[ColumnElement[bool]] = [col(events.c.use_case_pk) == plan.use_case_pk]
    if plan.start_ts is not None:
        scope.append(col(events.c.ts) >= plan.start_ts)
    if plan.end_ts is not None:
        scope.append(col(events.c.ts) < plan.end_ts)
    own: list[ColumnElement[bool]] = []
    if plan.event_types is not None:
        own.append(col(events.c.event_type).in_(plan.event_types))
    for name, flt in plan.sources.items():
        column = events.c[_SOURCE_COLUMN_NAMES[name]]
        own.append(_source_condition(col(column), flt))
    if plan.feedback is not None:
        own.append(_feedback_condition(col(events.c.feedback_status), plan.feedback))
    if plan.has_warnings is not None:
        own.append(col(events.c.has_warnings).is_(plan.has_warnings))
    side = [_attr_filter(plan, "m", f, dialect) for f in plan.metadata_filters]
    side += [_attr_filter(plan, "d", f, dialect) for f in plan.field_filters]
    side += [_detection_filter(plan, f) for f in plan.detection_filters]
    return CompiledFilters(scope, own, side, start_elsewhere)


def _source_condition(column: ColumnElement[Any], flt: SourceFilter) -> ColumnElement[bool]:
    values = flt.values()
    match flt.operator:
        case "eq":
            return column == values[0]
        case "neq":
            return and_(column.is_not(None), column != values[0])
        case "in":
            return column.in_(values)
        case "nin":
            return and_(column.is_not(None), column.not_in(values))
        case _:  # contains
            return and_(column.is_not(None), contains(column, values[0]))


def _feedback_condition(column: ColumnElement[Any], values: list[str]) -> ColumnElement[bool]:
    statuses = [v for v in values if v != "none"]
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(column.in_(statuses))
    if "none" in values:
        conditions.append(column.is_(None))
    return or_(*conditions)


def _in_scope(table: FromClause, plan: QueryPlan) -> list[ColumnElement[bool]]:
    where = [table.c.use_case_pk == plan.use_case_pk]
    if plan.start_ts is not None:
        where.append(table.c.ts >= plan.start_ts)
    if plan.end_ts is not None:
        where.append(table.c.ts < plan.end_ts)
    return where


# Operators an index range can serve; neq, nin, contains and not_exists match most of a key's values.
_INDEXED_OPERATORS = {"eq", "in", "gt", "gte", "lt", "lte", "exists"}
# An IN list of up to this many values can be read in time order, merging each value's rows.
MAX_MERGED_VALUES = 8


def _attr_filter(plan: QueryPlan, ns: str, flt: ValueFilter, dialect: str) -> SideFilter:
    def present(attr: FromClause, key: ColumnElement[Any]) -> list[ColumnElement[bool]]:
        return [attr.c.event_pk == key, attr.c.ns == ns, attr.c.key == flt.field]

    def check(key: ColumnElement[Any]) -> ColumnElement[bool]:
        attr = event_attrs.alias()
        where = present(attr, key)
        if flt.operator != "not_exists":
            where += _attr_match(attr, flt, dialect)
        probe = select(literal_column("1")).where(*where)
        if dialect == "postgresql":
            # OFFSET 0 keeps PostgreSQL from turning the probe into a semi-join, which reads every row of
            # the key to answer a page that needs a few hundred events probed, one index lookup each.
            probe = probe.offset(0)
        return not_(probe.exists()) if flt.operator == "not_exists" else probe.exists()

    def candidates(matching: ValueFilter) -> Select[Any]:
        scan = event_attrs.alias()
        named = [scan.c.ns == ns, scan.c.key == flt.field]
        return select(scan.c.event_pk, scan.c.ts).where(
            *_in_scope(scan, plan), *named, *_attr_match(scan, matching, dialect)
        )

    if flt.operator not in _INDEXED_OPERATORS:
        return SideFilter(check)
    in_time_order = None
    # Each value once, as stored (1 and 1.0 are one number): merged, a value twice would repeat its events.
    distinct = {str(v) if flt.type == "string" else float(v) for v in flt.values()}
    if flt.operator in ("eq", "in") and len(distinct) <= MAX_MERGED_VALUES:
        one_each = [flt.model_copy(update={"operator": "eq", "value": v}) for v in distinct]
        in_time_order = [candidates(one) for one in one_each]
    return SideFilter(
        check, candidates(flt), exact=True, unique=True, value=(ns, flt), in_time_order=in_time_order
    )


def _attr_match(attr: FromClause, flt: ValueFilter, dialect: str) -> list[ColumnElement[bool]]:
    """Conditions on one attribute row (its key already matched) for ``flt``."""
    if flt.operator == "exists":
        return []
    assert flt.type is not None  # set by the model's validator for comparison operators
    value_type = _VALUE_TYPE[flt.type]
    where: list[ColumnElement[bool]] = [attr.c.value_type == value_type]
    postgres = dialect == "postgresql"
    text, number = indexed_text(attr, dialect), indexed_number(attr, dialect)
    # A row holds a string or a number, never both. Saying which column is empty lets the index reach the
    # other one (and then ts: one value's rows come in time order).
    if value_type == "s":
        values: list[Any] = [str(v) for v in flt.values()]
        column = attr.c.str_value
        where.append(number == 0 if postgres else number.is_(None))
        if flt.operator in ("eq", "in") and postgres:
            # The indexed prefix finds the rows. A value shorter than the prefix can only be matched by
            # itself, so the index alone answers; a longer one needs the whole value.
            where.append(text.in_({v[:STR_PREFIX] for v in values}))
            if all(len(v) < STR_PREFIX for v in values):
                return where
    else:
        values = [float(v) for v in flt.values()]
        column = number
        where.append(text == "" if postgres else text.is_(None))
    match flt.operator:
        case "eq" | "in":
            where.append(column.in_(values))
        case "neq":
            where.append(column != values[0])
        case "nin":
            where.append(column.not_in(values))
        case "contains":
            where.append(contains(column, str(values[0])))
        case _:
            where.append(_ORDERINGS[flt.operator](column, values[0]))
    return where


def _detection_filter(plan: QueryPlan, flt: DetectionFilter) -> SideFilter:
    if flt.minConfidence > flt.maxConfidence:  # an empty range counts nothing: only "at most N" can hold
        constant = true() if flt.min_count == 0 else false()
        return SideFilter(lambda _key: constant)

    def matching(table: FromClause) -> list[ColumnElement[bool]]:
        return [
            table.c.class_name == flt.class_,
            table.c.confidence >= flt.minConfidence,
            table.c.confidence <= flt.maxConfidence,
        ]

    def check(key: ColumnElement[Any]) -> ColumnElement[bool]:
        table = detections.alias()
        count = select(func.count()).where(table.c.event_pk == key, *matching(table)).scalar_subquery()
        conditions = [count >= flt.min_count]
        if flt.maxCount is not None:
            conditions.append(count <= flt.maxCount)
        return and_(*conditions)

    if flt.min_count < 1:
        return SideFilter(check)
    scan = detections.alias()
    candidates = select(scan.c.event_pk, scan.c.ts).where(*_in_scope(scan, plan), *matching(scan))
    return SideFilter(check, candidates, exact=flt.min_count == 1 and flt.maxCount is None)
