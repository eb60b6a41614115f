"""The PostgreSQL units of work: one that writes, as a member of a batch of the
executor (``executor.py``), and a read-only one on a snapshot of its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from datetime import datetime
from types import TracebackType
from typing import Any, Self

from sqlalchemy import func, select
from sqlalchemy.sql import Executable

from domain.account import Account
from domain.errors import IdempotencyKeyTakenError
from domain.hold import Hold
from domain.ports import (
    AccountRepository,
    ApiClientRepository,
    BatchRepository,
    HoldRepository,
    IdempotencyRepository,
    TransferRepository,
)
from infrastructure.postgres.accounts import PostgresAccountRepository
from infrastructure.postgres.batches import PostgresBatchRepository
from infrastructure.postgres.clients import PostgresApiClientRepository
from infrastructure.postgres.executor import Batch, TransactionExecutor, Turn
from infrastructure.postgres.holds import PostgresHoldRepository
from infrastructure.postgres.idempotency_records import PostgresIdempotencyRepository
from infrastructure.postgres.transaction import Transaction
from infrastructure.postgres.transfers import PostgresTransferRepository
from infrastructure.postgres.writes import PendingWrites


class PostgresUnitOfWork:
    """A writing unit of work: ``async with`` queues it for a batch and waits for its
    turn; ``commit`` hands its writes to the batch and returns once the batch committed;
    leaving without commit rolls back whatever it did and ends its turn.

    ``accounts`` are the accounts it will lock, so the batch locks them before its
    snapshot; others can still be locked, later and at a higher risk of a retry.
    ``holds`` are the holds it will lock: the batch locks them right after the
    accounts, all members' in one statement.
    """

    def __init__(
        self,
        executor: TransactionExecutor,
        accounts: Collection[uuid.UUID],
        holds: Collection[uuid.UUID] = (),
    ) -> None:
        self._executor = executor
        self._accounts = frozenset(accounts)
        self._holds = frozenset(holds)
        self._pending = PendingWrites()
        self._turn: Turn | None = None
        self._share: _Share | None = None
        self._failure: BaseException | None = None
        self._ended = False

    async def __aenter__(self) -> Self:
        turn = self._turn = self._executor.queue(self._accounts, self._holds)
        try:
            started = await turn.started
        except asyncio.CancelledError:
            if turn.started.done() and not turn.started.cancelled():
                _end(turn, committed=False)  # the turn came, but its caller went away
            raise
        if isinstance(started, Batch):
            share = self._share = _Share(started)
            # Made once per unit of work: the block may use them many times.
            self._accounts_repository = PostgresAccountRepository(
                share,
                self._pending,
                share,
                self._executor.known_settlements,
                clock=lambda: started.now,
            )
            self._transfers_repository = PostgresTransferRepository(share, self._pending)
            self._clients_repository = PostgresApiClientRepository(share)
            self._idempotency_repository = PostgresIdempotencyRepository(share, self._pending)
            self._holds_repository = PostgresHoldRepository(share, self._pending, share, share)
            self._batches_repository = PostgresBatchRepository(share, self._pending)
        else:
            # No batch will come (it could not begin): the first use of this unit of
            # work raises why, inside the caller's block, where the retry loop sees it.
            self._failure = started
            self._ended = True
        return self

    @property
    def accounts(self) -> AccountRepository:
        self._in_turn()
        return self._accounts_repository

    @property
    def transfers(self) -> TransferRepository:
        self._in_turn()
        return self._transfers_repository

    @property
    def clients(self) -> ApiClientRepository:
        self._in_turn()
        return self._clients_repository

    @property
    def idempotency(self) -> IdempotencyRepository:
        self._in_turn()
        return self._idempotency_repository

    @property
    def holds(self) -> HoldRepository:
        self._in_turn()
        return self._holds_repository

    @property
    def batches(self) -> BatchRepository:
        self._in_turn()
        return self._batches_repository

    async def now(self) -> datetime:
        """The batch's clock (``Batch.clock``): every member decides by the same time."""
        return await self._in_turn().batch.clock()

    async def commit(self) -> None:
        share = self._in_turn()
        assert self._turn is not None
        batch = share.batch
        if any((r.client_id, r.key) in batch.keys for r in self._pending.records):
            raise IdempotencyKeyTakenError()  # an earlier member of this batch has the key
        batch.merge(self._pending, self._turn)
        self._ended = True
        _end(self._turn, committed=True)
        await self._turn.settled

    async def rollback(self) -> None:
        share = self._in_turn()
        self._pending.clear()
        await share.undo()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._ended or self._turn is None:
            return
        self._ended = True
        self._pending.clear()
        try:
            if self._share is not None:
                await self._share.undo()
        finally:
            _end(self._turn, committed=False)

    def _in_turn(self) -> _Share:
        if self._failure is not None:
            raise self._failure
        if self._share is None or self._ended:
            raise RuntimeError("use the unit of work inside its `async with`, before commit")
        return self._share


class _Share:
    """A member's share of its batch's transaction. Its statements run inside a
    savepoint of its own, taken at its first statement (most members run none), so
    ``undo`` rolls back what it did and no more."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self._savepoint: str | None = None
        self._loaded: list[uuid.UUID] = []
        self._loaded_holds: list[uuid.UUID] = []

    async def execute(self, statement: Executable, parameters: Any = None) -> Any:
        await self._enter_savepoint()
        return await self.batch.tx.execute(statement, parameters)

    async def lock(self, account_ids: Collection[uuid.UUID]) -> dict[uuid.UUID, Account]:
        if set(account_ids) - self.batch.requested:
            await self._enter_savepoint()
            self._loaded += await self.batch.load(account_ids)
        return {
            account_id: account
            for account_id in sorted(set(account_ids))
            if (account := self.batch.copy_of(account_id)) is not None
        }

    def get(self, account_id: uuid.UUID) -> Account | None:
        return self.batch.copy_of(account_id)

    async def lock_hold(self, hold_id: uuid.UUID) -> Hold | None:
        if hold_id not in self.batch.holds:
            await self._enter_savepoint()
            self._loaded_holds += await self.batch.load_holds([hold_id])
        return self.batch.hold_copy(hold_id)

    async def undo(self) -> None:
        if self._savepoint is None:
            return
        try:
            await self.batch.tx.run(f"ROLLBACK TO SAVEPOINT {self._savepoint}")
        except BaseException as error:
            self.batch.broken = error
            raise
        self.batch.forget(self._loaded, self._loaded_holds)
        self._loaded = []
        self._loaded_holds = []

    async def _enter_savepoint(self) -> None:
        if self._savepoint is None:
            name = self.batch.new_savepoint()
            await self.batch.tx.run(f"SAVEPOINT {name}")
            self._savepoint = name


def _end(turn: Turn, *, committed: bool) -> None:
    if not turn.finished.done():
        turn.finished.set_result(committed)


class ReadUnitOfWork:
    """A read-only snapshot (REPEATABLE READ, READ ONLY), which never conflicts."""

    def __init__(self, executor: TransactionExecutor) -> None:
        self._executor = executor
        self._tx: Transaction | None = None

    async def __aenter__(self) -> Self:
        self._tx = self._executor.transaction()
        try:
            await self._executor.begin_read(self._tx)
        except BaseException:
            await self._tx.close()
            raise
        self.accounts: AccountRepository = PostgresAccountRepository(self._tx)
        self.transfers: TransferRepository = PostgresTransferRepository(self._tx)
        self.clients: ApiClientRepository = PostgresApiClientRepository(self._tx)
        self.idempotency: IdempotencyRepository = PostgresIdempotencyRepository(self._tx)
        self.holds: HoldRepository = PostgresHoldRepository(self._tx)
        self.batches: BatchRepository = PostgresBatchRepository(self._tx)
        self._now: datetime | None = None
        return self

    async def now(self) -> datetime:
        """The transaction's start (``now()``): the time its account reads split
        expired holds by, so a read shows one consistent moment."""
        if self._now is None:
            assert self._tx is not None
            self._now = (await self._tx.execute(select(func.now()))).scalar_one()
        return self._now

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._tx is not None:
            await self._tx.close()

    async def commit(self) -> None:
        """Nothing to commit: the snapshot ends with the block."""

    async def rollback(self) -> None:
        """Nothing to roll back."""
