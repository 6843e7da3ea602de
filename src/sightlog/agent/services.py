"""The server's ingest and image services, run by the agent over its outbox.

The agent validates with exactly the code the server runs, so a client gets the same answer (and the same
400 with every problem listed) from the agent as from the server, at once, even while upstream is away.
:class:`OutboxStore` gives those services the few store methods they call; :class:`AgentAuth` checks the
keys clients present to the agent.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import cast

from sightlog.agent.outbox import Outbox
from sightlog.config import Settings
from sightlog.errors import Unauthorized
from sightlog.models.records import SCOPE_WRITE, ApiKey, EventRow, ImageRecord, Workspace
from sightlog.services.images import ImageLimits, ImageService
from sightlog.services.ingest import IngestService
from sightlog.store.base import EventStore
from sightlog.store.blobs import LocalBlobStore


class OutboxStore:
    """The part of the ``EventStore`` Protocol that ``IngestService.create/create_batch`` and
    ``ImageService.upload`` use, backed by the outbox."""

    def __init__(self, outbox: Outbox) -> None:
        self.outbox = outbox

    def resolve_use_cases(self, workspace_pk: int, slugs: Collection[str]) -> dict[str, int]:
        # Upstream's use cases cannot be known while it is away: every name passes here, and upstream
        # rejects an unknown one when the event is forwarded (the event is then kept as rejected).
        return dict.fromkeys(slugs, 0)

    def find_images(self, workspace_pk: int, source_ids: Collection[str]) -> dict[str, ImageRecord]:
        return self.outbox.find_images(source_ids)

    def add_image(self, workspace_pk: int, record: ImageRecord, metadata_json: str | None) -> None:
        self.outbox.add_image(record, metadata_json)

    def write_events(self, workspace_pk: int, rows: Sequence[EventRow]) -> list[bool]:
        return self.outbox.add_events(rows)


class AgentAuth:
    """Accepts the agent's keys (or, with ``allow_anonymous``, no key at all) with the write scope, in
    the workspace upstream named for the agent's key (``default`` until upstream has been reached)."""

    # Keys and the workspace slug are in memory: the routes call this on the event loop, sparing every
    # request a hop to a worker thread and back.
    blocking = False

    def __init__(
        self, keys: Collection[str], allow_anonymous: bool, workspace_slug: Callable[[], str]
    ) -> None:
        self._keys = [key.encode() for key in keys]
        self._allow_anonymous = allow_anonymous
        self._workspace_slug = workspace_slug

    def authenticate(self, key: str | None) -> ApiKey:
        if not self._allow_anonymous:
            if not key:
                raise Unauthorized(
                    "An API key is required: send 'Authorization: Bearer <key>', "
                    "'X-API-Key: <key>' or ?api_key=<key>."
                )
            # Compared in constant time, like any secret.
            if not any(hmac.compare_digest(key.encode(), known) for known in self._keys):
                raise Unauthorized(
                    "The API key is not one this agent accepts (its --api-key or a --local-key)."
                )
        slug = self._workspace_slug()
        return ApiKey(
            pk=0,
            workspace=Workspace(pk=0, slug=slug, name=slug, created_at=0),
            prefix="agent",
            name="edge agent",
            scopes=frozenset({SCOPE_WRITE}),
            created_at=0,
            revoked_at=None,
        )


@dataclass(slots=True)
class AgentServices:
    """What the server's write routes reach through ``app.state.services``, for the agent's app."""

    settings: Settings
    auth: AgentAuth
    images: ImageService
    ingest: IngestService

    @classmethod
    def over(
        cls, outbox: Outbox, blobs: LocalBlobStore, settings: Settings, auth: AgentAuth
    ) -> AgentServices:
        # The services are typed for a full EventStore; the agent's store has only the methods they call
        # on the write paths the agent serves (tests/agent run every one of them).
        store = cast(EventStore, OutboxStore(outbox))
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels, settings.thumbnail_side)
        return cls(
            settings=settings,
            auth=auth,
            images=ImageService(store, blobs, limits),
            ingest=IngestService(store, settings.max_batch_events),
        )
