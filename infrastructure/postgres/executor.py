"""The one write path: every PostgreSQL transaction that writes runs here.

Units of work that want to write queue up; a batch takes those waiting and runs them in
one transaction (group commit, docs/adr/005). A lone unit of work is a batch of one.
This module is the one place that owns, for every write:

1. ``BEGIN ISOLATION LEVEL SERIALIZABLE`` with the ``SET LOCAL`` settings and the lock
   strategy's waits, in one round trip (``locking.py``);
2. ``SELECT ... FOR UPDATE`` of the union of the members' accounts, in id order;
3. each member's turn, in arrival order, against the accounts as the earlier members
   left them. A member's own statements run inside a savepoint of its own, taken at its
   first statement, so a statement that fails (a timeout, a conflict) costs that member
   only: it is rolled back to its savepoint and retried or refused on its own, and the
   others go on;
4. the flush of every committed member's writes, the ``COMMIT``, and the release of
   the connection.

A batch that cannot even take its locks in time is split: its members run again each
as a batch of one, so unrelated members commit and only the blocked one fails. While a
batch runs, the next one waits for it (that is what makes batches grow under load),
unless the running one stalls: after ``stall_after`` seconds another batch may start.

Each member hears its own outcome: its commit returns once the batch committed, or
raises what failed the batch (a serialization failure re-runs the member, through the
retry loop of ``application/transactions.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import uuid
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime

from psycopg import errors as pg_errors
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.account import Account
from domain.errors import ConcurrencyConflictError, IdempotencyKeyTakenError, TransientConflictError
from domain.hold import Hold
from infrastructure.postgres.holds import lock_holds
from infrastructure.postgres.locking import LockStrategy, lock_accounts
from infrastructure.postgres.rows import account_from_row, hold_from_row
from infrastructure.postgres.tables import idempotency_keys
from infrastructure.postgres.transaction import (
    READ_ONLY,
    SERIALIZABLE,
    Transaction,
    TransactionSettings,
)
from infrastructure.postgres.writes import PendingWrites, flush

logger = logging.getLogger(__name__)


@dataclass(eq=False)
class Turn:
    """One unit of work's place in the queue and then in a batch."""

    accounts: frozenset[uuid.UUID]
    holds: frozenset[uuid.UUID]
    # The batch, once it is this member's turn; or why no batch will come.
    started: asyncio.Future[Batch | BaseException]
    # Set by the member when its turn ends: True if it committed writes.
    finished: asyncio.Future[bool]
    # The batch's outcome for a member that committed.
    settled: asyncio.Future[None]
    alone: bool = False
    keys: list[tuple[uuid.UUID, str]] = field(default_factory=list)


class Batch:
    """One transaction's shared state: the accounts it locked, as the members left them,
    and the writes of every member that committed."""

    def __init__(self, tx: Transaction) -> None:
        self.tx = tx
        self.accounts: dict[uuid.UUID, Account] = {}
        self.requested: set[uuid.UUID] = set()
        # The holds it locked, as the members left them (None: locked, not found).
        self.holds: dict[uuid.UUID, Hold | None] = {}
        self.writes = PendingWrites()
        self.keys: set[tuple[uuid.UUID, str]] = set()
        # Set when the transaction can no longer be used: the members after it fail.
        self.broken: BaseException | None = None
        # The clock every member decides by: the database's, read with the first locks.
        self.now: datetime | None = None
        self._savepoints = 0

    async def clock(self) -> datetime:
        """The batch's clock; read on its own when no account was locked."""
        if self.now is None:
            self.now = (await self.tx.execute(select(func.clock_timestamp()))).scalar_one()
        return self.now

    async def load(self, account_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        """Lock and load the accounts not loaded yet; returns those it loaded."""
        missing = sorted(set(account_ids) - self.requested)
        if not missing:
            return []
        self.requested.update(missing)
        loaded = []
        for row in await self.tx.execute(lock_accounts(missing, self.now)):
            self.now = row.clock
            account = account_from_row(row)
            self.accounts[account.id] = account
            self.writes.loaded_versions[account.id] = account.version
            loaded.append(account.id)
        return loaded

    async def load_holds(self, hold_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        """Lock and load the holds not loaded yet, in id order, after the accounts (the
        order every transaction takes them in); returns those it loaded."""
        missing = sorted(set(hold_ids) - set(self.holds))
        if not missing:
            return []
        for hold_id in missing:
            self.holds[hold_id] = None
        for row in await self.tx.execute(lock_holds(missing)):
            self.holds[row.id] = hold_from_row(row)
        return missing

    def hold_copy(self, hold_id: uuid.UUID) -> Hold | None:
        hold = self.holds.get(hold_id)
        return None if hold is None else copy.copy(hold)

    def forget(
        self, account_ids: Collection[uuid.UUID], hold_ids: Collection[uuid.UUID] = ()
    ) -> None:
        """Accounts and holds whose locks a rolled-back savepoint released."""
        for account_id in account_ids:
            self.requested.discard(account_id)
            self.accounts.pop(account_id, None)
            self.writes.loaded_versions.pop(account_id, None)
        for hold_id in hold_ids:
            self.holds.pop(hold_id, None)

    def copy_of(self, account_id: uuid.UUID) -> Account | None:
        account = self.accounts.get(account_id)
        return None if account is None else copy.copy(account)

    def new_savepoint(self) -> str:
        self._savepoints += 1
        return f"member_{self._savepoints}"

    def merge(self, pending: PendingWrites, turn: Turn) -> None:
        """A member committed: its writes join the batch's."""
        self.accounts.update(pending.accounts)
        self.holds.update(pending.holds)
        for record in pending.records:
            self.keys.add((record.client_id, record.key))
            turn.keys.append((record.client_id, record.key))
        self.writes.merge(pending)
        pending.clear()


class TransactionExecutor:
    """Runs the batches of one process (see the module doc)."""

    def __init__(
        self,
        engine: AsyncEngine,
        strategy: LockStrategy,
        settings: TransactionSettings | None = None,
        *,
        max_batch: int = 256,
        stall_after: float = 0.05,
        max_in_flight: int = 4,
    ) -> None:
        self.engine = engine
        self.strategy = strategy
        self.settings = settings or TransactionSettings()
        self.isolation = SERIALIZABLE
        self.known_settlements: set[str] = set()
        self._max_batch = max_batch
        self._stall_after = stall_after
        self._max_in_flight = max_in_flight
        self._queue: deque[Turn] = deque()
        self._in_flight: dict[asyncio.Task[None], float] = {}
        self._wake = asyncio.Event()
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0
        self.members = 0

    def transaction(self) -> Transaction:
        return Transaction(self.engine)

    def queue(
        self, account_ids: Collection[uuid.UUID], hold_ids: Collection[uuid.UUID] = ()
    ) -> Turn:
        loop = asyncio.get_running_loop()
        turn = Turn(
            frozenset(account_ids),
            frozenset(hold_ids),
            loop.create_future(),
            loop.create_future(),
            loop.create_future(),
        )
        self._queue.append(turn)
        self._kick()
        return turn

    def _kick(self) -> None:
        """Something changed (a new turn, a batch done): the drainer looks again."""
        self._wake.set()
        if self._queue and (self._drainer is None or self._drainer.done()):
            self._drainer = asyncio.create_task(self._drain())

    async def begin_read(self, tx: Transaction) -> None:
        await tx.begin(self.settings.begin(READ_ONLY))

    async def _drain(self) -> None:
        loop = asyncio.get_running_loop()
        while self._queue:
            if self._may_start(loop.time()):
                turns = self._take()
                if turns:
                    task = asyncio.create_task(self._run(turns))
                    self._in_flight[task] = loop.time()
                    task.add_done_callback(self._batch_done)
                continue
            self._wake.clear()
            newest = max(self._in_flight.values())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(
                    self._wake.wait(), max(0.0, newest + self._stall_after - loop.time())
                )

    def _may_start(self, now: float) -> bool:
        if not self._in_flight:
            return True
        stalled = now - max(self._in_flight.values()) >= self._stall_after
        return stalled and len(self._in_flight) < self._max_in_flight

    def _take(self) -> list[Turn]:
        turns: list[Turn] = []
        while self._queue and len(turns) < self._max_batch:
            turn = self._queue[0]
            if turn.started.done():  # its caller went away while it waited
                self._queue.popleft()
                continue
            if turn.alone and turns:
                break
            turns.append(self._queue.popleft())
            if turn.alone:
                break
        return turns

    def _batch_done(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._kick()

    async def _run(self, turns: list[Turn]) -> None:
        self.batches += 1
        self.members += len(turns)
        try:
            await self._run_batch(turns)
        except BaseException as error:  # nothing may be left waiting for this batch
            for turn in turns:
                _give(turn.started, error)
                _settle(turn.settled, error)
            if not isinstance(error, Exception):
                raise
            logger.warning("a batch failed: %s", error)

    async def _run_batch(self, turns: list[Turn]) -> None:
        tx = self.transaction()
        batch = Batch(tx)
        union = frozenset().union(*(turn.accounts for turn in turns))
        hold_union = frozenset().union(*(turn.holds for turn in turns))
        try:
            try:
                await tx.begin(
                    self.settings.begin(self.isolation, self.strategy.before_snapshot(union))
                )
                await batch.load(union)
                await batch.load_holds(hold_union)
            except Exception as error:
                self._could_not_begin(turns, error)
                return
            committing: list[Turn] = []
            for turn in turns:
                if batch.broken is not None:
                    _give(turn.started, batch.broken)
                    continue
                if not _give(turn.started, batch):
                    continue
                if await turn.finished:
                    committing.append(turn)
            if batch.broken is not None:
                for turn in committing:
                    _settle(turn.settled, batch.broken)
                return
            if committing:
                await self._commit(batch, committing)
        finally:
            await tx.close()

    def _could_not_begin(self, turns: list[Turn], error: Exception) -> None:
        if len(turns) > 1 and _attributable(error):
            # Some member's accounts are held too long: find out whose, one by one.
            for turn in reversed(turns):
                turn.alone = True
                self._queue.appendleft(turn)
            self._kick()
            return
        for turn in turns:
            _give(turn.started, error)

    async def _commit(self, batch: Batch, committing: list[Turn]) -> None:
        settlements = set(batch.writes.settlements)
        try:
            await flush(batch.tx, batch.writes)
            await batch.tx.commit()
        except IdempotencyKeyTakenError as error:
            if len(committing) == 1:  # the lone member's key, no need to look
                _settle(committing[0].settled, error)
            else:
                await self._blame_taken_keys(batch, committing)
            return
        except Exception as error:
            for turn in committing:
                _settle(turn.settled, error)
            return
        self.known_settlements |= settlements
        for turn in committing:
            _settle(turn.settled, None)

    async def _blame_taken_keys(self, batch: Batch, committing: list[Turn]) -> None:
        """Another transaction stored some of the batch's keys first. Their members
        replay the stored outcome; the others run again."""
        await batch.tx.close()
        tx = self.transaction()
        try:
            await self.begin_read(tx)
            for turn in committing:
                taken = False
                for client_id, key in turn.keys:
                    result = await tx.execute(
                        idempotency_keys.select().where(
                            idempotency_keys.c.client_id == client_id,
                            idempotency_keys.c.key == key,
                        )
                    )
                    taken = taken or result.first() is not None
                _settle(
                    turn.settled,
                    IdempotencyKeyTakenError() if taken else TransientConflictError("key race"),
                )
        finally:
            await tx.close()


def _attributable(error: Exception) -> bool:
    """A wait that one member's accounts can explain: a lock or statement timeout."""
    if isinstance(error, ConcurrencyConflictError):
        return True
    return isinstance(error, DBAPIError) and isinstance(error.orig, pg_errors.QueryCanceled)


def _give(started: asyncio.Future[Batch | BaseException], value: Batch | BaseException) -> bool:
    """Start a member's turn (or tell it why none comes); False if it went away."""
    if started.done():
        return False
    started.set_result(value)
    return True


def _settle(settled: asyncio.Future[None], error: BaseException | None) -> None:
    if settled.done():  # the caller went away (cancelled)
        return
    if error is None:
        settled.set_result(None)
    else:
        settled.set_exception(error)
