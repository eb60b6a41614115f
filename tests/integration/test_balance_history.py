"""A balance at a point in time is one index lookup, never a scan of the statement,
however long the statement grows."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import GetBalance
from infrastructure.postgres.transfers import latest_entry_query
from tests.integration.postgres_bank import postgres_bank
from tests.integration.test_concurrency import open_accounts

ENTRIES = 50_000


def nodes(plan: dict[str, Any]) -> list[str]:
    found = [plan["Node Type"] + ":" + plan.get("Index Name", "")]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


async def test_a_balance_as_of_a_time_is_one_index_lookup_on_a_long_statement(
    engine: AsyncEngine,
) -> None:
    bank = postgres_bank(engine).bank
    client, (account,) = await open_accounts(bank, 1, 1)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    async with engine.begin() as connection:
        # A long history written directly: a transfer per entry would take minutes.
        await connection.execute(
            text(
                "INSERT INTO transfers (id, kind, source_account_id, destination_account_id,"
                " amount, currency, status, created_at)"
                " SELECT md5('t' || n)::uuid, 'deposit', :settlement, :account, 1, 'USD',"
                " 'posted', :start + n * interval '1 second' FROM generate_series(1, :n) n"
            ),
            {"settlement": await settlement_id(engine), "account": account, "start": start,
             "n": ENTRIES},
        )  # fmt: skip
        await connection.execute(
            text(
                "INSERT INTO entries (id, transfer_id, account_id, amount, currency,"
                " balance_after, account_version, created_at)"
                " SELECT md5('e' || n)::uuid, md5('t' || n)::uuid, :account, 1, 'USD',"
                " 1 + n, 2 + n, :start + n * interval '1 second'"
                " FROM generate_series(1, :n) n"
            ),
            {"account": account, "start": start, "n": ENTRIES},
        )
        await connection.execute(text("ANALYZE entries"))
    as_of = start + timedelta(seconds=ENTRIES // 2, milliseconds=500)

    async with engine.connect() as connection:
        query = latest_entry_query(account, as_of).compile(
            dialect=engine.dialect, compile_kwargs={"literal_binds": True}
        )
        explained = (
            await connection.execute(text(f"EXPLAIN (FORMAT JSON, ANALYZE) {query}"))
        ).scalar_one()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]
    shape = nodes(plan)

    assert shape == ["Limit:", "Index Scan:ix_entries_account_history"], shape
    scan = plan["Plans"][0]
    assert (scan["Scan Direction"], scan["Actual Rows"]) == ("Backward", 1)  # one entry read
    shown = await bank.accounts.balance(GetBalance(client, account, as_of))
    assert shown.balance == 1 + ENTRIES // 2


async def settlement_id(engine: AsyncEngine) -> uuid.UUID:
    async with engine.connect() as connection:
        found: uuid.UUID = (
            await connection.execute(
                text("SELECT id FROM accounts WHERE kind = 'settlement' AND currency = 'USD'")
            )
        ).scalar_one()
        return found
