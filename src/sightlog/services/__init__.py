"""Behaviour: ingest, query, use cases, images and auth, over the store Protocols."""

from __future__ import annotations

from dataclasses import dataclass

from sightlog.config import Settings
from sightlog.services.auth import AuthService
from sightlog.services.events import EventService
from sightlog.services.images import ImageLimits, ImageService
from sightlog.services.ingest import IngestService
from sightlog.services.use_cases import UseCaseService
from sightlog.store.base import BlobStore, EventStore
from sightlog.store.blobs import LocalBlobStore
from sightlog.store.sql import SqlStore


@dataclass(slots=True)
class Services:
    settings: Settings
    store: EventStore
    blobs: BlobStore
    auth: AuthService
    ingest: IngestService
    events: EventService
    use_cases: UseCaseService
    images: ImageService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and create, if new) the store named by the settings."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqlStore(settings.resolved_database_url())
        store.prepare()
        blobs = LocalBlobStore(settings.blob_dir)
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels, settings.thumbnail_side)
        return cls(
            settings=settings,
            store=store,
            blobs=blobs,
            auth=AuthService(store),
            ingest=IngestService(store, settings.max_batch_events),
            events=EventService(store, settings.max_query_limit),
            use_cases=UseCaseService(store),
            images=ImageService(store, blobs, limits),
        )

    def close(self) -> None:
        self.store.close()
