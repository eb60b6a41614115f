"""Work a process of the service does on its own, beside the requests: the periodic
purge of idempotency keys past their retention, and the sweep of expired holds.

Every worker process runs both. That is harmless: a purge deletes only expired keys and
a sweep releases only expired holds, and one transaction at a time does each
(``infrastructure/postgres/idempotency_records.py``, ``holds.py``); the others find the
lock taken and wait for their next turn.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from application.holds import HoldExpiry
from application.retention import IdempotencyRetention
from interfaces.observability import one_line

logger = logging.getLogger("banking.background")

Job = Callable[[Callable[[], bool]], Awaitable[None]]


async def every(interval: float, job: Job, name: str, stop: asyncio.Event) -> None:
    """Run ``job`` every ``interval`` seconds, the first time one interval from now, until
    ``stop`` is set. ``job`` is given ``stop.is_set`` to end early between two of its
    transactions. A failure is one log line (no traceback: the likely cause, a database
    that is down, is already reported by readiness) and the next run comes as usual."""
    while True:
        try:
            await asyncio.wait_for(stop.wait(), interval)
            return
        except TimeoutError:
            pass
        try:
            await job(stop.is_set)
        except Exception as error:
            logger.warning("%s failed: %s", name, one_line(error))


@asynccontextmanager
async def running(interval: float, job: Job, name: str) -> AsyncIterator[asyncio.Task[None]]:
    """``every`` as a task for the duration of the block. Leaving the block asks it to
    stop and waits for it: a run in progress ends after its current transaction, rather
    than being cancelled halfway through one."""
    stop = asyncio.Event()
    task = asyncio.create_task(every(interval, job, name, stop), name=name)
    try:
        yield task
    finally:
        stop.set()
        await task


def purge_idempotency_keys(retention: IdempotencyRetention) -> Job:
    async def purge(stopping: Callable[[], bool]) -> None:
        purged = await retention.purge_expired(stopping)
        if purged:
            logger.info("purged %d idempotency keys past their retention", purged)

    return purge


def sweep_expired_holds(expiry: HoldExpiry) -> Job:
    async def sweep(stopping: Callable[[], bool]) -> None:
        released = await expiry.sweep(stopping)
        if released:
            logger.info("released %d expired holds", released)

    return sweep
