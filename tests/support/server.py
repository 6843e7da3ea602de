"""Run a real ``python -m sightlog serve`` process for end-to-end tests.

Usage::

    with ServerProcess(tmp_path / "data") as server:
        httpx.get(server.url + "/health")
        client = httpx.Client(base_url=server.url, headers={"Authorization": f"Bearer {server.api_key}"})

The server's stdout and stderr are appended to ``server.stdout.log`` / ``server.stderr.log`` in its data
directory, so they survive restarts and a failing start shows them in the raised error.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

from tests.support.processes import LIVE

__all__ = ["ServerError", "ServerProcess", "free_port"]

DEFAULT_STARTUP_TIMEOUT = 30.0
DEFAULT_STOP_TIMEOUT = 15.0
_LOG_TAIL_CHARS = 8000
_PORT_RETRIES = 3


class ServerError(RuntimeError):
    """The server process failed to start or to stop in time; the message carries its logs."""


def free_port(host: str = "127.0.0.1") -> int:
    """Return a TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
    return port


def new_test_key() -> str:
    """A random API key that contains lowercase letters (the roboflow SDK requires that)."""
    return "sl_test_" + secrets.token_hex(16)


class ServerProcess:
    """One ``sightlog serve`` child process bound to 127.0.0.1 on a free port.

    ``env`` entries override the inherited environment (e.g. ``SIGHTLOG_DATABASE_URL``); every
    ``SIGHTLOG_*`` variable of the parent environment is dropped first so a developer's shell settings
    cannot leak into a test. ``SIGHTLOG_BOOTSTRAP_KEY`` is always set to :attr:`api_key`.
    """

    def __init__(
        self,
        data_dir: Path | str,
        *,
        env: Mapping[str, str] | None = None,
        port: int | None = None,
        host: str = "127.0.0.1",
        api_key: str | None = None,
        extra_args: Sequence[str] = (),
        startup_timeout: float = DEFAULT_STARTUP_TIMEOUT,
        stop_timeout: float = DEFAULT_STOP_TIMEOUT,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.host = host
        self._fixed_port = port is not None
        self._port = port if port is not None else free_port(host)
        self._api_key = api_key if api_key is not None else new_test_key()
        self._env_overrides = dict(env or {})
        self.extra_args = list(extra_args)
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    # -- properties -------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL without a trailing slash, e.g. ``http://127.0.0.1:54321``."""
        return f"http://{self.host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def api_key(self) -> str:
        """The admin key the server was bootstrapped with (``SIGHTLOG_BOOTSTRAP_KEY``)."""
        return self._api_key

    @property
    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"}

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    @property
    def returncode(self) -> int | None:
        return self._proc.poll() if self._proc is not None else None

    @property
    def stdout_path(self) -> Path:
        return self.data_dir / "server.stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.data_dir / "server.stderr.log"

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- command and environment ------------------------------------------------------------------------

    def command(self) -> list[str]:
        return [
            sys.executable,
            "-m",
            "sightlog",
            "serve",
            "--host",
            self.host,
            "--port",
            str(self._port),
            "--data-dir",
            str(self.data_dir),
            *self.extra_args,
        ]

    def environment(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SIGHTLOG_")}
        env["PYTHONUNBUFFERED"] = "1"
        env["SIGHTLOG_BOOTSTRAP_KEY"] = self._api_key
        env.update(self._env_overrides)
        return env

    # -- lifecycle --------------------------------------------------------------------------------------

    def start(self) -> Self:
        """Spawn the server and block until ``GET /health`` answers 200."""
        if self.is_running():
            raise ServerError(f"server already running (pid {self.pid})")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        for attempt in range(_PORT_RETRIES):
            self._spawn()
            try:
                self.wait_healthy(self.startup_timeout)
                return self
            except ServerError:
                port_clash = (
                    not self._fixed_port
                    and self.returncode is not None
                    and "address already in use" in self._tail(self.stderr_path).lower()
                )
                if port_clash and attempt + 1 < _PORT_RETRIES:
                    self._port = free_port(self.host)
                    continue
                raise
        raise AssertionError("unreachable")  # pragma: no cover

    def _spawn(self) -> None:
        self.starts += 1
        marker = f"\n===== sightlog test harness: start #{self.starts} on port {self._port} =====\n".encode()
        with self.stdout_path.open("ab") as out, self.stderr_path.open("ab") as err:
            out.write(marker)
            err.write(marker)
            out.flush()
            err.flush()
            self._proc = subprocess.Popen(
                self.command(),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=err,
                env=self.environment(),
                # Keeps a stray ``.env`` in the caller's working directory from configuring the server.
                cwd=self.data_dir,
            )
        LIVE.add(self._proc)

    def health(self, timeout: float = 2.0) -> dict[str, Any]:
        """``GET /health``; returns the parsed body or raises (``urllib.error.URLError`` / ``HTTPError``)."""
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(self.url + "/health", timeout=timeout) as resp:
            body = resp.read()
            if resp.status != 200:
                raise ServerError(f"/health answered {resp.status}")
        try:
            parsed = json.loads(body)
        except ValueError:
            return {}
        return parsed if isinstance(parsed, dict) else {}

    def wait_healthy(self, timeout: float = DEFAULT_STARTUP_TIMEOUT) -> dict[str, Any]:
        """Poll ``/health`` until it answers 200; on failure kill the process and raise with its logs."""
        deadline = time.monotonic() + timeout
        last_error = "no attempt made"
        while True:
            if self._proc is None:
                raise ServerError("server was never started")
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._forget()
                raise ServerError(f"server exited with code {code} before becoming healthy\n{self.logs()}")
            try:
                return self.health(timeout=2.0)
            except (OSError, ServerError, urllib.error.URLError) as exc:
                last_error = f"{type(exc).__name__}: {exc}"
            if time.monotonic() >= deadline:
                self._hard_kill()
                raise ServerError(
                    f"server did not answer GET /health with 200 within {timeout:.0f}s "
                    f"(last error: {last_error})\ncommand: {self.command()}\n{self.logs()}"
                )
            time.sleep(0.1)

    def stop(self, timeout: float | None = None) -> int | None:
        """SIGTERM and wait; returns the exit code. Raises (after a SIGKILL) when it does not exit in time."""
        proc = self._proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=self.stop_timeout if timeout is None else timeout)
            except subprocess.TimeoutExpired:
                self._hard_kill()
                raise ServerError(
                    f"server (pid {proc.pid}) ignored SIGTERM for "
                    f"{self.stop_timeout if timeout is None else timeout:.0f}s and was killed\n{self.logs()}"
                ) from None
        self._forget()
        return proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (simulates a crash / power loss) and wait; returns the exit code."""
        proc = self._proc
        if proc is None:
            return None
        self._hard_kill()
        return proc.returncode

    def restart(self, *, hard: bool = False) -> Self:
        """Stop (``hard=True``: kill) and start again on the same port and data directory."""
        if hard:
            self.kill()
        else:
            self.stop()
        return self.start()

    def _hard_kill(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            proc.wait(timeout=30)
        self._forget()

    def _forget(self) -> None:
        if self._proc is not None:
            LIVE.discard(self._proc)

    # -- logs -------------------------------------------------------------------------------------------

    @staticmethod
    def _tail(path: Path, chars: int = _LOG_TAIL_CHARS) -> str:
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return text[-chars:]

    def logs(self) -> str:
        """The tails of the captured stdout and stderr, labelled, for error messages."""
        return (
            f"--- server stdout ({self.stdout_path}) ---\n{self._tail(self.stdout_path)}\n"
            f"--- server stderr ({self.stderr_path}) ---\n{self._tail(self.stderr_path)}"
        )

    # -- context manager --------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        if not self.is_running():
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None:
            # Do not mask the original failure with a shutdown problem.
            with contextlib.suppress(ServerError):
                self.stop()
        else:
            self.stop()

    def __repr__(self) -> str:
        state = f"pid={self.pid}" if self.is_running() else "stopped"
        return f"<ServerProcess {self.url} {state} data_dir={self.data_dir}>"
