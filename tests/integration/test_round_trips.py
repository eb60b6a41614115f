"""Round trips per operation on the hot path, counted with SQLAlchemy's cursor events.

The service sends BEGIN (with its SET LOCAL settings and lock stripes) and COMMIT
itself, so every round trip is counted here, but for the pool's pre-ping.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import Deposit, TransferFunds, Withdraw
from tests.integration.postgres_bank import postgres_bank
from tests.integration.test_concurrency import open_accounts


@contextmanager
def counted_statements(engine: AsyncEngine) -> Iterator[list[str]]:
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        statements.append(" ".join(statement.split()[:3]))

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_transfer_takes_five_round_trips(engine: AsyncEngine) -> None:
    subject = postgres_bank(engine)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)

    with counted_statements(engine) as statements:
        await subject.bank.payments.transfer(TransferFunds(client, source, destination, 5, "USD"))

    assert statements == [
        "BEGIN ISOLATION LEVEL",  # with SET LOCAL and the stripes: waits before the snapshot
        "WITH clock AS",  # both accounts, locked, and the clock: one statement
        "WITH updated AS",  # both balances and the transfer
        "INSERT INTO entries",  # both entries
        "COMMIT",
    ]


async def test_an_idempotency_key_adds_one_insert_and_a_repeat_reads_the_stored_outcome(
    engine: AsyncEngine,
) -> None:
    subject = postgres_bank(engine)
    client, (source, destination) = await open_accounts(subject.bank, 2, 1_000)
    command = TransferFunds(client, source, destination, 5, "USD", idempotency_key="rt")

    with counted_statements(engine) as first:
        await subject.bank.payments.transfer(command)
    with counted_statements(engine) as replay:
        await subject.bank.payments.transfer(command)

    # The record rides in the statement that writes the balances and the transfer.
    assert len(first) == 5
    assert first[2].startswith("WITH updated AS")
    # The repeat's effect rolls back with its refused record; then the outcome is read.
    assert replay[-5:] == [
        "WITH updated AS",
        "ROLLBACK",
        "BEGIN ISOLATION LEVEL",
        "SELECT idempotency_keys.client_id, idempotency_keys.key,",
        "ROLLBACK",  # a read-only snapshot has nothing to commit
    ]


async def test_deposits_and_withdrawals_never_touch_the_settlement_row(engine: AsyncEngine) -> None:
    subject = postgres_bank(engine)
    client, (account,) = await open_accounts(subject.bank, 1, 1_000)

    with counted_statements(engine) as statements:
        await subject.bank.payments.deposit(Deposit(client, account, 5, "USD"))
        await subject.bank.payments.withdraw(Withdraw(client, account, 5, "USD"))

    assert len(statements) == 10
    assert statements.count("WITH updated AS") == 2
