"""``sightlog serve`` as a user runs it (SPEC §2, §5): flags, env, first start, signals, errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import stat
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from tests.e2e.helpers import (
    assert_no_traceback,
    clean_env,
    client,
    jpeg_bytes,
    run_cli,
    simple_event,
    wait_until,
)
from tests.support.server import ServerProcess, free_port, new_test_key

pytestmark = pytest.mark.slow

SHUTDOWN_SECONDS = 5.0
FAIL_FAST_SECONDS = 15.0
# A key as the server generates them (≥ 32 random bytes, URL-safe), to spot one printed by mistake.
KEY_LIKE = re.compile(r"\b[A-Za-z0-9_]{2,}_[A-Za-z0-9_-]{40,}")
_MARKER = "===== sightlog test harness: start #"


class CliServe(ServerProcess):
    """``python -m sightlog serve ARGS`` exactly as given: no flags or ``SIGHTLOG_*`` added by the harness.

    ``workdir`` is the process's working directory and holds its logs; ``host`` / ``port`` only tell the
    harness where to probe ``/health``.
    """

    def __init__(
        self,
        workdir: Path,
        port: int,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        host: str = "127.0.0.1",
    ) -> None:
        super().__init__(workdir, port=port, host=host, startup_timeout=30.0, stop_timeout=SHUTDOWN_SECONDS)
        self.args = list(args)
        self.cli_env = dict(env or {})

    def command(self) -> list[str]:
        return [sys.executable, "-m", "sightlog", "serve", *self.args]

    def environment(self) -> dict[str, str]:
        return clean_env(self.cli_env)

    def output(self) -> str:
        """stdout + stderr of the latest start."""
        parts = []
        for path in (self.stdout_path, self.stderr_path):
            text = path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""
            parts.append(text.rsplit(_MARKER, 1)[-1].split("\n", 1)[-1] if _MARKER in text else text)
        return "\n".join(parts)

    def signal_and_wait(self, signum: int, timeout: float = SHUTDOWN_SECONDS) -> int | None:
        assert self.pid is not None
        os.kill(self.pid, signum)
        deadline = time.monotonic() + timeout
        while self.returncode is None and time.monotonic() < deadline:
            time.sleep(0.05)
        code = self.returncode
        if code is None:
            self.kill()
        return code


@pytest.fixture
def servers() -> Iterator[list[CliServe]]:
    """Servers started by a test; whatever is still running at the end is killed."""
    started: list[CliServe] = []
    yield started
    for server in started:
        if server.is_running():
            server.kill()


def _start(servers: list[CliServe], server: CliServe) -> CliServe:
    servers.append(server)
    return server.start()


def _flat(text: str) -> str:
    """Console output with line wrapping undone (rich wraps at the terminal width)."""
    return re.sub(r"\s+", " ", text)


def _unwrapped(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: TIME_WAIT is fine
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def _assert_key_works(url: str, key: str, workspace: str = "default") -> None:
    with client(url, key) as http:
        assert http.get("/vision-events/use-cases").status_code == 200
        response = http.post("/", params={"api_key": key})
        assert response.status_code == 200, response.text
        assert response.json() == {"workspace": workspace}
        created = http.post("/vision-events/use-cases", json={"name": f"probe {time.monotonic_ns()}"})
        assert created.status_code == 201, created.text


# -- where it listens and stores ---------------------------------------------------------------------------


def test_flags_set_host_port_and_data_dir_over_env(tmp_path: Path, servers: list[CliServe]) -> None:
    port, env_port = free_port(), free_port()
    data = tmp_path / "flag-data"
    env_data = tmp_path / "env-data"
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            host="127.0.0.3",
            args=["--host", "127.0.0.3", "--port", str(port), "--data-dir", str(data)],
            env={
                "SIGHTLOG_HOST": "127.0.0.1",
                "SIGHTLOG_PORT": str(env_port),
                "SIGHTLOG_DATA_DIR": str(env_data),
                "SIGHTLOG_BOOTSTRAP_KEY": (key := new_test_key()),
            },
        ),
    )
    assert server.health()["status"] == "ok"
    assert not _reachable("127.0.0.1", port), "--host 127.0.0.3 given, yet it listens on 127.0.0.1 too"
    assert not _reachable("127.0.0.1", env_port), "SIGHTLOG_PORT won over --port"
    _assert_key_works(server.url, key)
    assert (data / "bootstrap-key").is_file()
    assert not env_data.exists(), "SIGHTLOG_DATA_DIR was used although --data-dir was given"
    assert server.stop() == 0


def test_env_sets_host_port_data_dir_and_database_url(tmp_path: Path, servers: list[CliServe]) -> None:
    port = free_port()
    data = tmp_path / "env-data"
    db_file = tmp_path / "elsewhere" / "events.sqlite"
    db_file.parent.mkdir()
    key = new_test_key()
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            host="127.0.0.2",
            env={
                "SIGHTLOG_HOST": "127.0.0.2",
                "SIGHTLOG_PORT": str(port),
                "SIGHTLOG_DATA_DIR": str(data),
                "SIGHTLOG_DATABASE_URL": f"sqlite:///{db_file}",
                "SIGHTLOG_BOOTSTRAP_KEY": key,
            },
        ),
    )
    assert server.health()["store"] == "sqlite"
    assert not _reachable("127.0.0.1", port), "SIGHTLOG_HOST=127.0.0.2 given, yet it listens on 127.0.0.1"
    assert f"http://127.0.0.2:{port}" in _flat(server.output())
    _assert_key_works(server.url, key)
    assert db_file.is_file() and db_file.stat().st_size > 0, "SIGHTLOG_DATABASE_URL's file was not used"
    assert (data / "bootstrap-key").is_file(), "SIGHTLOG_DATA_DIR was not used"
    assert not list(data.glob("*.db")) and not list(data.glob("*.sqlite*")), (
        f"a database was created in the data dir although SIGHTLOG_DATABASE_URL points elsewhere: "
        f"{sorted(p.name for p in data.iterdir())}"
    )
    before = {p for p in data.rglob("*") if p.is_file()}
    with client(server.url, key) as http:
        upload = http.post("/vision-events/upload", files={"file": ("a.jpg", jpeg_bytes(), "image/jpeg")})
        assert upload.status_code == 201, upload.text
    assert {p for p in data.rglob("*") if p.is_file()} - before, (
        "uploaded image bytes are not in the data dir"
    )
    assert server.stop() == 0


def test_defaults_port_8400_and_data_dir_sightlog_data(tmp_path: Path, servers: list[CliServe]) -> None:
    if not _port_is_free("127.0.0.1", 8400):
        pytest.skip("port 8400 is taken on this machine")
    server = _start(servers, CliServe(tmp_path, 8400))
    assert server.health()["status"] == "ok"
    assert (tmp_path / "sightlog-data" / "bootstrap-key").is_file()
    assert "http://127.0.0.1:8400" in _flat(server.output())
    assert server.stop() == 0


# -- first start ---------------------------------------------------------------------------------------------


def test_first_start_bootstraps_default_workspace_and_admin_key(
    tmp_path: Path, servers: list[CliServe]
) -> None:
    port = free_port()
    data = tmp_path / "data"
    server = _start(servers, CliServe(tmp_path, port, args=["--port", str(port), "--data-dir", str(data)]))
    output = server.output()
    assert_no_traceback(output)

    key_file = data / "bootstrap-key"
    assert key_file.is_file(), "no <data_dir>/bootstrap-key after the first start"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600, oct(key_file.stat().st_mode)
    key = key_file.read_text().strip()
    assert len(key) >= 43 and any(c.islower() for c in key), f"weak or SDK-incompatible key {key!r}"
    assert re.search(rf"(?m)^\s*{re.escape(key)}\s*$", output) or key in output.split(), (
        f"the bootstrap key is not printed (copyable, on its own) on the console:\n{output}"
    )
    assert "default" in output

    flat = _flat(output)
    assert f"http://127.0.0.1:{port}" in flat, f"startup output lacks the URL:\n{output}"
    assert re.search(r"Authorization: Bearer|X-API-Key|api_key=", flat), (
        f"startup output does not say how to authenticate:\n{output}"
    )
    _assert_key_works(server.url, key)
    assert server.stop() == 0

    # A second start on the same store: no new key, none printed, the key file untouched.
    key_file_state = (key_file.read_bytes(), key_file.stat().st_mtime_ns)
    server.start()
    again = server.output()
    assert key not in again, f"the bootstrap key was printed again on the second start:\n{again}"
    assert not KEY_LIKE.search(again), f"a key was printed on the second start:\n{again}"
    assert (key_file.read_bytes(), key_file.stat().st_mtime_ns) == key_file_state
    _assert_key_works(server.url, key)
    listed = run_cli(["keys", "list", "--data-dir", str(data)], cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.count(key[:12]) == 1
    rows = [line for line in listed.stdout.splitlines() if re.search(r"\bdefault\b", line)]
    assert len(rows) == 1, f"expected exactly one key after two starts:\n{listed.stdout}"
    assert server.stop() == 0


def test_bootstrap_key_from_env(tmp_path: Path, servers: list[CliServe]) -> None:
    port = free_port()
    data = tmp_path / "data"
    key = "sl_scripted_" + os.urandom(24).hex()
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            args=["--port", str(port), "--data-dir", str(data)],
            env={"SIGHTLOG_BOOTSTRAP_KEY": key},
        ),
    )
    _assert_key_works(server.url, key)
    key_file = data / "bootstrap-key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    with client(server.url, "sl_" + os.urandom(24).hex()) as http:
        assert http.get("/vision-events/use-cases").status_code == 401
    assert server.stop() == 0


# -- shutdown ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_shuts_down_cleanly_and_keeps_data(
    tmp_path: Path, servers: list[CliServe], signum: signal.Signals
) -> None:
    port = free_port()
    data = tmp_path / "data"
    key = new_test_key()
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            args=["--port", str(port), "--data-dir", str(data)],
            env={"SIGHTLOG_BOOTSTRAP_KEY": key},
        ),
    )
    with client(server.url, key) as http:
        use_case = http.post("/vision-events/use-cases", json={"name": "Before shutdown"}).json()["id"]
        event = simple_event("before-shutdown", use_case, customMetadata={"shift": "night"})
        assert http.post("/vision-events", json=event).status_code == 201

    started = time.monotonic()
    code = server.signal_and_wait(signum)
    elapsed = time.monotonic() - started
    output = server.output()
    assert code is not None, f"still running {SHUTDOWN_SECONDS}s after {signum.name}:\n{output}"
    assert code == 0, f"exit code {code} after {signum.name} (want 0) in {elapsed:.1f}s:\n{output}"
    assert_no_traceback(output)
    assert not _reachable("127.0.0.1", port), "still accepting connections after exiting"

    server.start()
    with client(server.url, key) as http:
        stored = http.get("/vision-events/events/before-shutdown")
        assert stored.status_code == 200, stored.text
        assert stored.json()["customMetadata"] == {"shift": "night"}
    server.stop()


# -- startup errors ------------------------------------------------------------------------------------------


def _run_serve(args: Sequence[str], cwd: Path) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    try:
        result = run_cli(["serve", *args], cwd=cwd, timeout=FAIL_FAST_SECONDS)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"`sightlog serve {' '.join(args)}` was still running after {FAIL_FAST_SECONDS}s: {exc.output}"
        )
    return result, time.monotonic() - started


def test_port_already_taken(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        result, elapsed = _run_serve(["--port", str(port), "--data-dir", str(tmp_path / "data")], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert elapsed < 10, f"took {elapsed:.1f}s to give up"
    assert_no_traceback(output)
    assert str(port) in output, f"the message does not name the port:\n{output}"
    assert re.search(r"in use|already|taken", output, re.IGNORECASE), output
    assert not (tmp_path / "data" / "bootstrap-key").exists(), "bootstrapped although it could not serve"


@pytest.mark.parametrize("layout", ["under-a-file", "is-a-file"])
def test_data_dir_not_writable(tmp_path: Path, layout: str) -> None:
    # Tests run as root, so permission bits would not stop writes: a path through a regular file fails for
    # everyone (ENOTDIR / EEXIST).
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a directory\n")
    data = blocker / "data" if layout == "under-a-file" else blocker
    result, elapsed = _run_serve(["--port", str(free_port()), "--data-dir", str(data)], tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert elapsed < 10, f"took {elapsed:.1f}s to give up"
    assert_no_traceback(output)
    assert re.search(r"data dir", output, re.IGNORECASE), f"the message does not say what is wrong:\n{output}"
    assert str(data) in _flat(output) or str(data) in _unwrapped(output), (
        f"the message does not name the directory:\n{output}"
    )
    assert blocker.read_text() == "not a directory\n"


def test_health_needs_no_key_but_api_does(tmp_path: Path, servers: list[CliServe]) -> None:
    port = free_port()
    server = _start(servers, CliServe(tmp_path, port, args=["--port", str(port), "--data-dir", "data"]))
    with httpx.Client(base_url=server.url, trust_env=False) as http:
        assert http.get("/health").status_code == 200
        response = http.get("/vision-events/use-cases")
        assert response.status_code == 401
        assert response.json()["code"] == "unauthorized"
    assert (tmp_path / "data" / "bootstrap-key").is_file(), "a relative --data-dir is not taken from the cwd"
    assert server.stop() == 0


def test_workers_share_the_port_and_stop_together(tmp_path: Path, servers: list[CliServe]) -> None:
    port = free_port()
    key = new_test_key()
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            args=["--port", str(port), "--data-dir", str(tmp_path / "data"), "--workers", "2"],
            env={"SIGHTLOG_BOOTSTRAP_KEY": key},
        ),
    )
    assert server.pid is not None
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    assert len(children) >= 2, children  # two workers (and multiprocessing's resource tracker)
    with client(server.url, key) as http:
        use_case = http.post("/vision-events/use-cases", json={"name": "Workers"}).json()["id"]
        # Requests land on either worker; every one sees every write.
        for n in range(20):
            assert http.post("/vision-events", json=simple_event(f"w-{n}", use_case)).status_code == 201
            assert http.get(f"/vision-events/events/w-{n}").status_code == 200
    code = server.signal_and_wait(signal.SIGTERM)
    assert code == 0, server.output()
    assert_no_traceback(server.output())
    workers_gone = wait_until(lambda: not any(_alive(child) for child in children), timeout=5.0)
    assert workers_gone, "a worker outlived the server"


def _alive(pid: str) -> bool:
    """Running, as opposed to gone or a zombie waiting for a parent to reap it."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_workers_exit_when_the_server_is_killed(tmp_path: Path, servers: list[CliServe]) -> None:
    port = free_port()
    server = _start(
        servers,
        CliServe(
            tmp_path,
            port,
            args=["--port", str(port), "--data-dir", str(tmp_path / "data"), "--workers", "2"],
            env={"SIGHTLOG_BOOTSTRAP_KEY": new_test_key()},
        ),
    )
    assert server.pid is not None
    children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
    server.kill()
    workers_gone = wait_until(lambda: not any(_alive(child) for child in children), timeout=5.0)
    alive = {
        c: Path(f"/proc/{c}/cmdline").read_text().replace("\0", " ")[:200] for c in children if _alive(c)
    }
    assert workers_gone, f"still running after the server was SIGKILLed: {alive}"
    assert wait_until(lambda: _port_is_free("127.0.0.1", port), timeout=5.0)
