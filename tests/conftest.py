"""Shared fixtures: an in-process app over a real SQLite file in a temp dir, and keys with each scope."""

from __future__ import annotations

import atexit
import io
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlalchemy import create_engine
from sqlalchemy.pool import NullPool

from sightlog.config import Settings
from sightlog.models.records import SCOPE_ADMIN, SCOPE_READ, SCOPE_WRITE
from sightlog.server.app import create_app
from sightlog.services import Services
from sightlog.store.sql.migrate import head_revision
from tests.support.s3 import S3Server

ADMIN_KEY = "sl_admin_test_key_abcdefghijklmnopqrstuvwxyz"


@dataclass
class Api:
    """A TestClient bound to one workspace, plus the services behind it for direct setup."""

    client: TestClient
    services: Services
    key: str

    def headers(self, key: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {key or self.key}"}

    def post(self, path: str, json: Any = None, key: str | None = None, **kwargs: Any) -> Any:
        return self.client.post(path, json=json, headers=self.headers(key), **kwargs)

    def get(self, path: str, key: str | None = None, **kwargs: Any) -> Any:
        return self.client.get(path, headers=self.headers(key), **kwargs)

    def put(self, path: str, json: Any = None, key: str | None = None) -> Any:
        return self.client.put(path, json=json, headers=self.headers(key))

    def delete(self, path: str, key: str | None = None) -> Any:
        return self.client.delete(path, headers=self.headers(key))

    def key_with(self, *scopes: str, workspace: str = "default") -> str:
        auth = self.services.auth
        return auth.create_key(auth.workspace(workspace), set(scopes))

    def use_case(self, name: str = "Line QA") -> str:
        response = self.post("/vision-events/use-cases", {"name": name})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def upload(self, image: bytes | None = None, key: str | None = None) -> str:
        response = self.client.post(
            "/vision-events/upload",
            files={"file": ("img.jpg", image or jpeg_bytes(), "application/octet-stream")},
            headers=self.headers(key),
        )
        assert response.status_code == 201, response.text
        return response.json()["sourceId"]


def jpeg_bytes(width: int = 64, height: int = 48, color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), color).save(out, "JPEG")
    return out.getvalue()


def make_event(event_id: str, use_case: str, **overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "eventId": event_id,
        "eventType": "quality_check",
        "useCaseId": use_case,
        "timestamp": "2026-11-20T10:00:00Z",
        "eventData": {"result": "pass"},
    }
    event.update(overrides)
    return event


# Every test that uses a store runs on each backend. CI runs both; `SIGHTLOG_TEST_BACKENDS=sqlite` narrows a
# local run. PostgreSQL: the server on this machine (trust auth, database `test`), one schema per test.
BACKENDS = os.environ.get("SIGHTLOG_TEST_BACKENDS", "sqlite,postgresql").split(",")
POSTGRES_URL = os.environ.get("SIGHTLOG_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _schema_url(name: str) -> str:
    return f"{POSTGRES_URL}?options=-csearch_path%3D{name}"


class SchemaPool:
    """Migrated PostgreSQL schemas, emptied and reused between tests: migrating a new schema costs about
    a second, emptying a used one a few milliseconds. All are dropped when the session ends."""

    def __init__(self) -> None:
        self._engine = create_engine(POSTGRES_URL, poolclass=NullPool)
        self._free: list[str] = []
        self._all: list[str] = []

    def take(self) -> str:
        if self._free:
            return self._free.pop()
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {name}")
        self._all.append(name)
        return name

    def give_back(self, name: str) -> None:
        with self._engine.begin() as conn:
            tables = conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> 'alembic_version'",
                (name,),
            ).scalars()
            listed = ", ".join(f"{name}.{t}" for t in tables)
            if not listed:
                return  # never migrated (or broken): not worth keeping
            conn.exec_driver_sql(f"TRUNCATE {listed} RESTART IDENTITY CASCADE")
            conn.exec_driver_sql(f"UPDATE {name}.alembic_version SET version_num = %s", (head_revision(),))
        self._free.append(name)

    def drop_all(self) -> None:
        with self._engine.begin() as conn:
            for name in self._all:
                conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        self._engine.dispose()


_schemas = SchemaPool()
atexit.register(_schemas.drop_all)


@contextmanager
def postgres_schema() -> Iterator[str]:
    """An empty schema of its own on the test PostgreSQL server; yields a URL whose search_path is it."""
    name = _schemas.take()
    try:
        yield _schema_url(name)
    finally:
        _schemas.give_back(name)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[S3Server]:
    """One real S3-compatible server (moto) for the session; each test gets its own bucket."""
    with S3Server() as server, pytest.MonkeyPatch.context() as patch:
        for name, value in server.env(server.create_bucket()).items():
            if name != "SIGHTLOG_BLOB_URL":
                patch.setenv(name, value)
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The contract-suite axis: ``sqlite`` (+ local image folder) or ``postgresql`` (+ S3)."""
    return request.param


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'sightlog.db'}"
    else:
        with postgres_schema() as url:
            yield url


@pytest.fixture
def blob_url(request: pytest.FixtureRequest, backend: str) -> str | None:
    if backend == "sqlite":
        return None
    server: S3Server = request.getfixturevalue("s3_server")
    return server.blob_url(server.create_bucket())


def backend_settings(
    data_dir: Path, database_url: str | None, blob_url: str | None, **overrides: Any
) -> Settings:
    return Settings(
        data_dir=data_dir, bootstrap_key=ADMIN_KEY, database_url=database_url, blob_url=blob_url, **overrides
    )


@pytest.fixture
def settings(tmp_path: Path, database_url: str, blob_url: str | None) -> Settings:
    return backend_settings(tmp_path / "data", database_url, blob_url)


@pytest.fixture
def api(settings: Settings) -> Iterator[Api]:
    services = Services.open(settings)
    services.auth.bootstrap(settings.data_dir, settings.bootstrap_key)
    app = create_app(settings, services)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield Api(client=client, services=services, key=ADMIN_KEY)
    finally:
        services.close()


__all__ = ["SCOPE_ADMIN", "SCOPE_READ", "SCOPE_WRITE", "Api", "jpeg_bytes", "make_event"]
