"""The PostgreSQL idempotency repository: one stored outcome per (client, key)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select

from domain.idempotency import IdempotencyRecord
from infrastructure.postgres.tables import idempotency_keys
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites


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

    async def purge(self, created_before: datetime) -> int:
        result = await self._db.execute(
            idempotency_keys.delete().where(idempotency_keys.c.created_at < created_before)
        )
        return int(result.rowcount)
