"""The in-memory adapter is a real adapter: its semantics are tested like the database's."""

import pytest

from domain.account import Account
from domain.api_client import ApiClient
from domain.errors import IdempotencyKeyTakenError
from domain.idempotency import IdempotencyRecord
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from tests.unit.builders import NOW, OWNER, an_account, new_id


async def test_rolls_back_uncommitted_work_by_default() -> None:
    store = MemoryStore()
    async with InMemoryUnitOfWork(store) as uow:
        await uow.accounts.add(an_account())
    assert store.state.accounts == {}


async def test_rolls_back_on_exception() -> None:
    store = MemoryStore()

    async def fail_midway() -> None:
        async with InMemoryUnitOfWork(store) as uow:
            await uow.accounts.add(an_account())
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_midway()
    assert store.state.accounts == {}


async def test_committed_work_is_visible_to_the_next_unit() -> None:
    store = MemoryStore()
    account = an_account(balance=0)
    async with InMemoryUnitOfWork(store) as uow:
        await uow.accounts.add(account)
        await uow.commit()
    async with InMemoryUnitOfWork(store) as uow:
        loaded = await uow.accounts.get(account.id)
    assert loaded is not None
    assert (loaded.id, loaded.balance, loaded.version) == (account.id, 0, 1)


async def test_rollback_discards_only_work_since_the_last_commit() -> None:
    store = MemoryStore()
    kept, dropped = an_account(), an_account()
    async with InMemoryUnitOfWork(store) as uow:
        await uow.accounts.add(kept)
        await uow.commit()
        await uow.accounts.add(dropped)
        await uow.rollback()
        assert await uow.accounts.get(dropped.id) is None
    assert set(store.state.accounts) == {kept.id}


async def test_changes_to_a_loaded_account_persist_only_through_save() -> None:
    store = MemoryStore()
    account = an_account()
    async with InMemoryUnitOfWork(store) as uow:
        await uow.accounts.add(account)
        await uow.commit()
    async with InMemoryUnitOfWork(store) as uow:
        loaded = (await uow.accounts.get_many_for_update([account.id]))[account.id]
        loaded.freeze()
        await uow.commit()
    assert store.state.accounts[account.id].version == 1
    async with InMemoryUnitOfWork(store) as uow:
        loaded = (await uow.accounts.get_many_for_update([account.id, new_id()]))[account.id]
        loaded.freeze()
        await uow.accounts.save(loaded)
        await uow.commit()
    assert store.state.accounts[account.id].version == 2


async def test_lock_and_load_returns_only_existing_accounts() -> None:
    store = MemoryStore()
    first, second = an_account(), an_account()
    async with InMemoryUnitOfWork(store) as uow:
        for account in (second, first):
            await uow.accounts.add(account)
        locked = await uow.accounts.get_many_for_update([second.id, first.id, new_id()])
    assert list(locked) == sorted([first.id, second.id])


async def test_settlement_account_is_created_once_and_its_balance_is_its_entries() -> None:
    store = MemoryStore()
    async with InMemoryUnitOfWork(store) as uow:
        settlement = await uow.accounts.settlement("USD", NOW)
        again = await uow.accounts.settlement("USD", NOW)
        assert settlement.id == again.id
        assert await uow.accounts.settlement_balance("USD") == 0
    assert [Account.settlement(currency="USD", now=NOW).id] == [settlement.id]


async def test_idempotency_keys_are_unique_per_client() -> None:
    store = MemoryStore()
    record = IdempotencyRecord(
        client_id=OWNER, key="k", fingerprint="f", outcome="{}", created_at=NOW
    )
    async with InMemoryUnitOfWork(store) as uow:
        await uow.idempotency.add(record)
        await uow.idempotency.add(
            IdempotencyRecord(
                client_id=new_id(), key="k", fingerprint="f", outcome="{}", created_at=NOW
            )
        )
        await uow.commit()
    async with InMemoryUnitOfWork(store) as uow:
        with pytest.raises(IdempotencyKeyTakenError):
            await uow.idempotency.add(record)
        assert await uow.idempotency.get(OWNER, "k") == record
        assert await uow.idempotency.get(OWNER, "other") is None


async def test_api_clients_are_found_by_key_hash_only() -> None:
    store = MemoryStore()
    client = ApiClient(id=new_id(), name="acme", key_hash="a" * 64, created_at=NOW)
    async with InMemoryUnitOfWork(store) as uow:
        await uow.clients.add(client)
        await uow.commit()
    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.clients.get_by_key_hash("a" * 64) == client
        assert await uow.clients.get_by_key_hash("b" * 64) is None
