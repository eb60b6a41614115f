import uuid
from datetime import UTC, datetime, timedelta

import pytest

from application.clients import ClientService, hash_api_key
from application.commands import Authenticate, CreateApiClient, RevokeApiKeys, RotateApiKey
from application.transactions import Transactions
from domain.errors import ClientNotFoundError, UnauthorizedError, ValidationError
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from tests.bank import Bank, SequentialIds, SteppingClock


async def test_the_key_is_shown_once_and_only_its_hash_is_stored(
    bank: Bank, store: MemoryStore
) -> None:
    created = await bank.clients.create(CreateApiClient(name="acme"))
    assert created.api_key.startswith("bk_")
    (stored,) = store.state.clients.values()
    assert stored.key_hash == hash_api_key(created.api_key)
    assert created.api_key not in repr(store.state)


async def test_a_key_authenticates_its_client(bank: Bank) -> None:
    created = await bank.clients.create(CreateApiClient(name="acme"))
    identity = await bank.clients.authenticate(Authenticate(created.api_key))
    assert (identity.id, identity.name) == (created.id, "acme")


@pytest.mark.parametrize("key", ["", "bk_wrong", "Bearer x", "\ud800"])
async def test_an_unknown_key_is_unauthorized(bank: Bank, key: str) -> None:
    await bank.clients.create(CreateApiClient(name="acme"))
    with pytest.raises(UnauthorizedError):
        await bank.clients.authenticate(Authenticate(key))


@pytest.mark.parametrize("name", ["", "x" * 65, "nul\x00"])
async def test_a_bad_name_is_refused(bank: Bank, name: str) -> None:
    with pytest.raises(ValidationError):
        await bank.clients.create(CreateApiClient(name=name))


async def test_names_need_not_be_unique(bank: Bank) -> None:
    first = await bank.clients.create(CreateApiClient(name="x" * 64))
    second = await bank.clients.create(CreateApiClient(name="x" * 64))
    assert first.id != second.id
    assert first.api_key != second.api_key


async def test_a_key_that_authenticated_once_is_remembered_and_unknown_keys_are_not(
    store: MemoryStore,
) -> None:
    reads = 0

    def counting_read() -> InMemoryUnitOfWork:
        nonlocal reads
        reads += 1
        return InMemoryUnitOfWork(store)

    transactions = Transactions(
        write=lambda accounts=(), holds=(): InMemoryUnitOfWork(store), read=counting_read
    )
    service = ClientService(
        transactions, SteppingClock(), SequentialIds(), lambda: "s", remembered_keys=1
    )
    created = await service.create(CreateApiClient(name="acme"))

    for _ in range(3):
        assert (await service.authenticate(Authenticate(created.api_key))).id == created.id
    assert reads == 1
    for _ in range(2):
        with pytest.raises(UnauthorizedError):
            await service.authenticate(Authenticate("bk_unknown"))
    assert reads == 3

    other = await ClientService(transactions, SteppingClock(), uuid.uuid4, lambda: "t").create(
        CreateApiClient(name="other")
    )
    await service.authenticate(Authenticate(other.api_key))  # evicts acme (room for one)
    await service.authenticate(Authenticate(created.api_key))
    assert reads == 5


class ManualClock:
    """Time moves only when the test says so."""

    def __init__(self) -> None:
        self.moment = datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.moment


async def test_a_revoked_key_stops_on_another_worker_within_the_cache_ttl(
    transactions: Transactions,
) -> None:
    # Two workers: two services with their own memory of keys, over one database.
    clock = ManualClock()
    admin_worker = ClientService(transactions, clock, uuid.uuid4, lambda: "s", key_cache_ttl=5)
    other_worker = ClientService(transactions, clock, uuid.uuid4, lambda: "t", key_cache_ttl=5)
    created = await admin_worker.create(CreateApiClient(name="acme"))
    key = Authenticate(created.api_key)
    await admin_worker.authenticate(key)
    await other_worker.authenticate(key)  # remembered until 5 s from now

    clock.moment += timedelta(seconds=1)
    await admin_worker.revoke_keys(RevokeApiKeys(created.id))

    with pytest.raises(UnauthorizedError):  # the worker that revoked forgets at once
        await admin_worker.authenticate(key)
    clock.moment += timedelta(seconds=3.999)
    assert (await other_worker.authenticate(key)).id == created.id  # the documented lag
    clock.moment += timedelta(seconds=0.001)  # 5 s after the other worker checked the key
    with pytest.raises(UnauthorizedError):
        await other_worker.authenticate(key)


async def test_a_replaced_key_is_not_remembered_past_its_overlap(
    transactions: Transactions,
) -> None:
    clock = ManualClock()
    admin_worker = ClientService(transactions, clock, uuid.uuid4, iter(["s", "t"]).__next__)
    other_worker = ClientService(transactions, clock, uuid.uuid4, lambda: "x", key_cache_ttl=3600)
    created = await admin_worker.create(CreateApiClient(name="acme"))
    old = Authenticate(created.api_key)

    rotated = await admin_worker.rotate_key(RotateApiKey(created.id, overlap_seconds=10))
    assert rotated.previous_key_expires_at == clock.moment + timedelta(seconds=10)
    await other_worker.authenticate(old)  # a long TTL, but the key ends in 10 s
    assert (await other_worker.authenticate(Authenticate(rotated.api_key))).id == created.id

    clock.moment += timedelta(seconds=10)
    for worker in (admin_worker, other_worker):
        with pytest.raises(UnauthorizedError):
            await worker.authenticate(old)
        assert (await worker.authenticate(Authenticate(rotated.api_key))).id == created.id


async def test_a_zero_ttl_asks_the_database_every_time(transactions: Transactions) -> None:
    clock = ManualClock()
    admin_worker = ClientService(transactions, clock, uuid.uuid4, lambda: "s")
    other_worker = ClientService(transactions, clock, uuid.uuid4, lambda: "t", key_cache_ttl=0)
    created = await admin_worker.create(CreateApiClient(name="acme"))
    await other_worker.authenticate(Authenticate(created.api_key))

    await admin_worker.revoke_keys(RevokeApiKeys(created.id))

    with pytest.raises(UnauthorizedError):
        await other_worker.authenticate(Authenticate(created.api_key))


@pytest.mark.parametrize("overlap", [-1, 604_801])
async def test_an_overlap_out_of_range_is_refused(bank: Bank, overlap: int) -> None:
    created = await bank.clients.create(CreateApiClient(name="acme"))
    with pytest.raises(ValidationError):
        await bank.clients.rotate_key(RotateApiKey(created.id, overlap))


async def test_unknown_clients_cannot_be_rotated_or_revoked(bank: Bank) -> None:
    with pytest.raises(ClientNotFoundError):
        await bank.clients.rotate_key(RotateApiKey(uuid.uuid4(), 0))
    with pytest.raises(ClientNotFoundError):
        await bank.clients.revoke_keys(RevokeApiKeys(uuid.uuid4()))
