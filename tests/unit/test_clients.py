import pytest

from application.clients import ClientService, hash_api_key
from application.commands import Authenticate, CreateApiClient
from application.transactions import Transactions
from domain.errors import UnauthorizedError, ValidationError
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
        write=lambda accounts=(): InMemoryUnitOfWork(store), read=counting_read
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

    other = await ClientService(transactions, SteppingClock(), SequentialIds(), lambda: "t").create(
        CreateApiClient(name="other")
    )
    await service.authenticate(Authenticate(other.api_key))  # evicts acme (room for one)
    await service.authenticate(Authenticate(created.api_key))
    assert reads == 5
