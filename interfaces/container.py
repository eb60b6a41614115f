"""The composition root: the one place that decides which adapter serves which port."""

from __future__ import annotations

from dependency_injector import containers, providers

from application.accounts import AccountService
from application.clients import ClientService
from application.idempotency import IdempotentExecutor
from application.ledger import LedgerQueries
from application.payments import PaymentService
from infrastructure.currencies import Iso4217Catalog
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from infrastructure.postgres.engine import create_engine
from infrastructure.postgres.group_commit import GroupCommitRunner
from infrastructure.postgres.unit_of_work import PostgresStorage
from infrastructure.settings import Settings
from infrastructure.system import SystemClock, new_api_secret, new_uuid
from infrastructure.transactions import RetryingTransactionRunner


class Container(containers.DeclarativeContainer):
    """Engine, storage and services are singletons; each unit of work is made fresh by
    the storage for every transaction, never shared between requests."""

    settings = providers.Singleton(Settings)
    # The URL actually served: BANKING_DATABASE_URL, or the embedded server's.
    database_url = providers.Object("")

    engine = providers.Singleton(create_engine, settings, database_url)
    storage = providers.Singleton(PostgresStorage, engine)
    runner = providers.Singleton(
        RetryingTransactionRunner,
        unit_of_work=storage.provided.unit_of_work,
        policy=settings.provided.retry_policy,
        read_unit_of_work=storage.provided.read_unit_of_work,
    )

    # Money movements of this process commit together (docs/adr/005-group-commit.md).
    payment_runner = providers.Singleton(
        GroupCommitRunner, storage, policy=settings.provided.retry_policy
    )

    clock = providers.Singleton(SystemClock)
    catalog = providers.Singleton(Iso4217Catalog)
    new_id = providers.Object(new_uuid)
    executor = providers.Singleton(IdempotentExecutor, runner, clock)
    payment_executor = providers.Singleton(IdempotentExecutor, payment_runner, clock)

    accounts = providers.Singleton(AccountService, runner, executor, catalog, clock, new_id)
    payments = providers.Singleton(PaymentService, payment_executor, catalog, clock, new_id)
    ledger = providers.Singleton(LedgerQueries, runner)
    clients = providers.Singleton(
        ClientService,
        runner,
        clock,
        new_id,
        providers.Object(new_api_secret),
        key_cache_ttl=settings.provided.api_key_cache_ttl,
    )


def in_memory_runner(store: MemoryStore) -> RetryingTransactionRunner:
    """A runner over the in-memory adapter."""
    return RetryingTransactionRunner(lambda: InMemoryUnitOfWork(store))


def use_in_memory(container: Container, store: MemoryStore) -> None:
    """Serve every use case from ``store`` instead of PostgreSQL (tests)."""
    runner = in_memory_runner(store)
    container.runner.override(providers.Object(runner))
    container.payment_runner.override(providers.Object(runner))
