"""Domain records passed between services and stores (plain dataclasses, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field

SCOPE_READ = "vision-events:read"
SCOPE_WRITE = "vision-events:write"
SCOPE_ADMIN = "admin"
SCOPES = (SCOPE_READ, SCOPE_WRITE, SCOPE_ADMIN)


@dataclass(frozen=True, slots=True)
class Workspace:
    pk: int
    slug: str
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class ApiKey:
    pk: int
    workspace: Workspace
    prefix: str
    name: str | None
    scopes: frozenset[str]
    created_at: int
    revoked_at: int | None

    def allows(self, scope: str) -> bool:
        return SCOPE_ADMIN in self.scopes or scope in self.scopes


@dataclass(frozen=True, slots=True)
class UseCase:
    pk: int
    slug: str
    name: str
    status: str
    retention_days: int | None
    created_at: int
    event_count: int = 0
    last_event_at: int | None = None
    event_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ImageRecord:
    source_id: str
    sha256: str
    format: str
    mime: str
    width: int
    height: int
    size: int
    name: str | None
    created_at: int


@dataclass(slots=True)
class EventRow:
    """One validated event, flattened into what the store indexes."""

    event_id: str
    use_case_pk: int
    event_type: str
    ts: int
    device_id: str | None
    stream_id: str | None
    workflow_id: str | None
    external_id: str | None
    related_event_id: str | None
    feedback_value: str | None
    has_warnings: bool
    body: str  # JSON of the stored event
    # (namespace "m"/"d", key, value_type "s"/"n"/"b", str_value, num_value)
    attrs: list[tuple[str, str, str, str | None, float | None]] = field(default_factory=list)
    detections: list[tuple[str, float]] = field(default_factory=list)  # (class, confidence)
    metadata_types: list[tuple[str, str]] = field(default_factory=list)  # (field, string|number|boolean)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    event_id: str
    ts: int
    body: str
    received_at: int
    feedback_status: str | None
    feedback_event_id: str | None
