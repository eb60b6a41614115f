"""The account list's metadata filter is served by its GIN index on a client of 20,000
accounts, where a walk of the owner's accounts would read thousands of rows: the plan of
the repository's own query."""

from __future__ import annotations

import hashlib
import json
import uuid
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import CreateApiClient
from infrastructure.postgres.accounts import owner_accounts_query
from infrastructure.postgres.locking import account_columns
from tests.integration.postgres_bank import postgres_bank

ACCOUNTS = 20_000
PAGE = 51


def nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += nodes(child)
    return found


async def test_a_metadata_filter_of_the_account_list_reads_the_gin_index(
    engine: AsyncEngine,
) -> None:
    bank = postgres_bank(engine).bank
    client = (await bank.clients.create(CreateApiClient(name="many"))).id
    async with engine.begin() as connection:
        # Every tenth account carries metadata, each with a key of its own.
        await connection.execute(
            text(
                "INSERT INTO accounts (id, owner_id, currency, kind, status, balance, version,"
                " created_at, metadata)"
                " SELECT md5('a' || n)::uuid, :owner, 'USD', 'customer', 'active', 0, 1,"
                " now() - n * interval '1 second',"
                " CASE WHEN n % 10 = 0"
                "   THEN jsonb_build_object('segment', 'retail', 'customer', n::text)"
                "   ELSE '{}'::jsonb END"
                " FROM generate_series(1, :n) n"
            ),
            {"owner": client, "n": ACCOUNTS},
        )
        await connection.execute(text("ANALYZE accounts"))

    wanted = (("customer", "12340"),)
    query = owner_accounts_query(
        select(*account_columns(func.now())), client, wanted, PAGE
    ).compile(dialect=engine.dialect, compile_kwargs={"literal_binds": True})
    async with engine.connect() as connection:
        explained = (
            await connection.execute(text(f"EXPLAIN (FORMAT JSON, ANALYZE) {query}"))
        ).scalar_one()
        found = (await connection.execute(text(str(query)))).all()
    plan = (json.loads(explained) if isinstance(explained, str) else explained)[0]["Plan"]

    reads = sorted(
        f"{node['Node Type']}:{node.get('Index Name', '')}"
        for node in nodes(plan)
        if node.get("Relation Name") == "accounts" or "ix_accounts" in node.get("Index Name", "")
    )
    assert "Bitmap Index Scan:ix_accounts_metadata" in reads, reads
    assert not any(read.startswith("Seq Scan") for read in reads), reads
    assert [row.id for row in found] == [uuid.UUID(hashlib.md5(b"a12340").hexdigest())]
