"""Image uploads (staged, sniffed, fully decoded, then committed by content address) and thumbnails."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from sightlog.errors import BadRequest, NotFound
from sightlog.imaging import draw_annotations, inspect_image, make_thumbnail
from sightlog.models.records import ImageRecord, Workspace
from sightlog.services.events import IMAGES_PATH
from sightlog.services.timeutil import now_us
from sightlog.services.validation import check_metadata
from sightlog.store.base import BlobStore, EventStore


@dataclass(frozen=True, slots=True)
class ImageLimits:
    max_bytes: int
    max_pixels: int
    thumbnail_side: int


class ImageService:
    def __init__(self, store: EventStore, blobs: BlobStore, limits: ImageLimits) -> None:
        self.store = store
        self.blobs = blobs
        self.limits = limits

    def upload(
        self, workspace: Workspace, source: BinaryIO, name: str | None, metadata_text: str | None
    ) -> dict[str, Any]:
        metadata_json = _parse_metadata(metadata_text)
        staged = self.blobs.stage(source, self.limits.max_bytes)
        try:
            info = inspect_image(staged.path, max_pixels=self.limits.max_pixels)
        except BaseException:
            self.blobs.discard(staged)
            raise
        self.blobs.commit(staged)
        record = ImageRecord(
            source_id=uuid.uuid4().hex,
            sha256=staged.sha256,
            format=info.format,
            mime=info.mime,
            width=info.width,
            height=info.height,
            size=staged.size,
            name=name[:1000] if name else None,
            created_at=now_us(),
        )
        self.store.add_image(workspace.pk, record, metadata_json)
        return {"success": True, "sourceId": record.source_id, "url": f"{IMAGES_PATH}/{record.source_id}"}

    def get(self, workspace: Workspace, source_id: str) -> ImageRecord:
        record = self.store.get_image(workspace.pk, source_id)
        if record is None:
            raise NotFound(f"No image '{source_id}' in this workspace.")
        return record

    def thumbnail(self, workspace: Workspace, source_id: str) -> tuple[str, str]:
        """(blob sha256, mime) of the thumbnail, made on first request and stored."""
        record = self.get(workspace, source_id)
        existing = self.store.get_thumbnail(record.sha256)
        if existing is not None and self.blobs.exists(existing[0]):
            return existing
        with self.blobs.open(record.sha256) as original:
            # Whole bytes: decoders need to seek, and object-store streams cannot.
            data, mime = make_thumbnail(
                original.read(),
                max_side=self.limits.thumbnail_side,
                max_pixels=self.limits.max_pixels,
            )
        staged = self.blobs.stage_bytes(data)
        self.blobs.commit(staged)
        self.store.add_thumbnail(record.sha256, staged.sha256, mime)
        return staged.sha256, mime

    def annotated(self, workspace: Workspace, event_id: str, index: int) -> bytes:
        """JPEG of image ``index`` of an event with its predictions drawn (on the input image, whose pixel
        space the predictions use; the display image when there is no input image)."""
        stored = self.store.get_event(workspace.pk, event_id)
        if stored is None:
            raise NotFound(f"No event '{event_id}' in this workspace.")
        entries = orjson.loads(stored.body).get("images") or []
        if not 0 <= index < len(entries):
            raise NotFound(f"Event '{event_id}' has no image {index} (it has {len(entries)}).")
        entry = entries[index]
        source_id = entry.get("inputSourceId") or entry.get("sourceId")
        record = self.store.get_image(workspace.pk, source_id) if source_id else None
        if record is None:
            raise NotFound(f"Image {index} of event '{event_id}' is missing.")
        with self.blobs.open(record.sha256) as original:
            return draw_annotations(original.read(), entry, max_pixels=self.limits.max_pixels)

    def local_path(self, sha256: str) -> Path | None:
        return self.blobs.local_path(sha256)

    def iter_bytes(self, sha256: str, chunk_size: int = 1024 * 1024) -> Iterator[bytes]:
        with self.blobs.open(sha256) as stream:
            while chunk := stream.read(chunk_size):
                yield chunk


def _parse_metadata(text: str | None) -> str | None:
    if text is None or text == "":
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        raise BadRequest("metadata must be a JSON object encoded as a string.") from None
    problems = check_metadata(value)
    if problems:
        raise BadRequest(f"metadata is invalid: {problems[0]}.")
    return orjson.dumps(value).decode()
