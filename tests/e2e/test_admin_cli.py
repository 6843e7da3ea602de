"""``sightlog workspaces`` / ``sightlog keys`` against the store of a server that is running meanwhile.

Outputs are captured as a script would capture them (not a terminal, no ``COLUMNS``), so what is checked
here is what a script or a log sees.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import assert_error_shape, assert_no_traceback, client, run_cli, wait_until
from tests.support.server import ServerProcess

pytestmark = pytest.mark.slow

READ = "vision-events:read"
WRITE = "vision-events:write"
ADMIN = "admin"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path_factory.mktemp("admin-cli") / "data") as running:
        with client(running.url, running.api_key) as http:
            assert http.post("/vision-events/use-cases", json={"name": "Default line"}).status_code == 201
        yield running


@pytest.fixture
def cwd(tmp_path: Path) -> Path:
    """A neutral working directory, so no ``./sightlog-data`` or ``.env`` of the repository is involved."""
    return tmp_path


def _cli(server: ServerProcess, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    result = run_cli([*args, "--data-dir", str(server.data_dir)], cwd=cwd)
    assert_no_traceback(result.stdout, result.stderr)
    return result


def _create_key(server: ServerProcess, cwd: Path, *scopes: str, workspace: str | None = None) -> str:
    args = ["keys", "create"]
    for scope in scopes:
        args += ["--scope", scope]
    if workspace:
        args += ["--workspace", workspace]
    result = _cli(server, cwd, *args)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 1, f"`keys create` must print only the key on stdout, got:\n{result.stdout!r}"
    key = lines[0]
    assert result.stdout == key + "\n", repr(result.stdout)
    assert re.fullmatch(r"\S{43,}", key), f"not a bare key: {key!r}"
    assert any(c.islower() for c in key)
    return key


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, f"exit 0 for a failing command; stdout={result.stdout!r}"
    assert result.stdout == "", f"something was printed on stdout: {result.stdout!r}"
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, f"want a one-line message on stderr, got {len(lines)} lines:\n{result.stderr}"
    return lines[0]


def test_workspace_and_scoped_keys_work_against_the_running_server(server: ServerProcess, cwd: Path) -> None:
    created = _cli(server, cwd, "workspaces", "create", "plant-b")
    assert created.returncode == 0, created.stderr
    assert created.stdout.strip() == "" or "plant-b" in created.stdout

    reader = _create_key(server, cwd, READ, workspace="plant-b")
    writer = _create_key(server, cwd, READ, WRITE, workspace="plant-b")
    write_only = _create_key(server, cwd, WRITE, workspace="plant-b")
    assert len({reader, writer, write_only}) == 3

    with client(server.url, writer) as http:
        assert http.post("/", params={"api_key": writer}).json() == {"workspace": "plant-b"}
        # The new workspace sees none of `default`'s use cases.
        assert http.get("/vision-events/use-cases").json()["useCases"] == []
        response = http.post("/vision-events/use-cases", json={"name": "Plant B line"})
        assert response.status_code == 201, response.text
        use_case = response.json()["id"]
        event = {
            "eventId": "b-1",
            "eventType": "quality_check",
            "useCaseId": use_case,
            "timestamp": "2026-01-15T10:00:00Z",
            "eventData": {"result": "fail"},
        }
        assert http.post("/vision-events", json=event).status_code == 201

    with client(server.url, reader) as http:
        page = http.post("/vision-events/query", json={"useCaseId": use_case})
        assert page.status_code == 200 and [e["eventId"] for e in page.json()["events"]] == ["b-1"]
        assert_error_shape(http.post("/vision-events", json={**event, "eventId": "b-2"}), 403, "forbidden")
        assert_error_shape(http.post("/vision-events/use-cases", json={"name": "Nope"}), 403, "forbidden")

    with client(server.url, write_only) as http:
        assert http.post("/vision-events", json={**event, "eventId": "b-3"}).status_code == 201
        assert_error_shape(http.post("/vision-events/query", json={"useCaseId": use_case}), 403, "forbidden")

    # The default workspace is a different tenant: its admin cannot see plant-b's use case.
    with client(server.url, server.api_key) as http:
        assert_error_shape(http.post("/vision-events/query", json={"useCaseId": use_case}), 404, "not_found")


def test_key_of_default_workspace_and_admin_scope(server: ServerProcess, cwd: Path) -> None:
    key = _create_key(server, cwd, ADMIN)
    with client(server.url, key) as http:
        assert http.post("/", params={"api_key": key}).json() == {"workspace": "default"}
        assert [u["name"] for u in http.get("/vision-events/use-cases").json()["useCases"]] == [
            "Default line"
        ]
        assert http.post("/vision-events/use-cases", json={"name": "Admin made"}).status_code == 201


def test_keys_list_shows_prefixes_and_scopes_but_no_key(server: ServerProcess, cwd: Path) -> None:
    assert _cli(server, cwd, "workspaces", "create", "listed-ws").returncode == 0
    read_key = _create_key(server, cwd, READ, workspace="listed-ws")
    write_key = _create_key(server, cwd, WRITE, workspace="listed-ws")

    result = _cli(server, cwd, "keys", "list")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for full in (read_key, write_key, server.api_key):
        assert full not in output, "`keys list` printed a whole key"
        assert full[:12] in result.stdout, f"prefix {full[:12]} missing from `keys list`:\n{result.stdout}"
    for line in result.stdout.splitlines():
        assert not re.search(r"[A-Za-z0-9_-]{30,}", line), f"a key-like string in `keys list`: {line}"

    def row(prefix: str) -> str:
        rows = [line for line in result.stdout.splitlines() if prefix in line]
        assert len(rows) == 1, f"prefix {prefix} not shown (whole, on one row):\n{result.stdout}"
        return rows[0]

    assert READ in row(read_key[:12]) and WRITE not in row(read_key[:12]), (
        f"scopes not shown in full for the read key:\n{result.stdout}"
    )
    assert WRITE in row(write_key[:12]) and READ not in row(write_key[:12]), (
        f"scopes not shown in full for the write key:\n{result.stdout}"
    )
    assert ADMIN in row(server.api_key[:12])

    only = _cli(server, cwd, "keys", "list", "--workspace", "listed-ws")
    assert only.returncode == 0, only.stderr
    assert read_key[:12] in only.stdout and server.api_key[:12] not in only.stdout


def test_revoked_key_is_refused_by_the_running_server_within_a_second(
    server: ServerProcess, cwd: Path
) -> None:
    doomed = _create_key(server, cwd, READ, WRITE)
    survivor = _create_key(server, cwd, READ)
    with client(server.url, doomed) as http:
        assert http.get("/vision-events/use-cases").status_code == 200  # warm any cache the server keeps

        result = _cli(server, cwd, "keys", "revoke", doomed[:12])
        assert result.returncode == 0, result.stderr
        assert doomed not in result.stdout + result.stderr
        assert wait_until(lambda: http.get("/vision-events/use-cases").status_code == 401, timeout=1.0), (
            "the revoked key is still accepted a second after `keys revoke`"
        )
        assert_error_shape(http.get("/vision-events/use-cases"), 401, "unauthorized")
        assert http.post("/", params={"api_key": doomed}).status_code == 401
    with client(server.url, survivor) as http:
        assert http.get("/vision-events/use-cases").status_code == 200

    again = _cli(server, cwd, "keys", "revoke", doomed[:12])
    _one_line_error(again)


def test_keys_list_marks_revoked_keys(server: ServerProcess, cwd: Path) -> None:
    assert _cli(server, cwd, "workspaces", "create", "revoking-ws").returncode == 0
    doomed = _create_key(server, cwd, READ, WRITE, workspace="revoking-ws")
    kept = _create_key(server, cwd, READ, workspace="revoking-ws")
    assert _cli(server, cwd, "keys", "revoke", doomed[:12]).returncode == 0

    listed = _cli(server, cwd, "keys", "list")
    assert listed.returncode == 0, listed.stderr

    def row(prefix: str) -> str:
        rows = [line for line in listed.stdout.splitlines() if prefix in line]
        assert len(rows) == 1, (
            f"prefix {prefix} not shown (whole, on one row) by `keys list`:\n{listed.stdout}"
        )
        return rows[0]

    dates = re.compile(r"\d{4}-\d{2}-\d{2}")
    assert len(dates.findall(row(doomed[:12]))) >= 2, f"revocation not shown:\n{listed.stdout}"
    assert len(dates.findall(row(kept[:12]))) == 1, f"live key shown as revoked:\n{listed.stdout}"


@pytest.mark.parametrize(
    "args",
    [
        pytest.param(
            ["keys", "create", "--scope", READ, "--workspace", "no-such-ws"], id="unknown-workspace"
        ),
        pytest.param(["keys", "create", "--scope", "vision-events:delete"], id="bad-scope"),
        pytest.param(["keys", "create", "--scope", READ, "--scope", "superuser"], id="one-bad-scope"),
        pytest.param(["workspaces", "create", "ui"], id="reserved-ui"),
        pytest.param(["workspaces", "create", "vision-events"], id="reserved-vision-events"),
        pytest.param(["workspaces", "create", "Not A Slug"], id="bad-slug"),
        pytest.param(["keys", "revoke", "sl_nosuchkey0000"], id="revoke-unknown"),
    ],
)
def test_errors_exit_non_zero_with_one_line_on_stderr(
    server: ServerProcess, cwd: Path, args: list[str]
) -> None:
    message = _one_line_error(_cli(server, cwd, *args))
    assert len(message) <= 200, message


def test_duplicate_workspace(server: ServerProcess, cwd: Path) -> None:
    assert _cli(server, cwd, "workspaces", "create", "twice").returncode == 0
    message = _one_line_error(_cli(server, cwd, "workspaces", "create", "twice"))
    assert "twice" in message


# -- selecting the store ------------------------------------------------------------------------------------


def test_data_dir_env_and_flag_select_the_store(server: ServerProcess, cwd: Path) -> None:
    from_env = run_cli(
        ["keys", "create", "--scope", READ], cwd=cwd, env={"SIGHTLOG_DATA_DIR": str(server.data_dir)}
    )
    assert from_env.returncode == 0, from_env.stderr
    # --data-dir wins over SIGHTLOG_DATA_DIR.
    from_flag = run_cli(
        ["keys", "create", "--scope", READ, "--data-dir", str(server.data_dir)],
        cwd=cwd,
        env={"SIGHTLOG_DATA_DIR": str(cwd / "elsewhere")},
    )
    assert from_flag.returncode == 0, from_flag.stderr
    for key in (from_env.stdout.strip(), from_flag.stdout.strip()):
        with client(server.url, key) as http:
            assert http.get("/vision-events/use-cases").status_code == 200


def test_database_url_selects_the_store(tmp_path: Path) -> None:
    db_file = tmp_path / "shared-db" / "sightlog.sqlite"
    db_file.parent.mkdir()
    url = f"sqlite:///{db_file}"
    data = tmp_path / "server-data"
    with ServerProcess(data, env={"SIGHTLOG_DATABASE_URL": url}) as running:
        other_dir = tmp_path / "cli-data"
        via_env = run_cli(
            ["keys", "create", "--scope", READ, "--data-dir", str(other_dir)],
            cwd=tmp_path,
            env={"SIGHTLOG_DATABASE_URL": url},
        )
        assert via_env.returncode == 0, via_env.stderr
        via_flag = run_cli(["keys", "create", "--scope", READ, "--database-url", url], cwd=tmp_path)
        assert via_flag.returncode == 0, via_flag.stderr
        for key in (via_env.stdout.strip(), via_flag.stdout.strip()):
            with client(running.url, key) as http:
                assert http.get("/vision-events/use-cases").status_code == 200, "key made in another store"

        # Without the URL, --data-dir alone names another (empty) store: no key usable on this server.
        wrong = run_cli(["keys", "create", "--scope", READ, "--data-dir", str(data)], cwd=tmp_path)
        assert_no_traceback(wrong.stdout, wrong.stderr)
        if wrong.returncode == 0:
            with client(running.url, wrong.stdout.strip()) as http:
                assert http.get("/vision-events/use-cases").status_code == 401
        else:
            _one_line_error(wrong)
