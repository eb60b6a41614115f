"""The account list's metadata filter is served by its GIN index on a client of 20,000
accounts, where a walk of the owner's accounts would read thousands of rows: the plan of
the repository's own query."""

from __future__ import annotations

import hashlib
import uuid

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import CreateApiClient
from infrastructure.postgres.accounts import owner_accounts_query
from infrastructure.postgres.locking import account_columns
from tests.integration.plans import plan_nodes, reads_of
from tests.integration.postgres_bank import postgres_bank

ACCOUNTS = 20_000
PAGE = 51


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
    query = owner_accounts_query(select(*account_columns(func.now())), client, wanted, PAGE)
    reads = reads_of(await plan_nodes(engine, query), "accounts")
    async with engine.connect() as connection:
        found = (await connection.execute(query)).all()

    assert "Bitmap Index Scan:ix_accounts_metadata" in reads, reads
    assert not any(read.startswith("Seq Scan") for read in reads), reads
    assert [row.id for row in found] == [uuid.UUID(hashlib.md5(b"a12340").hexdigest())]
