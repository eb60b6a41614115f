"""The PostgreSQL batch repository."""

from __future__ import annotations

import json
import uuid

from sqlalchemy import select

from domain.batch import Batch
from infrastructure.postgres.tables import batches
from infrastructure.postgres.transaction import Statements
from infrastructure.postgres.writes import PendingWrites


class PostgresBatchRepository:
    def __init__(self, db: Statements, pending: PendingWrites | None = None) -> None:
        self._db = db
        self._pending = pending

    async def add(self, batch: Batch) -> None:
        """Sent at commit, with the batch's transfers (``writes.flush``)."""
        assert self._pending is not None, "a read-only unit of work adds nothing"
        self._pending.batches.append(batch)

    async def get(self, batch_id: uuid.UUID) -> Batch | None:
        row = (await self._db.execute(select(batches).where(batches.c.id == batch_id))).first()
        if row is None:
            return None
        return Batch(
            id=row.id,
            client_id=row.client_id,
            atomic=row.atomic,
            created_at=row.created_at,
            answer=json.dumps(row.answer, separators=(",", ":")),
            metadata=row.metadata,
        )
