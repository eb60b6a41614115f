from __future__ import annotations

import pytest

from application.transactions import Transactions
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from tests.bank import Bank, build_bank


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def transactions(store: MemoryStore) -> Transactions:
    return memory_transactions(store)


@pytest.fixture
def bank(transactions: Transactions) -> Bank:
    return build_bank(transactions)
