"""The application's rule tests, unchanged, on PostgreSQL instead of the in-memory adapter.

The test functions are imported from the unit suite; only the ``bank`` fixture differs.
"""

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tests.bank import Bank
from tests.integration.postgres_bank import postgres_bank
from tests.unit.test_account_service import *  # noqa: F403
from tests.unit.test_ledger_queries import *  # noqa: F403
from tests.unit.test_payments import *  # noqa: F403


@pytest.fixture
def bank(engine: AsyncEngine) -> Bank:
    return postgres_bank(engine).bank
