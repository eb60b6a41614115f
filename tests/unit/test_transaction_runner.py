"""The retry helper around a whole unit of work, with an in-memory unit of work that
reports transient conflicts on demand."""

from __future__ import annotations

import logging

import pytest

from domain.account import Account
from domain.errors import ConcurrencyConflictError, InsufficientFundsError, TransientConflictError
from domain.ports import UnitOfWork
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from infrastructure.transactions import RetryingTransactionRunner, RetryPolicy
from tests.unit.builders import NOW, OWNER, new_id


class ConflictingUnitOfWork(InMemoryUnitOfWork):
    """Fails the first ``failures`` commits as a serialization failure would."""

    def __init__(self, store: MemoryStore, failures: list[int]) -> None:
        super().__init__(store)
        self._failures = failures

    async def commit(self) -> None:
        if self._failures[0] > 0:
            self._failures[0] -= 1
            raise TransientConflictError()
        await super().commit()


def runner_for(store: MemoryStore, failures: int, attempts: int = 5) -> RetryingTransactionRunner:
    remaining = [failures]
    sleeps: list[float] = []

    async def record_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    runner = RetryingTransactionRunner(
        lambda: ConflictingUnitOfWork(store, remaining),
        RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.04),
        sleep=record_sleep,
    )
    runner.sleeps = sleeps  # type: ignore[attr-defined]
    return runner


async def open_account(uow: UnitOfWork) -> Account:
    account = Account.open(
        account_id=new_id(), owner_id=OWNER, currency="USD", reference=None, now=NOW
    )
    await uow.accounts.add(account)
    await uow.commit()
    return account


async def test_re_runs_the_whole_work_from_scratch_until_it_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    runner = runner_for(store, failures=3)
    calls: list[int] = []

    async def work(uow: UnitOfWork) -> Account:
        calls.append(len(store.state.accounts))
        return await open_account(uow)

    with caplog.at_level(logging.DEBUG, logger="infrastructure.transactions"):
        account = await runner.run(work)

    assert len(calls) == 4
    assert calls == [0, 0, 0, 0]  # no attempt saw a failed attempt's writes
    assert list(store.state.accounts) == [account.id]
    assert (runner.counters.retries, runner.counters.conflicts) == (3, 0)
    assert sum("re-running the unit of work" in message for message in caplog.messages) == 3


async def test_backoff_is_jittered_and_capped() -> None:
    runner = runner_for(MemoryStore(), failures=4, attempts=5)
    await runner.run(open_account)
    sleeps = runner.sleeps  # type: ignore[attr-defined]
    assert len(sleeps) == 4
    assert all(0 <= seconds <= 0.04 for seconds in sleeps)


async def test_a_spent_budget_is_a_concurrency_conflict_with_nothing_written() -> None:
    store = MemoryStore()
    runner = runner_for(store, failures=10, attempts=3)
    with pytest.raises(ConcurrencyConflictError):
        await runner.run(open_account)
    assert store.state.accounts == {}
    assert (runner.counters.retries, runner.counters.conflicts) == (2, 1)


async def test_business_errors_are_not_retried() -> None:
    store = MemoryStore()
    runner = runner_for(store, failures=0)
    calls = 0

    async def refuse(uow: UnitOfWork) -> None:
        nonlocal calls
        calls += 1
        raise InsufficientFundsError()

    with pytest.raises(InsufficientFundsError):
        await runner.run(refuse)
    assert calls == 1
    assert runner.counters.retries == 0
