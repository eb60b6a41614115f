"""Fixtures for the hostile-input tests.

- ``served`` -> Served: the app on the in-memory adapter (``memory``) or on a fresh
  database of the primary PostgreSQL target (``postgres``), with the headers of an
  API client it created and of the admin. It is called through schemathesis's ASGI
  transport, whose event loop lives in one thread for the whole session: every
  request of a test, the one creating the API client included, goes through that
  loop, so the engine's connections never cross loops.
- ``in_process`` -> InProcess: an ``httpx`` client on the app over the in-memory
  adapter, for what only the HTTP layer decides (limits, parsing, methods).
- ``env``, ``workdir``: those of ``tests/e2e``, for ``banking serve`` as a process.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from typing import Any, cast

import httpx
import pytest
from dependency_injector import providers
from fastapi import FastAPI
from schemathesis.python import asgi

from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from tests.api import helpers as api_helpers
from tests.api.helpers import ADMIN, ADMIN_TOKEN, Headers
from tests.e2e.conftest import env as env
from tests.e2e.conftest import workdir as workdir
from tests.postgres_fixtures import PgTargets


@dataclass(frozen=True)
class Served:
    app: FastAPI
    client: Headers
    admin: Headers

    def headers_for(self, path: str) -> Headers:
        """The credentials a route wants: the admin token on admin routes, else a key."""
        return self.admin if path.startswith("/v1/admin/") else self.client

    def as_new_client(self) -> Served:
        """The same app, seen by a new API client."""
        return replace(self, client=new_client(self.app))


def new_client(app: FastAPI) -> Headers:
    with asgi.get_client(cast(Any, app)) as http:
        response = http.post("/v1/admin/clients", json={"name": "fuzzer"}, headers=ADMIN)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['api_key']}"}


async def always_ready() -> bool:
    return True


def serve(app: FastAPI) -> Iterator[Served]:
    try:
        yield Served(app, new_client(app), ADMIN)
    finally:
        # Disposes the engine on the loop that opened its connections, before the
        # database they point at is dropped.
        asgi.shutdown_lifespans()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.integration)])
def served(request: pytest.FixtureRequest, pg_targets: PgTargets) -> Iterator[Served]:
    container = Container()
    if request.param == "memory":
        use_in_memory(container, MemoryStore())
        yield from serve(create_app(container, admin_token=ADMIN_TOKEN, readiness=always_ready))
        return
    with pg_targets.database("primary") as url:
        container.settings.override(providers.Object(Settings(database_url=url)))
        container.database_url.override(providers.Object(url))
        yield from serve(create_app(container, admin_token=ADMIN_TOKEN))


@dataclass(frozen=True)
class InProcess:
    """An ``httpx`` client on the app over the in-memory adapter, and an API client's
    headers (JSON bodies)."""

    http: httpx.AsyncClient
    client: Headers


@pytest.fixture
async def in_process() -> AsyncIterator[InProcess]:
    container = Container()
    use_in_memory(container, MemoryStore())
    app = create_app(container, admin_token=ADMIN_TOKEN, readiness=always_ready)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://bank.test"
        ) as http,
    ):
        client = {**await api_helpers.new_client(http), "Content-Type": "application/json"}
        yield InProcess(http, client)
