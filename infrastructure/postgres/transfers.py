"""The PostgreSQL transfer repository: transfers and their entries."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select

from domain.money import Money
from domain.pagination import Page, PageRequest, decode_cursor, encode_cursor
from domain.transfer import Entry, Transfer, TransferKind, TransferStatus
from infrastructure.postgres.rows import entry_from_row
from infrastructure.postgres.tables import entries, transfers
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites


class PostgresTransferRepository:
    def __init__(self, db: Statements, pending: PendingWrites | None = None) -> None:
        self._db = db
        self._pending = pending

    async def add(self, transfer: Transfer) -> None:
        if self._pending is None:
            raise RuntimeError("a read-only unit of work writes nothing")
        self._pending.transfers.append(transfer)

    async def get(self, transfer_id: uuid.UUID) -> Transfer | None:
        result = await self._db.execute(
            select(transfers, *[c.label(f"entries_{c.name}") for c in entries.c])
            .join(entries, entries.c.transfer_id == transfers.c.id)
            .where(transfers.c.id == transfer_id)
        )
        rows = list(result.mappings())
        if not rows:
            return None
        lines = [entry_from_row(row, prefix="entries_") for row in rows]
        debit = next(line for line in lines if line.amount < 0)
        credit = next(line for line in lines if line.amount > 0)
        head = rows[0]
        return Transfer(
            id=head["id"],
            kind=TransferKind(head["kind"]),
            source_account_id=head["source_account_id"],
            destination_account_id=head["destination_account_id"],
            money=Money(head["amount"], head["currency"]),
            description=head["description"],
            status=TransferStatus(head["status"]),
            created_at=head["created_at"],
            debit=debit,
            credit=credit,
            hold_id=head["hold_id"],
            metadata=head["metadata"],
        )

    async def list_entries(self, account_id: uuid.UUID, page: PageRequest) -> Page[Entry]:
        scope = f"entries:{account_id}"
        query = (
            select(entries)
            .where(entries.c.account_id == account_id)
            .order_by(entries.c.account_version.desc())
            .limit(page.limit + 1)
        )
        if page.after is not None:
            (version,) = decode_cursor(scope, page.after, (int,))
            query = query.where(entries.c.account_version < version)
        rows = list((await self._db.execute(query)).mappings())
        items = [entry_from_row(row) for row in rows[: page.limit]]
        has_more = len(rows) > page.limit
        last_version = items[-1].account_version if items else None
        next_cursor = (
            encode_cursor(scope, [last_version]) if has_more and last_version is not None else None
        )
        return Page(items=items, next_cursor=next_cursor)

    async def latest_entry(
        self, account_id: uuid.UUID, as_of: datetime | None = None
    ) -> Entry | None:
        row = (await self._db.execute(latest_entry_query(account_id, as_of))).mappings().first()
        return None if row is None else entry_from_row(row)


def latest_entry_query(account_id: uuid.UUID, as_of: datetime | None) -> Select[Any]:
    """One index lookup: by account_version (the unique index), or, for a time, by
    ix_entries_account_history, since created_at never decreases along
    account_version and the newest entry by both is the last one applied."""
    query = select(entries).where(entries.c.account_id == account_id)
    if as_of is None:
        return query.order_by(entries.c.account_version.desc()).limit(1)
    return (
        query.where(entries.c.created_at <= as_of)
        .order_by(entries.c.created_at.desc(), entries.c.account_version.desc())
        .limit(1)
    )
