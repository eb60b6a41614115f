"""Paging through ``GET /v1/transfers`` while transfers keep committing, on both
PostgreSQL targets: every transfer committed before the walk began is seen exactly
once, in order, whatever commits meanwhile; nothing is repeated. A walk by offset
instead of the keyset cursor, the weakened twin, repeats transfers."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import ListTransfers, TransferFunds
from application.transactions import RetryPolicy
from application.views import TransferView
from domain.pagination import PageRequest
from infrastructure.postgres.locking import AccountLocks
from tests.bank import Bank
from tests.integration.postgres_bank import postgres_bank
from tests.integration.test_concurrency import open_accounts

POLICY = RetryPolicy(attempts=60, base_delay=0.001, max_delay=0.05)
BEFORE = 60
WRITERS = 6
DURING = 20  # transfers per writer while the walk goes on
PAGE = 7


async def walk(bank: Bank, client: uuid.UUID, filters: dict[str, Any]) -> list[TransferView]:
    """Every page of the list, following next_cursor, with a pause between pages so
    that writers commit in between."""
    seen: list[TransferView] = []
    after = None
    while True:
        page = await bank.ledger.list_transfers(
            ListTransfers(client, PageRequest(PAGE, after), **filters)
        )
        seen += page.data
        if page.next_cursor is None:
            return seen
        after = page.next_cursor
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("filters", [{}, {"kind": "transfer", "metadata": {"run": "x"}}])
async def test_pages_skip_and_repeat_nothing_while_transfers_commit(
    engine: AsyncEngine, locks: AccountLocks, filters: dict[str, Any]
) -> None:
    # Six writers on four accounts: under ``portable`` they conflict, and retry.
    workers = [postgres_bank(engine, POLICY, locks) for _ in range(2)]
    bank = workers[0].bank
    client, accounts = await open_accounts(bank, 4, 100_000)

    async def pay(worker: int, count: int) -> None:
        for n in range(count):
            source, destination = accounts[n % 4], accounts[(n + 1 + worker % 3) % 4]
            command = TransferFunds(client, source, destination, 1, "USD", metadata={"run": "x"})
            await workers[worker % 2].bank.payments.transfer(command)

    await asyncio.gather(*(pay(worker, BEFORE // WRITERS) for worker in range(WRITERS)))
    committed = await walk(bank, client, filters)  # the list as it stands, read at rest

    writing = asyncio.gather(*(pay(worker, DURING) for worker in range(WRITERS)))
    seen = await walk(bank, client, filters)
    await writing

    ids = [view.id for view in seen]
    assert len(ids) == len(set(ids)), "a transfer was repeated"
    assert {view.id for view in committed} <= set(ids), "a committed transfer was skipped"
    order = [(view.created_at, view.id) for view in seen]
    assert order == sorted(order, reverse=True)
    final = await walk(bank, client, filters)
    assert len(final) == len(committed) + WRITERS * DURING


async def test_the_walk_detects_pages_by_offset(engine: AsyncEngine) -> None:
    """The same walk by offset (the page after n items is the list from n on) repeats
    transfers once newer ones push the list down: the checks above would fail."""
    workers = [postgres_bank(engine) for _ in range(2)]
    bank = workers[0].bank
    client, accounts = await open_accounts(bank, 4, 100_000)
    for n in range(BEFORE):
        await bank.payments.transfer(
            TransferFunds(client, accounts[n % 4], accounts[(n + 1) % 4], 1, "USD")
        )

    everything = await walk(bank, client, {})
    seen: list[uuid.UUID] = []
    offset = 0
    while offset < len(everything):
        listed = await walk(bank, client, {})  # the whole list now, newest first
        seen += [view.id for view in listed[offset : offset + PAGE]]
        offset += PAGE
        await bank.payments.transfer(TransferFunds(client, accounts[0], accounts[1], 1, "USD"))

    assert len(seen) != len(set(seen))
