"""The PostgreSQL API client repository."""

from __future__ import annotations

from sqlalchemy import insert, select

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
        result = await self._db.execute(
            select(api_clients).where(api_clients.c.key_hash == key_hash)
        )
        row = result.first()
        if row is None:
            return None
        return ApiClient(id=row.id, name=row.name, key_hash=row.key_hash, created_at=row.created_at)
