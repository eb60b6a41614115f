"""Runs application work in a unit of work, re-running it on transient conflicts."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from domain.errors import ConcurrencyConflictError, TransientConflictError
from domain.ports import UnitOfWork

T = TypeVar("T")

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Capped exponential backoff with full jitter: attempt n sleeps a random
    time in [0, min(max_delay, base_delay * 2**n)]."""

    attempts: int = 10
    base_delay: float = 0.002
    max_delay: float = 0.1


@dataclass(slots=True)
class RetryCounters:
    retries: int = 0
    conflicts: int = 0


class RetryingTransactionRunner:
    """The application's ``TransactionRunner``.

    Each attempt opens a fresh unit of work and runs the whole work again, so
    nothing from a failed attempt leaks into the next: the work rebuilds all its
    state from storage.
    """

    def __init__(
        self,
        unit_of_work: Callable[[], UnitOfWork],
        policy: RetryPolicy | None = None,
        read_unit_of_work: Callable[[], UnitOfWork] | None = None,
        sleep: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self._unit_of_work = unit_of_work
        self._read_unit_of_work = read_unit_of_work or unit_of_work
        self._policy = policy or RetryPolicy()
        self._sleep = sleep or asyncio.sleep
        self.counters = RetryCounters()

    async def run(
        self, work: Callable[[UnitOfWork], Awaitable[T]], accounts: Collection[uuid.UUID] = ()
    ) -> T:
        """``accounts`` is not needed here: the work locks its accounts itself."""
        retrying = AsyncRetrying(
            retry=retry_if_exception_type(TransientConflictError),
            stop=stop_after_attempt(self._policy.attempts),
            wait=wait_random_exponential(
                multiplier=self._policy.base_delay, max=self._policy.max_delay
            ),
            before_sleep=self._count_retry,
            reraise=True,
            sleep=self._sleep,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self._unit_of_work() as uow:
                        return await work(uow)
        except TransientConflictError:
            self.counters.conflicts += 1
            raise ConcurrencyConflictError() from None
        raise AssertionError("unreachable: tenacity either returns or raises")

    async def read(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._read_unit_of_work() as uow:
            return await work(uow)

    def _count_retry(self, state: RetryCallState) -> None:
        self.counters.retries += 1
        logger.debug(
            "transient conflict, re-running the unit of work (attempt %d)", state.attempt_number
        )
