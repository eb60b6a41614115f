"""The HTTP API through the real app, once per adapter.

``api`` is an ``httpx.AsyncClient`` over the ASGI app (lifespan included), built on:

- ``memory``: the in-memory adapter, ready by fiat;
- ``postgres-primary`` / ``postgres-system``: a fresh PostgreSQL database per test (see
  ``tests/postgres_fixtures.py``), with the app's own readiness check.

The same test code runs on every variant. Every response the client receives is checked
for leaked internals (stack traces, SQL, driver names) before the test sees it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from dependency_injector import providers

from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from tests.api.helpers import ADMIN_TOKEN, assert_no_leak
from tests.postgres_fixtures import TARGETS, PgTargets

HERE = Path(__file__).resolve().parent
ADAPTERS = ["memory", *(f"postgres-{target}" for target in TARGETS)]


def adapter_of(item: pytest.Item) -> str | None:
    callspec = getattr(item, "callspec", None)
    if callspec is None or not item.path.is_relative_to(HERE):
        return None
    adapter: str | None = callspec.params.get("adapter")
    return adapter


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks the PostgreSQL variants ``integration``, and runs the variants of each test
    one after another (pytest would run all of one adapter's first), so that each
    server clones the next test's database while the other adapters work."""
    ours = [index for index, item in enumerate(items) if adapter_of(item) is not None]
    by_adapter: dict[str, list[pytest.Item]] = {}
    for index in ours:
        adapter = adapter_of(items[index])
        assert adapter is not None
        by_adapter.setdefault(adapter, []).append(items[index])
        if adapter.startswith("postgres"):
            items[index].add_marker(pytest.mark.integration)
    queues = list(by_adapter.values())
    interleaved = [
        queue[position]
        for position in range(max(map(len, queues), default=0))
        for queue in queues
        if position < len(queue)
    ]
    for index, item in zip(ours, interleaved, strict=True):
        items[index] = item


async def always_ready() -> bool:
    return True


@pytest.fixture(params=ADAPTERS)
def adapter(request: pytest.FixtureRequest) -> str:
    adapter: str = request.param
    return adapter


@pytest.fixture
def container(adapter: str, pg_targets: PgTargets) -> Iterator[Container]:
    """The composition root the app is built on; a test may override its providers
    before its first request (services are created on first use)."""
    container = Container()
    if adapter == "memory":
        use_in_memory(container, MemoryStore())
        yield container
        return
    with pg_targets.database(adapter.removeprefix("postgres-")) as url:
        container.settings.override(providers.Object(Settings(database_url=url)))
        container.database_url.override(providers.Object(url))
        yield container


@pytest.fixture
async def api(adapter: str, container: Container) -> AsyncIterator[httpx.AsyncClient]:
    readiness = always_ready if adapter == "memory" else None
    app = create_app(container, admin_token=ADMIN_TOKEN, readiness=readiness)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(
            transport=transport,
            base_url="http://bank.test",
            event_hooks={"response": [assert_no_leak]},
        ) as client,
    ):
        yield client
