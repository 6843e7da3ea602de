"""``client.events.bundle``: the raw tar / tar.gz body of SPEC §3.8."""

from __future__ import annotations

import asyncio
import gzip
import io
import json
import tarfile
from pathlib import Path

from sightlog import AsyncClient, Client
from tests.sdk.stub import Reply, StubServer, stub_client
from tests.support.server import ServerProcess

CREATED = Reply(201, {"eventId": "from-bundle", "created": True})


def _bundle(use_case: str) -> bytes:
    payload = {
        "bundleFormatVersion": 1,
        "eventId": "from-bundle",
        "eventType": "custom",
        "useCaseId": use_case,
        "timestamp": "2026-11-20T10:00:00Z",
        "images": [{"file": "images/a.jpg"}],
    }
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in [("payload.json", json.dumps(payload).encode()), ("images/a.jpg", b"\xff\xd8\xff")]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def test_bundle_bytes_and_paths_are_posted_raw(tmp_path: Path) -> None:
    archive = _bundle("ignored")
    with stub_client([CREATED]) as (stub, client):
        created = client.events.bundle(archive, use_case="line-qa")
        path = tmp_path / "event.tar.gz"
        path.write_bytes(gzip.compress(archive))
        client.events.bundle(path)
    assert (created.event_id, created.created) == ("from-bundle", True)
    plain, gzipped = stub.requests
    assert plain.path == "/vision-events/bundle?useCaseId=line-qa"
    assert plain.headers["Content-Type"] == "application/x-tar" and plain.body == archive
    assert gzipped.path == "/vision-events/bundle"
    assert gzipped.headers["Content-Type"] == "application/gzip"
    assert gzip.decompress(gzipped.body) == archive
    assert plain.headers["Authorization"] == "Bearer k"


def test_async_bundle() -> None:
    async def send(url: str) -> str:
        async with AsyncClient(url, "k") as client:
            return (await client.events.bundle(_bundle("x"), use_case="uc")).event_id

    with StubServer([CREATED]) as stub:
        assert asyncio.run(send(stub.url)) == "from-bundle"
    assert stub.requests[0].path == "/vision-events/bundle?useCaseId=uc"


def test_bundle_against_the_real_server(server: ServerProcess, client: Client, use_case: str) -> None:
    assert client.events.bundle(_bundle(use_case)).event_id == "from-bundle"
    assert client.events.get("from-bundle").use_case_id == use_case
