"""The composition root: the one place that decides which adapter serves which port."""

from __future__ import annotations

from dependency_injector import containers, providers

from application.accounts import AccountService
from application.batches import BatchService
from application.clients import ClientService
from application.holds import HoldExpiry, HoldService
from application.ledger import LedgerQueries
from application.payments import PaymentService
from application.retention import IdempotencyRetention
from application.transactions import RetryPolicy, Transactions
from infrastructure.currencies import Iso4217Catalog
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from infrastructure.postgres.engine import create_engine
from infrastructure.postgres.executor import TransactionExecutor
from infrastructure.postgres.locking import lock_strategy
from infrastructure.postgres.unit_of_work import PostgresUnitOfWork, ReadUnitOfWork
from infrastructure.settings import Settings
from infrastructure.system import SystemClock, new_api_secret, new_uuid


def postgres_transactions(
    executor: TransactionExecutor, settings: Settings, policy: RetryPolicy | None = None
) -> Transactions:
    """Every write goes through the executor's batches; reads get their own snapshot."""
    return Transactions(
        write=lambda accounts=(), holds=(): PostgresUnitOfWork(executor, accounts, holds),
        read=lambda: ReadUnitOfWork(executor),
        policy=policy or settings.retry_policy,
    )


class Container(containers.DeclarativeContainer):
    """Engine, executor and services are singletons; each unit of work is made fresh
    for every transaction, never shared between requests."""

    settings = providers.Singleton(Settings)
    # The URL actually served: BANKING_DATABASE_URL, or the embedded server's.
    database_url = providers.Object("")

    engine = providers.Singleton(create_engine, settings, database_url)
    # The lock strategy is chosen here, once (BANKING_ACCOUNT_LOCKS).
    executor = providers.Singleton(
        TransactionExecutor,
        engine,
        providers.Factory(lock_strategy, settings.provided.account_locks),
        settings.provided.transaction_settings,
        max_batch=settings.provided.max_batch,
    )
    transactions = providers.Singleton(postgres_transactions, executor, settings)

    clock = providers.Singleton(SystemClock)
    catalog = providers.Singleton(Iso4217Catalog)
    new_id = providers.Object(new_uuid)

    accounts = providers.Singleton(AccountService, transactions, catalog, clock, new_id)
    payments = providers.Singleton(PaymentService, transactions, catalog, clock, new_id)
    holds = providers.Singleton(HoldService, transactions, catalog, clock, new_id)
    batches = providers.Singleton(BatchService, transactions, catalog, clock, new_id)
    hold_expiry = providers.Singleton(
        HoldExpiry, transactions, batch=settings.provided.hold_sweep_batch
    )
    ledger = providers.Singleton(LedgerQueries, transactions)
    clients = providers.Singleton(
        ClientService,
        transactions,
        clock,
        new_id,
        providers.Object(new_api_secret),
        key_cache_ttl=settings.provided.api_key_cache_ttl,
    )
    idempotency_retention = providers.Singleton(
        IdempotencyRetention,
        transactions,
        clock,
        retention=settings.provided.idempotency_retention,
        batch=settings.provided.idempotency_purge_batch,
    )


def use_in_memory(container: Container, store: MemoryStore) -> None:
    """Serve every use case from ``store`` instead of PostgreSQL (tests)."""
    container.transactions.override(providers.Object(memory_transactions(store)))
