"""Behaviour: ingest, query, use cases, images and auth, over the store Protocols."""

from __future__ import annotations

from dataclasses import dataclass

from sightlog.config import Settings
from sightlog.errors import BadRequest
from sightlog.services.aggregates import AggregateService
from sightlog.services.auth import AuthService
from sightlog.services.events import EventService
from sightlog.services.images import ImageLimits, ImageService
from sightlog.services.ingest import IngestService
from sightlog.services.use_cases import UseCaseService
from sightlog.store.base import BlobStore, EventStore
from sightlog.store.blobs import LocalBlobStore
from sightlog.store.sql import SqlStore


def open_blobs(settings: Settings) -> BlobStore:
    if settings.blob_url and settings.blob_url.startswith("s3://"):
        try:
            from sightlog.store.s3 import S3BlobStore  # boto3 is an optional dependency
        except ImportError:
            raise BadRequest("S3 image storage needs boto3: pip install 'sightlog[s3]'.") from None

        return S3BlobStore.from_url(
            settings.blob_url,
            settings.data_dir / "tmp",
            endpoint_url=settings.s3_endpoint_url,
            region=settings.s3_region,
        )
    if settings.blob_url:
        raise BadRequest(f"SIGHTLOG_BLOB_URL must be an s3:// URL (got '{settings.blob_url}').")
    return LocalBlobStore(settings.blob_dir)


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
    aggregates: AggregateService

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open (and create, if new) the store named by the settings."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        store = SqlStore(settings.resolved_database_url())
        try:
            store.prepare()
            blobs = open_blobs(settings)
            blobs.check()
        except BaseException:
            store.close()
            raise
        limits = ImageLimits(settings.max_image_bytes, settings.max_image_pixels, settings.thumbnail_side)
        events = EventService(store, settings.max_query_limit)
        return cls(
            settings=settings,
            store=store,
            blobs=blobs,
            auth=AuthService(store),
            ingest=IngestService(store, settings.max_batch_events),
            events=events,
            use_cases=UseCaseService(store),
            images=ImageService(store, blobs, limits),
            aggregates=AggregateService(events),
        )

    def check(self) -> None:
        """Raise :class:`~sightlog.errors.Unavailable` unless both the store and the blobs answer."""
        self.store.check()
        self.blobs.check()

    def close(self) -> None:
        self.store.close()
        self.blobs.close()
