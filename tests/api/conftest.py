"""Fixtures of the API suite: apps with non-default limits, shared read-only apps, a second workspace."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from sightlog.config import Settings
from sightlog.models.records import SCOPE_ADMIN
from sightlog.server.app import create_app
from sightlog.services import Services
from tests.conftest import ADMIN_KEY, BACKENDS, Api, postgres_schema
from tests.support.s3 import S3Server


@contextmanager
def running_api(data_dir: Path, **overrides: Any) -> Iterator[Api]:
    """An in-process app over its own SQLite file in ``data_dir``, with ``Settings`` overrides."""
    settings = Settings(data_dir=data_dir, bootstrap_key=ADMIN_KEY, **overrides)
    services = Services.open(settings)
    try:
        services.auth.bootstrap(settings.data_dir, settings.bootstrap_key)
        with TestClient(create_app(settings, services), raise_server_exceptions=False) as client:
            yield Api(client=client, services=services, key=ADMIN_KEY)
    finally:
        services.close()


@pytest.fixture
def make_api(tmp_path: Path) -> Iterator[Callable[..., Api]]:
    """Build another app with ``Settings`` overrides (small limits), closed after the test."""
    counter = itertools.count()
    with ExitStack() as stack:

        def build(**overrides: Any) -> Api:
            return stack.enter_context(running_api(tmp_path / f"limited-{next(counter)}", **overrides))

        yield build


@pytest.fixture(scope="module", params=BACKENDS)
def module_api(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """One app per backend for a whole module, for tests that only read data seeded once."""
    data_dir = tmp_path_factory.mktemp("module") / "data"
    with ExitStack() as stack:
        overrides = {}
        if request.param == "postgresql":
            s3: S3Server = request.getfixturevalue("s3_server")
            overrides = {
                "database_url": stack.enter_context(postgres_schema()),
                "blob_url": s3.blob_url(s3.create_bucket()),
            }
        yield stack.enter_context(running_api(data_dir, **overrides))


@pytest.fixture
def acme(api: Api) -> Api:
    """The same server seen through an admin key of a second workspace, ``acme``."""
    api.services.auth.create_workspace("acme")
    return Api(client=api.client, services=api.services, key=api.key_with(SCOPE_ADMIN, workspace="acme"))
