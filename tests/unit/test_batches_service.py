"""Batches through the service, over the in-memory adapter: order, atomicity, the first
failure, independent items, validation before anything, idempotency and reads."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import pytest

from application.commands import (
    BatchItem,
    Deposit,
    FreezeAccount,
    GetAccount,
    GetBatch,
    GetTransfer,
    OpenAccount,
    SubmitBatch,
)
from application.views import BatchView, Refusal, TransferView
from domain.errors import (
    AccountNotActiveError,
    AccountNotFoundError,
    BatchNotFoundError,
    IdempotencyKeyReusedError,
    InsufficientFundsError,
    SameAccountError,
    ValidationError,
)
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import memory_transactions
from tests.bank import Bank, build_bank


@dataclass
class World:
    bank: Bank
    store: MemoryStore
    client: uuid.UUID
    a: uuid.UUID  # funded with 100
    b: uuid.UUID  # empty
    c: uuid.UUID  # empty
    other: uuid.UUID
    others_account: uuid.UUID

    async def balances(self, *ids: uuid.UUID) -> list[int]:
        return [(await self.bank.accounts.get(GetAccount(self.client, i))).balance for i in ids]

    async def versions(self, *ids: uuid.UUID) -> list[int]:
        return [(await self.bank.accounts.get(GetAccount(self.client, i))).version for i in ids]

    async def submit(
        self, *items: BatchItem, atomic: bool = True, key: str | None = None, **kwargs: object
    ) -> BatchView:
        command = SubmitBatch(self.client, items, atomic, key, **kwargs)  # type: ignore[arg-type]
        return (await self.bank.batches.submit(command)).value


def item(source: uuid.UUID, destination: uuid.UUID, amount: int, **kwargs: object) -> BatchItem:
    return BatchItem(source, destination, amount, "USD", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
async def world() -> World:
    store = MemoryStore()
    bank = build_bank(memory_transactions(store))
    client, other = await bank.new_client("first"), await bank.new_client("second")

    async def open_account(owner: uuid.UUID, funding: int = 0) -> uuid.UUID:
        account = (await bank.accounts.open(OpenAccount(owner, "USD"))).value.id
        if funding:
            await bank.payments.deposit(Deposit(owner, account, funding, "USD"))
        return account

    a, b, c = (
        await open_account(client, 100),
        await open_account(client),
        await open_account(client),
    )
    other_account = await open_account(other, 10)
    return World(bank, store, client, a, b, c, other, other_account)


async def test_money_that_arrives_in_an_earlier_item_can_leave_in_a_later_one(
    world: World,
) -> None:
    batch = await world.submit(item(world.a, world.b, 100), item(world.b, world.c, 60))

    assert batch.atomic
    transfers = batch.transfers
    assert [t.amount for t in transfers] == [100, 60]
    assert [(t.source_balance_after, t.destination_balance_after) for t in transfers] == [
        (0, 100),
        (40, 60),
    ]
    assert {t.batch_id for t in transfers} == {batch.id}
    assert await world.balances(world.a, world.b, world.c) == [0, 40, 60]
    # Each transfer is an ordinary transfer afterwards, carrying its batch.
    read = await world.bank.ledger.get_transfer(GetTransfer(world.client, transfers[1].id))
    assert read == transfers[1]


async def test_the_first_refused_item_fails_the_atomic_batch_and_nothing_is_applied(
    world: World,
) -> None:
    versions = await world.versions(world.a, world.b, world.c)

    with pytest.raises(InsufficientFundsError) as refused:
        await world.submit(
            item(world.a, world.b, 50),
            item(world.b, world.c, 60),  # b only has 50 by then
            item(world.a, world.a, 1),  # would be same_account, but comes later
        )

    assert refused.value.failed_index == 1
    assert await world.balances(world.a, world.b, world.c) == [100, 0, 0]
    assert await world.versions(world.a, world.b, world.c) == versions
    assert world.store.state.batches == {}


async def test_an_earlier_rule_of_a_later_item_does_not_come_first(world: World) -> None:
    with pytest.raises(SameAccountError) as refused:
        await world.submit(item(world.a, world.b, 10), item(world.a, world.a, 1))
    assert refused.value.failed_index == 1


async def test_an_independent_batch_gives_each_item_its_own_outcome(world: World) -> None:
    unknown = uuid.uuid4()
    batch = await world.submit(
        item(world.a, world.b, 70),
        item(world.a, world.c, 70),  # only 30 left
        item(world.a, unknown, 1),
        item(world.a, world.c, 30),
        atomic=False,
    )

    assert not batch.atomic
    outcomes = batch.outcomes
    assert isinstance(outcomes[0], TransferView)
    assert isinstance(outcomes[3], TransferView)
    assert outcomes[1] == Refusal("insufficient_funds", InsufficientFundsError.default_detail)
    assert outcomes[2] == Refusal("account_not_found", AccountNotFoundError.default_detail)
    assert await world.balances(world.a, world.b, world.c) == [0, 70, 30]
    # Only the applied items moved versions: a +1 per debit or credit.
    assert await world.versions(world.a, world.b, world.c) == [4, 2, 2]


async def test_an_independent_batch_whose_items_all_fail_is_still_a_batch(world: World) -> None:
    await world.bank.accounts.freeze(FreezeAccount(world.client, world.b))
    batch = await world.submit(item(world.a, world.b, 1), atomic=False)

    assert batch.outcomes == (Refusal("account_not_active", AccountNotActiveError.default_detail),)
    assert await world.bank.batches.get(GetBatch(world.client, batch.id)) == batch


async def test_a_payee_of_another_client_is_paid_without_its_balance_shown(world: World) -> None:
    batch = await world.submit(item(world.a, world.others_account, 5))
    (transfer,) = batch.transfers
    assert (transfer.source_balance_after, transfer.destination_balance_after) == (95, None)


async def test_another_clients_account_as_a_source_is_not_found(world: World) -> None:
    with pytest.raises(AccountNotFoundError) as refused:
        await world.submit(item(world.a, world.b, 1), item(world.others_account, world.b, 1))
    assert refused.value.failed_index == 1


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ((), "a batch holds 1 to 100 transfers"),
        (tuple([None] * 101), "a batch holds 1 to 100 transfers"),
    ],
)
async def test_a_batch_outside_1_to_100_items_is_invalid(
    world: World, items: tuple[None, ...], message: str
) -> None:
    real = tuple(item(world.a, world.b, 1) for _ in items)
    with pytest.raises(ValidationError, match=message):
        await world.submit(*real)


async def test_an_invalid_item_anywhere_refuses_the_batch_before_anything(world: World) -> None:
    for bad in (
        item(world.a, world.b, 0),
        item(world.a, world.b, 1, description="x" * 257),
        item(world.a, world.b, 1, metadata={"bad key": "v"}),
        BatchItem(world.a, world.b, 1, "XXX"),
    ):
        with pytest.raises(ValidationError, match=r"^transfers\[2\]: ") as refused:
            await world.submit(item(world.a, world.b, 1), item(world.a, world.c, 1), bad)
        assert not hasattr(refused.value, "failed_index")
    assert await world.balances(world.a, world.b, world.c) == [100, 0, 0]


async def test_batch_metadata_is_validated_and_kept(world: World) -> None:
    with pytest.raises(ValidationError):
        await world.submit(item(world.a, world.b, 1), metadata={"k": "\x00"})
    batch = await world.submit(
        item(world.a, world.b, 1, metadata={"leg": "seller"}), metadata={"order": "4711"}
    )
    assert batch.metadata == {"order": "4711"}
    assert batch.transfers[0].metadata == {"leg": "seller"}


async def test_a_key_replays_the_batch_and_its_refusal_with_the_failed_index(
    world: World,
) -> None:
    items = (item(world.a, world.b, 10), item(world.a, world.c, 10))
    first = await world.bank.batches.submit(SubmitBatch(world.client, items, True, "k1"))
    again = await world.bank.batches.submit(SubmitBatch(world.client, items, True, "k1"))
    assert (again.replayed, again.value) == (True, first.value)
    assert await world.balances(world.a, world.b, world.c) == [80, 10, 10]

    with pytest.raises(IdempotencyKeyReusedError):
        await world.bank.batches.submit(SubmitBatch(world.client, items[:1], True, "k1"))
    with pytest.raises(IdempotencyKeyReusedError):
        await world.bank.batches.submit(SubmitBatch(world.client, items, False, "k1"))

    refused_items = (item(world.a, world.b, 1), item(world.a, world.b, 1_000))
    for replayed in (False, True):
        with pytest.raises(InsufficientFundsError) as refused:
            await world.bank.batches.submit(SubmitBatch(world.client, refused_items, True, "k2"))
        assert (refused.value.failed_index, refused.value.replayed) == (1, replayed)
    assert await world.balances(world.a, world.b, world.c) == [80, 10, 10]


async def test_a_batch_is_read_back_by_its_client_alone(world: World) -> None:
    batch = await world.submit(item(world.a, world.b, 1), item(world.a, world.others_account, 2))

    assert await world.bank.batches.get(GetBatch(world.client, batch.id)) == batch
    with pytest.raises(BatchNotFoundError):
        await world.bank.batches.get(GetBatch(world.other, batch.id))
    with pytest.raises(BatchNotFoundError):
        await world.bank.batches.get(GetBatch(world.client, uuid.uuid4()))
    # The payee still sees its transfer, with the batch it came from.
    paid = await world.bank.ledger.get_transfer(GetTransfer(world.other, batch.transfers[1].id))
    assert (paid.batch_id, paid.source_balance_after) == (batch.id, None)
