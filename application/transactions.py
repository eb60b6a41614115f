"""Transactions as a use case sees them: a fresh unit of work per attempt, and the one
retry loop of the service.

A use case that writes reads like this::

    async for uow in self._transactions.attempts(accounts=ids, once=once):
        async with uow:                     # the transaction starts
            ...                             # load, let the domain decide, record
            await once.commit(uow, result)  # the outcome is stored, the transaction commits
    return once.outcome()

``attempts`` yields a fresh unit of work until one attempt settles:

- a serialization failure or deadlock (``TransientConflictError``) re-runs the whole
  body from scratch, after capped exponential backoff with full jitter; once the
  budget is spent the caller gets ``ConcurrencyConflictError``;
- a rule violation (``insufficient_funds``...) of a request with an idempotency key is
  stored as that key's outcome, in the same unit of work, and then raised;
- a key that another request stored first (``IdempotencyKeyTakenError``) ends the loop
  with that request's outcome, which ``once.outcome()`` replays.

Nothing from a failed attempt leaks into the next: the body rebuilds its state from
storage every time.
"""

from __future__ import annotations

import asyncio
import logging
import random
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Collection
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self, TypeVar

from application.idempotency import Once
from domain.errors import (
    ConcurrencyConflictError,
    IdempotencyKeyInProgressError,
    IdempotencyKeyTakenError,
    RuleViolationError,
    TransientConflictError,
)
from domain.ports import (
    AccountRepository,
    ApiClientRepository,
    BatchRepository,
    HoldRepository,
    IdempotencyRepository,
    TransferRepository,
    UnitOfWork,
)

R = TypeVar("R")

logger = logging.getLogger(__name__)

# A lost race is settled by replaying the winner; the bound only guards against a
# winner that keeps vanishing (its transaction rolled back after we saw its key).
_ATTEMPTS_AFTER_LOST_RACE = 3


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Attempt n sleeps a random time in [0, min(max_delay, base_delay * 2**n)]."""

    attempts: int = 10
    base_delay: float = 0.002
    max_delay: float = 0.1

    def delay(self, attempt: int) -> float:
        return random.uniform(0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(slots=True)
class RetryCounters:
    retries: int = 0
    conflicts: int = 0


class WriteUnitOfWorkFactory(Protocol):
    def __call__(
        self, accounts: Collection[uuid.UUID] = (), holds: Collection[uuid.UUID] = ()
    ) -> UnitOfWork:
        """A fresh unit of work that may write; ``accounts`` (and ``holds``) are what it
        will lock, when the caller knows them, so storage can queue it before its
        snapshot and lock them for it together with others'."""
        ...


class Transactions:
    """Fresh units of work for the use cases, and the one retry loop around writes."""

    def __init__(
        self,
        write: WriteUnitOfWorkFactory,
        read: Callable[[], UnitOfWork],
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._write = write
        self._read = read
        self._policy = policy or RetryPolicy()
        self._sleep = sleep or asyncio.sleep
        self.counters = RetryCounters()

    def read(self) -> UnitOfWork:
        """A read-only snapshot, which never conflicts."""
        return self._read()

    async def attempts(
        self,
        accounts: Collection[uuid.UUID] = (),
        once: Once[Any] | None = None,
        holds: Collection[uuid.UUID] = (),
    ) -> AsyncIterator[UnitOfWork]:
        """Fresh units of work until one attempt settles (see the module doc)."""
        conflicts = lost_races = 0
        while True:
            attempt = _Attempt(self._write(accounts, holds), once)
            yield attempt
            if attempt.outcome == "conflict":
                conflicts += 1
                if conflicts >= self._policy.attempts:
                    self.counters.conflicts += 1
                    raise ConcurrencyConflictError()
                self.counters.retries += 1
                logger.debug("transient conflict, re-running the unit of work (%d)", conflicts)
                await self._sleep(self._policy.delay(conflicts))
            elif attempt.outcome == "key taken" and once is not None:
                async with self._read() as uow:
                    if await once.found_stored(uow):
                        return
                lost_races += 1
                if lost_races >= _ATTEMPTS_AFTER_LOST_RACE:
                    raise IdempotencyKeyInProgressError()
            else:
                return


class _Attempt:
    """One attempt's unit of work: the storage's, plus what the retry loop needs to
    know of how the ``async with`` block ended."""

    def __init__(self, inner: UnitOfWork, once: Once[Any] | None) -> None:
        self._inner = inner
        self._once = once
        self.outcome = "settled"

    @property
    def accounts(self) -> AccountRepository:
        return self._inner.accounts

    @property
    def transfers(self) -> TransferRepository:
        return self._inner.transfers

    @property
    def clients(self) -> ApiClientRepository:
        return self._inner.clients

    @property
    def idempotency(self) -> IdempotencyRepository:
        return self._inner.idempotency

    @property
    def holds(self) -> HoldRepository:
        return self._inner.holds

    @property
    def batches(self) -> BatchRepository:
        return self._inner.batches

    async def now(self) -> datetime:
        return await self._inner.now()

    async def __aenter__(self) -> Self:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool:
        try:
            if isinstance(exc, RuleViolationError) and self._once is not None and self._once.keyed:
                exc = await self._store_refusal(exc)
        finally:
            await self._inner.__aexit__(exc_type, exc, tb)
        if isinstance(exc, TransientConflictError):
            self.outcome = "conflict"
            return True
        if isinstance(exc, IdempotencyKeyTakenError) and self._once is not None:
            self.outcome = "key taken"
            return True
        return False

    async def _store_refusal(self, refusal: RuleViolationError) -> BaseException:
        """Drop what the refused work touched, keep only its verdict; returns what
        ended the attempt: the refusal, or the conflict that kept it from being stored."""
        assert self._once is not None
        try:
            await self._inner.rollback()
            await self._once.commit_refusal(self._inner, refusal)
        except (TransientConflictError, IdempotencyKeyTakenError) as error:
            return error
        return refusal

    async def commit(self) -> None:
        await self._inner.commit()

    async def rollback(self) -> None:
        await self._inner.rollback()
