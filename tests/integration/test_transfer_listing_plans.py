"""Every filter of ``GET /v1/transfers`` is served by an index on a ledger of 50,000
transfers: the plans of the repository's own query, never a scan of ``transfers``."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from application.commands import ListTransfers
from domain.pagination import PageRequest
from domain.ports import TransferFilter
from domain.transfer import TransferKind
from infrastructure.postgres.transfers import visible_transfers_query
from tests.integration.plans import plan_nodes, reads_of
from tests.integration.postgres_bank import postgres_bank
from tests.integration.test_concurrency import open_accounts

TRANSFERS = 50_000
PAGE = 51  # the default page and the one more that says whether a next page exists


@pytest.fixture
async def ledger(engine: AsyncEngine) -> tuple[uuid.UUID, list[uuid.UUID]]:
    """A client of 4 accounts, another of 4, and 50,000 transfers among all 8 (written
    directly: through the service it would take minutes), each with a metadata key
    ``order`` of its own and one of 10 ``channel`` values."""
    bank = postgres_bank(engine).bank
    client, mine = await open_accounts(bank, 4, 1)
    _, theirs = await open_accounts(bank, 4, 1)
    everyone = mine + theirs
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO transfers (id, kind, source_account_id, destination_account_id,"
                " amount, currency, status, created_at, metadata)"
                " SELECT md5('t' || n)::uuid, 'transfer',"
                " (:accounts)[1 + n % 8], (:accounts)[1 + (n * 3 + 1) % 8], 1, 'USD', 'posted',"
                " :start + n * interval '1 second',"
                " jsonb_build_object('order', n::text, 'channel', (n % 10)::text)"
                " FROM generate_series(1, :n) n"
            ),
            {"accounts": everyone, "start": datetime(2026, 1, 1, tzinfo=UTC), "n": TRANSFERS},
        )
        await connection.execute(text("ANALYZE transfers"))
        await connection.execute(text("ANALYZE accounts"))
    return client, mine


async def plan_of(
    engine: AsyncEngine, client: uuid.UUID, kept: TransferFilter
) -> list[dict[str, Any]]:
    return await plan_nodes(engine, visible_transfers_query(client, kept, PAGE))


def on_transfers(shape: list[dict[str, Any]]) -> list[str]:
    return reads_of(shape, "transfers")


async def test_a_metadata_filter_reads_the_gin_index(
    engine: AsyncEngine, ledger: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    client, _ = ledger

    shape = await plan_of(engine, client, TransferFilter(metadata=(("order", "12345"),)))

    reads = on_transfers(shape)
    assert "Bitmap Index Scan:ix_transfers_metadata" in reads, reads
    assert not any(read.startswith("Seq Scan") for read in reads), reads


async def test_an_account_filter_reads_that_accounts_runs_on_both_sides(
    engine: AsyncEngine, ledger: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    client, mine = ledger

    for kept in (
        TransferFilter(account_id=mine[0]),
        TransferFilter(account_id=mine[0], kind=TransferKind.TRANSFER),
    ):
        shape = await plan_of(engine, client, kept)

        reads = on_transfers(shape)
        assert reads == [
            "Index Scan:ix_transfers_destination_listing",
            "Index Scan:ix_transfers_source_listing",
        ], reads
        # Each side reads one page, not the account's 12,500 transfers.
        runs = [node for node in shape if "ix_transfers" in node.get("Index Name", "")]
        assert all(node["Actual Rows"] <= PAGE for node in runs), runs


async def test_the_callers_whole_list_reads_each_account_one_page_per_side(
    engine: AsyncEngine, ledger: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    client, _ = ledger

    shape = await plan_of(engine, client, TransferFilter())

    reads = on_transfers(shape)
    assert set(reads) == {
        "Index Scan:ix_transfers_destination_listing",
        "Index Scan:ix_transfers_source_listing",
    }, reads
    runs = [node for node in shape if "ix_transfers" in node.get("Index Name", "")]
    # A loop per account of the caller's (4), a page at most each.
    assert all(node["Actual Loops"] == 4 for node in runs), runs
    assert all(node["Actual Rows"] <= PAGE for node in runs), runs


async def test_the_listing_through_the_service_matches_the_filters(
    engine: AsyncEngine, ledger: tuple[uuid.UUID, list[uuid.UUID]]
) -> None:
    client, mine = ledger
    bank = postgres_bank(engine).bank

    # Transfers written directly have no entries: only the deposits the service made
    # are whole transfers, so the listing shows those, each on one of the caller's.
    page = await bank.ledger.list_transfers(ListTransfers(client, PageRequest(), kind="deposit"))

    assert sorted(str(view.destination_account_id) for view in page.data) == sorted(
        str(account) for account in mine
    )
