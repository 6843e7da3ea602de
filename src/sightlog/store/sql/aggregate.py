"""Grouped counts over the same filters as queries: per fine UTC time bucket and up to two keys.

Buckets in a client's time zone are made by the service from these fine buckets (15 minutes, or one minute
for minute intervals): every UTC offset in the tz database is a whole number of quarter hours, so a fine
bucket never straddles a local hour, day or week boundary, even across daylight-saving changes.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, Connection, and_, func, literal, select, type_coerce
from sqlalchemy.dialects.postgresql import JSONB

from sightlog.models.query import QueryPlan
from sightlog.store.sql.query import conditions
from sightlog.store.sql.schema import detections, event_attrs, events

_COLUMNS = {
    "eventType": events.c.event_type,
    "deviceId": events.c.device_id,
    "streamId": events.c.stream_id,
    "workflowId": events.c.workflow_id,
    "feedback": events.c.feedback_status,
}


def aggregate(
    conn: Connection, plan: QueryPlan, group_by: list[str], bucket_us: int | None
) -> list[tuple[int | None, tuple[Any, ...], int]]:
    """Rows of (fine bucket start in µs or None, key values, event count)."""
    postgres = conn.dialect.name == "postgresql"
    source = events
    selected: list[ColumnElement[Any]] = []
    decoders: list[Any] = []
    for n, key in enumerate(group_by):
        if key in _COLUMNS:
            selected.append(_COLUMNS[key])
            decoders.append(None)
        elif key == "class":
            source = source.join(detections, detections.c.event_pk == events.c.pk)
            selected.append(detections.c.class_name)
            decoders.append(None)
        else:
            namespace, field = key.split(".", 1)
            if postgres:
                document = events.c.custom_metadata if namespace == "customMetadata" else events.c.event_data
                selected.append(type_coerce(document, JSONB)[field])
                decoders.append(None)  # psycopg decodes JSONB into str / int / float / bool
            else:
                attr = event_attrs.alias(f"g{n}")
                ns = "m" if namespace == "customMetadata" else "d"
                source = source.outerjoin(
                    attr, and_(attr.c.event_pk == events.c.pk, attr.c.ns == ns, attr.c.key == field)
                )
                selected += [attr.c.value_type, attr.c.str_value, attr.c.num_value]
                decoders.append("attr")
    # Floor, not truncation, so instants before 1970 land in the bucket that starts before them.
    bucket = (events.c.ts - (events.c.ts % bucket_us + bucket_us) % bucket_us) if bucket_us else literal(None)
    # With class, an event with three cracks counts once for "crack".
    counted = func.count(events.c.pk.distinct()) if "class" in group_by else func.count()
    query = (
        select(bucket.label("bucket"), *selected, counted)
        .select_from(source)
        .where(*conditions(plan, conn.dialect.name))
        .group_by(bucket, *selected)
    )
    results = []
    for row in conn.execute(query):
        values, position = [], 1
        for decoder in decoders:
            if decoder == "attr":
                value_type, text, number = row[position : position + 3]
                values.append(_attr_value(value_type, text, number))
                position += 3
            else:
                values.append(row[position])
                position += 1
        results.append((row[0], tuple(values), row[-1]))
    return results


def _attr_value(value_type: str | None, text: str | None, number: float | None) -> Any:
    if value_type is None:
        return None
    if value_type == "s":
        return text
    if value_type == "b":
        return bool(number)
    return number
