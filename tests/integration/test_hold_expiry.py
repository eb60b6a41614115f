"""The sweep of expired holds on real PostgreSQL: earliest expiry first, never early,
bounded per transaction, restart-safe, and one sweeper at a time however many
processes run it."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import GetAccount, GetHold, PlaceHold
from application.holds import HoldExpiry
from domain.hold import HoldStatus
from infrastructure.postgres.holds import SWEEP_LOCK_KEY
from tests.integration.postgres_bank import postgres_bank, violations
from tests.integration.test_concurrency import open_accounts


async def expiring_holds(
    engine: AsyncEngine, count: int, seconds: int = 1
) -> tuple[uuid.UUID, uuid.UUID, list[uuid.UUID]]:
    bank = postgres_bank(engine).bank
    client, (source, payee) = await open_accounts(bank, 2, 10_000)
    holds = [
        (
            await bank.holds.place(
                PlaceHold(client, source, payee, 10 + n, "USD", expires_in_seconds=seconds)
            )
        ).value.id
        for n in range(count)
    ]
    return client, source, holds


async def stored_statuses(engine: AsyncEngine) -> list[str]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT status FROM holds ORDER BY expires_at"))
        return [status for (status,) in rows]


async def test_the_sweep_never_releases_early(engine: AsyncEngine) -> None:
    await expiring_holds(engine, 3, seconds=60)
    expiry = HoldExpiry(postgres_bank(engine).transactions)

    assert await expiry.sweep() == 0
    assert await stored_statuses(engine) == ["active"] * 3


async def test_the_sweep_writes_down_expiries_in_batches_and_goes_on_after_a_stop(
    engine: AsyncEngine,
) -> None:
    client, source, holds = await expiring_holds(engine, 5)
    subject = postgres_bank(engine)
    expiry = HoldExpiry(subject.transactions, batch=2)
    await asyncio.sleep(1.05)
    before = await subject.bank.accounts.get(GetAccount(client, source))
    shown = [await subject.bank.holds.get(GetHold(client, hold)) for hold in holds]

    # A run stopped after its first transaction (a shutdown) released two, the earliest...
    assert await expiry.sweep(stopping=lambda: True) == 2
    assert await stored_statuses(engine) == ["expired", "expired", "active", "active", "active"]
    # ...and the next run goes on where it stopped.
    assert await expiry.sweep() == 3
    assert await expiry.sweep() == 0

    after = await subject.bank.accounts.get(GetAccount(client, source))
    assert (before.held, before.version) == (0, after.version)
    assert after == before  # the expiry was already counted: nothing visible changed
    assert [await subject.bank.holds.get(GetHold(client, hold)) for hold in holds] == shown
    assert all(hold.status is HoldStatus.EXPIRED for hold in shown)
    assert await violations(engine) == []


async def test_one_sweeper_at_a_time(engine: AsyncEngine) -> None:
    await expiring_holds(engine, 4)
    await asyncio.sleep(1.05)
    url = engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    workers = [HoldExpiry(postgres_bank(engine).transactions, batch=1) for _ in range(3)]

    # While another process sweeps (it holds the sweep's lock), a sweep releases nothing.
    async with await psycopg.AsyncConnection.connect(url) as other:
        await other.execute("SELECT pg_advisory_xact_lock(%s)", (SWEEP_LOCK_KEY,))
        assert await workers[0].sweep() == 0
        await other.rollback()

    # Three sweepers at once release each hold exactly once between them.
    released = await asyncio.gather(*(worker.sweep() for worker in workers))
    for _ in range(10):  # a sweeper that found the lock taken stops; later runs finish
        released.append(await workers[0].sweep())
    assert sum(released) == 4
    assert await stored_statuses(engine) == ["expired"] * 4
    assert await violations(engine) == []
