"""The PostgreSQL account repository."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import DateTime, Text, cast, func, literal, literal_column, select, tuple_
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert

from domain.account import Account, settlement_account_id
from domain.errors import ValidationError
from domain.pagination import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    timestamp_position,
)
from domain.ports import account_list_scope
from infrastructure.postgres.locking import account_columns
from infrastructure.postgres.rows import account_from_row, account_row
from infrastructure.postgres.tables import accounts, entries
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class LockedAccounts(Protocol):
    """The accounts a writing unit of work holds locked: owned by its transaction."""

    async def lock(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Account]:
        """Copies of the accounts that exist among ``account_ids``, locked."""
        ...

    def get(self, account_id: uuid.UUID) -> Account | None:
        """A copy of the account as this transaction has it, if it holds it locked."""
        ...


class PostgresAccountRepository:
    """Holds no locks of its own: a writing unit of work passes the accounts its
    transaction locked (``locked``); a read-only one passes none and cannot write."""

    def __init__(
        self,
        db: Statements,
        pending: PendingWrites | None = None,
        locked: LockedAccounts | None = None,
        known_settlements: set[str] | None = None,
        clock: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        self._db = db
        self._pending = pending
        self._locked = locked
        self._known_settlements = known_settlements if known_settlements is not None else set()
        # The unit of work's clock once it has one; until then the transaction's start.
        self._clock = clock

    def _select(self) -> Any:
        now = self._clock()
        moment = func.now() if now is None else literal(now, DateTime(timezone=True))
        return select(*account_columns(moment))

    async def add(self, account: Account) -> None:
        self._writes().new_accounts.append(account)

    async def get(self, account_id: uuid.UUID) -> Account | None:
        if self._locked is not None and (account := self._locked.get(account_id)) is not None:
            return account
        result = await self._db.execute(self._select().where(accounts.c.id == account_id))
        row = result.first()
        return None if row is None else account_from_row(row)

    async def get_many_for_update(
        self, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        if self._locked is None:
            raise RuntimeError("a read-only unit of work locks nothing")
        return await self._locked.lock(account_ids)

    async def save(self, account: Account) -> None:
        if self._locked is None or self._locked.get(account.id) is None:
            raise ValueError(f"account {account.id} was not locked in this unit of work")
        self._writes().accounts[account.id] = account

    async def settlement(self, currency: str, now: datetime) -> Account:
        account = Account.settlement(currency=currency, now=now)
        if currency not in self._known_settlements:
            # Idempotent thanks to the deterministic id; after the first commit the
            # process knows the row exists and skips the round trip.
            await self._db.execute(
                pg_insert(accounts).values(account_row(account)).on_conflict_do_nothing()
            )
            self._writes().settlements.add(currency)
        return account

    async def settlement_balance(self, currency: str) -> int:
        result = await self._db.execute(
            select(func.coalesce(func.sum(entries.c.amount), 0)).where(
                entries.c.account_id == settlement_account_id(currency)
            )
        )
        return int(result.scalar_one())

    async def list_for_owner(
        self,
        owner_id: uuid.UUID,
        page: PageRequest,
        metadata: tuple[tuple[str, str], ...] = (),
    ) -> Page[Account]:
        scope = account_list_scope(owner_id, metadata)
        query = owner_accounts_query(self._select(), owner_id, metadata, page.limit + 1)
        if page.after is not None:
            micros, account_id = decode_cursor(scope, page.after, (int, str))
            after = (from_cursor_position(micros), uuid_from_cursor(account_id))
            query = query.where(tuple_(accounts.c.created_at, accounts.c.id) < after)
        rows = list(await self._db.execute(query))
        items = [account_from_row(row) for row in rows[: page.limit]]
        has_more = len(rows) > page.limit
        next_cursor = (
            encode_cursor(scope, [timestamp_position(items[-1].created_at), str(items[-1].id)])
            if has_more
            else None
        )
        return Page(items=items, next_cursor=next_cursor)

    def _writes(self) -> PendingWrites:
        if self._pending is None:
            raise RuntimeError("a read-only unit of work writes nothing")
        return self._pending


def owner_accounts_query(
    columns: Any, owner_id: uuid.UUID, metadata: tuple[tuple[str, str], ...], limit: int
) -> Any:
    """The owner's first ``limit`` accounts, newest first (ix_accounts_owner_listing);
    a metadata filter may instead be answered by ix_accounts_metadata (``@>``)."""
    query = (
        columns.where(accounts.c.owner_id == owner_id)
        .order_by(accounts.c.created_at.desc(), accounts.c.id.desc())
        .limit(limit)
    )
    if metadata:
        # Bound as text and cast by PostgreSQL, so that the query also renders with
        # literal values (EXPLAIN in the tests); the constant states the partial index's
        # predicate, which every filter implies, for generic plans too.
        wanted = cast(literal(json.dumps(dict(metadata)), Text), JSONB)
        query = query.where(
            accounts.c.metadata.contains(wanted),
            accounts.c.metadata != literal_column("'{}'::jsonb"),
        )
    return query


def from_cursor_position(micros: str | int) -> datetime:
    assert isinstance(micros, int)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValidationError("the cursor is not one this list issued") from None


def uuid_from_cursor(value: str | int) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError("the cursor is not one this list issued") from None
