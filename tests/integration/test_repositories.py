"""Every repository writes and reads back the full entity, value for value."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.account import Account, AccountStatus
from domain.api_client import ApiClient
from domain.errors import IdempotencyKeyTakenError
from domain.idempotency import IdempotencyRecord
from domain.money import Money
from domain.pagination import PageRequest
from domain.posting import post_transfer
from domain.transfer import TransferKind
from infrastructure.postgres.unit_of_work import PostgresStorage

NOW = datetime(2026, 5, 17, 12, 30, 45, 123456, tzinfo=UTC)


@pytest.fixture
def storage(engine: AsyncEngine) -> PostgresStorage:
    return PostgresStorage(engine)


async def seed_client(storage: PostgresStorage) -> ApiClient:
    client = ApiClient(id=uuid.uuid4(), name="Zoë & Co", key_hash="f" * 64, created_at=NOW)
    async with storage.unit_of_work() as uow:
        await uow.clients.add(client)
        await uow.commit()
    return client


async def test_accounts_and_clients_round_trip(storage: PostgresStorage) -> None:
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


async def test_changes_are_saved_with_their_version(storage: PostgresStorage) -> None:
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


async def test_transfers_round_trip_with_both_entries(storage: PostgresStorage) -> None:
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


async def test_idempotency_records_round_trip_and_are_unique(storage: PostgresStorage) -> None:
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
        assert await uow.idempotency.purge(NOW) == 0
        assert await uow.idempotency.purge(datetime.now(UTC)) == 1
        await uow.commit()


async def test_uncommitted_work_is_rolled_back(storage: PostgresStorage) -> None:
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
