"""The public surface: lazy top-level names, no server code pulled in, defaults from the environment."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import sightlog
from sightlog import sdk
from sightlog.sdk import Client as SdkClient

HEAVY = ("sightlog.server", "sightlog.store", "sightlog.services", "fastapi", "sqlalchemy", "uvicorn")
OPTIONAL = ("numpy", "PIL", "supervision")


def _modules_after(statement: str) -> list[str]:
    """Modules loaded by a fresh interpreter after running ``statement``."""
    code = f"import sys, json\n{statement}\nprint(json.dumps(sorted(sys.modules)))"
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    return json.loads(output)


def test_importing_sightlog_does_not_load_the_sdk() -> None:
    assert not [m for m in _modules_after("import sightlog") if m.startswith("sightlog.sdk")]


def test_the_sdk_loads_neither_server_code_nor_optional_imaging_libraries() -> None:
    loaded = _modules_after("from sightlog import Client, AsyncClient, Sink; Client().close()")
    assert "sightlog.sdk" in loaded
    unwanted = [m for m in loaded if m.split(".")[0] in OPTIONAL or m.startswith(HEAVY)]
    assert unwanted == []


def test_top_level_names_are_the_sdk_s() -> None:
    assert sightlog.Client is SdkClient
    assert sightlog.AsyncClient is sdk.AsyncClient and sightlog.Sink is sdk.Sink
    assert set(sightlog.__all__) == {"Client", "AsyncClient", "Sink", "__version__"}
    with pytest.raises(AttributeError):
        sightlog.NoSuchThing  # noqa: B018
    for name in sdk.__all__:
        assert getattr(sdk, name) is not None


def test_server_and_key_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIGHTLOG_SERVER", raising=False)
    monkeypatch.delenv("SIGHTLOG_API_KEY", raising=False)
    with SdkClient() as client:
        assert (client.server, client.api_key) == ("http://127.0.0.1:8400", None)
        assert "authorization" not in client._transport.http.headers
    monkeypatch.setenv("SIGHTLOG_SERVER", "http://sightlog.example:9000/")
    monkeypatch.setenv("SIGHTLOG_API_KEY", "env-key")
    with SdkClient() as client:
        assert (client.server, client.api_key) == ("http://sightlog.example:9000", "env-key")
        assert client._transport.http.headers["authorization"] == "Bearer env-key"
        assert client._transport.http.headers["user-agent"].startswith("sightlog-python/")
        assert repr(client) == "<sightlog.Client http://sightlog.example:9000>"
    with SdkClient("http://other:1", "explicit", timeout=3.5) as client:
        assert (client.server, client.api_key) == ("http://other:1", "explicit")
        assert client._transport.http.timeout.read == 3.5
