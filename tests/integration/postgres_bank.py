"""The application wired to a PostgreSQL database, for integration tests."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.postgres.reconciliation import Violation, find_violations
from infrastructure.postgres.unit_of_work import PostgresStorage
from infrastructure.transactions import RetryingTransactionRunner, RetryPolicy
from tests.bank import Bank, build_bank


@dataclass
class PostgresBank:
    bank: Bank
    runner: RetryingTransactionRunner
    storage: PostgresStorage


def postgres_bank(engine: AsyncEngine, policy: RetryPolicy | None = None) -> PostgresBank:
    storage = PostgresStorage(engine)
    runner = RetryingTransactionRunner(
        storage.unit_of_work, policy, read_unit_of_work=storage.read_unit_of_work
    )
    return PostgresBank(build_bank(runner, random_ids=True), runner, storage)


async def violations(engine: AsyncEngine) -> list[Violation]:
    async with engine.connect() as connection:
        connection = await connection.execution_options(isolation_level="REPEATABLE READ")
        return await find_violations(connection)
