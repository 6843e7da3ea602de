"""Tables of the SQL event store (SQLAlchemy Core), shared by SQLite and PostgreSQL.

These definitions build queries; the DDL that creates them lives in the Alembic migrations (``migrations/``),
which add what only PostgreSQL has: ``events`` partitioned by month of ``ts``. ``tests/store`` checks that a
migrated database matches these definitions.

Times are integer microseconds since the Unix epoch (UTC): compact, index-friendly and compared as
instants whatever offset a client sent. Upserts replace an event row (delete + insert), so ``events.pk``
order is receive order, which breaks feedback ties ("the one received last").
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Float,
    ForeignKey,
    FromClause,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    and_,
    func,
    literal_column,
)

metadata = MetaData()

# BigInteger primary keys become INTEGER on SQLite so they alias the rowid.
PK = BigInteger().with_variant(Integer(), "sqlite")

workspaces = Table(
    "workspaces",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("slug", String(100), nullable=False, unique=True),
    Column("name", String(256), nullable=False),
    Column("created_at", BigInteger, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("workspace_pk", ForeignKey("workspaces.pk"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("name", String(256), nullable=True),
    Column("scopes", String(256), nullable=False),  # space-separated
    Column("created_at", BigInteger, nullable=False),
    Column("revoked_at", BigInteger, nullable=True),
)

use_cases = Table(
    "use_cases",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("workspace_pk", ForeignKey("workspaces.pk"), nullable=False),
    Column("slug", String(300), nullable=False),
    Column("name", String(256), nullable=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("retention_days", Integer, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_pk", "slug"),
    UniqueConstraint("workspace_pk", "name"),
)

# Per use case and event type: maintained in the ingest transaction so listings never count rows.
use_case_stats = Table(
    "use_case_stats",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("event_type", String(32), primary_key=True),
    Column("event_count", BigInteger, nullable=False),
    Column("last_ts", BigInteger, nullable=True),
)

# Events per use case, 15-minute bucket, type and class ("" = all events): see store/sql/rollups.py.
event_rollup = Table(
    "event_rollup",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("event_type", String(32), primary_key=True),
    Column("class_name", String(256), primary_key=True),
    Column("event_count", BigInteger, nullable=False),
)

# Events per use case, quarter hour and type holding a value of a custom metadata or eventData field
# (``field2`` '') or a pair of values of two fields (``field`` < ``field2``): see store/sql/attr_rollup.py.
# A value is its type letter, then the string for strings ("sb"); numbers and booleans keep theirs in ``num``
# ("n", 7.0). eventData fields are named "eventData.<key>".
attr_rollup = Table(
    "attr_rollup",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("field2", String(100), primary_key=True),
    Column("value2", String(101), primary_key=True),
    Column("num2", Float, primary_key=True),
    Column("value", String(101), primary_key=True),
    Column("num", Float, primary_key=True),
    Column("bucket", BigInteger, primary_key=True),
    Column("event_type", String(32), primary_key=True),
    Column("event_count", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Which fields of a use case ``attr_rollup`` counts (``rolled_up``), and the values seen of those: a field is
# rolled up from its first event while it has few values (see attr_rollup.py).
rollup_fields = Table(
    "rollup_fields",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("rolled_up", Boolean, nullable=False),
)
rollup_values = Table(
    "rollup_values",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("value", String(101), primary_key=True),
    Column("num", Float, primary_key=True),
)

metadata_fields = Table(
    "metadata_fields",
    metadata,
    Column("use_case_pk", ForeignKey("use_cases.pk"), primary_key=True),
    Column("field", String(100), primary_key=True),
    Column("value_type", String(8), primary_key=True),  # string | number | boolean
)

images = Table(
    "images",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("workspace_pk", ForeignKey("workspaces.pk"), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("format", String(16), nullable=False),
    Column("mime", String(32), nullable=False),
    Column("width", Integer, nullable=False),
    Column("height", Integer, nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("name", String(1000), nullable=True),
    Column("metadata", Text, nullable=True),
    Column("created_at", BigInteger, nullable=False),
    UniqueConstraint("workspace_pk", "source_id"),
)

# Thumbnails are derived from blob bytes alone, so they are shared by every upload of the same bytes.
thumbnails = Table(
    "thumbnails",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("thumb_sha256", String(64), nullable=False),
    Column("mime", String(32), nullable=False),
)

# Byte order for ids, so that (timestamp, eventId) keyset pages sort alike on both backends.
EventId = String(256).with_variant(String(256, collation="C"), "postgresql")
# Byte order for attribute strings too: range filters compare strings alike on both backends.
AttrText = String(10000).with_variant(String(10000, collation="C"), "postgresql")

events = Table(
    "events",
    metadata,
    Column("pk", PK, primary_key=True, autoincrement=True),
    Column("workspace_pk", ForeignKey("workspaces.pk"), nullable=False),
    Column("event_id", EventId, nullable=False),
    Column("use_case_pk", ForeignKey("use_cases.pk"), nullable=False),
    Column("event_type", String(32), nullable=False),
    Column("ts", BigInteger, nullable=False),
    Column("device_id", String(256), nullable=True),
    Column("stream_id", String(256), nullable=True),
    Column("workflow_id", String(256), nullable=True),
    Column("external_id", String(1000), nullable=True),
    Column("related_event_id", String(256), nullable=True),  # operator_feedback only
    Column("feedback_value", String(16), nullable=True),  # operator_feedback only
    Column("feedback_status", String(16), nullable=True),  # latest feedback on this event
    Column("feedback_event_id", String(256), nullable=True),
    Column("has_warnings", Boolean, nullable=False),
    Column("received_at", BigInteger, nullable=False),
    Column("body", Text, nullable=False),  # the event as stored, JSON
    sqlite_autoincrement=True,
)
# PostgreSQL carries the key and type in the page index too: a page that walks the events newest first,
# probing the side tables for each, then reads the index alone and the table only for the events it returns
# (SQLite's index entries hold the rowid, and it reads a row only when a column is asked for).
Index(
    "ix_events_page",
    events.c.use_case_pk,
    events.c.ts,
    events.c.event_id,
    postgresql_include=["pk", "event_type"],
)
Index("ix_events_type", events.c.use_case_pk, events.c.event_type, events.c.ts)
# Source filters and counts over one device, stream or workflow read only that source's events, newest first.
Index("ix_events_device", events.c.use_case_pk, events.c.device_id, events.c.ts)
Index("ix_events_stream", events.c.use_case_pk, events.c.stream_id, events.c.ts)
Index("ix_events_workflow", events.c.use_case_pk, events.c.workflow_id, events.c.ts)
# Few events are reviewed or carry warnings: small partial indexes make those filters and counts cheap.
_reviewed = events.c.feedback_status.is_not(None)
Index(
    "ix_events_feedback",
    events.c.use_case_pk,
    events.c.feedback_status,
    events.c.ts,
    sqlite_where=_reviewed,
    postgresql_where=_reviewed,
)
Index(
    "ix_events_warnings",
    events.c.use_case_pk,
    events.c.ts,
    sqlite_where=events.c.has_warnings.is_(True),
    postgresql_where=events.c.has_warnings.is_(True),
)
Index(
    "ix_events_related",
    events.c.workspace_pk,
    events.c.related_event_id,
    sqlite_where=events.c.related_event_id.is_not(None),
    postgresql_where=events.c.related_event_id.is_not(None),
)

# Where each (workspace, eventId) lives. A partitioned table cannot enforce a unique key that leaves out the
# partition column, so this small table does, and finds an event without scanning every partition.
event_keys = Table(
    "event_keys",
    metadata,
    Column("workspace_pk", ForeignKey("workspaces.pk"), primary_key=True),
    Column("event_id", EventId, primary_key=True),
    Column("pk", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)

# Events reached through their key row: how one event is found by id.
keyed_events = event_keys.join(events, and_(events.c.pk == event_keys.c.pk, events.c.ts == event_keys.c.ts))

# Scalar custom metadata (namespace "m") and eventData (namespace "d") values, one row per key.
# value_type: "s" string (str_value), "n" number (num_value), "b" boolean (num_value 0/1), "x" null, list or
# object (only present). use_case_pk and ts are copies of the event's, so that a filter can be answered from
# ix_attrs_value alone: its matches in a use case and time range, without touching the events.
event_attrs = Table(
    "event_attrs",
    metadata,
    Column("event_pk", BigInteger, primary_key=True),
    Column("ns", String(1), primary_key=True),
    Column("key", String(100), primary_key=True),
    Column("value_type", String(1), nullable=False),
    Column("str_value", AttrText, nullable=True),
    Column("num_value", Float, nullable=True),
    Column("use_case_pk", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
    # Clustered by (event, key) on SQLite: rows of one event sit together and new events append at the end.
    sqlite_with_rowid=False,
)
# Every filter on a value reads this index: (use case, ns, key, type, string, number, ts, event): one value's
# rows in time order. See indexed_text and indexed_number for how each backend holds the values.
STR_PREFIX = 200


def indexed_text(table: FromClause, dialect: str) -> ColumnElement[str]:
    """How ``ix_attrs_value`` holds a string: whole on SQLite (the index covers every value filter there);
    on PostgreSQL its first STR_PREFIX characters, because a B-tree entry there must stay under 2.7 kB, and
    NULL as '' (see indexed_number). Literal constants, so that the planner matches the index expression."""
    if dialect == "postgresql":
        prefix = func.substr(table.c.str_value, literal_column("1"), literal_column(str(STR_PREFIX)))
        return func.coalesce(prefix, literal_column("''"))
    return table.c.str_value


def indexed_number(table: FromClause, dialect: str) -> ColumnElement[float]:
    """How ``ix_attrs_value`` holds a number: the column on SQLite; on PostgreSQL with NULL as 0, because
    its planner takes ``IS NULL`` for a range, not one value: past it, the index's order by time is lost
    to the planner, which then sorts every row of a value to read the newest (10 M events: 0.1-0.5 s)."""
    if dialect == "postgresql":
        return func.coalesce(table.c.num_value, literal_column("0"))
    return table.c.num_value


def _attr_value_index(name: str, dialect: str) -> Index:
    values = (indexed_text(event_attrs, dialect), indexed_number(event_attrs, dialect))
    head = (event_attrs.c.use_case_pk, event_attrs.c.ns, event_attrs.c.key, event_attrs.c.value_type)
    tail = (event_attrs.c.ts, event_attrs.c.event_pk)
    return Index(name, *head, *values, *tail).ddl_if(dialect=dialect)


_attr_value_index("ix_attrs_value", "sqlite")
_attr_value_index("ix_attrs_value_pg", "postgresql")

# One row per prediction of any kind, for class / confidence filters (use_case_pk and ts as in event_attrs).
detections = Table(
    "detections",
    metadata,
    Column("event_pk", BigInteger, nullable=False),
    Column("class_name", String(256), nullable=False),
    Column("confidence", Float, nullable=False),
    Column("use_case_pk", BigInteger, nullable=False),
    Column("ts", BigInteger, nullable=False),
)
Index("ix_detections_event", detections.c.event_pk, detections.c.class_name, detections.c.confidence)
Index(
    "ix_detections_class",
    detections.c.use_case_pk,
    detections.c.class_name,
    # Time before confidence: a class's new predictions append at one end instead of landing at random
    # places (every scattered insert is a page written at commit); confidence is checked in the index.
    detections.c.ts,
    detections.c.confidence,
    detections.c.event_pk,
)
