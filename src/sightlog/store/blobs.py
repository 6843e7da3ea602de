"""Content-addressed image storage. Blobs are named by the sha256 of their bytes, so identical uploads are
stored once and a blob, once written, never changes."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from sightlog.errors import PayloadTooLarge, Unavailable

CHUNK = 1024 * 1024


@dataclass(frozen=True, slots=True)
class StagedBlob:
    """Bytes written to a private temp file and hashed, not yet visible under their address."""

    path: Path
    sha256: str
    size: int


def fsync_dir(path: Path) -> None:
    """Make the entries of ``path`` (a file created, renamed or removed in it) durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class LocalBlobStore:
    """Blobs under ``root/objects/ab/cd/<sha256>``; durable once :meth:`commit` returns."""

    backend = "local"

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tmp = root / "tmp"
        self._objects = root / "objects"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._objects.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        return self._objects / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path(sha256).is_file()

    def stage(self, source: BinaryIO, max_bytes: int) -> StagedBlob:
        """Copy ``source`` to a temp file while hashing; refuse (413) past ``max_bytes``."""
        digest = hashlib.sha256()
        size = 0
        path = self._tmp / uuid.uuid4().hex
        try:
            with open(path, "wb") as out:
                while chunk := source.read(CHUNK):
                    size += len(chunk)
                    if size > max_bytes:
                        raise PayloadTooLarge(f"The image is larger than the limit of {max_bytes} bytes.")
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedBlob(path=path, sha256=digest.hexdigest(), size=size)

    def stage_bytes(self, data: bytes) -> StagedBlob:
        return self.stage(io.BytesIO(data), max_bytes=len(data))

    def commit(self, staged: StagedBlob) -> None:
        """Move a staged blob to its address (fsynced file and directory), or drop it if already there."""
        target = self.path(staged.sha256)
        if target.is_file():
            self.discard(staged)
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, target)
        fsync_dir(target.parent)

    def discard(self, staged: StagedBlob) -> None:
        with contextlib.suppress(FileNotFoundError):
            staged.path.unlink()

    def open(self, sha256: str) -> BinaryIO:
        return open(self.path(sha256), "rb")

    def local_path(self, sha256: str) -> Path | None:
        return self.path(sha256)

    def close(self) -> None:
        """Nothing to release; present for symmetry with stores that hold connections."""

    def check(self) -> None:
        """Raise :class:`Unavailable` unless blobs can be written."""
        if not os.access(self._objects, os.W_OK):
            raise Unavailable(f"The image folder {self._objects} is not writable.")
