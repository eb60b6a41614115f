"""The PostgreSQL unit of work: one connection, one transaction, buffered writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncEngine

from domain.ports import (
    AccountRepository,
    ApiClientRepository,
    IdempotencyRepository,
    TransferRepository,
)
from infrastructure.keyed_locks import KeyedLocks
from infrastructure.postgres.repositories import (
    Database,
    PendingWrites,
    PostgresAccountRepository,
    PostgresApiClientRepository,
    PostgresIdempotencyRepository,
    PostgresTransferRepository,
    flush,
)


@dataclass
class PostgresStorage:
    """The engines a process shares, and what it has learnt about the database.

    Isolation is decided here, once: money-moving units of work get connections at
    SERIALIZABLE; reads get REPEATABLE READ, READ ONLY snapshots, which never fail
    with a serialization error.
    """

    engine: AsyncEngine
    known_settlements: set[str] = field(default_factory=set)
    account_locks: KeyedLocks = field(default_factory=KeyedLocks)

    def __post_init__(self) -> None:
        self.serializable = self.engine.execution_options(isolation_level="SERIALIZABLE")
        self.read_only = self.engine.execution_options(
            isolation_level="REPEATABLE READ", postgresql_readonly=True
        )

    def unit_of_work(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, self.serializable)

    def read_unit_of_work(self) -> PostgresUnitOfWork:
        return PostgresUnitOfWork(self, self.read_only)


class PostgresUnitOfWork:
    """``async with`` checks a connection out and begins; leaving rolls back whatever
    was not committed and returns the connection.

    Writes are buffered by the repositories and flushed at ``commit``; a serialization
    failure or deadlock surfaces as ``TransientConflictError`` for the runner to retry.
    """

    accounts: AccountRepository
    transfers: TransferRepository
    clients: ApiClientRepository
    idempotency: IdempotencyRepository

    def __init__(self, storage: PostgresStorage, engine: AsyncEngine) -> None:
        self._storage = storage
        self._engine = engine
        self._pending = PendingWrites()

    async def __aenter__(self) -> Self:
        self._db = Database(self._engine)
        self._accounts = PostgresAccountRepository(
            self._db, self._pending, self._storage.known_settlements, self._storage.account_locks
        )
        self.accounts = self._accounts
        self.transfers = PostgresTransferRepository(self._db, self._pending)
        self.clients = PostgresApiClientRepository(self._db)
        self.idempotency = PostgresIdempotencyRepository(self._db, self._pending)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            await self._db.close()
        finally:
            self._storage.account_locks.release(self._accounts.held_locks)
            self._accounts.held_locks = []

    async def commit(self) -> None:
        ensured_settlements = set(self._pending.settlements)
        await flush(self._db, self._pending)
        await self._db.commit()
        self._storage.known_settlements.update(ensured_settlements)

    async def rollback(self) -> None:
        self._pending.clear()
        await self._db.rollback()
