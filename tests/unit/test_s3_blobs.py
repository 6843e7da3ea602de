"""S3BlobStore against a real S3-compatible server (moto): in a thread, and once as a separate process."""

from __future__ import annotations

import hashlib
import io
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image

from sightlog.errors import PayloadTooLarge, Unavailable
from sightlog.store.s3 import S3BlobStore, parse_s3_url
from tests.support.s3 import S3Server
from tests.support.server import free_port

MiB = 1024 * 1024
PREFIX = "pre/fix"


@pytest.fixture(scope="module")
def s3_server() -> Iterator[S3Server]:
    with S3Server() as server:
        yield server


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A fresh bucket, with this process's AWS environment (credentials, region, endpoint) pointing at it."""
    name = s3_server.create_bucket()
    for key, value in s3_server.env(name).items():
        monkeypatch.setenv(key, value)
    return name


@pytest.fixture
def staging(tmp_path: Path) -> Path:
    return tmp_path / "tmp"


@pytest.fixture
def store(bucket: str, staging: Path) -> S3BlobStore:
    # No endpoint argument: it comes from AWS_ENDPOINT_URL_S3, as in a deployment.
    return S3BlobStore.from_url(f"s3://{bucket}/{PREFIX}", staging)


def keys(server: S3Server, bucket: str, prefix: str = "") -> list[str]:
    listing = server.client().list_objects_v2(Bucket=bucket, Prefix=prefix)
    return [item["Key"] for item in listing.get("Contents", [])]


def address(prefix: str, sha256: str) -> str:
    return f"{prefix}/objects/{sha256[:2]}/{sha256[2:4]}/{sha256}".lstrip("/")


def test_url_parsing() -> None:
    assert parse_s3_url("s3://bucket") == ("bucket", "")
    assert parse_s3_url("s3://bucket/") == ("bucket", "")
    assert parse_s3_url("s3://my.bucket/a/b/") == ("my.bucket", "a/b")
    for bad in ("bucket/prefix", "http://bucket/x", "s3:///prefix", "s3://bucket/x?versionId=1"):
        with pytest.raises(ValueError):
            parse_s3_url(bad)


def test_stage_commit_open_round_trip(store: S3BlobStore, staging: Path) -> None:
    data = os.urandom(300_000)
    staged = store.stage(io.BytesIO(data), max_bytes=len(data))
    assert staged.sha256 == hashlib.sha256(data).hexdigest()
    assert staged.size == len(data)
    assert staged.path.parent == staging and staged.path.read_bytes() == data
    assert not store.exists(staged.sha256)

    store.commit(staged)

    assert not staged.path.exists()
    assert list(staging.iterdir()) == []
    assert store.exists(staged.sha256)
    assert store.local_path(staged.sha256) is None
    with store.open(staged.sha256) as stream:
        assert stream.read(10) == data[:10]  # read(n) returns exactly n bytes while there are more
        assert stream.read(100_000) == data[10:100_010]
        assert stream.read() == data[100_010:]
        assert stream.read(1) == b""
    assert stream.closed


def test_open_streams_in_chunks_and_pillow_reads_it(store: S3BlobStore) -> None:
    out = io.BytesIO()
    Image.new("RGB", (40, 30), (10, 200, 30)).save(out, "PNG")
    staged = store.stage_bytes(out.getvalue())
    store.commit(staged)
    with store.open(staged.sha256) as stream:
        chunks = list(iter(lambda: stream.read(100), b""))
    assert b"".join(chunks) == out.getvalue()
    assert all(len(chunk) == 100 for chunk in chunks[:-1])
    # Not seekable: Pillow falls back to reading it into memory, as the thumbnail code relies on.
    with store.open(staged.sha256) as stream, Image.open(stream) as image:
        assert image.size == (40, 30)


def test_identical_bytes_are_stored_once(s3_server: S3Server, bucket: str, store: S3BlobStore) -> None:
    first = store.stage_bytes(b"same bytes")
    second = store.stage_bytes(b"same bytes")
    assert first.path != second.path and first.sha256 == second.sha256
    store.commit(first)
    store.commit(second)
    assert not first.path.exists() and not second.path.exists()
    assert keys(s3_server, bucket) == [address(PREFIX, first.sha256)]


def test_prefix_is_honoured(s3_server: S3Server, bucket: str, staging: Path) -> None:
    bare = S3BlobStore.from_url(f"s3://{bucket}", staging)
    nested = S3BlobStore.from_url(f"s3://{bucket}/tenants/a/", staging)
    staged = bare.stage_bytes(b"bare")
    bare.commit(staged)
    assert keys(s3_server, bucket) == [address("", staged.sha256)]
    assert not nested.exists(staged.sha256)  # same bytes, other prefix: not there
    with pytest.raises(FileNotFoundError):
        nested.open(staged.sha256)

    nested.commit(nested.stage_bytes(b"bare"))
    assert sorted(keys(s3_server, bucket)) == [
        address("", staged.sha256),
        address("tenants/a", staged.sha256),
    ]
    assert nested.url == f"s3://{bucket}/tenants/a"


def test_exists(store: S3BlobStore) -> None:
    staged = store.stage_bytes(b"abc")
    assert not store.exists(staged.sha256)
    store.commit(staged)
    assert store.exists(staged.sha256)
    assert not store.exists(hashlib.sha256(b"other").hexdigest())


def test_open_of_a_missing_blob_is_file_not_found(store: S3BlobStore) -> None:
    with pytest.raises(FileNotFoundError):
        store.open(hashlib.sha256(b"never stored").hexdigest())


def test_stage_past_the_limit_is_413_and_leaves_no_temp_file(
    s3_server: S3Server, bucket: str, store: S3BlobStore, staging: Path
) -> None:
    with pytest.raises(PayloadTooLarge):
        store.stage(io.BytesIO(b"x" * (3 * MiB)), max_bytes=2 * MiB)
    assert list(staging.iterdir()) == []
    assert keys(s3_server, bucket) == []


def test_discard_removes_the_temp_file_and_uploads_nothing(
    s3_server: S3Server, bucket: str, store: S3BlobStore
) -> None:
    staged = store.stage_bytes(b"not wanted")
    store.discard(staged)
    store.discard(staged)  # twice is fine
    assert not staged.path.exists()
    assert keys(s3_server, bucket) == []


def test_explicit_endpoint_and_region_override_the_environment(
    s3_server: S3Server, bucket: str, staging: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{free_port()}")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("AWS_REGION")
    store = S3BlobStore.from_url(f"s3://{bucket}", staging, endpoint_url=s3_server.url, region="us-east-1")
    assert store.endpoint == s3_server.url
    store.check()
    staged = store.stage_bytes(b"explicit")
    store.commit(staged)
    assert store.exists(staged.sha256)


def test_check_passes_on_an_existing_bucket(store: S3BlobStore) -> None:
    store.check()


def test_check_on_a_missing_bucket_names_it(s3_server: S3Server, bucket: str, staging: Path) -> None:
    store = S3BlobStore.from_url("s3://no-such-bucket-sightlog/x", staging)
    with pytest.raises(Unavailable) as info:
        store.check()
    assert "S3 bucket 'no-such-bucket-sightlog' does not exist" in info.value.message
    assert s3_server.url in info.value.message
    # Writes into it fail as 503 too, and do not leave the staged file behind.
    staged = store.stage_bytes(b"orphan")
    with pytest.raises(Unavailable, match="no-such-bucket-sightlog"):
        store.commit(staged)
    assert not staged.path.exists()


def test_an_unreachable_endpoint_fails_fast_with_unavailable(bucket: str, staging: Path) -> None:
    endpoint = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    store = S3BlobStore.from_url(f"s3://{bucket}", staging, endpoint_url=endpoint)
    staged = store.stage_bytes(b"nowhere to go")
    attempts = {
        "check": store.check,
        "commit": lambda: store.commit(staged),
        "open": lambda: store.open(staged.sha256),
        "exists": lambda: store.exists(staged.sha256),
    }
    for name, attempt in attempts.items():
        started = time.monotonic()
        with pytest.raises(Unavailable) as info:
            attempt()
        elapsed = time.monotonic() - started
        assert elapsed < 15, f"{name} took {elapsed:.1f} s"
        assert endpoint in info.value.message, name
        assert info.value.status_code == 503
    assert not staged.path.exists()  # the failed commit cleaned up its temp file


def test_presigned_url_downloads_the_same_bytes(store: S3BlobStore) -> None:
    data = os.urandom(50_000)
    staged = store.stage_bytes(data)
    store.commit(staged)
    url = store.presigned_url(staged.sha256, expires=60)
    response = httpx.get(url, trust_env=False)
    assert response.status_code == 200
    assert response.content == data
    typed = httpx.get(store.presigned_url(staged.sha256, content_type="image/jpeg"), trust_env=False)
    assert typed.content == data
    assert typed.headers["content-type"] == "image/jpeg"
    # The signature covers the key: tampering with it is refused.
    forged = url.replace(staged.sha256[-8:], "0" * 8)
    assert httpx.get(forged, trust_env=False).status_code in (403, 404)


def test_big_blob_goes_multipart_from_a_separate_server_process_with_bounded_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = 30 * MiB
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with open(source, "wb") as out:
        for _ in range(size // MiB):
            chunk = os.urandom(MiB)
            digest.update(chunk)
            out.write(chunk)

    # A separate process, so that tracemalloc below sees only our side of the upload (moto keeps objects
    # in memory) -- and this is the mode end-to-end tests use.
    with S3Server(process=True) as server:
        assert server.pid is not None and server.pid != os.getpid()
        bucket = server.create_bucket()
        for key, value in server.env(bucket).items():
            monkeypatch.setenv(key, value)
        store = S3BlobStore.from_url(f"s3://{bucket}/big", tmp_path / "tmp")

        tracemalloc.start()
        try:
            with open(source, "rb") as stream:
                staged = store.stage(stream, max_bytes=size)
            store.commit(staged)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()

        assert staged.sha256 == digest.hexdigest()
        assert peak < size // 3, f"peak Python memory {peak / MiB:.1f} MiB for a {size // MiB} MiB blob"
        head = server.client().head_object(Bucket=bucket, Key=store.key(staged.sha256))
        assert head["ContentLength"] == size
        assert head["ETag"].strip('"').endswith("-4")  # 30 MiB in 8 MiB parts: a 4-part upload

        read_back = hashlib.sha256()
        with store.open(staged.sha256) as stream:
            while chunk := stream.read(MiB):
                read_back.update(chunk)
        assert read_back.hexdigest() == staged.sha256

        # The store dies in the middle of a download: the reader raises 503, not a truncated blob.
        with store.open(staged.sha256) as stream:
            assert len(stream.read(MiB)) == MiB
            server.kill()
            with pytest.raises(Unavailable):
                while stream.read(MiB):
                    pass
