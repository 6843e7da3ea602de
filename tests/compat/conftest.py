"""Fixtures for the compatibility suite: the real ``roboflow`` package (SDK and CLI) against a real server.

The roboflow package reads ``API_URL`` from the environment while it is imported (``roboflow.config`` and
``roboflow.adapters.vision_events_api._BASE``), so it never runs inside the pytest process:

* the SDK runs in a long-lived worker subprocess started with ``API_URL=<server url>``; the tests drive it
  through :class:`SdkWorker` / :class:`RemoteWorkspace`, whose methods mirror ``roboflow.core.workspace.
  Workspace`` (each call is executed there on the real ``Workspace`` object and its JSON result returned);
* the CLI runs as the installed ``roboflow`` console script (``roboflow.roboflowpy:main``).

Both get an isolated ``HOME`` and ``ROBOFLOW_CONFIG_DIR`` so no real ``~/.config/roboflow`` is read or
written, and every inherited ``ROBOFLOW_*`` / ``RF_*`` / URL variable is dropped.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

try:
    from tests.support.server import ServerProcess
except ImportError:  # pragma: no cover - ``tests`` importable only as a rootdir-relative package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from support.server import ServerProcess

SDK_CALL_TIMEOUT = 60.0
CLI_TIMEOUT = 60.0

# Variables that would redirect the roboflow package elsewhere or make it read real credentials.
_ROBOFLOW_URL_VARS = {
    "API_URL",
    "APP_URL",
    "UNIVERSE_URL",
    "INSTANCE_SEGMENTATION_URL",
    "SEMANTIC_SEGMENTATION_URL",
    "OBJECT_DETECTION_URL",
    "SERVERLESS_URL",
    "CLIP_FEATURIZE_URL",
    "OCR_URL",
    "DEDICATED_DEPLOYMENT_URL",
    "CLASSIFICATION_MODEL",
    "OBJECT_DETECTION_MODEL",
    "PREDICTION_OBJECT",
}
_PROXY_VARS = {"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}


def roboflow_env(api_url: str, home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment for a roboflow subprocess pointed at ``api_url``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not (
            k.startswith(("ROBOFLOW_", "RF_", "SIGHTLOG_")) or k in _ROBOFLOW_URL_VARS or k in _PROXY_VARS
        )
    }
    home.mkdir(parents=True, exist_ok=True)
    env.update(
        {
            "API_URL": api_url,
            "HOME": str(home),
            "USERPROFILE": str(home),
            # A path that does not exist: the SDK then uses no config file at all.
            "ROBOFLOW_CONFIG_DIR": str(home / "roboflow-config.json"),
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
            "TQDM_DISABLE": "1",
            "PYTHONUNBUFFERED": "1",
            "PYTHONIOENCODING": "utf-8",
        }
    )
    env.update(extra or {})
    return env


# ---------------------------------------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def compat_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One real ``sightlog serve`` process (SQLite in a temp dir) shared by the compat suite."""
    data_dir = tmp_path_factory.mktemp("compat-server") / "data"
    with ServerProcess(data_dir) as server:
        yield server


@pytest.fixture(scope="session")
def server_http(compat_server: ServerProcess) -> Iterator[httpx.Client]:
    """A plain HTTP client with the server's admin key, to check what the SDK/CLI cannot show."""
    with httpx.Client(
        base_url=compat_server.url,
        headers=compat_server.auth_headers,
        timeout=30.0,
        trust_env=False,
    ) as client:
        yield client


# ---------------------------------------------------------------------------------------------------------
# The SDK, in a worker subprocess
# ---------------------------------------------------------------------------------------------------------

# Runs in the worker. Protocol: one JSON request per stdin line, one JSON response per line on the original
# stdout; everything the SDK prints ("loading Roboflow workspace...") goes to stderr (a log file).
_WORKER_SOURCE = r"""
import inspect, json, os, sys
proto = os.fdopen(os.dup(1), "w", buffering=1, encoding="utf-8")
os.dup2(2, 1)
sys.stdout = sys.stderr

import roboflow
from roboflow import config
from roboflow.adapters import vision_events_api

state = {}

def handle(req):
    op = req["op"]
    if op == "hello":
        return {"apiUrl": config.API_URL, "visionEventsBase": vision_events_api._BASE,
                "version": roboflow.__version__}
    if op == "init":
        rf = roboflow.Roboflow(api_key=req["api_key"])
        state["rf"] = rf
        return {"currentWorkspace": getattr(rf, "current_workspace", None),
                "onboarding": rf.onboarding}
    if op == "workspace":
        ws = state["rf"].workspace(*req.get("args", []))
        state["ws"] = ws
        return {"name": ws.name, "url": ws.url, "projects": ws.project_list,
                "members": getattr(ws, "members", None), "type": type(ws).__qualname__}
    if op == "call":
        result = getattr(state["ws"], req["method"])(*req.get("args", []), **req.get("kwargs", {}))
        if inspect.isgenerator(result):
            result = list(result)
        return result
    raise ValueError("unknown op " + repr(op))

for line in sys.stdin:
    if not line.strip():
        continue
    req = json.loads(line)
    try:
        resp = {"ok": True, "result": handle(req)}
    except BaseException as exc:
        resp = {"ok": False, "type": type(exc).__name__, "module": type(exc).__module__,
                "message": str(exc)}
    proto.write(json.dumps(resp, default=str) + "\n")
    proto.flush()
"""


class SdkCallError(Exception):
    """An exception raised inside the SDK worker, e.g. ``RoboflowError`` carrying the server's body."""

    def __init__(self, type_name: str, module: str, message: str) -> None:
        shown = message if len(message) <= 3000 else message[:3000] + f"... ({len(message)} chars)"
        super().__init__(f"{module}.{type_name}: {shown}")
        self.type_name = type_name
        self.module = module
        self.message = message

    @property
    def body(self) -> dict[str, Any] | None:
        """The server's JSON error body when the SDK put the response text in the exception."""
        try:
            parsed = json.loads(self.message)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None

    @property
    def code(self) -> str | None:
        body = self.body
        return body.get("code") if body else None


class SdkWorker:
    """A subprocess that imported ``roboflow`` with ``API_URL`` pointed at the test server."""

    Error = SdkCallError

    def __init__(self, api_url: str, home: Path) -> None:
        self.api_url = api_url
        self.home = home
        self.stderr_path = home / "sdk-worker.stderr.log"
        home.mkdir(parents=True, exist_ok=True)
        self._stderr = self.stderr_path.open("ab")
        self._proc = subprocess.Popen(
            [sys.executable, "-c", _WORKER_SOURCE],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=roboflow_env(api_url, home),
            cwd=home,
        )
        self._selector = selectors.DefaultSelector()
        assert self._proc.stdout is not None
        self._selector.register(self._proc.stdout, selectors.EVENT_READ)
        self._buffer = b""
        self._closed = False

    def _stderr_tail(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def _readline(self, timeout: float) -> bytes:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while b"\n" not in self._buffer:
            if not self._selector.select(timeout):
                self.close()
                raise TimeoutError(f"SDK worker gave no answer within {timeout}s\n{self._stderr_tail()}")
            chunk = os.read(fd, 65536)
            if not chunk:
                raise RuntimeError(f"SDK worker exited unexpectedly\n{self._stderr_tail()}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def request(self, op: str, timeout: float = SDK_CALL_TIMEOUT, **fields: Any) -> Any:
        assert self._proc.stdin is not None
        self._proc.stdin.write((json.dumps({"op": op, **fields}) + "\n").encode())
        self._proc.stdin.flush()
        response = json.loads(self._readline(timeout))
        if not response["ok"]:
            raise SdkCallError(response["type"], response["module"], response["message"])
        return response["result"]

    def hello(self) -> dict[str, Any]:
        """Which API URL the imported SDK resolved (proves the environment reached it)."""
        return self.request("hello")

    def init(self, api_key: str) -> dict[str, Any]:
        """``rf = roboflow.Roboflow(api_key=api_key)`` in the worker."""
        return self.request("init", api_key=api_key)

    def workspace(self, *args: str) -> RemoteWorkspace:
        """``ws = rf.workspace(*args)`` in the worker."""
        info = self.request("workspace", args=list(args))
        return RemoteWorkspace(self, info)

    def call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self.request("call", method=method, args=list(args), kwargs=kwargs)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._proc.poll() is None:
            with contextlib.suppress(OSError):
                assert self._proc.stdin is not None
                self._proc.stdin.close()
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout=5)
        self._selector.close()
        self._stderr.close()


class RemoteWorkspace:
    """Proxy for the worker's ``roboflow.core.workspace.Workspace``: ``ws.write_vision_event(...)`` etc."""

    Error = SdkCallError

    def __init__(self, worker: SdkWorker, info: dict[str, Any]) -> None:
        self.worker = worker
        self.info = info

    def __getattr__(self, method: str) -> Any:
        if method.startswith("_"):
            raise AttributeError(method)

        def call(*args: Any, **kwargs: Any) -> Any:
            return self.worker.call(method, *args, **kwargs)

        call.__name__ = method
        return call


@pytest.fixture(scope="session")
def sdk_factory(compat_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Starts fresh SDK workers (``make()``); all are closed at the end of the session."""
    workers: list[SdkWorker] = []

    def make() -> SdkWorker:
        worker = SdkWorker(compat_server.url, tmp_path_factory.mktemp("sdk-home"))
        workers.append(worker)
        return worker

    yield make
    for worker in workers:
        worker.close()


@pytest.fixture(scope="session")
def rf_workspace(compat_server: ServerProcess, sdk_factory: Any) -> RemoteWorkspace:
    """``roboflow.Roboflow(api_key=KEY).workspace()`` configured against the test server."""
    worker: SdkWorker = sdk_factory()
    worker.init(compat_server.api_key)
    return worker.workspace()


# ---------------------------------------------------------------------------------------------------------
# The CLI, as the installed console script
# ---------------------------------------------------------------------------------------------------------


def roboflow_cli_command() -> list[str]:
    """The ``roboflow`` console script of this interpreter's environment (entry point
    ``roboflow = roboflow.roboflowpy:main``), falling back to running that module."""
    script = Path(sys.executable).parent / "roboflow"
    if script.exists():
        return [str(script)]
    found = shutil.which("roboflow")
    if found:
        return [found]
    return [sys.executable, "-m", "roboflow.roboflowpy"]


@dataclass
class CliResult:
    args: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def json(self) -> Any:
        """stdout parsed as JSON (``--json`` mode prints exactly one document)."""
        try:
            return json.loads(self.stdout)
        except ValueError as exc:
            raise AssertionError(f"stdout is not JSON: {exc}\n{self}") from None

    @property
    def error(self) -> dict[str, Any]:
        """The ``{"error": {...}}`` document the CLI prints on stderr in ``--json`` mode."""
        for line in reversed(self.stderr.strip().splitlines()):
            with contextlib.suppress(ValueError):
                parsed = json.loads(line)
                if isinstance(parsed, dict) and "error" in parsed:
                    return parsed["error"]
        raise AssertionError(f"no JSON error document on stderr\n{self}")

    def __str__(self) -> str:
        return (
            f"$ roboflow {' '.join(self.args)}\nexit code {self.returncode}\n"
            f"--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"
        )


class RoboflowCli:
    """Runs ``roboflow [--json] <args>`` against the test server.

    By default the key comes from ``ROBOFLOW_API_KEY`` (``key_via="env"``); ``key_via="flag"`` passes
    ``--api-key`` instead and ``key_via=None`` gives none.
    """

    def __init__(self, api_url: str, api_key: str, home: Path) -> None:
        self.api_url = api_url
        self.api_key = api_key
        self.home = home
        self.command = roboflow_cli_command()

    def __call__(
        self,
        *args: str,
        json_mode: bool = True,
        api_key: str | None = None,
        key_via: str | None = "env",
        extra_env: dict[str, str] | None = None,
        timeout: float = CLI_TIMEOUT,
    ) -> CliResult:
        key = self.api_key if api_key is None else api_key
        argv: list[str] = []
        if json_mode:
            argv.append("--json")
        env_extra = dict(extra_env or {})
        if key_via == "flag":
            argv += ["--api-key", key]
        elif key_via == "env":
            env_extra["ROBOFLOW_API_KEY"] = key
        argv += list(args)
        proc = subprocess.run(
            [*self.command, *argv],
            capture_output=True,
            text=True,
            env=roboflow_env(self.api_url, self.home, env_extra),
            cwd=self.home,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
            check=False,
        )
        return CliResult(argv, proc.returncode, proc.stdout, proc.stderr)

    def ok(self, *args: str, **kwargs: Any) -> Any:
        """Run in ``--json`` mode, assert exit code 0 and return the parsed stdout."""
        result = self(*args, **kwargs)
        assert result.returncode == 0, str(result)
        return result.json


@pytest.fixture(scope="session")
def roboflow_cli(compat_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> RoboflowCli:
    return RoboflowCli(compat_server.url, compat_server.api_key, tmp_path_factory.mktemp("cli-home"))
