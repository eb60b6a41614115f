"""The application wired to a PostgreSQL database, for integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from application.transactions import RetryPolicy, Transactions
from infrastructure.postgres.executor import TransactionExecutor
from infrastructure.postgres.locking import AccountLocks, lock_strategy
from infrastructure.postgres.reconciliation import Violation, find_violations
from infrastructure.settings import Settings
from interfaces.container import postgres_transactions
from tests.bank import Bank, build_bank


@dataclass
class PostgresBank:
    """One worker process's worth of the service: its own executor (batches) and
    retry loop, meeting other workers only inside PostgreSQL."""

    bank: Bank
    transactions: Transactions
    executor: TransactionExecutor


def postgres_bank(
    engine: AsyncEngine,
    policy: RetryPolicy | None = None,
    locks: AccountLocks = "stripes",
    lock_timeout_ms: int = 3000,
) -> PostgresBank:
    settings = Settings(account_locks=locks, lock_timeout_ms=lock_timeout_ms)
    executor = TransactionExecutor(engine, lock_strategy(locks), settings.transaction_settings)
    transactions = postgres_transactions(executor, settings, policy)
    return PostgresBank(build_bank(transactions, random_ids=True), transactions, executor)


async def violations(engine: AsyncEngine) -> list[Violation]:
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        return await find_violations(connection)
