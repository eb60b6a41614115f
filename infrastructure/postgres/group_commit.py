"""Group commit: concurrent money movements of one process share one transaction.

While one batch is in flight, new requests queue; the next batch takes them all. A
batch locks the union of its accounts once, in id order, at SERIALIZABLE, runs each
member's work in arrival order against the batch's locked accounts, and commits once.
No timer: at low load a batch holds one request and adds no latency; under load the
batch grows and one commit (one fsync, one round of row locks) serves many requests.

Each member still gets exactly its own answer: a member that fails is dropped alone
(whatever it did not commit never reaches the batch), the others still commit. A
serialization failure or deadlock re-runs the whole batch from scratch.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import random
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Self, TypeVar

from sqlalchemy.exc import SQLAlchemyError

from domain.account import Account
from domain.errors import ConcurrencyConflictError, IdempotencyKeyTakenError, TransientConflictError
from domain.idempotency import IdempotencyRecord
from domain.pagination import Page, PageRequest
from domain.ports import (
    AccountRepository,
    ApiClientRepository,
    IdempotencyRepository,
    TransferRepository,
    UnitOfWork,
)
from domain.transfer import Entry, Transfer
from infrastructure.postgres.repositories import (
    Database,
    PendingWrites,
    PostgresAccountRepository,
    PostgresApiClientRepository,
    PostgresIdempotencyRepository,
    PostgresTransferRepository,
    account_from_row,
    flush,
    lock_accounts,
)
from infrastructure.postgres.unit_of_work import PostgresStorage
from infrastructure.transactions import RetryCounters, RetryPolicy

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass
class _Member:
    work: Callable[[UnitOfWork], Awaitable[Any]]
    accounts: frozenset[uuid.UUID]
    future: asyncio.Future[Any]
    # The idempotency keys the member stored in the current attempt.
    keys: list[tuple[uuid.UUID, str]] = field(default_factory=list)
    result: Any = None
    error: BaseException | None = None


@dataclass
class _Batch:
    """One transaction's shared state: the locked accounts as the members left them,
    and the writes of every member that committed."""

    db: Database
    storage: PostgresStorage
    accounts: dict[uuid.UUID, Account] = field(default_factory=dict)
    writes: PendingWrites = field(default_factory=PendingWrites)
    keys: set[tuple[uuid.UUID, str]] = field(default_factory=set)

    async def lock(self, account_ids: Collection[uuid.UUID]) -> None:
        missing = sorted(set(account_ids) - set(self.accounts))
        if not missing:
            return
        result = await self.db.execute(lock_accounts(missing))
        for row in result:
            account = account_from_row(row)
            self.accounts[account.id] = account
            self.writes.loaded_versions[account.id] = account.version


class GroupCommitRunner:
    """The application's ``TransactionRunner`` for money movements (see module doc).

    ``read`` is not batched: reads run in their own read-only snapshot.
    """

    def __init__(
        self,
        storage: PostgresStorage,
        policy: RetryPolicy | None = None,
        max_batch: int = 256,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._storage = storage
        self._policy = policy or RetryPolicy()
        self._max_batch = max_batch
        self._sleep = sleep or asyncio.sleep
        self._queue: deque[_Member] = deque()
        self._drainer: asyncio.Task[None] | None = None
        self.counters = RetryCounters()
        self.batches = 0
        self.members = 0

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], accounts: Collection[uuid.UUID] = ()
    ) -> T:
        member = _Member(work, frozenset(accounts), asyncio.get_running_loop().create_future())
        self._queue.append(member)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain())
        result: T = await member.future
        return result

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._storage.read_unit_of_work() as uow:
            return await work(uow)

    async def _drain(self) -> None:
        while self._queue:
            size = min(len(self._queue), self._max_batch)
            batch = [self._queue.popleft() for _ in range(size)]
            self.batches += 1
            self.members += len(batch)
            try:
                await self._run_with_retries(batch)
            except BaseException as error:  # the batch itself failed: every member hears it
                for member in batch:
                    _settle(member, error=error)
                if isinstance(error, asyncio.CancelledError):
                    raise

    async def _run_with_retries(self, members: list[_Member]) -> None:
        attempt = 0
        while live := [member for member in members if not member.future.done()]:
            try:
                await self._run_once(live)
            except TransientConflictError:
                attempt += 1
                if attempt >= self._policy.attempts:
                    self.counters.conflicts += 1
                    for member in live:
                        _settle(member, error=ConcurrencyConflictError())
                    return
                self.counters.retries += 1
                logger.debug("transient conflict, re-running the batch (attempt %d)", attempt)
                ceiling = min(self._policy.max_delay, self._policy.base_delay * 2**attempt)
                await self._sleep(random.uniform(0, ceiling))
                continue
            except IdempotencyKeyTakenError:
                await self._drop_taken_keys(live)
                continue
            for member in live:
                _settle(member, result=member.result, error=member.error)

    async def _run_once(self, members: list[_Member]) -> None:
        """One transaction for ``members``; each member's outcome is kept on it and
        delivered only once the transaction committed."""
        db = Database(self._storage.serializable)
        batch = _Batch(db, self._storage)
        union = frozenset().union(*(member.accounts for member in members))
        held = await self._storage.account_locks.acquire(union)
        try:
            await db.lock_across_processes(union)
            await batch.lock(union)
            for member in members:
                member.keys.clear()
                try:
                    member.result, member.error = (
                        await member.work(MemberUnitOfWork(batch, member)),
                        None,
                    )
                except (TransientConflictError, ConcurrencyConflictError, SQLAlchemyError):
                    # The transaction itself failed (a conflict, a timeout, a cut
                    # connection): no later member can use it, so the batch fails.
                    raise
                except Exception as error:
                    member.result, member.error = None, error
            ensured_settlements = set(batch.writes.settlements)
            await flush(db, batch.writes)
            await db.commit()
            self._storage.known_settlements.update(ensured_settlements)
        finally:
            try:
                await db.close()
            finally:
                self._storage.account_locks.release(held)

    async def _drop_taken_keys(self, members: list[_Member]) -> None:
        """Another transaction committed some of the batch's keys first. Their members,
        and the members that lost the same key inside the batch, leave the batch with
        ``IdempotencyKeyTakenError`` (they will replay the stored outcome); the rest
        run again."""
        async with self._storage.read_unit_of_work() as uow:
            for member in members:
                for client_id, key in member.keys:
                    if await uow.idempotency.get(client_id, key) is not None:
                        _settle(member, error=IdempotencyKeyTakenError())
        for member in members:
            if isinstance(member.error, IdempotencyKeyTakenError):
                _settle(member, error=member.error)


def _settle(member: _Member, *, result: Any = None, error: BaseException | None = None) -> None:
    if member.future.done():  # the caller went away (cancelled)
        return
    if error is not None:
        member.future.set_exception(error)
    else:
        member.future.set_result(result)


class MemberUnitOfWork:
    """One member's view of the batch: it sees the batch's accounts as the earlier
    members left them, and its writes join the batch only when it commits."""

    accounts: AccountRepository
    transfers: TransferRepository
    clients: ApiClientRepository
    idempotency: IdempotencyRepository

    def __init__(self, batch: _Batch, member: _Member) -> None:
        self._batch = batch
        self._member = member
        self._writes = PendingWrites()
        self.accounts = _MemberAccounts(batch, self._writes)
        self.transfers = _MemberTransfers(batch, self._writes)
        self.idempotency = _MemberIdempotency(batch, self._writes)
        self.clients = PostgresApiClientRepository(batch.db)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._writes.clear()

    async def commit(self) -> None:
        batch, writes = self._batch, self._writes
        for account in writes.accounts.values():
            batch.accounts[account.id] = account
            batch.writes.accounts[account.id] = account
        batch.writes.transfers += writes.transfers
        for record in writes.records:
            batch.writes.records.append(record)
            batch.keys.add((record.client_id, record.key))
            self._member.keys.append((record.client_id, record.key))
        batch.writes.settlements |= writes.settlements
        writes.clear()

    async def rollback(self) -> None:
        self._writes.clear()


class _MemberAccounts:
    def __init__(self, batch: _Batch, writes: PendingWrites) -> None:
        self._batch = batch
        self._writes = writes
        self._reader = PostgresAccountRepository(
            batch.db, writes, batch.storage.known_settlements, batch.storage.account_locks
        )

    async def add(self, account: Account) -> None:
        raise NotImplementedError("accounts are not opened in a group commit")

    async def get(self, account_id: uuid.UUID) -> Account | None:
        if account_id in self._batch.accounts:
            return copy.copy(self._batch.accounts[account_id])
        return await self._reader.get(account_id)

    async def get_many_for_update(
        self, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        await self._batch.lock(account_ids)
        return {
            account_id: copy.copy(self._batch.accounts[account_id])
            for account_id in sorted(set(account_ids))
            if account_id in self._batch.accounts
        }

    async def save(self, account: Account) -> None:
        if account.id not in self._batch.accounts:
            raise ValueError(f"account {account.id} was not locked in this batch")
        self._writes.accounts[account.id] = account

    async def settlement(self, currency: str, now: datetime) -> Account:
        return await self._reader.settlement(currency, now)

    async def settlement_balance(self, currency: str) -> int:
        return await self._reader.settlement_balance(currency)

    async def list_for_owner(self, owner_id: uuid.UUID, page: PageRequest) -> Page[Account]:
        return await self._reader.list_for_owner(owner_id, page)


class _MemberTransfers:
    def __init__(self, batch: _Batch, writes: PendingWrites) -> None:
        self._writes = writes
        self._reader = PostgresTransferRepository(batch.db, writes)

    async def add(self, transfer: Transfer) -> None:
        self._writes.transfers.append(transfer)

    async def get(self, transfer_id: uuid.UUID) -> Transfer | None:
        return await self._reader.get(transfer_id)

    async def list_entries(self, account_id: uuid.UUID, page: PageRequest) -> Page[Entry]:
        return await self._reader.list_entries(account_id, page)


class _MemberIdempotency:
    def __init__(self, batch: _Batch, writes: PendingWrites) -> None:
        self._batch = batch
        self._writes = writes
        self._reader = PostgresIdempotencyRepository(batch.db, writes)

    async def get(self, client_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        return await self._reader.get(client_id, key)

    async def add(self, record: IdempotencyRecord) -> None:
        # Two requests with one key in the same batch: the later one lost the race.
        if (record.client_id, record.key) in self._batch.keys:
            raise IdempotencyKeyTakenError()
        self._writes.records.append(record)

    async def purge(self, created_before: datetime) -> int:
        raise NotImplementedError("keys are not purged in a group commit")
