"""Batches on real PostgreSQL: overlapping atomic batches in both directions never
deadlock, never apply in part and conserve money; a batch refused halfway leaves every
version untouched. The storm has a weakened twin (no isolation, no row locks) that the
same checks must catch."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import BatchItem, GetAccount, SubmitBatch
from application.transactions import RetryPolicy
from domain.errors import ConcurrencyConflictError, RuleViolationError
from infrastructure.postgres.locking import AccountLocks
from tests.bank import Bank
from tests.integration.postgres_bank import postgres_bank, violations
from tests.integration.test_concurrency import open_accounts
from tests.integration.weakened import weaken

POLICY = RetryPolicy(attempts=60, base_delay=0.001, max_delay=0.05)
ACCOUNTS = 6
FUNDS = 400
TASKS = 16
BATCHES = 240


async def batch_storm(
    banks: list[Bank], client: uuid.UUID, ids: list[uuid.UUID], seed: int
) -> tuple[Counter[str], dict[uuid.UUID, int]]:
    """TASKS workers send BATCHES atomic batches of 2 to 6 transfers among the same few
    accounts, in random directions and orders, so batches overlap every way; some are
    refused for funds at a random item. Returns the outcomes and, per acknowledged
    batch, its number of transfers."""
    outcomes: Counter[str] = Counter()
    acknowledged: dict[uuid.UUID, int] = {}
    remaining = BATCHES

    async def worker(number: int) -> None:
        nonlocal remaining
        rng = random.Random(seed * 1_000 + number)
        bank = banks[number % len(banks)]
        while remaining > 0:
            remaining -= 1
            items = []
            for _ in range(rng.randint(2, 6)):
                source, destination = rng.sample(ids, 2)
                items.append(BatchItem(source, destination, rng.randint(1, 150), "USD"))
            try:
                done = await bank.batches.submit(SubmitBatch(client, tuple(items)))
            except RuleViolationError as refused:
                outcomes[f"{refused.code} at {refused.failed_index}"] += 1
                continue
            except ConcurrencyConflictError:
                outcomes["concurrency_conflict"] += 1
                continue
            acknowledged[done.value.id] = len(done.value.transfers)
            outcomes["applied"] += 1

    await asyncio.gather(*(worker(number) for number in range(TASKS)))
    return outcomes, acknowledged


async def transfers_per_batch(engine: AsyncEngine) -> dict[uuid.UUID, int]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT batch_id, count(*) FROM transfers WHERE batch_id IS NOT NULL"
                " GROUP BY batch_id"
            )
        )
        return dict(rows.tuples().all())


async def test_overlapping_atomic_batches_never_deadlock_or_apply_in_part(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    workers = [postgres_bank(engine, POLICY, locks) for _ in range(2)]
    bank = workers[0].bank
    client, ids = await open_accounts(bank, ACCOUNTS, FUNDS)

    started = time.perf_counter()
    outcomes, acknowledged = await batch_storm([w.bank for w in workers], client, ids, seed=1)
    elapsed = time.perf_counter() - started

    retries = sum(worker.transactions.counters.retries for worker in workers)
    print(
        f"\nbatch storm ({locks}): {BATCHES} batches by {TASKS} tasks in {elapsed:.1f} s,"
        f" {retries} retries, outcomes {dict(outcomes)}"
    )
    assert outcomes["applied"] > BATCHES // 4
    assert sum(n for code, n in outcomes.items() if code.startswith("insufficient_funds")) > 0
    assert outcomes["concurrency_conflict"] == 0
    # Every acknowledged batch has all its transfers, and no refused one has any.
    assert await transfers_per_batch(engine) == acknowledged
    assert await violations(engine) == []
    balances = [(await bank.accounts.get(GetAccount(client, i))).balance for i in ids]
    assert sum(balances) == ACCOUNTS * FUNDS
    assert min(balances) >= 0


async def test_the_batch_storm_detects_batches_without_isolation_or_locks(
    engine: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same storm at READ COMMITTED with plain SELECTs: batches overwrite each
    other's balances, and the books say so."""
    workers = [postgres_bank(engine, RetryPolicy(attempts=3)) for _ in range(2)]
    bank = workers[0].bank
    client, ids = await open_accounts(bank, ACCOUNTS, FUNDS)
    await weaken(engine, monkeypatch, *(worker.executor for worker in workers))

    await batch_storm([w.bank for w in workers], client, ids, seed=2)

    broken = {violation.invariant for violation in await violations(engine)}
    assert "a customer balance equals the sum of its entries" in broken


async def test_a_batch_refused_halfway_leaves_every_version_untouched(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    bank = postgres_bank(engine, POLICY, locks).bank
    client, (a, b, c) = await open_accounts(bank, 3, 100)

    async def snapshot() -> list[tuple[int, int]]:
        shown = [await bank.accounts.get(GetAccount(client, i)) for i in (a, b, c)]
        return [(account.balance, account.version) for account in shown]

    before = await snapshot()
    items = (
        BatchItem(a, b, 100, "USD"),
        BatchItem(b, c, 150, "USD"),
        BatchItem(c, a, 400, "USD"),  # refused: c has 250 by then
        BatchItem(a, c, 1, "USD"),
    )
    with pytest.raises(RuleViolationError) as refused:
        await bank.batches.submit(SubmitBatch(client, items))

    assert (refused.value.code, refused.value.failed_index) == ("insufficient_funds", 2)
    assert await snapshot() == before
    assert await transfers_per_batch(engine) == {}
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM batches"))).scalar() == 0
    assert await violations(engine) == []
