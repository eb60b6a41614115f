"""Group commit on real PostgreSQL: many requests, one transaction, each its own answer."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import GetAccount, TransferFunds, Withdraw
from domain.errors import ConcurrencyConflictError, InsufficientFundsError, SameAccountError
from infrastructure.postgres.engine import create_engine
from infrastructure.postgres.group_commit import GroupCommitRunner
from infrastructure.postgres.unit_of_work import PostgresStorage
from infrastructure.settings import Settings
from infrastructure.transactions import RetryingTransactionRunner, RetryPolicy
from tests.bank import Bank, build_bank
from tests.integration.postgres_bank import violations
from tests.integration.test_concurrency import hold_row_lock, open_accounts, wait_for_lock_waiters


class GroupCommitBank:
    def __init__(self, engine: AsyncEngine, policy: RetryPolicy | None = None) -> None:
        self.storage = PostgresStorage(engine)
        self.plain = RetryingTransactionRunner(
            self.storage.unit_of_work, policy, read_unit_of_work=self.storage.read_unit_of_work
        )
        self.group = GroupCommitRunner(self.storage, policy)
        self.bank: Bank = build_bank(self.plain, random_ids=True, payment_runner=self.group)


@pytest.fixture
def libpq_database_url(engine: AsyncEngine) -> str:
    return engine.url.set(drivername="postgresql").render_as_string(hide_password=False)


async def test_concurrent_transfers_share_transactions_and_each_gets_its_own_answer(
    engine: AsyncEngine,
) -> None:
    subject = GroupCommitBank(engine)
    client, ids = await open_accounts(subject.bank, 4, 1_000)
    batches_before = subject.group.batches

    commands = [
        TransferFunds(client, ids[n % 4], ids[(n + 1) % 4], 10 + n, "USD") for n in range(40)
    ]
    results = await asyncio.gather(*(subject.bank.payments.transfer(c) for c in commands))

    assert [result.value.amount for result in results] == [10 + n for n in range(40)]
    assert subject.group.batches - batches_before < 40  # some requests shared a commit
    assert await violations(engine) == []
    balances = [
        (await subject.bank.accounts.get(GetAccount(client, account_id))).balance
        for account_id in ids
    ]
    assert sum(balances) == 4_000


async def test_a_refused_member_is_refused_alone(engine: AsyncEngine) -> None:
    subject = GroupCommitBank(engine)
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


async def test_duplicates_in_one_batch_take_effect_once(engine: AsyncEngine) -> None:
    subject = GroupCommitBank(engine)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)
    command = TransferFunds(client, source, destination, 25, "USD", idempotency_key="dup")

    results = await asyncio.gather(*(subject.bank.payments.transfer(command) for _ in range(12)))

    assert sum(not result.replayed for result in results) == 1
    assert len({result.value for result in results}) == 1
    assert (await subject.bank.accounts.get(GetAccount(client, source))).balance == 975


async def test_a_serialization_failure_re_runs_the_batch(
    engine: AsyncEngine, libpq_database_url: str
) -> None:
    subject = GroupCommitBank(engine)
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
    assert subject.group.counters.retries >= 1
    assert await violations(engine) == []


async def test_a_spent_budget_fails_every_member_with_nothing_written(
    engine: AsyncEngine, libpq_database_url: str
) -> None:
    subject = GroupCommitBank(engine, RetryPolicy(attempts=1))
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


async def test_the_storm_keeps_every_invariant_with_group_commit(engine: AsyncEngine) -> None:
    from tests.integration.test_concurrency import ACCOUNTS, TRANSFERS, storm

    workers = [GroupCommitBank(engine) for _ in range(2)]
    client, ids = await open_accounts(workers[0].bank, ACCOUNTS, 5_000)
    outcomes = await storm([worker.bank for worker in workers], client, ids, seed=3)
    batches = sum(worker.group.batches for worker in workers)
    members = sum(worker.group.members for worker in workers)
    print(f"\ngroup commit storm: {dict(outcomes)}, {members} members in {batches} batches")
    assert sum(outcomes.values()) >= TRANSFERS
    assert await violations(engine) == []


@pytest.mark.parametrize("path", ["plain", "group commit"])
async def test_a_lock_held_past_lock_timeout_is_a_conflict_that_writes_nothing(
    engine: AsyncEngine, libpq_database_url: str, path: str
) -> None:
    impatient = create_engine(Settings(lock_timeout_ms=200), engine.url)
    try:
        subject = GroupCommitBank(impatient)
        bank = subject.bank
        if path == "plain":
            bank = build_bank(subject.plain, random_ids=True)
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


@pytest.mark.parametrize("path", ["plain", "group commit"])
async def test_a_failed_release_keeps_the_commit_and_leaks_no_lock(
    engine: AsyncEngine, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The advisory locks are released after COMMIT; if that fails, the transfer still
    answers its committed result, and the connection is discarded rather than pooled
    with the locks still held."""
    from infrastructure.postgres import repositories

    subject = GroupCommitBank(engine)
    bank = subject.bank if path == "group commit" else build_bank(subject.plain, random_ids=True)
    client, (source, destination) = await open_accounts(bank, 2, 1_000)
    monkeypatch.setattr(repositories, "_ADVISORY_UNLOCK", text("SELECT 1 / 0"))

    result = await bank.payments.transfer(TransferFunds(client, source, destination, 10, "USD"))

    assert result.value.amount == 10
    monkeypatch.undo()
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 990
    held = text(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
    )
    for _ in range(100):  # the discarded session ends on the server a moment later
        async with engine.connect() as connection:
            if (await connection.execute(held)).scalar_one() == 0:
                break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("advisory locks outlived the discarded connection")
