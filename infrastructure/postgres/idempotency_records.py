"""The PostgreSQL idempotency repository: one stored outcome per (client, key)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import func, select, tuple_

from domain.idempotency import IdempotencyRecord
from infrastructure.postgres.tables import idempotency_keys
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites

# The advisory lock that lets one transaction at a time purge expired keys: "bank" in
# the high half keeps it clear of other applications' advisory locks on the database.
PURGE_LOCK_KEY = (0x62616E6B << 32) | 0x7075_7267  # "purg"


class PostgresIdempotencyRepository:
    def __init__(self, db: Statements, pending: PendingWrites | None = None) -> None:
        self._db = db
        self._pending = pending

    async def get(self, client_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        result = await self._db.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.client_id == client_id, idempotency_keys.c.key == key
            )
        )
        row = result.first()
        if row is None:
            return None
        return IdempotencyRecord(
            client_id=row.client_id,
            key=row.key,
            fingerprint=row.fingerprint,
            outcome=row.outcome,
            created_at=row.created_at,
        )

    async def add(self, record: IdempotencyRecord) -> None:
        """Buffered; a key another transaction stored first fails at commit."""
        if self._pending is None:
            raise RuntimeError("a read-only unit of work writes nothing")
        self._pending.records.append(record)

    async def purge(self, created_before: datetime, limit: int) -> int:
        """Deletes the oldest ``limit`` expired records, unless another transaction is
        purging: then nothing, at once, rather than racing it for the same rows.

        The lock is a transaction-level advisory lock, released at commit, so it holds
        behind a transaction-mode PgBouncer too (no session state survives a
        transaction there).
        """
        if self._pending is None:
            raise RuntimeError("a read-only unit of work writes nothing")
        taken = await self._db.execute(select(func.pg_try_advisory_xact_lock(PURGE_LOCK_KEY)))
        if not taken.scalar_one():
            return 0
        oldest = (
            select(idempotency_keys.c.client_id, idempotency_keys.c.key)
            .where(idempotency_keys.c.created_at < created_before)
            .order_by(idempotency_keys.c.created_at)
            .limit(limit)
        )
        result = await self._db.execute(
            idempotency_keys.delete().where(
                tuple_(idempotency_keys.c.client_id, idempotency_keys.c.key).in_(oldest)
            )
        )
        return int(result.rowcount)
