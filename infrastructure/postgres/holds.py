"""The PostgreSQL hold repository."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, func, literal, or_, select, tuple_, union
from sqlalchemy.types import DateTime

from domain.hold import Hold, HoldStatus
from domain.pagination import Page, PageRequest, decode_cursor, encode_cursor, timestamp_position
from infrastructure.postgres.accounts import LockedAccounts, from_cursor_position, uuid_from_cursor
from infrastructure.postgres.rows import hold_from_row, hold_row
from infrastructure.postgres.tables import holds
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites

# The advisory lock that lets one transaction at a time sweep expired holds ("bank" in
# the high half, as for the purge of idempotency keys).
SWEEP_LOCK_KEY = (0x62616E6B << 32) | 0x686F_6C64  # "hold"


class LockedHolds(Protocol):
    """The holds a writing unit of work's transaction holds locked."""

    async def lock_hold(self, hold_id: uuid.UUID) -> Hold | None:
        """A copy of the hold, locked, as this transaction has it."""
        ...


class PostgresHoldRepository:
    """A writing unit of work passes its transaction's locks (``locked``); a read-only
    one passes none and cannot write."""

    def __init__(
        self,
        db: Statements,
        pending: PendingWrites | None = None,
        locked: LockedHolds | None = None,
        accounts: LockedAccounts | None = None,
    ) -> None:
        self._db = db
        self._pending = pending
        self._locked = locked
        self._accounts = accounts

    async def add(self, hold: Hold) -> None:
        source = self._accounts.get(hold.source_account_id) if self._accounts else None
        destination = self._accounts.get(hold.destination_account_id) if self._accounts else None
        if self._pending is None or source is None or destination is None:
            raise RuntimeError("a hold is added by the unit of work that locked its accounts")
        self._pending.new_holds.append(hold_row(hold, source.owner_id, destination.owner_id))

    async def get(self, hold_id: uuid.UUID) -> Hold | None:
        row = (await self._db.execute(select(holds).where(holds.c.id == hold_id))).first()
        return None if row is None else hold_from_row(row)

    async def get_for_update(self, hold_id: uuid.UUID) -> Hold | None:
        if self._locked is None:
            raise RuntimeError("a read-only unit of work locks nothing")
        return await self._locked.lock_hold(hold_id)

    async def save(self, hold: Hold) -> None:
        if self._pending is None:
            raise RuntimeError("a read-only unit of work writes nothing")
        self._pending.holds[hold.id] = hold

    async def list_visible(
        self,
        client_id: uuid.UUID,
        page: PageRequest,
        now: datetime,
        status: HoldStatus | None = None,
        account_id: uuid.UUID | None = None,
    ) -> Page[Hold]:
        """Two index scans (source side, destination side), each at most one page
        long, merged: an OR would lose the index order."""
        scope = f"holds:{client_id}:{status}:{account_id}"
        conditions: list[ColumnElement[bool]] = []
        if status is not None:
            conditions.append(_has_status(status, now))
        if page.after is not None:
            micros, hold_id = decode_cursor(scope, page.after, (int, str))
            after = (from_cursor_position(micros), uuid_from_cursor(hold_id))
            conditions.append(tuple_(holds.c.created_at, holds.c.id) < after)
        if account_id is None:
            sides = [
                holds.c.source_owner_id == client_id,
                holds.c.destination_owner_id == client_id,
            ]
        else:
            sides = [
                holds.c.source_account_id == account_id,
                holds.c.destination_account_id == account_id,
            ]
        newest = [holds.c.created_at.desc(), holds.c.id.desc()]
        merged = union(
            *(
                select(holds).where(side, *conditions).order_by(*newest).limit(page.limit + 1)
                for side in sides
            )
        ).subquery()
        query = (
            select(merged)
            .order_by(merged.c.created_at.desc(), merged.c.id.desc())
            .limit(page.limit + 1)
        )
        rows = list(await self._db.execute(query))
        items = [hold_from_row(row) for row in rows[: page.limit]]
        next_cursor = (
            encode_cursor(scope, [timestamp_position(items[-1].created_at), str(items[-1].id)])
            if len(rows) > page.limit
            else None
        )
        return Page(items=items, next_cursor=next_cursor)

    async def expired(self, now: datetime, limit: int) -> list[Hold]:
        query = (
            select(holds)
            .where(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= now)
            .order_by(holds.c.expires_at, holds.c.id)
            .limit(limit)
        )
        return [hold_from_row(row) for row in await self._db.execute(query)]

    async def claim_sweep(self) -> bool:
        """A transaction-level advisory lock, released at commit: it holds behind a
        transaction-mode PgBouncer too."""
        taken = await self._db.execute(select(func.pg_try_advisory_xact_lock(SWEEP_LOCK_KEY)))
        return bool(taken.scalar_one())


def _has_status(status: HoldStatus, now: datetime) -> ColumnElement[bool]:
    """The status every read shows at ``now`` (``Hold.as_of``): an active hold whose
    expiry has come is expired."""
    moment: Any = literal(now, DateTime(timezone=True))
    due = and_(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at <= moment)
    if status is HoldStatus.ACTIVE:
        return and_(holds.c.status == HoldStatus.ACTIVE.value, holds.c.expires_at > moment)
    if status is HoldStatus.EXPIRED:
        return or_(holds.c.status == HoldStatus.EXPIRED.value, due)
    return holds.c.status == status.value


def lock_holds(hold_ids: Collection[uuid.UUID]) -> Any:
    """Load and lock holds in one statement, in ascending id order."""
    return (
        select(holds)
        .where(holds.c.id.in_(sorted(set(hold_ids))))
        .order_by(holds.c.id)
        .with_for_update()
    )
