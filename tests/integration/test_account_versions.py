"""An account's version counts its movements: it must go past 32 bits."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import (
    Deposit,
    GetAccount,
    ListEntries,
    OpenAccount,
    TransferFunds,
)
from domain.pagination import PageRequest
from tests.integration.postgres_bank import postgres_bank, violations

INTEGER_MAX = 2**31 - 1


async def test_an_account_at_integer_s_last_version_still_moves_money(engine: AsyncEngine) -> None:
    # Given two accounts whose versions reached INTEGER's last value
    bank = postgres_bank(engine).bank
    client = await bank.new_client()
    source = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    destination = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    await bank.payments.deposit(Deposit(client, source, 100, "USD"))
    async with engine.begin() as connection:
        await connection.execute(
            sa.text("UPDATE accounts SET version = :top WHERE id IN (:source, :destination)"),
            {"top": INTEGER_MAX, "source": source, "destination": destination},
        )

    # When money moves between them
    await bank.payments.transfer(TransferFunds(client, source, destination, 30, "USD"))

    # Then both pass the old limit, and the books hold
    for account_id, balance in ((source, 70), (destination, 30)):
        account = await bank.accounts.get(GetAccount(client, account_id))
        assert (account.balance, account.version) == (balance, INTEGER_MAX + 1)
    assert await violations(engine) == []

    # And the statement pages from the new entry on (its cursor holds the version)
    first = await bank.ledger.list_entries(ListEntries(client, source, PageRequest(limit=1)))
    assert [entry.amount for entry in first.data] == [-30]
    assert first.next_cursor is not None
    rest = await bank.ledger.list_entries(
        ListEntries(client, source, PageRequest(limit=1, after=first.next_cursor))
    )
    assert [entry.amount for entry in rest.data] == [100]
