"""The in-memory unit of work: a working copy committed by swapping it in."""

from __future__ import annotations

from datetime import datetime
from types import TracebackType
from typing import Self

from application.transactions import RetryPolicy, Transactions
from domain.ports import (
    AccountRepository,
    ApiClientRepository,
    BatchRepository,
    HoldRepository,
    IdempotencyRepository,
    TransferRepository,
)
from infrastructure.memory.repositories import (
    MemoryAccountRepository,
    MemoryApiClientRepository,
    MemoryBatchRepository,
    MemoryHoldRepository,
    MemoryIdempotencyRepository,
    MemoryTransferRepository,
)
from infrastructure.memory.store import MemoryState, MemoryStore


class InMemoryUnitOfWork:
    """Holds the store's lock from ``__aenter__`` to ``__aexit__``.

    Work happens on a copy of the committed state; ``commit`` publishes the copy,
    ``rollback`` (and leaving without commit) throws it away.
    """

    accounts: AccountRepository
    transfers: TransferRepository
    clients: ApiClientRepository
    idempotency: IdempotencyRepository
    holds: HoldRepository
    batches: BatchRepository

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._working: MemoryState | None = None
        self._now: datetime | None = None

    async def __aenter__(self) -> Self:
        await self._store.lock.acquire()
        # Read once the store is ours: no change already made is later than it.
        self._now = self._store.clock()
        self._begin()
        return self

    async def now(self) -> datetime:
        if self._now is None:
            raise RuntimeError("the clock is read inside the unit of work")
        return self._now

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._working = None
        self._store.lock.release()

    def _begin(self) -> None:
        assert self._now is not None
        self._working = self._store.state.copy()
        self.accounts = MemoryAccountRepository(self._working, self._now)
        self.transfers = MemoryTransferRepository(self._working)
        self.clients = MemoryApiClientRepository(self._working)
        self.idempotency = MemoryIdempotencyRepository(self._working)
        self.holds = MemoryHoldRepository(self._working)
        self.batches = MemoryBatchRepository(self._working)

    async def commit(self) -> None:
        if self._working is None:
            raise RuntimeError("commit outside the unit of work")
        self._store.state = self._working
        self._begin()

    async def rollback(self) -> None:
        if self._working is None:
            raise RuntimeError("rollback outside the unit of work")
        self._begin()


def memory_transactions(store: MemoryStore, policy: RetryPolicy | None = None) -> Transactions:
    """The application's transactions over the in-memory adapter."""
    return Transactions(
        write=lambda accounts=(), holds=(): InMemoryUnitOfWork(store),
        read=lambda: InMemoryUnitOfWork(store),
        policy=policy,
    )
