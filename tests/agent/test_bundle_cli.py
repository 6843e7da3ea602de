"""``sightlog bundle write`` and ``sightlog bundle upload``: an air-gapped site's events, carried on foot."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

import pytest
import typer.main
from click.testing import CliRunner, Result
from PIL import Image

from sightlog import Client
from sightlog.cli.bundle import bundle_name
from sightlog.cli.main import app
from sightlog.services.bundles import write_bundle
from tests.conftest import make_event
from tests.support.server import ServerProcess

COMMAND = typer.main.get_command(app)


@pytest.fixture
def cli(server: ServerProcess):
    def run(*args: str) -> Result:
        env = {"SIGHTLOG_SERVER": server.url, "SIGHTLOG_API_KEY": server.api_key}
        return CliRunner().invoke(COMMAND, list(args), env=env, catch_exceptions=False, prog_name="sightlog")

    return run


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """An air-gapped site's export: an NDJSON file of events naming image files next to it."""
    (tmp_path / "frames").mkdir()
    Image.new("RGB", (32, 24), "red").save(tmp_path / "frames" / "a.jpg")
    Image.new("RGB", (16, 16), "blue").save(tmp_path / "frames" / "b.png")
    events: list[dict[str, Any]] = [
        make_event("site/1", "", images=[{"file": "frames/a.jpg", "inputFile": "frames/b.png"}]),
        make_event("site-2", "", images=[{"file": "frames/a.jpg"}]),
        {"eventType": "custom", "timestamp": "2026-11-20T10:00:00Z", "eventData": {"value": "no id"}},
    ]
    for event in events:
        event.pop("useCaseId", None)
    (tmp_path / "events.ndjson").write_text("".join(json.dumps(e) + "\n" for e in events))
    return tmp_path


def test_write_then_upload_and_upload_again(cli, site: Path, client: Client, use_case: str):
    out = site / "usb"
    written = cli("bundle", "write", str(site / "events.ndjson"), "--use-case", use_case, "--out", str(out))
    assert written.exit_code == 0, written.output
    assert written.stderr.strip() == f"Wrote 3 bundles to {out}."
    names = sorted(p.name for p in out.iterdir())
    assert len(names) == 3 and bundle_name("site/1") in names and "site-2.tar.gz" in names
    assert not [n for n in names if n.startswith(".")]  # no temp file left
    with tarfile.open(out / "site-2.tar.gz") as tar:
        payload = json.load(tar.extractfile("payload.json"))  # type: ignore[arg-type]
        (member,) = [n for n in tar.getnames() if n.startswith("images/")]
    assert payload["bundleFormatVersion"] == 1 and payload["images"] == [{"file": member}]

    uploaded = cli("bundle", "upload", str(out))
    assert uploaded.exit_code == 0, uploaded.output
    assert uploaded.stderr.strip() == "Uploaded 3 bundles."
    assert sorted(p.name for p in (out / "delivered").iterdir()) == names
    assert client.events.count(use_case) == 3
    first = client.events.get("site/1")
    assert client.images.get(first.images[0].source_id or "") == (site / "frames" / "a.jpg").read_bytes()
    assert (
        client.images.get(first.images[0].input_source_id or "") == (site / "frames" / "b.png").read_bytes()
    )

    again = cli("bundle", "upload", str(out))  # nothing left to do, and that is fine
    assert again.exit_code == 0 and again.stderr.strip() == "Uploaded 0 bundles."


def test_what_fails_is_listed_kept_and_exits_1(cli, tmp_path: Path, client: Client, use_case: str):
    out = tmp_path / "bundles"
    out.mkdir()
    (out / "good.tar.gz").write_bytes(write_bundle(make_event("ok-1", use_case), {}))
    (out / "unknown-use-case.tar").write_bytes(write_bundle(make_event("bad-1", "nope"), {}, compress=False))
    (out / "broken.tgz").write_bytes(b"not a tar")
    (out / "notes.txt").write_text("not a bundle: ignored")

    result = cli("bundle", "upload", str(out))
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "Uploaded 1 bundle; 2 failed:"
    assert lines[1].startswith("  broken.tgz: The body is not a valid tar")
    assert lines[2].startswith("  unknown-use-case.tar: The event is invalid: useCaseId")
    assert sorted(p.name for p in out.iterdir()) == [
        "broken.tgz",
        "delivered",
        "notes.txt",
        "unknown-use-case.tar",
    ]
    assert client.events.get("ok-1").use_case_id == use_case


def test_write_checks_events_before_the_trip(cli, site: Path, use_case: str):
    source = site / "bad.ndjson"
    events = [
        make_event("w1", use_case, eventData={"result": "maybe"}),
        make_event("w2", use_case, images=[{"file": "frames/missing.jpg"}]),
        make_event("w3", use_case),
    ]
    source.write_text("".join(json.dumps(e) + "\n" for e in events) + "[1, 2\n")
    result = cli("bundle", "write", str(source), "--out", str(site / "out"))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"Wrote 1 bundle to {site / 'out'}; 3 failed:",
        "  line 1 (w1): eventData.result: must be one of 'pass', 'fail'",
        f"  line 2 (w2): image file 'frames/missing.jpg' not found in {site}",
        "  line 4: not valid JSON: Expecting ',' delimiter: line 1 column 6 (char 5)",
    ]
    assert [p.name for p in (site / "out").iterdir()] == ["w3.tar.gz"]


def test_an_unreachable_server_stops_the_upload(tmp_path: Path, use_case: str):
    out = tmp_path / "bundles"
    out.mkdir()
    (out / "a.tar.gz").write_bytes(write_bundle(make_event("u1", use_case), {}))
    env = {"SIGHTLOG_SERVER": "http://127.0.0.1:9", "SIGHTLOG_API_KEY": "k"}
    result = CliRunner().invoke(COMMAND, ["bundle", "upload", str(out)], env=env, prog_name="sightlog")
    assert result.exit_code == 1
    assert "0 bundles were delivered before this error" in result.stderr
    assert (
        result.stderr.strip()
        .splitlines()[-1]
        .startswith("error: POST http://127.0.0.1:9/vision-events/bundle")
    )
    assert (out / "a.tar.gz").exists()
