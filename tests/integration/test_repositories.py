"""The repository contract, run against both adapters (the in-memory fake and
PostgreSQL): every repository writes and reads back the full entity, value for value,
through the unit of work the service uses."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.account import Account, AccountStatus
from domain.api_client import ApiClient
from domain.errors import IdempotencyKeyTakenError
from domain.idempotency import IdempotencyRecord
from domain.money import Money
from domain.pagination import PageRequest
from domain.ports import UnitOfWork
from domain.posting import post_transfer
from domain.transfer import TransferKind
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from infrastructure.postgres.executor import TransactionExecutor
from infrastructure.postgres.locking import StripeLocks
from infrastructure.postgres.unit_of_work import PostgresUnitOfWork, ReadUnitOfWork

NOW = datetime(2026, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


class Storage:
    """Fresh units of work of one adapter: one that writes, and a read-only one."""

    def __init__(self, adapter: str, engine: AsyncEngine) -> None:
        if adapter == "memory":
            store = MemoryStore()
            self.unit_of_work: Callable[[], UnitOfWork] = lambda: InMemoryUnitOfWork(store)
            self.read_unit_of_work: Callable[[], UnitOfWork] = self.unit_of_work
        else:
            executor = TransactionExecutor(engine, StripeLocks())
            self.unit_of_work = lambda: PostgresUnitOfWork(executor, ())
            self.read_unit_of_work = lambda: ReadUnitOfWork(executor)


@pytest.fixture(params=["memory", "postgres"])
def storage(request: pytest.FixtureRequest, engine: AsyncEngine) -> Storage:
    return Storage(request.param, engine)


async def seed_client(storage: Storage) -> ApiClient:
    client = ApiClient(id=uuid.uuid4(), name="Zoë & Co", key_hash="f" * 64, created_at=NOW)
    async with storage.unit_of_work() as uow:
        await uow.clients.add(client)
        await uow.commit()
    return client


async def test_accounts_and_clients_round_trip(storage: Storage) -> None:
    client = await seed_client(storage)
    account = Account.open(
        account_id=uuid.uuid4(), owner_id=client.id, currency="BHD", reference="ref ✓", now=NOW
    )
    async with storage.unit_of_work() as uow:
        await uow.accounts.add(account)
        await uow.commit()
    async with storage.read_unit_of_work() as uow:
        loaded = await uow.accounts.get(account.id)
        assert await uow.clients.get_by_key_hash("f" * 64) == client
    assert loaded is not None
    assert vars_of(loaded) == vars_of(account)


async def test_changes_are_saved_with_their_version(storage: Storage) -> None:
    client = await seed_client(storage)
    account = Account.open(
        account_id=uuid.uuid4(), owner_id=client.id, currency="USD", reference=None, now=NOW
    )
    async with storage.unit_of_work() as uow:
        await uow.accounts.add(account)
        await uow.commit()
    async with storage.unit_of_work() as uow:
        locked = (await uow.accounts.get_many_for_update([account.id, uuid.uuid4()]))[account.id]
        locked.freeze()
        await uow.accounts.save(locked)
        await uow.commit()
    async with storage.read_unit_of_work() as uow:
        loaded = await uow.accounts.get(account.id)
    assert loaded is not None
    assert (loaded.status, loaded.version) == (AccountStatus.FROZEN, 2)


async def test_transfers_round_trip_with_both_entries(storage: Storage) -> None:
    client = await seed_client(storage)
    ids = iter(uuid.uuid4 for _ in range(10))
    async with storage.unit_of_work() as uow:
        settlement = await uow.accounts.settlement("JPY", NOW)
        account = Account.open(
            account_id=uuid.uuid4(), owner_id=client.id, currency="JPY", reference=None, now=NOW
        )
        await uow.accounts.add(account)
        await uow.commit()
    async with storage.unit_of_work() as uow:
        locked = (await uow.accounts.get_many_for_update([account.id]))[account.id]
        transfer = post_transfer(
            kind=TransferKind.DEPOSIT,
            source=settlement,
            destination=locked,
            money=Money(10**15, "JPY"),
            description="first ¥",
            new_id=lambda: next(ids)(),
            now=NOW,
        )
        await uow.accounts.save(locked)
        await uow.transfers.add(transfer)
        await uow.commit()
    async with storage.read_unit_of_work() as uow:
        assert await uow.transfers.get(transfer.id) == transfer
        assert await uow.transfers.get(uuid.uuid4()) is None
        page = await uow.transfers.list_entries(account.id, PageRequest())
        assert page.items == [transfer.credit]
        assert page.next_cursor is None
        assert await uow.accounts.settlement_balance("JPY") == -(10**15)


async def test_idempotency_records_round_trip_and_are_unique(storage: Storage) -> None:
    client = await seed_client(storage)
    record = IdempotencyRecord(
        client_id=client.id, key="k ~!", fingerprint="a" * 64, outcome='{"ok": {}}', created_at=NOW
    )
    async with storage.unit_of_work() as uow:
        await uow.idempotency.add(record)
        await uow.commit()
    async with storage.read_unit_of_work() as uow:
        assert await uow.idempotency.get(client.id, "k ~!") == record

    async def add_again() -> None:
        async with storage.unit_of_work() as uow:
            await uow.idempotency.add(record)
            await uow.commit()

    with pytest.raises(IdempotencyKeyTakenError):
        await add_again()
    async with storage.unit_of_work() as uow:
        assert await uow.idempotency.purge(NOW, limit=10) == 0
        assert await uow.idempotency.purge(datetime.now(UTC), limit=10) == 1
        await uow.commit()


async def test_uncommitted_work_is_rolled_back(storage: Storage) -> None:
    client = await seed_client(storage)
    account = Account.open(
        account_id=uuid.uuid4(), owner_id=client.id, currency="USD", reference=None, now=NOW
    )
    async with storage.unit_of_work() as uow:
        await uow.accounts.add(account)
    async with storage.read_unit_of_work() as uow:
        assert await uow.accounts.get(account.id) is None


def vars_of(account: Account) -> dict[str, object]:
    return {name: getattr(account, name) for name in Account.__slots__}
