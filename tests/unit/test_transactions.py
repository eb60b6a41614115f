"""The one retry loop around a whole unit of work (``Transactions.attempts``), with an
in-memory unit of work that reports transient conflicts on demand."""

from __future__ import annotations

import logging

import pytest

from application.accounts import ACCOUNT_CODEC
from application.commands import OpenAccount
from application.idempotency import Once
from application.transactions import RetryPolicy, Transactions
from domain.account import Account
from domain.errors import ConcurrencyConflictError, InsufficientFundsError, TransientConflictError
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from tests.bank import SteppingClock
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


class Subject:
    def __init__(self, store: MemoryStore, failures: int, attempts: int = 5) -> None:
        remaining = [failures]
        self.sleeps: list[float] = []

        async def record_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        self.transactions = Transactions(
            write=lambda accounts=(), holds=(): ConflictingUnitOfWork(store, remaining),
            read=lambda: InMemoryUnitOfWork(store),
            policy=RetryPolicy(attempts=attempts, base_delay=0.01, max_delay=0.04),
            sleep=record_sleep,
        )

    async def open_account(self) -> Account:
        async for uow in self.transactions.attempts():
            async with uow:
                account = Account.open(
                    account_id=new_id(), owner_id=OWNER, currency="USD", reference=None, now=NOW
                )
                await uow.accounts.add(account)
                await uow.commit()
        return account


async def test_re_runs_the_whole_body_from_scratch_until_it_commits(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = MemoryStore()
    subject = Subject(store, failures=3)
    seen: list[int] = []

    with caplog.at_level(logging.DEBUG, logger="application.transactions"):
        async for uow in subject.transactions.attempts():
            async with uow:
                seen.append(len(store.state.accounts))
                account = Account.open(
                    account_id=new_id(), owner_id=OWNER, currency="USD", reference=None, now=NOW
                )
                await uow.accounts.add(account)
                await uow.commit()

    assert seen == [0, 0, 0, 0]  # no attempt saw a failed attempt's writes
    assert list(store.state.accounts) == [account.id]
    counters = subject.transactions.counters
    assert (counters.retries, counters.conflicts) == (3, 0)
    assert sum("re-running the unit of work" in message for message in caplog.messages) == 3


async def test_backoff_is_jittered_and_capped() -> None:
    subject = Subject(MemoryStore(), failures=4, attempts=5)
    await subject.open_account()
    assert len(subject.sleeps) == 4
    assert all(0 <= seconds <= 0.04 for seconds in subject.sleeps)


async def test_a_spent_budget_is_a_concurrency_conflict_with_nothing_written() -> None:
    store = MemoryStore()
    subject = Subject(store, failures=10, attempts=3)
    with pytest.raises(ConcurrencyConflictError):
        await subject.open_account()
    assert store.state.accounts == {}
    counters = subject.transactions.counters
    assert (counters.retries, counters.conflicts) == (2, 1)


async def test_business_errors_are_not_retried() -> None:
    subject = Subject(MemoryStore(), failures=0)
    bodies = 0

    async def refuse() -> None:
        nonlocal bodies
        async for uow in subject.transactions.attempts():
            async with uow:
                bodies += 1
                raise InsufficientFundsError()

    with pytest.raises(InsufficientFundsError):
        await refuse()
    assert bodies == 1
    assert subject.transactions.counters.retries == 0


async def test_a_keyed_refusal_is_stored_with_a_retried_commit_and_replayed() -> None:
    """A refusal's record is committed through the same loop: a conflict on that commit
    re-runs the body, and a repeat of the request replays the stored refusal."""
    store = MemoryStore()
    subject = Subject(store, failures=1)
    command = OpenAccount(OWNER, "USD", idempotency_key="k")

    async def refused() -> None:
        once = Once(command, "open_account", ACCOUNT_CODEC, SteppingClock())
        async for uow in subject.transactions.attempts(once=once):
            async with uow:
                raise InsufficientFundsError()
        once.outcome()

    with pytest.raises(InsufficientFundsError) as first:
        await refused()
    with pytest.raises(InsufficientFundsError) as repeat:
        await refused()
    assert (first.value.replayed, repeat.value.replayed) == (False, True)
    assert subject.transactions.counters.retries == 1
    assert len(store.state.idempotency) == 1
