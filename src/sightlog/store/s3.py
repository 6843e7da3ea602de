"""Content-addressed blobs in an S3-compatible bucket (AWS S3, MinIO, Ceph RGW, GCS interop, R2...).

Uploads are staged exactly like :class:`~sightlog.store.blobs.LocalBlobStore` stages them (a local temp
file, hashed while written, fsynced), so the image service can inspect a real file before anything reaches
the bucket. :meth:`S3BlobStore.commit` then uploads that file under ``<prefix>/objects/ab/cd/<sha256>``.

Credentials, region and endpoint come from boto3's usual sources (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_SESSION_TOKEN``, ``AWS_DEFAULT_REGION`` / ``AWS_REGION``,
``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, ``~/.aws/*``, instance roles), unless given explicitly.

Every failure to talk to the store becomes :class:`~sightlog.errors.Unavailable` (503, clients retry),
except a missing object on :meth:`S3BlobStore.open`, which is :class:`FileNotFoundError` like on local disk.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit

import boto3
from boto3.exceptions import Boto3Error
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    CredentialRetrievalError,
    HTTPClientError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from urllib3.exceptions import HTTPError as Urllib3HTTPError

from sightlog.errors import Unavailable
from sightlog.store.blobs import CHUNK, LocalBlobStore, StagedBlob

__all__ = ["S3BlobStore", "parse_s3_url"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/octet-stream"
MULTIPART_CHUNK = 8 * 1024 * 1024

# Fail fast when the store is down: a request handler waits at most ~3 attempts x 5 s to connect before the
# client gets a 503 it can retry, instead of hanging on botocore's defaults (60 s timeouts, legacy retries).
_CLIENT_OPTIONS: dict[str, Any] = {
    "connect_timeout": 5,
    "read_timeout": 30,
    "retries": {"mode": "standard", "total_max_attempts": 3},
    # uvicorn runs sync handlers on a thread pool (40 threads by default); botocore's default of 10
    # pooled connections would make busy threads queue for a connection or churn new ones.
    "max_pool_connections": 32,
    "user_agent_extra": "sightlog",
}

# Multipart above 8 MiB; parts are read from the staged file as they are sent (never the whole file into
# memory), and at most 4 parts are in flight per commit, which bounds memory and threads per upload.
_TRANSFER = TransferConfig(
    multipart_threshold=MULTIPART_CHUNK,
    multipart_chunksize=MULTIPART_CHUNK,
    max_concurrency=4,
    use_threads=True,
)

_AWS_HOST_SUFFIXES = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")
_MISSING_OBJECT_CODES = frozenset({"404", "NoSuchKey", "NotFound"})
_MISSING_BUCKET_CODES = frozenset({"NoSuchBucket"})


def parse_s3_url(url: str) -> tuple[str, str]:
    """``s3://bucket/optional/prefix`` → ``(bucket, prefix)``; the prefix has no leading/trailing ``/``."""
    parts = urlsplit(url)
    if parts.scheme != "s3" or not parts.netloc:
        raise ValueError(f"Not an S3 URL (expected s3://bucket/optional/prefix): {url!r}")
    if parts.query or parts.fragment:
        raise ValueError(f"An S3 URL takes no query or fragment: {url!r}")
    return parts.netloc, parts.path.strip("/")


class _StagingArea(LocalBlobStore):
    """The staging half of :class:`LocalBlobStore` (``stage``, ``stage_bytes``, ``discard``) over one temp
    directory, so both stores hash, limit (413) and fsync uploads with the very same code.

    ``LocalBlobStore.__init__`` is deliberately not called: it would create an ``objects/`` folder here,
    suggesting that blobs live on local disk. Only the temp folder is used.
    """

    def __init__(self, tmp_dir: Path) -> None:
        tmp_dir.mkdir(parents=True, exist_ok=True)
        self.root = tmp_dir
        self._tmp = tmp_dir
        self._objects = tmp_dir


class _BodyReader(io.RawIOBase):
    """A botocore ``StreamingBody`` as a raw stream (wrapped in a ``BufferedReader`` by ``open``), so callers
    get ``with``, exact ``read(n)``, ``readinto`` and a store failure mid-stream as :class:`Unavailable`."""

    def __init__(self, body: Any, store: S3BlobStore, key: str) -> None:
        super().__init__()
        self._body = body
        self._store = store
        self._key = key

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        try:
            data = self._body.read(len(view))
        except (BotoCoreError, Urllib3HTTPError, OSError) as exc:
            raise self._store._unavailable(exc, f"download of {self._key}") from exc
        view[: len(data)] = data
        return len(data)

    def close(self) -> None:
        if not self.closed:
            # Closing early drops the connection instead of returning a half-read one to the pool.
            self._body.close()
        super().close()


class S3BlobStore:
    """Blobs in ``bucket`` under ``<prefix>/objects/ab/cd/<sha256>``; durable once :meth:`commit` returns.

    ``staging_dir`` is a local folder for upload temp files (e.g. ``<data_dir>/tmp``); it must be on a disk
    with room for the largest concurrent uploads. The boto3 client is thread-safe and shared.
    """

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        staging_dir: Path,
        *,
        prefix: str = "",
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.staging_dir = staging_dir
        self._staging = _StagingArea(staging_dir)
        self._key_prefix = f"{self.prefix}/" if self.prefix else ""
        self._client = _make_client(endpoint_url, region, addressing_style)
        self.endpoint: str = self._client.meta.endpoint_url

    @classmethod
    def from_url(
        cls,
        url: str,
        staging_dir: Path,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        addressing_style: str | None = None,
    ) -> S3BlobStore:
        """A store for ``s3://bucket/optional/prefix``. ``endpoint_url`` / ``region`` override the
        environment; ``addressing_style`` ("path", "virtual", "auto") defaults to "path" on non-AWS
        endpoints, which every S3-compatible server accepts."""
        bucket, prefix = parse_s3_url(url)
        return cls(
            bucket,
            staging_dir,
            prefix=prefix,
            endpoint_url=endpoint_url,
            region=region,
            addressing_style=addressing_style,
        )

    @property
    def url(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    def __repr__(self) -> str:
        return f"S3BlobStore({self.url!r}, endpoint={self.endpoint!r})"

    def key(self, sha256: str) -> str:
        return f"{self._key_prefix}objects/{sha256[:2]}/{sha256[2:4]}/{sha256}"

    # -- staging: LocalBlobStore's own code, over the staging folder -------------------------------------

    def stage(self, source: BinaryIO, max_bytes: int) -> StagedBlob:
        """Copy ``source`` to a local temp file while hashing; refuse (413) past ``max_bytes``."""
        return self._staging.stage(source, max_bytes)

    def stage_bytes(self, data: bytes) -> StagedBlob:
        return self._staging.stage_bytes(data)

    def discard(self, staged: StagedBlob) -> None:
        self._staging.discard(staged)

    # -- the bucket -------------------------------------------------------------------------------------

    def commit(self, staged: StagedBlob) -> None:
        """Upload a staged blob to its address unless it is already there; the temp file is removed either
        way, also on failure (the request fails with 503 and the client re-sends the bytes)."""
        key = self.key(staged.sha256)
        try:
            # A content address never changes, so an existing object already holds these exact bytes.
            if self._head_object(key, unknown_on_403=True) is True:
                return
            # upload_file streams from disk and switches to a multipart upload above the threshold; S3
            # acknowledges a PUT / CompleteMultipartUpload only once the object is durably stored.
            self._client.upload_file(
                str(staged.path),
                self.bucket,
                key,
                ExtraArgs={"ContentType": CONTENT_TYPE},
                Config=_TRANSFER,
            )
        except (BotoCoreError, Boto3Error, ClientError) as exc:
            raise self._unavailable(exc, f"upload of {key}") from exc
        finally:
            self._staging.discard(staged)

    def exists(self, sha256: str) -> bool:
        key = self.key(sha256)
        try:
            return self._head_object(key, unknown_on_403=False) is True
        except (BotoCoreError, ClientError) as exc:
            raise self._unavailable(exc, f"lookup of {key}") from exc

    def open(self, sha256: str) -> BinaryIO:
        """A buffered, non-seekable stream of the blob's bytes; close it (``with``) to free the connection.

        Raises :class:`FileNotFoundError` if there is no such blob."""
        key = self.key(sha256)
        try:
            response = self._client.get_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _is_missing_object(exc):
                raise FileNotFoundError(f"No blob {sha256} in {self.url}.") from None
            raise self._unavailable(exc, f"download of {key}") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, f"download of {key}") from exc
        return io.BufferedReader(_BodyReader(response["Body"], self, key), buffer_size=CHUNK)

    def local_path(self, sha256: str) -> Path | None:
        # Blobs are remote: callers stream them through open() (or redirect to presigned_url()).
        return None

    def presigned_url(self, sha256: str, expires: int = 300, *, content_type: str | None = None) -> str:
        """A URL that lets anyone holding it GET the blob for ``expires`` seconds, e.g. to redirect a
        browser straight to the bucket. ``content_type`` sets the response's Content-Type (stored blobs
        are ``application/octet-stream``). No request is made; the URL is signed locally."""
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key(sha256)}
        if content_type:
            params["ResponseContentType"] = content_type
        try:
            url: str = self._client.generate_presigned_url("get_object", Params=params, ExpiresIn=expires)
        except BotoCoreError as exc:
            raise self._unavailable(exc, "signing of a download URL") from exc
        return url

    def check(self) -> None:
        """Raise :class:`Unavailable` unless the bucket answers and the staging folder is writable."""
        try:
            self._client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            status = _status(exc)
            if status == 404 or _code(exc) in _MISSING_BUCKET_CODES:
                raise Unavailable(
                    f"S3 bucket '{self.bucket}' does not exist (endpoint {self.endpoint})."
                ) from exc
            if status == 403:
                raise Unavailable(
                    f"Access to S3 bucket '{self.bucket}' was denied (endpoint {self.endpoint}); "
                    "check the credentials and the bucket policy."
                ) from exc
            raise self._unavailable(exc, f"check of bucket '{self.bucket}'") from exc
        except BotoCoreError as exc:
            raise self._unavailable(exc, f"check of bucket '{self.bucket}'") from exc
        if not os.access(self.staging_dir, os.W_OK):
            raise Unavailable(f"The upload staging folder {self.staging_dir} is not writable.")

    def close(self) -> None:
        """Release pooled connections (optional; the client is otherwise closed at garbage collection)."""
        self._client.close()

    # -- helpers ----------------------------------------------------------------------------------------

    def _head_object(self, key: str, *, unknown_on_403: bool) -> bool | None:
        """True if the object exists, False if not; None if S3 will not say (403).

        Without ``s3:ListBucket`` S3 answers 403 instead of 404 for a missing object; ``commit`` then
        simply uploads (harmless for a content address), while ``exists`` reports the denial."""
        try:
            self._client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in _MISSING_BUCKET_CODES:
                raise
            if _is_missing_object(exc):
                return False
            if unknown_on_403 and _status(exc) == 403:
                return None
            raise
        return True

    def _unavailable(self, exc: BaseException, action: str) -> Unavailable:
        """One human sentence for the client (no local paths, no credentials); the details go to the log."""
        log.warning("S3 %s failed on %s at %s: %r", action, self.url, self.endpoint, exc)
        cause = _root_cause(exc)
        where = f"S3 bucket '{self.bucket}' at {self.endpoint}"
        if isinstance(cause, BotoConnectionError):
            return Unavailable(f"The S3 endpoint {self.endpoint} is unreachable ({action} failed).")
        if isinstance(cause, ReadTimeoutError):
            return Unavailable(f"The S3 endpoint {self.endpoint} did not answer in time ({action}).")
        if isinstance(cause, HTTPClientError):  # e.g. the connection dropped in the middle of a body
            return Unavailable(f"The connection to the S3 endpoint {self.endpoint} failed ({action}).")
        if isinstance(cause, NoCredentialsError | PartialCredentialsError | CredentialRetrievalError):
            return Unavailable(
                f"No usable S3 credentials for {where} (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)."
            )
        if isinstance(cause, ClientError):
            if _code(cause) in _MISSING_BUCKET_CODES:
                return Unavailable(f"S3 bucket '{self.bucket}' does not exist (endpoint {self.endpoint}).")
            return Unavailable(
                f"The {action} in {where} failed: {_code(cause) or 'error'} (HTTP {_status(cause)})."
            )
        return Unavailable(f"The {action} in {where} failed ({type(cause).__name__}).")


def _make_client(endpoint_url: str | None, region: str | None, addressing_style: str | None) -> Any:
    # A private session: boto3's default session is shared module state and not thread-safe to set up.
    session = boto3.session.Session()
    # botocore reads AWS_DEFAULT_REGION itself but not AWS_REGION, which other AWS SDKs and many container
    # setups use.
    region = region or session.region_name or os.environ.get("AWS_REGION") or None
    options = dict(_CLIENT_OPTIONS)
    client = session.client("s3", endpoint_url=endpoint_url, region_name=region, config=Config(**options))
    if _is_aws(client.meta.endpoint_url):
        if addressing_style:
            client = session.client(
                "s3",
                endpoint_url=endpoint_url,
                region_name=region,
                config=Config(**options, s3={"addressing_style": addressing_style}),
            )
        return client
    # An S3-compatible server (endpoint from the argument, AWS_ENDPOINT_URL[_S3] or ~/.aws/config):
    # - path-style requests (http://host/bucket/key) work everywhere; virtual-hosted ones need wildcard DNS.
    # - boto3 >= 1.36 adds CRC checksums to every request by default, which MinIO/Ceph/GCS releases that
    #   predate it reject; only send them where the API requires them, unless the user chose otherwise.
    options["s3"] = {"addressing_style": addressing_style or "path"}
    for option, variable in (
        ("request_checksum_calculation", "AWS_REQUEST_CHECKSUM_CALCULATION"),
        ("response_checksum_validation", "AWS_RESPONSE_CHECKSUM_VALIDATION"),
    ):
        if option in Config.OPTION_DEFAULTS and variable not in os.environ:
            options[option] = "when_required"
    return session.client(
        "s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", config=Config(**options)
    )


def _is_aws(endpoint: str) -> bool:
    host = urlsplit(endpoint).hostname or ""
    return host.endswith(_AWS_HOST_SUFFIXES)


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def _is_missing_object(exc: ClientError) -> bool:
    return _code(exc) not in _MISSING_BUCKET_CODES and (
        _status(exc) == 404 or _code(exc) in _MISSING_OBJECT_CODES
    )


def _root_cause(exc: BaseException) -> BaseException:
    """boto3 wraps upload errors (``S3UploadFailedError`` around a ``ClientError``); look through that."""
    seen: set[int] = set()
    while isinstance(exc, Boto3Error) and id(exc) not in seen:
        seen.add(id(exc))
        inner = exc.__cause__ or exc.__context__
        if inner is None:
            break
        exc = inner
    return exc
