"""Forgetting idempotency keys once their retention has passed.

The contract keeps a key at least 24 hours; after its purge the key may be used afresh.
Each batch is a transaction of its own, so a purge never holds a long transaction (nor
its locks) however many keys expired, and requests go on between its batches.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from application.ports import Clock
from application.transactions import Transactions

MIN_RETENTION = timedelta(hours=24)
DEFAULT_BATCH = 1_000


class IdempotencyRetention:
    """Purges the keys older than ``retention``, at most ``batch`` per transaction."""

    def __init__(
        self,
        transactions: Transactions,
        clock: Clock,
        retention: timedelta = MIN_RETENTION,
        batch: int = DEFAULT_BATCH,
    ) -> None:
        if retention < MIN_RETENTION:
            raise ValueError(f"idempotency keys are kept at least {MIN_RETENTION}")
        if batch < 1:
            raise ValueError("a purge batch holds at least one key")
        self._transactions = transactions
        self._clock = clock
        self._retention = retention
        self._batch = batch

    async def purge_expired(self, stopping: Callable[[], bool] = lambda: False) -> int:
        """Purge every key that expired before now, batch by batch; returns how many.

        Stops at the first batch that is not full (nothing is left, or another process
        is purging and will go on where it is), or when ``stopping()`` says so after a
        batch (the process shuts down; the next run goes on).
        """
        # One cutoff for the whole run, so that it ends even while keys keep expiring.
        cutoff = self._clock.now() - self._retention
        total = 0
        while True:
            purged = await self._purge_batch(cutoff)
            total += purged
            if purged < self._batch or stopping():
                return total

    async def _purge_batch(self, cutoff: datetime) -> int:
        purged = 0
        async for uow in self._transactions.attempts():
            async with uow:
                purged = await uow.idempotency.purge(cutoff, self._batch)
                await uow.commit()
        return purged
