"""Compiling :class:`QueryPlan` filters into one SQL statement over ``events`` and its side tables."""

from __future__ import annotations

import operator
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    Float,
    Select,
    String,
    and_,
    case,
    exists,
    false,
    func,
    not_,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction

from sightlog.models.query import DetectionFilter, QueryPlan, SourceFilter, ValueFilter
from sightlog.models.records import StoredEvent
from sightlog.store.sql.schema import detections, event_attrs, event_keys, events

_STORED = (
    events.c.event_id,
    events.c.ts,
    events.c.body,
    events.c.received_at,
    events.c.feedback_status,
    events.c.feedback_event_id,
)
_VALUE_TYPE = {"string": "s", "number": "n", "boolean": "b"}
_SOURCE_COLUMNS = {
    "deviceId": events.c.device_id,
    "streamId": events.c.stream_id,
    "workflowId": events.c.workflow_id,
    "externalId": events.c.external_id,
}


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


class unicode_lower(GenericFunction[str]):
    """lower() that folds every script: PostgreSQL's own, a Python function registered on SQLite."""

    type = String()
    inherit_cache = True


@compiles(unicode_lower)
def _lower_default(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"lower({compiler.process(element.clauses, **kw)})"


@compiles(unicode_lower, "sqlite")
def _lower_sqlite(element: unicode_lower, compiler: Any, **kw: Any) -> str:
    return f"unicode_lower({compiler.process(element.clauses, **kw)})"


def _contains(column: ColumnElement, text: str) -> ColumnElement[bool]:
    return unicode_lower(column).like(_like_pattern(text), escape="\\")


def _source_condition(column: ColumnElement, flt: SourceFilter) -> ColumnElement[bool]:
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
            return and_(column.is_not(None), _contains(column, values[0]))


def _value_condition(ns: str, flt: ValueFilter, dialect: str) -> ColumnElement[bool]:
    if dialect == "postgresql":
        return _jsonb_condition(events.c.custom_metadata if ns == "m" else events.c.event_data, flt)
    return _attr_condition(ns, flt)


def _jsonb_condition(column: ColumnElement, flt: ValueFilter) -> ColumnElement[bool]:
    """A filter on one key of a JSONB column. ``@>`` (eq, in) and ``?`` (exists) are served by GIN."""
    doc = type_coerce(column, JSONB)
    if flt.operator == "exists":
        return doc.has_key(flt.field)
    if flt.operator == "not_exists":
        return not_(doc.has_key(flt.field))
    values = flt.values()
    value = doc[flt.field]
    typed = func.jsonb_typeof(value) == flt.type
    equal_any = or_(*(doc.contains({flt.field: v}) for v in values))
    if flt.operator in ("eq", "in"):
        return equal_any
    if flt.operator in ("neq", "nin"):
        return and_(typed, not_(equal_any))
    if flt.operator == "contains":
        return and_(typed, _contains(value.astext, str(values[0])))
    # Ordering: numbers as numbers, strings byte-wise (as SQLite compares them). CASE keeps the cast from
    # ever seeing a value of another type (SQL does not promise to evaluate AND left to right).
    if flt.type == "number":
        operand, bound = case((typed, value.astext.cast(Float))), float(values[0])
    else:
        operand, bound = case((typed, value.astext.collate("C"))), values[0]
    return _ORDERINGS[flt.operator](operand, bound)


_ORDERINGS = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _attr_condition(ns: str, flt: ValueFilter) -> ColumnElement[bool]:
    attr = event_attrs.alias()
    present = [attr.c.event_pk == events.c.pk, attr.c.ns == ns, attr.c.key == flt.field]
    if flt.operator == "exists":
        return exists().where(*present)
    if flt.operator == "not_exists":
        return not_(exists().where(*present))
    assert flt.type is not None  # set by the model's validator for comparison operators
    value_type = _VALUE_TYPE[flt.type]
    column = attr.c.str_value if value_type == "s" else attr.c.num_value
    values = [float(v) if value_type != "s" else v for v in flt.values()]
    match flt.operator:
        case "eq":
            cond = column == values[0]
        case "neq":
            cond = column != values[0]
        case "in":
            cond = column.in_(values)
        case "nin":
            cond = column.not_in(values)
        case "contains":
            cond = _contains(column, str(values[0]))
        case _:
            cond = _ORDERINGS[flt.operator](column, values[0])
    return exists().where(*present, attr.c.value_type == value_type, cond)


def _detection_condition(flt: DetectionFilter) -> ColumnElement[bool]:
    if flt.minConfidence > flt.maxConfidence:  # an empty range counts nothing: only "at most N" can hold
        return true() if flt.min_count == 0 else false()
    count = (
        select(func.count())
        .where(
            detections.c.event_pk == events.c.pk,
            detections.c.class_name == flt.class_,
            detections.c.confidence >= flt.minConfidence,
            detections.c.confidence <= flt.maxConfidence,
        )
        .scalar_subquery()
    )
    conditions = [count >= flt.min_count]
    if flt.maxCount is not None:
        conditions.append(count <= flt.maxCount)
    return and_(*conditions)


def _feedback_condition(values: list[str]) -> ColumnElement[bool]:
    statuses = [v for v in values if v != "none"]
    conditions: list[ColumnElement[bool]] = []
    if statuses:
        conditions.append(events.c.feedback_status.in_(statuses))
    if "none" in values:
        conditions.append(events.c.feedback_status.is_(None))
    return or_(*conditions)


def conditions(plan: QueryPlan, dialect: str) -> list[ColumnElement[bool]]:
    where: list[ColumnElement[bool]] = [events.c.use_case_pk == plan.use_case_pk]
    if plan.start_ts is not None:
        where.append(events.c.ts >= plan.start_ts)
    if plan.end_ts is not None:
        where.append(events.c.ts < plan.end_ts)
    if plan.event_types is not None:
        where.append(events.c.event_type.in_(plan.event_types))
    for name, flt in plan.sources.items():
        where.append(_source_condition(_SOURCE_COLUMNS[name], flt))
    where.extend(_value_condition("m", f, dialect) for f in plan.metadata_filters)
    where.extend(_value_condition("d", f, dialect) for f in plan.field_filters)
    where.extend(_detection_condition(f) for f in plan.detection_filters)
    if plan.feedback is not None:
        where.append(_feedback_condition(plan.feedback))
    if plan.has_warnings is not None:
        where.append(events.c.has_warnings == plan.has_warnings)
    return where


def page_query(
    plan: QueryPlan, dialect: str, *, descending: bool, limit: int, after: tuple[int, str] | None
) -> Select:
    where = conditions(plan, dialect)
    if after is not None:
        ts, event_id = after
        if descending:
            where.append(or_(events.c.ts < ts, and_(events.c.ts == ts, events.c.event_id < event_id)))
        else:
            where.append(or_(events.c.ts > ts, and_(events.c.ts == ts, events.c.event_id > event_id)))
    order = (events.c.ts.desc(), events.c.event_id.desc()) if descending else (events.c.ts, events.c.event_id)
    return select(*_STORED).where(*where).order_by(*order).limit(limit)


def run_page(
    conn: Connection, plan: QueryPlan, *, descending: bool, limit: int, after: tuple[int, str] | None
) -> list[StoredEvent]:
    rows = conn.execute(page_query(plan, conn.dialect.name, descending=descending, limit=limit, after=after))
    return [StoredEvent(**r._mapping) for r in rows]


def count(conn: Connection, plan: QueryPlan) -> int:
    return conn.execute(
        select(func.count()).select_from(events).where(*conditions(plan, conn.dialect.name))
    ).scalar_one()


def get_event(conn: Connection, workspace_pk: int, event_id: str) -> StoredEvent | None:
    row = conn.execute(
        select(*_STORED)
        .select_from(
            event_keys.join(events, and_(events.c.pk == event_keys.c.pk, events.c.ts == event_keys.c.ts))
        )
        .where(event_keys.c.workspace_pk == workspace_pk, event_keys.c.event_id == event_id)
    ).first()
    return StoredEvent(**row._mapping) if row else None
