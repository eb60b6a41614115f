"""The purge of expired idempotency keys on PostgreSQL: through the service's write
path, in bounded batches, one purging transaction at a time."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from application.retention import IdempotencyRetention
from infrastructure.postgres.idempotency_records import (
    PURGE_LOCK_KEY,
    PostgresIdempotencyRepository,
)
from tests.integration.postgres_bank import postgres_bank

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)
DAY = timedelta(hours=24)


class FixedClock:
    def now(self) -> datetime:
        return NOW


async def store_keys(engine: AsyncEngine, ages: list[timedelta]) -> None:
    client = uuid.uuid4()
    async with engine.begin() as connection:
        await connection.execute(
            sa.text(
                "INSERT INTO api_clients (id, name, key_hash, created_at)"
                " VALUES (:id, 'acme', repeat('a', 64), now())"
            ),
            {"id": client},
        )
        await connection.execute(
            sa.text(
                "INSERT INTO idempotency_keys (client_id, key, fingerprint, outcome, created_at)"
                " VALUES (:client, :key, repeat('f', 64), '{}', :created_at)"
            ),
            [
                {"client": client, "key": f"key-{n}", "created_at": NOW - age}
                for n, age in enumerate(ages)
            ],
        )


async def stored_ages(engine: AsyncEngine) -> list[timedelta]:
    """The ages of the stored keys, youngest first."""
    async with engine.connect() as connection:
        result = await connection.execute(
            sa.text("SELECT created_at FROM idempotency_keys ORDER BY created_at DESC")
        )
        return [NOW - created_at for (created_at,) in result]


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """Every purge statement's (limit, rows deleted)."""
    calls: list[tuple[int, int]] = []
    original = PostgresIdempotencyRepository.purge

    async def counted(self: PostgresIdempotencyRepository, before: datetime, limit: int) -> int:
        purged = await original(self, before, limit)
        calls.append((limit, purged))
        return purged

    monkeypatch.setattr(PostgresIdempotencyRepository, "purge", counted)
    return calls


async def test_expired_keys_are_purged_in_bounded_batches_and_younger_ones_kept(
    engine: AsyncEngine, batches: list[tuple[int, int]]
) -> None:
    # Given 25 keys past 24 hours and 3 within them
    expired = [DAY + timedelta(minutes=n) for n in range(1, 26)]
    young = [DAY, DAY - timedelta(minutes=1), timedelta(0)]
    await store_keys(engine, expired + young)
    transactions = postgres_bank(engine).transactions
    retention = IdempotencyRetention(transactions, FixedClock(), batch=10)

    # When one batch runs alone, it takes the ten oldest
    async for uow in transactions.attempts():
        async with uow:
            assert await uow.idempotency.purge(NOW - DAY, 10) == 10
            await uow.commit()
    assert await stored_ages(engine) == sorted(young + expired[:15])

    # When the use case runs, it goes on batch by batch, each at most ten keys
    batches.clear()
    assert await retention.purge_expired() == 15

    # Then only the keys within the retention are left
    assert batches == [(10, 10), (10, 5)]
    assert await stored_ages(engine) == sorted(young)


async def test_one_transaction_at_a_time_purges(
    engine: AsyncEngine, batches: list[tuple[int, int]]
) -> None:
    await store_keys(engine, [2 * DAY, 3 * DAY])
    retention = IdempotencyRetention(postgres_bank(engine).transactions, FixedClock())

    # While another process's transaction purges (it holds the purge lock)
    async with engine.connect() as other:
        await other.execute(sa.select(sa.func.pg_advisory_xact_lock(PURGE_LOCK_KEY)))
        # This one leaves it to that one, at once, and deletes nothing
        assert await retention.purge_expired() == 0
        assert len(await stored_ages(engine)) == 2
        await other.rollback()

    # Once it is done, this one purges
    assert await retention.purge_expired() == 2
    assert await stored_ages(engine) == []
    assert batches == [(1000, 0), (1000, 2)]
