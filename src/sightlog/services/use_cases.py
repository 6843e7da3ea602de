"""Use cases: create with a readable slug, rename, archive, unarchive, list and the inferred schema."""

from __future__ import annotations

import re
import unicodedata
from typing import Any

from sightlog.errors import BadRequest, NotFound
from sightlog.models.records import UseCase, Workspace
from sightlog.services.timeutil import format_instant
from sightlog.store.base import EventStore

STATUSES = {"active": "active", "inactive": "inactive", "all": None}
MAX_NAME = 256


def slugify(name: str) -> str:
    """``"Assembly Line QA"`` → ``assembly-line-qa``; falls back to ``use-case`` for names with no letters."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:200]
    return slug or "use-case"


def clean_name(raw: Any) -> str:
    name = raw.get("name") if isinstance(raw, dict) else None
    if not isinstance(name, str) or not name.strip():
        raise BadRequest('The body must be a JSON object with a non-empty "name" string.')
    name = name.strip()
    if len(name) > MAX_NAME:
        raise BadRequest(f"A use case name may be at most {MAX_NAME} characters.")
    return name


def as_json(use_case: UseCase) -> dict[str, Any]:
    return {
        "id": use_case.slug,
        "name": use_case.name,
        "status": use_case.status,
        "eventCount": use_case.event_count,
        "lastEventAt": format_instant(use_case.last_event_at) if use_case.last_event_at is not None else None,
        "eventTypes": list(use_case.event_types),
        "createdAt": format_instant(use_case.created_at),
        "retentionDays": use_case.retention_days,
    }


class UseCaseService:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    def list(self, workspace: Workspace, status: str | None) -> list[dict[str, Any]]:
        key = status or "active"
        if key not in STATUSES:
            raise BadRequest("status must be one of active, inactive, all.")
        return [as_json(u) for u in self.store.list_use_cases(workspace.pk, STATUSES[key])]

    def create(self, workspace: Workspace, raw: Any) -> UseCase:
        name = clean_name(raw)
        return self.store.create_use_case(workspace.pk, name, slugify(name))

    def rename(self, workspace: Workspace, slug: str, raw: Any) -> UseCase:
        return self.store.update_use_case(workspace.pk, slug, name=clean_name(raw))

    def archive(self, workspace: Workspace, slug: str) -> None:
        self.store.update_use_case(workspace.pk, slug, status="inactive")

    def unarchive(self, workspace: Workspace, slug: str) -> None:
        def must_be_archived(current: UseCase) -> None:
            if current.status == "active":
                raise BadRequest(f"Use case '{slug}' is already active.")

        self.store.update_use_case(workspace.pk, slug, check=must_be_archived, status="active")

    def configure(self, workspace: Workspace, slug: str, raw: Any) -> UseCase:
        """``PATCH``: settings; today ``retentionDays`` (a positive integer, or null to keep forever)."""
        if not isinstance(raw, dict) or "retentionDays" not in raw:
            raise BadRequest(
                'The body must be a JSON object with the settings to change, e.g. {"retentionDays": 30}.'
            )
        days = raw["retentionDays"]
        if days is not None and (
            not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 36_500
        ):
            raise BadRequest("retentionDays must be a whole number of days from 1 to 36500, or null.")
        return self.store.update_use_case(workspace.pk, slug, retention_days=days)

    def schema(self, workspace: Workspace, slug: str) -> dict[str, Any]:
        use_case = self.get(workspace, slug)
        fields = self.store.metadata_schema(use_case.pk)
        return {
            "useCaseId": use_case.slug,
            "fields": {name: {"types": types} for name, types in fields.items()},
        }

    def get(self, workspace: Workspace, slug: str) -> UseCase:
        use_case = self.store.get_use_case(workspace.pk, slug)
        if use_case is None:
            raise NotFound(f"No use case '{slug}' in this workspace.")
        return use_case
