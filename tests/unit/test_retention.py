"""The purge of idempotency keys past their retention (application/retention.py) and
the background loop that runs it (interfaces/http/background.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pydantic
import pytest

from application.retention import IdempotencyRetention
from application.transactions import Transactions
from domain.errors import TransientConflictError
from domain.idempotency import IdempotencyRecord
from infrastructure.memory.repositories import MemoryIdempotencyRepository
from infrastructure.memory.store import MemoryStore
from infrastructure.settings import Settings
from interfaces.http import background

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(hours=24)


class FixedClock:
    def __init__(self, now: datetime = NOW) -> None:
        self.at = now

    def now(self) -> datetime:
        return self.at


def keep(store: MemoryStore, *ages: timedelta) -> list[IdempotencyRecord]:
    """One stored key per age, as seen at NOW."""
    client = uuid.uuid4()
    records = [
        IdempotencyRecord(client, f"key-{n}", "f" * 64, "{}", NOW - age)
        for n, age in enumerate(ages)
    ]
    for record in records:
        store.state.idempotency[(record.client_id, record.key)] = record
    return records


@pytest.fixture
def purges(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every call of the repository's purge: (limit, how many it purged)."""
    calls: list[tuple[int, int]] = []
    original = MemoryIdempotencyRepository.purge

    async def counted(self: MemoryIdempotencyRepository, before: datetime, limit: int) -> int:
        purged = await original(self, before, limit)
        calls.append((limit, purged))
        return purged

    monkeypatch.setattr(MemoryIdempotencyRepository, "purge", counted)
    return calls


async def test_keys_past_the_retention_are_purged_and_younger_ones_kept(
    store: MemoryStore, transactions: Transactions
) -> None:
    hour = timedelta(hours=1)
    old = keep(store, DAY + hour, 3 * DAY, DAY + timedelta(microseconds=1))
    young = keep(store, DAY - hour, DAY, timedelta(0))

    purged = await IdempotencyRetention(transactions, FixedClock()).purge_expired()

    assert purged == len(old)
    assert sorted(store.state.idempotency.values(), key=lambda r: r.key) == sorted(
        young, key=lambda r: r.key
    )


async def test_a_longer_retention_keeps_keys_longer(
    store: MemoryStore, transactions: Transactions
) -> None:
    keep(store, 2 * DAY, 4 * DAY)

    purged = await IdempotencyRetention(transactions, FixedClock(), 3 * DAY).purge_expired()

    assert purged == 1
    assert [r.created_at for r in store.state.idempotency.values()] == [NOW - 2 * DAY]


async def test_each_transaction_purges_at_most_one_batch_oldest_first(
    store: MemoryStore, transactions: Transactions, purges: list[tuple[int, int]]
) -> None:
    ages = [DAY + timedelta(minutes=n) for n in range(1, 26)]
    keep(store, *ages)
    retention = IdempotencyRetention(transactions, FixedClock(), batch=10)

    # One batch alone takes the oldest ten
    async for uow in transactions.attempts():
        async with uow:
            assert await uow.idempotency.purge(NOW - DAY, 10) == 10
            await uow.commit()
    left = sorted(r.created_at for r in store.state.idempotency.values())
    assert left == sorted(NOW - age for age in ages[:15])

    # The use case goes on batch by batch until one is not full
    purges.clear()
    assert await retention.purge_expired() == 15
    assert purges == [(10, 10), (10, 5)]
    assert store.state.idempotency == {}


async def test_a_full_last_batch_is_followed_by_an_empty_one(
    store: MemoryStore, transactions: Transactions, purges: list[tuple[int, int]]
) -> None:
    keep(store, *(2 * DAY for _ in range(20)))

    assert await IdempotencyRetention(transactions, FixedClock(), batch=10).purge_expired() == 20
    assert purges == [(10, 10), (10, 10), (10, 0)]


async def test_a_conflicting_batch_is_retried_by_the_retry_loop(
    store: MemoryStore, transactions: Transactions, monkeypatch: pytest.MonkeyPatch
) -> None:
    keep(store, 2 * DAY, 3 * DAY)
    original = MemoryIdempotencyRepository.purge
    failures = [TransientConflictError("another purge deleted these rows")]

    async def conflicts_once(self: MemoryIdempotencyRepository, *args: Any) -> int:
        if failures:
            raise failures.pop()
        return await original(self, *args)

    monkeypatch.setattr(MemoryIdempotencyRepository, "purge", conflicts_once)

    assert await IdempotencyRetention(transactions, FixedClock()).purge_expired() == 2
    assert transactions.counters.retries == 1
    assert store.state.idempotency == {}


def test_a_retention_below_the_contract_s_24_hours_is_refused(
    transactions: Transactions,
) -> None:
    with pytest.raises(ValueError, match="at least 1 day"):
        IdempotencyRetention(transactions, FixedClock(), DAY - timedelta(seconds=1))
    with pytest.raises(ValueError, match="at least one key"):
        IdempotencyRetention(transactions, FixedClock(), batch=0)
    with pytest.raises(pydantic.ValidationError, match="idempotency_retention_hours"):
        Settings(idempotency_retention_hours=23.9)
    with pytest.raises(pydantic.ValidationError, match="idempotency_purge_interval"):
        Settings(idempotency_purge_interval=0)
    assert Settings().idempotency_retention == DAY


async def test_the_loop_logs_each_failure_in_one_line_and_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs: list[int] = []
    fourth_run = asyncio.Event()

    async def job(stopping: Callable[[], bool]) -> None:
        runs.append(len(runs))
        if len(runs) == 4:
            fourth_run.set()
        if len(runs) <= 2:
            raise OSError("connection refused\nis the server running on that host?")

    with caplog.at_level(logging.WARNING, logger="banking.background"):
        async with background.running(0.001, job, "the job") as task:
            await asyncio.wait_for(fourth_run.wait(), timeout=5)
            assert not task.done()

    assert task.done()
    failures = [record.getMessage() for record in caplog.records]
    assert failures == ["the job failed: OSError: connection refused"] * 2
    assert all(record.exc_info is None for record in caplog.records)


async def test_leaving_lets_a_run_end_after_its_current_transaction() -> None:
    started, leave = asyncio.Event(), asyncio.Event()
    seen: list[bool] = []

    async def job(stopping: Callable[[], bool]) -> None:
        started.set()
        await leave.wait()  # the transaction in progress
        seen.append(stopping())

    async with background.running(0.001, job, "job") as task:
        await started.wait()
        asyncio.get_running_loop().call_later(0.01, leave.set)

    # The run was not cancelled halfway: it finished, told to stop, and nothing followed
    assert task.done()
    assert not task.cancelled()
    assert seen == [True]


async def test_a_run_told_to_stop_ends_after_its_current_batch(
    store: MemoryStore, transactions: Transactions, purges: list[tuple[int, int]]
) -> None:
    keep(store, *(2 * DAY for _ in range(25)))
    retention = IdempotencyRetention(transactions, FixedClock(), batch=10)

    assert await retention.purge_expired(stopping=lambda: True) == 10
    assert purges == [(10, 10)]
    assert await retention.purge_expired() == 15
