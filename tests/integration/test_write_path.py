"""The write path on real PostgreSQL: batches (many requests, one transaction, each its
own answer), failures that cost only their own member, under every lock strategy."""

from __future__ import annotations

import asyncio
import time

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import GetAccount, TransferFunds, Withdraw
from application.transactions import RetryPolicy
from domain.errors import ConcurrencyConflictError, InsufficientFundsError, SameAccountError
from infrastructure.postgres.engine import create_engine
from infrastructure.postgres.locking import AccountLocks
from infrastructure.settings import Settings
from tests.integration.postgres_bank import postgres_bank, violations
from tests.integration.test_concurrency import hold_row_lock, open_accounts, wait_for_lock_waiters


@pytest.fixture
def libpq_database_url(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def test_concurrent_transfers_share_transactions_and_each_gets_its_own_answer(
    engine: AsyncEngine,
    locks: AccountLocks,
) -> None:
    subject = postgres_bank(engine, locks=locks)
    client, ids = await open_accounts(subject.bank, 4, 1_000)
    batches_before = subject.executor.batches

    commands = [
        TransferFunds(client, ids[n % 4], ids[(n + 1) % 4], 10 + n, "USD") for n in range(40)
    ]
    results = await asyncio.gather(*(subject.bank.payments.transfer(c) for c in commands))

    assert [result.value.amount for result in results] == [10 + n for n in range(40)]
    assert subject.executor.batches - batches_before < 40  # some requests shared a commit
    assert await violations(engine) == []
    balances = [
        (await subject.bank.accounts.get(GetAccount(client, account_id))).balance
        for account_id in ids
    ]
    assert sum(balances) == 4_000


async def test_a_refused_member_is_refused_alone(engine: AsyncEngine, locks: AccountLocks) -> None:
    subject = postgres_bank(engine, locks=locks)
    client, (rich, poor, other) = await open_accounts(subject.bank, 3, 100)

    outcomes = await asyncio.gather(
        subject.bank.payments.transfer(TransferFunds(client, rich, other, 60, "USD")),
        subject.bank.payments.withdraw(Withdraw(client, poor, 500, "USD", idempotency_key="w")),
        subject.bank.payments.transfer(TransferFunds(client, rich, rich, 1, "USD")),
        subject.bank.payments.transfer(TransferFunds(client, rich, other, 40, "USD")),
        subject.bank.payments.transfer(TransferFunds(client, rich, other, 1, "USD")),
        return_exceptions=True,
    )

    assert [type(outcome).__name__ for outcome in outcomes] == [
        "Completed",
        "InsufficientFundsError",
        "SameAccountError",
        "Completed",
        "InsufficientFundsError",
    ]
    assert isinstance(outcomes[1], InsufficientFundsError)
    assert isinstance(outcomes[2], SameAccountError)
    assert (await subject.bank.accounts.get(GetAccount(client, rich))).balance == 0
    assert (await subject.bank.accounts.get(GetAccount(client, other))).balance == 200
    with pytest.raises(InsufficientFundsError) as replayed:
        await subject.bank.payments.withdraw(
            Withdraw(client, poor, 500, "USD", idempotency_key="w")
        )
    assert replayed.value.replayed
    assert await violations(engine) == []


async def test_duplicates_in_one_batch_take_effect_once(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    subject = postgres_bank(engine, locks=locks)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)
    command = TransferFunds(client, source, destination, 25, "USD", idempotency_key="dup")

    results = await asyncio.gather(*(subject.bank.payments.transfer(command) for _ in range(12)))

    assert sum(not result.replayed for result in results) == 1
    assert all(result.value == results[0].value for result in results)
    assert (await subject.bank.accounts.get(GetAccount(client, source))).balance == 975


async def test_a_serialization_failure_re_runs_the_batch(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    subject = postgres_bank(engine, locks=locks)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)
    other = await hold_row_lock(libpq_database_url, source, "reference = 'touched'")

    attempt = asyncio.gather(
        *(
            subject.bank.payments.transfer(TransferFunds(client, source, destination, 10, "USD"))
            for _ in range(3)
        )
    )
    await wait_for_lock_waiters(engine)
    await other.commit()
    await other.close()

    results = await attempt
    assert sorted(result.value.source_balance_after or 0 for result in results) == [970, 980, 990]
    assert subject.transactions.counters.retries >= 1
    assert await violations(engine) == []


async def test_a_spent_budget_fails_every_member_with_nothing_written(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    subject = postgres_bank(engine, RetryPolicy(attempts=1), locks)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)
    other = await hold_row_lock(libpq_database_url, source, "reference = 'touched'")

    attempt = asyncio.gather(
        subject.bank.payments.transfer(TransferFunds(client, source, destination, 10, "USD")),
        return_exceptions=True,
    )
    await wait_for_lock_waiters(engine)
    await other.commit()
    await other.close()

    (outcome,) = await attempt
    assert isinstance(outcome, ConcurrencyConflictError)
    async with engine.connect() as connection:
        count = await connection.execute(
            text("SELECT count(*) FROM transfers WHERE kind = 'transfer'")
        )
        assert count.scalar_one() == 0


async def test_the_storm_keeps_every_invariant_with_group_commit(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    from tests.integration.test_concurrency import ACCOUNTS, TRANSFERS, storm

    workers = [postgres_bank(engine, locks=locks) for _ in range(2)]
    client, ids = await open_accounts(workers[0].bank, ACCOUNTS, 5_000)
    outcomes = await storm([worker.bank for worker in workers], client, ids, seed=3)
    batches = sum(worker.executor.batches for worker in workers)
    members = sum(worker.executor.members for worker in workers)
    print(f"\ngroup commit storm: {dict(outcomes)}, {members} members in {batches} batches")
    assert sum(outcomes.values()) >= TRANSFERS
    assert await violations(engine) == []


async def test_a_lock_held_past_lock_timeout_is_a_conflict_that_writes_nothing(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    impatient = create_engine(Settings(), engine.url)
    try:
        subject = postgres_bank(impatient, locks=locks, lock_timeout_ms=200)
        bank = subject.bank
        client, (source, destination) = await open_accounts(bank, 2, 1_000)
        command = TransferFunds(client, source, destination, 10, "USD", idempotency_key="held")
        other = await hold_row_lock(libpq_database_url, source, "version = version")
        try:
            with pytest.raises(ConcurrencyConflictError):
                await bank.payments.transfer(command)
        finally:
            await other.rollback()
            await other.close()

        # Nothing was written, the key included: the same request now applies, once.
        assert (await bank.accounts.get(GetAccount(client, source))).balance == 1_000
        applied = await bank.payments.transfer(command)
        assert not applied.replayed
        assert (await bank.accounts.get(GetAccount(client, source))).balance == 990
        assert await violations(engine) == []
    finally:
        await impatient.dispose()


async def test_a_blocked_account_costs_only_its_own_members(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    """One batch holds a movement on an account that another client keeps locked and
    movements on free accounts: the batch cannot lock in time, so it is split, the free
    movements commit, and only the blocked one answers concurrency_conflict."""
    subject = postgres_bank(engine, locks=locks, lock_timeout_ms=300)
    client, (blocked, free, payee) = await open_accounts(subject.bank, 3, 1_000)
    other = await hold_row_lock(libpq_database_url, blocked, "version = version")
    try:
        outcomes = await asyncio.gather(
            subject.bank.payments.transfer(TransferFunds(client, blocked, payee, 1, "USD")),
            *(
                subject.bank.payments.transfer(TransferFunds(client, free, payee, 1, "USD"))
                for _ in range(3)
            ),
            return_exceptions=True,
        )
    finally:
        await other.rollback()
        await other.close()

    assert isinstance(outcomes[0], ConcurrencyConflictError)
    assert [type(outcome).__name__ for outcome in outcomes[1:]] == ["Completed"] * 3
    assert (await subject.bank.accounts.get(GetAccount(client, free))).balance == 997
    assert (await subject.bank.accounts.get(GetAccount(client, blocked))).balance == 1_000
    assert await violations(engine) == []


async def test_a_failing_statement_of_one_member_is_rolled_back_alone(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    """Two units of work in one batch: the first runs a statement of its own that times
    out (it locks an account it did not declare, which another client holds); it is
    rolled back to its savepoint and fails alone, and the second commits in the same
    transaction."""
    subject = postgres_bank(engine, locks=locks, lock_timeout_ms=300)
    client, (held, source, destination) = await open_accounts(subject.bank, 3, 1_000)
    other = await hold_row_lock(libpq_database_url, held, "version = version")
    batches_before = subject.executor.batches

    async def undeclared_lock() -> None:
        async for uow in subject.transactions.attempts():
            async with uow:
                await uow.accounts.get_many_for_update([held])
                await uow.commit()

    try:
        outcomes = await asyncio.gather(
            undeclared_lock(),
            subject.bank.payments.transfer(TransferFunds(client, source, destination, 5, "USD")),
            return_exceptions=True,
        )
    finally:
        await other.rollback()
        await other.close()

    assert isinstance(outcomes[0], ConcurrencyConflictError)
    assert type(outcomes[1]).__name__ == "Completed"
    assert subject.executor.batches - batches_before == 1  # one transaction for both
    assert (await subject.bank.accounts.get(GetAccount(client, source))).balance == 995
    assert await violations(engine) == []


async def test_a_movement_queued_behind_a_blocked_batch_does_not_wait_for_it(
    engine: AsyncEngine, locks: AccountLocks, libpq_database_url: str
) -> None:
    subject = postgres_bank(engine, locks=locks, lock_timeout_ms=3_000)
    client, (blocked, free, payee, other_payee) = await open_accounts(subject.bank, 4, 1_000)
    other = await hold_row_lock(libpq_database_url, blocked, "version = version")
    try:
        stuck = asyncio.create_task(
            subject.bank.payments.transfer(TransferFunds(client, blocked, payee, 1, "USD"))
        )
        await wait_for_lock_waiters(engine)
        started = time.perf_counter()
        await subject.bank.payments.transfer(TransferFunds(client, free, other_payee, 1, "USD"))
        waited = time.perf_counter() - started
        assert not stuck.done()
    finally:
        await other.rollback()
        await other.close()
    await stuck  # the lock is gone: the stuck movement commits too
    assert waited < 1.0, f"the free movement waited {waited:.2f} s for the blocked batch"
    assert await violations(engine) == []


async def test_callers_that_go_away_mid_transaction_leave_the_executor_working(
    engine: AsyncEngine, locks: AccountLocks
) -> None:
    """Requests cancelled at every stage (queued, in their turn, waiting for the commit)
    neither wedge the batches of the others nor leave money half-moved."""
    subject = postgres_bank(engine, locks=locks)
    client, ids = await open_accounts(subject.bank, 4, 10_000)

    async def transfer(n: int) -> None:
        await subject.bank.payments.transfer(
            TransferFunds(client, ids[n % 4], ids[(n + 1) % 4], 1, "USD")
        )

    for round_ in range(20):
        tasks = [asyncio.create_task(transfer(n)) for n in range(16)]
        await asyncio.sleep(0.0005 * round_)
        for task in tasks[::3]:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # The executor still serves: a plain transfer completes at once.
    await asyncio.wait_for(transfer(0), timeout=5)
    assert await violations(engine) == []
    balances = [
        (await subject.bank.accounts.get(GetAccount(client, account_id))).balance
        for account_id in ids
    ]
    assert sum(balances) == 40_000
