"""The service purges idempotency keys past their retention by itself, in the
background of every process (the app's lifespan), and a purged key may be used afresh."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from dependency_injector import providers

from interfaces.container import Container
from tests.api.helpers import balance, new_client, open_account, with_key

PURGE_INTERVAL = 0.05


class MovableClock:
    """The real time, moved forward at will."""

    def __init__(self) -> None:
        self.ahead = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.ahead


@pytest.fixture
def clock(container: Container) -> MovableClock:
    """Overrides the container before ``api`` starts the app: a movable clock, and a
    purge every PURGE_INTERVAL seconds."""
    clock = MovableClock()
    container.clock.override(providers.Object(clock))
    settings = container.settings().model_copy(
        update={"idempotency_purge_interval": PURGE_INTERVAL}
    )
    container.settings.override(providers.Object(settings))
    return clock


async def purged(caplog: pytest.LogCaptureFixture, seconds: float = 10) -> str:
    """The first line that reports a purge, once the background task logged it."""
    async with asyncio.timeout(seconds):
        while True:
            for record in caplog.records:
                if record.getMessage().startswith("purged "):
                    return record.getMessage()
            await asyncio.sleep(PURGE_INTERVAL)


async def test_a_key_is_purged_in_the_background_once_its_retention_has_passed(
    clock: MovableClock, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a deposit sent with a key, and its repeat replayed
    account = await open_account(api, await new_client(api))
    url = f"/v1/accounts/{account.id}/deposits"
    body = {"amount": 100, "currency": "USD"}
    headers = with_key(account.owner, "once-a-day")
    first = await api.post(url, json=body, headers=headers)
    assert first.status_code == 201, first.text
    caplog.set_level(logging.INFO, logger="banking.background")

    # While the key is younger than 24 hours, the purges that run keep it
    clock.ahead = timedelta(hours=23, minutes=59)
    await asyncio.sleep(4 * PURGE_INTERVAL)
    repeat = await api.post(url, json=body, headers=headers)
    assert repeat.headers["idempotent-replayed"] == "true"
    assert not [r for r in caplog.records if r.getMessage().startswith("purged ")]

    # When 24 hours have passed, the next purge forgets it
    clock.ahead = timedelta(hours=24, seconds=1)
    assert await purged(caplog) == "purged 1 idempotency keys past their retention"

    # Then the key is fresh: the same request is a new deposit
    again = await api.post(url, json=body, headers=headers)
    assert again.status_code == 201, again.text
    assert "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert await balance(api, account) == 200
