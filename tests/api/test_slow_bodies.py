"""A body that does not arrive within ``BANKING_BODY_READ_TIMEOUT`` is answered 408
``request_timeout`` and its connection closed, while other requests go on."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from dependency_injector import providers

from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.container import Container, use_in_memory
from interfaces.http.app import create_app
from tests.api.conftest import always_ready
from tests.api.helpers import ADMIN_TOKEN, assert_problem, new_client, open_account

READ_TIMEOUT = 0.3


@pytest.fixture
async def api() -> AsyncIterator[httpx.AsyncClient]:
    container = Container()
    use_in_memory(container, MemoryStore())
    container.settings.override(providers.Object(Settings(body_read_timeout=READ_TIMEOUT)))
    app = create_app(container, admin_token=ADMIN_TOKEN, readiness=always_ready)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://bank.test") as client:
        yield client


async def trickle(body: bytes, pause: float) -> AsyncIterator[bytes]:
    for index in range(len(body)):
        yield body[index : index + 1]
        await asyncio.sleep(pause)


async def test_a_trickled_body_is_408_once_the_read_timeout_passes(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    body = b'{"amount": 100, "currency": "USD"}'

    started = time.perf_counter()
    slow = asyncio.create_task(
        api.post(
            f"/v1/accounts/{account.id}/deposits",
            content=trickle(body, pause=0.05),
            headers={**owner, "Content-Type": "application/json"},
        )
    )
    # Others are served while the trickler waits.
    for _ in range(5):
        assert (await api.get(f"/v1/accounts/{account.id}", headers=owner)).status_code == 200
    response = await slow
    elapsed = time.perf_counter() - started

    assert_problem(response, 408, "request_timeout")
    assert response.headers["connection"] == "close"
    assert READ_TIMEOUT <= elapsed < READ_TIMEOUT + 1.0
    read = await api.get(f"/v1/accounts/{account.id}", headers=owner)
    assert read.json()["balance"] == 0  # nothing of the cut-off request was posted


async def test_a_body_that_arrives_in_time_in_pieces_is_served(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    body = b'{"amount": 100, "currency": "USD"}'

    response = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        content=trickle(body, pause=0.001),
        headers={**owner, "Content-Type": "application/json"},
    )

    assert response.status_code == 201, response.text
