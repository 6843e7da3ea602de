"""Bundles (SPEC §3.8): one event and its image files in a tar or tar.gz archive, for air-gapped sites.

A bundle holds ``payload.json`` (the body of ``POST /vision-events`` plus ``"bundleFormatVersion": 1``,
its image entries naming archive members in ``file`` / ``inputFile``) and those image files. Archives come
from untrusted hands, so reading one never touches the disk: the (un-gzipped, size-capped) bytes are read
in memory, every member header is checked before anything is used (no path that leaves the archive root,
no links or devices, no oversize member, not too many members), and only the members the payload names
are read, each through the image service exactly like an upload.

:func:`ingest_with_files` is also how the edge agent stores a ``POST /v2/events`` body, whose images come
as base64 instead of archive members.
"""

from __future__ import annotations

import io
import re
import tarfile
import time
import zlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson

from sightlog.config import Settings
from sightlog.errors import (
    BadRequest,
    ErrorDetail,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
)
from sightlog.models.records import Workspace
from sightlog.services.images import ImageService
from sightlog.services.ingest import IngestService, _failed
from sightlog.services.timeutil import now_us
from sightlog.services.validation import validate_event

PAYLOAD = "payload.json"
FORMAT_VERSION = 1
# Image-entry keys that name a member, and the key its sourceId goes to (as in `sightlog events send`).
FILE_KEYS = {"file": "sourceId", "inputFile": "inputSourceId"}
_GZIP_MAGIC = b"\x1f\x8b"
_PLACEHOLDER = "bundle-image"  # stands in for sourceIds while the event is checked, before any upload
_ROOTED = re.compile(r"^([\\/]|[A-Za-z]:)")


@dataclass(frozen=True, slots=True)
class BundleLimits:
    max_unpacked_bytes: int
    max_members: int
    max_member_bytes: int  # an image member: the upload limit
    max_payload_bytes: int  # payload.json: the JSON body limit

    @classmethod
    def from_settings(cls, settings: Settings) -> BundleLimits:
        return cls(
            max_unpacked_bytes=settings.max_bundle_unpacked_bytes,
            max_members=settings.max_bundle_members,
            max_member_bytes=settings.max_image_bytes,
            max_payload_bytes=settings.max_body_bytes,
        )


@dataclass(frozen=True, slots=True, eq=False)  # compared by identity: one upload per file, however shared
class ImageFile:
    """Image bytes that arrived with an event; ``name`` is the member path (or where the bytes were)."""

    name: str
    data: bytes


# (index of the image entry, "sourceId" | "inputSourceId") -> the file whose upload goes there
Attachments = dict[tuple[int, str], ImageFile]


def ingest_bundle(
    images: ImageService,
    ingest: IngestService,
    limits: BundleLimits,
    workspace: Workspace,
    data: bytes,
    use_case: str | None,
) -> tuple[str, bool]:
    """``POST /vision-events/bundle``: returns (eventId, created) like ``POST /vision-events``."""
    event, files = read_bundle(data, limits)
    if use_case is not None:
        event["useCaseId"] = use_case
    return ingest_with_files(images, ingest, workspace, event, files)


def ingest_with_files(
    images: ImageService,
    ingest: IngestService,
    workspace: Workspace,
    event: dict[str, Any],
    files: Attachments,
) -> tuple[str, bool]:
    """Store an event whose image entries get their ``sourceId`` / ``inputSourceId`` from uploads of
    ``files``. The event is checked first, so an invalid one stores no image.

    A file that is not an image Sightlog can read is not stored; its entry then names the file where the
    sourceId would be, and the event carries the usual "not an image of this workspace" warning for it
    (as SPEC §3.4 treats any missing image), so the event itself is never lost to one bad frame.
    """
    _check(_with_sources(event, dict.fromkeys(files, _PLACEHOLDER)))
    stored: dict[ImageFile, str] = {}
    for file in files.values():
        if file not in stored:
            stored[file] = _upload(images, workspace, file)
    return ingest.create(workspace, _with_sources(event, {at: stored[file] for at, file in files.items()}))


def _upload(images: ImageService, workspace: Workspace, file: ImageFile) -> str:
    try:
        result = images.upload(workspace, io.BytesIO(file.data), file.name.rsplit("/", 1)[-1], None)
    except (UnsupportedMediaType, PayloadTooLarge):
        return file.name
    return str(result["sourceId"])


def _with_sources(event: dict[str, Any], sources: Mapping[tuple[int, str], str]) -> dict[str, Any]:
    if not sources:
        return event
    entries = [dict(entry) for entry in event["images"]]
    for (index, key), source_id in sources.items():
        entries[index][key] = source_id
    return {**event, "images": entries}


def _check(event: dict[str, Any]) -> None:
    result = validate_event(event, "", now_us())
    if isinstance(result, list):
        raise _failed(result)


# -- reading ---------------------------------------------------------------------------------------------


def read_bundle(data: bytes, limits: BundleLimits) -> tuple[dict[str, Any], Attachments]:
    """The event of a bundle (``file`` keys taken out of its image entries) and the files they named."""
    if not data:
        raise BadRequest("The body is empty; send a bundle: a tar or tar.gz archive holding payload.json.")
    with _opened(_ungzipped(data, limits.max_unpacked_bytes)) as tar:
        members = _members(tar, limits)
        if PAYLOAD not in members:
            raise BadRequest(f"The bundle has no {PAYLOAD}; put the event there, at the archive root.")
        payload = _payload(_read(tar, members[PAYLOAD]))
        return _resolve(tar, payload, members)


def _ungzipped(data: bytes, limit: int) -> bytes:
    if data[:2] != _GZIP_MAGIC:
        return data
    inflater = zlib.decompressobj(wbits=zlib.MAX_WBITS | 16)
    try:
        # Bounded output: a gzip bomb stops at limit + 1 bytes instead of filling memory.
        unpacked = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise BadRequest(f"The body starts like gzip but is not valid gzip data ({exc}).") from None
    if len(unpacked) > limit:
        raise BadRequest(f"The bundle unpacks to more than {limit} bytes, the limit for one bundle.")
    if not inflater.eof:
        raise BadRequest("The gzip data of the bundle is truncated.")
    return unpacked


@contextmanager
def _opened(data: bytes) -> Iterator[tarfile.TarFile]:
    """The archive, with whatever the tar parser raises on broken input turned into a 400."""
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:") as tar:
            yield tar
    except (tarfile.TarError, EOFError, OSError, ValueError, UnicodeError) as exc:
        raise BadRequest(
            f"The body is not a valid tar or tar.gz archive ({exc or type(exc).__name__})."
        ) from None


def _clean_path(name: str) -> str | None:
    """The path of a member below the archive root, or None when it is absolute or climbs out with ``..``
    (never extracted, but such an archive is malformed or hostile, and refusing it is the safe answer)."""
    parts = re.split(r"[\\/]", name)
    if _ROOTED.match(name) or ".." in parts:
        return None
    return "/".join(part for part in parts if part not in ("", "."))


def _members(tar: tarfile.TarFile, limits: BundleLimits) -> dict[str, tarfile.TarInfo]:
    """Every regular file by its clean path, after checking every header (headers only: no data read)."""
    members: dict[str, tarfile.TarInfo] = {}
    for count, info in enumerate(tar, start=1):
        if count > limits.max_members:
            raise BadRequest(f"The bundle has more than {limits.max_members} entries.")
        path = _clean_path(info.name)
        if path is None:
            raise BadRequest(
                f"The bundle member '{info.name}' points outside the archive; use paths below its root."
            )
        if info.isdir():
            continue
        if info.issym() or info.islnk():
            raise BadRequest(f"The bundle member '{info.name}' is a link; bundles hold regular files only.")
        if not info.isfile():
            raise BadRequest(
                f"The bundle member '{info.name}' is a device or other special file; bundles hold files only."
            )
        limit = limits.max_payload_bytes if path == PAYLOAD else limits.max_member_bytes
        if info.size > limit:
            raise BadRequest(f"The bundle member '{info.name}' is {info.size} bytes; the limit is {limit}.")
        if path in members:
            raise BadRequest(f"The bundle holds '{path}' twice.")
        members[path] = info
    return members


def _read(tar: tarfile.TarFile, info: tarfile.TarInfo) -> bytes:
    stream = tar.extractfile(info)
    assert stream is not None  # regular files always have data
    return stream.read()


def _payload(data: bytes) -> dict[str, Any]:
    if b"\\u0000" in data:  # as for JSON bodies: PostgreSQL text cannot hold NUL
        problem = "strings may not contain the NUL character (\\u0000)"
        raise ValidationFailed(f"{PAYLOAD} is invalid: {problem}.", [ErrorDetail(PAYLOAD, problem)])
    try:
        payload = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise BadRequest(f"{PAYLOAD} is not valid JSON: {exc}.") from None
    if not isinstance(payload, dict):
        raise BadRequest(f"{PAYLOAD} must hold one JSON object: the event.")
    version = payload.pop("bundleFormatVersion", None)
    if version != FORMAT_VERSION:
        got = orjson.dumps(version).decode()
        raise BadRequest(f'{PAYLOAD} must say "bundleFormatVersion": {FORMAT_VERSION} (got {got}).')
    return payload


def _resolve(
    tar: tarfile.TarFile, payload: dict[str, Any], members: dict[str, tarfile.TarInfo]
) -> tuple[dict[str, Any], Attachments]:
    entries = payload.get("images")
    if not isinstance(entries, list):
        return payload, {}
    files: Attachments = {}
    by_member: dict[str, ImageFile] = {}
    problems: list[ErrorDetail] = []
    resolved: list[Any] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict):
            entry = dict(entry)
            for file_key, id_key in FILE_KEYS.items():
                if file_key not in entry:
                    continue
                name = entry.pop(file_key)
                path = _clean_path(name) if isinstance(name, str) else None
                if path is None or path not in members:
                    shown = name if isinstance(name, str) else orjson.dumps(name).decode()
                    problems.append(
                        ErrorDetail(f"images[{index}].{file_key}", f"no file '{shown}' in the bundle")
                    )
                    continue
                if path not in by_member:
                    by_member[path] = ImageFile(path, _read(tar, members[path]))
                files[(index, id_key)] = by_member[path]
        resolved.append(entry)
    if problems:
        raise _failed(problems)
    return {**payload, "images": resolved}, files


# -- writing ---------------------------------------------------------------------------------------------


def write_bundle(event: Mapping[str, Any], files: Mapping[str, bytes], *, compress: bool = True) -> bytes:
    """A bundle archive: ``payload.json`` (``event`` plus the format version) first, then ``files`` by
    member path; ``event``'s image entries name those paths in ``file`` / ``inputFile``."""
    out = io.BytesIO()
    payload = orjson.dumps({**event, "bundleFormatVersion": FORMAT_VERSION})
    with tarfile.open(fileobj=out, mode="w:gz" if compress else "w") as tar:
        for name, data in [(PAYLOAD, payload), *files.items()]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = int(time.time())
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()
