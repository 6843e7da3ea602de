"""Any mix of stores works, and a store that is not there stops the start with a clear message."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_schema
from tests.e2e.helpers import assert_no_traceback, client, jpeg_bytes, run_cli, simple_event
from tests.support.s3 import S3Server
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def s3() -> Iterator[S3Server]:
    with S3Server(process=True) as server:
        yield server


def _round_trip(server: ServerProcess) -> None:
    image = jpeg_bytes()
    with client(server.url, server.api_key) as http:
        use_case = http.post("/vision-events/use-cases", json={"name": "Mix"}).json()["id"]
        upload = http.post("/vision-events/upload", files={"file": ("a.jpg", image, "image/jpeg")})
        assert upload.status_code == 201, upload.text
        source = upload.json()["sourceId"]
        event = simple_event("mix-1", use_case, images=[{"sourceId": source}])
        assert http.post("/vision-events", json=event).status_code == 201
        stored = http.get("/vision-events/events/mix-1").json()
        assert stored["images"][0]["width"] is not None
        assert http.get(stored["images"][0]["url"]).content == image
        assert http.get(stored["images"][0]["thumbnailUrl"]).status_code == 200


def test_sqlite_with_s3(tmp_path: Path, s3: S3Server) -> None:
    with ServerProcess(tmp_path / "data", env=s3.env(s3.create_bucket())) as server:
        with client(server.url) as http:
            assert http.get("/health").json()["blobs"] == "s3"
        _round_trip(server)
    assert not (tmp_path / "data" / "images" / "objects").exists() or not any(
        p.is_file() for p in (tmp_path / "data" / "images" / "objects").rglob("*")
    ), "images went to the local folder instead of S3"


def test_postgresql_with_local_images(tmp_path: Path) -> None:
    with (
        postgres_schema() as url,
        ServerProcess(tmp_path / "data", env={"SIGHTLOG_DATABASE_URL": url}) as server,
    ):
        with client(server.url) as http:
            health = http.get("/health").json()
        assert (health["store"], health["blobs"]) == ("postgresql", "local")
        _round_trip(server)


def test_a_missing_bucket_stops_the_start_with_its_name(tmp_path: Path, s3: S3Server) -> None:
    env = s3.env("no-such-bucket")
    result = run_cli(["serve", "--port", "0", "--data-dir", str(tmp_path / "data")], env=env, cwd=tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "no-such-bucket" in output and "does not exist" in output, output
    assert_no_traceback(output)
