"""What the application needs from outside: time, ids, secrets and transactions."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Collection
from datetime import datetime
from typing import Protocol, TypeVar

from domain.ports import UnitOfWork

T = TypeVar("T")

IdFactory = Callable[[], uuid.UUID]
SecretFactory = Callable[[], str]


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware, in UTC."""
        ...


class TransactionRunner(Protocol):
    """Runs a piece of work inside a fresh unit of work.

    ``run`` is for work that writes: it re-runs the whole work from scratch when the
    storage reports a transient conflict (serialization failure, deadlock), with
    backoff, and raises ``ConcurrencyConflictError`` once its retry budget is spent.
    The work commits explicitly; whatever it did not commit is rolled back.
    ``read`` runs work in a read-only snapshot, which never conflicts.

    ``accounts`` names the accounts the work will lock, when the caller knows them: a
    runner may lock them up front (and commit several works together).
    """

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], accounts: Collection[uuid.UUID] = ()
    ) -> T: ...

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T: ...
