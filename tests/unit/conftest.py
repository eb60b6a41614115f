from __future__ import annotations

import pytest

from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from infrastructure.transactions import RetryingTransactionRunner
from tests.bank import Bank, build_bank


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def runner(store: MemoryStore) -> RetryingTransactionRunner:
    return RetryingTransactionRunner(lambda: InMemoryUnitOfWork(store))


@pytest.fixture
def bank(runner: RetryingTransactionRunner) -> Bank:
    return build_bank(runner)
