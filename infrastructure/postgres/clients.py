"""The PostgreSQL API client repository."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Row, insert, select, update

from domain.api_client import ApiClient
from infrastructure.postgres.tables import api_clients
from infrastructure.postgres.transaction import Statements


class PostgresApiClientRepository:
    def __init__(self, db: Statements) -> None:
        self._db = db

    async def add(self, client: ApiClient) -> None:
        await self._db.execute(
            insert(api_clients).values(
                id=client.id,
                name=client.name,
                key_hash=client.key_hash,
                created_at=client.created_at,
            )
        )

    async def get_by_key_hash(self, key_hash: str) -> ApiClient | None:
        """The client whose current or previous key this is."""
        current = api_clients.c.key_hash == key_hash
        previous = api_clients.c.previous_key_hash == key_hash
        row = (await self._db.execute(select(api_clients).where(current | previous))).first()
        return None if row is None else _client_from_row(row)

    async def get(self, client_id: uuid.UUID) -> ApiClient | None:
        result = await self._db.execute(select(api_clients).where(api_clients.c.id == client_id))
        row = result.first()
        return None if row is None else _client_from_row(row)

    async def save(self, client: ApiClient) -> None:
        await self._db.execute(
            update(api_clients)
            .where(api_clients.c.id == client.id)
            .values(
                key_hash=client.key_hash,
                previous_key_hash=client.previous_key_hash,
                previous_key_expires_at=client.previous_key_expires_at,
                revoked_at=client.revoked_at,
            )
        )


def _client_from_row(row: Row[Any]) -> ApiClient:
    return ApiClient(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        created_at=row.created_at,
        previous_key_hash=row.previous_key_hash,
        previous_key_expires_at=row.previous_key_expires_at,
        revoked_at=row.revoked_at,
    )
