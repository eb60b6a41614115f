import asyncio
import uuid
from datetime import timedelta

import pytest

from application.commands import Deposit, GetAccount, OpenAccount, TransferFunds, Withdraw
from application.idempotency import request_fingerprint
from domain.errors import (
    IdempotencyKeyInProgressError,
    IdempotencyKeyReusedError,
    IdempotencyKeyTakenError,
    InsufficientFundsError,
    ValidationError,
)
from infrastructure.memory.repositories import MemoryIdempotencyRepository
from infrastructure.memory.store import MemoryStore
from infrastructure.memory.unit_of_work import InMemoryUnitOfWork
from tests.bank import Bank


async def funded(bank: Bank, amount: int = 100) -> tuple[uuid.UUID, uuid.UUID, uuid.UUID]:
    client = await bank.new_client()
    source = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    destination = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    await bank.payments.deposit(Deposit(client, source, amount, "USD"))
    return client, source, destination


async def test_a_repeat_replays_the_first_result_without_a_second_effect(
    bank: Bank, store: MemoryStore
) -> None:
    client, source, destination = await funded(bank)
    command = TransferFunds(client, source, destination, 40, "USD", "x", idempotency_key="k-1")

    first = await bank.payments.transfer(command)
    transfers_after_first = len(store.state.transfers)
    second = await bank.payments.transfer(command)

    assert (first.replayed, second.replayed) == (False, True)
    assert second.value == first.value
    assert len(store.state.transfers) == transfers_after_first
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 60


async def test_a_rule_violation_is_stored_and_replayed_even_after_it_would_succeed(
    bank: Bank,
) -> None:
    client, source, _ = await funded(bank, 10)
    command = Withdraw(client, source, 50, "USD", idempotency_key="w-1")
    with pytest.raises(InsufficientFundsError) as first:
        await bank.payments.withdraw(command)
    assert not first.value.replayed

    await bank.payments.deposit(Deposit(client, source, 1_000, "USD"))
    with pytest.raises(InsufficientFundsError) as second:
        await bank.payments.withdraw(command)
    assert second.value.replayed
    assert second.value.detail == first.value.detail
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 1_010


async def test_the_same_key_with_another_request_is_refused(bank: Bank) -> None:
    client, source, destination = await funded(bank)
    await bank.payments.transfer(
        TransferFunds(client, source, destination, 1, "USD", idempotency_key="k")
    )
    for other in (
        TransferFunds(client, source, destination, 2, "USD", idempotency_key="k"),
        TransferFunds(client, source, destination, 1, "USD", "memo", idempotency_key="k"),
    ):
        with pytest.raises(IdempotencyKeyReusedError):
            await bank.payments.transfer(other)
    with pytest.raises(IdempotencyKeyReusedError):
        await bank.payments.deposit(Deposit(client, source, 1, "USD", idempotency_key="k"))
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 99


async def test_keys_are_scoped_to_the_client(bank: Bank) -> None:
    first = await bank.new_client("first")
    second = await bank.new_client("second")
    a = await bank.accounts.open(OpenAccount(first, "USD", idempotency_key="open"))
    b = await bank.accounts.open(OpenAccount(second, "USD", idempotency_key="open"))
    assert not a.replayed
    assert not b.replayed
    assert a.value.id != b.value.id


async def test_opening_is_idempotent_and_replays_the_snapshot_of_the_first_response(
    bank: Bank,
) -> None:
    client = await bank.new_client()
    first = await bank.accounts.open(OpenAccount(client, "JPY", idempotency_key="o-1"))
    await bank.payments.deposit(Deposit(client, first.value.id, 5, "JPY"))
    again = await bank.accounts.open(OpenAccount(client, "JPY", idempotency_key="o-1"))
    assert again.replayed
    assert again.value == first.value
    assert again.value.balance == 0


async def test_concurrent_duplicates_take_effect_once(bank: Bank, store: MemoryStore) -> None:
    client, source, destination = await funded(bank, 1_000)
    command = TransferFunds(client, source, destination, 7, "USD", idempotency_key="dup")

    results = await asyncio.gather(*(bank.payments.transfer(command) for _ in range(20)))

    assert sum(not result.replayed for result in results) == 1
    assert all(result.value == results[0].value for result in results)
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 993
    assert sum(1 for t in store.state.transfers.values() if t.kind == "transfer") == 1


def test_absent_and_explicit_null_optionals_are_the_same_request() -> None:
    client, account = uuid.UUID(int=1), uuid.UUID(int=2)
    assert request_fingerprint(
        "deposit", Deposit(client, account, 5, "USD")
    ) == request_fingerprint(
        "deposit", Deposit(client, account, 5, "USD", description=None, idempotency_key="x")
    )
    assert request_fingerprint(
        "deposit", Deposit(client, account, 5, "USD")
    ) != request_fingerprint("deposit", Deposit(client, account, 5, "USD", description=""))
    assert request_fingerprint(
        "deposit", Deposit(client, account, 5, "USD")
    ) != request_fingerprint("withdrawal", Withdraw(client, account, 5, "USD"))


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there", "nul\x00"])
async def test_an_invalid_key_is_a_validation_error_and_nothing_happens(
    bank: Bank, store: MemoryStore, key: str
) -> None:
    client, source, _ = await funded(bank)
    with pytest.raises(ValidationError):
        await bank.payments.withdraw(Withdraw(client, source, 1, "USD", idempotency_key=key))
    assert store.state.idempotency == {}
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 100


async def test_a_key_of_255_printable_characters_is_accepted(bank: Bank) -> None:
    client, source, _ = await funded(bank)
    key = "".join(chr(32 + n % 95) for n in range(255))
    result = await bank.payments.withdraw(Withdraw(client, source, 1, "USD", idempotency_key=key))
    assert not result.replayed


async def test_effect_and_record_vanish_together_when_the_record_cannot_be_stored(
    bank: Bank, store: MemoryStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, source, destination = await funded(bank)

    async def always_taken(self: object, record: object) -> None:
        raise IdempotencyKeyTakenError()

    monkeypatch.setattr(MemoryIdempotencyRepository, "add", always_taken)
    transfers_before = len(store.state.transfers)
    with pytest.raises(IdempotencyKeyInProgressError):
        await bank.payments.transfer(
            TransferFunds(client, source, destination, 5, "USD", idempotency_key="lost")
        )
    assert len(store.state.transfers) == transfers_before
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 100


async def test_records_older_than_the_cutoff_are_purged(bank: Bank, store: MemoryStore) -> None:
    client, source, _ = await funded(bank)
    await bank.payments.withdraw(Withdraw(client, source, 1, "USD", idempotency_key="old"))
    (record,) = store.state.idempotency.values()

    async with InMemoryUnitOfWork(store) as uow:
        assert await uow.idempotency.purge(record.created_at, limit=10) == 0
        assert (
            await uow.idempotency.purge(record.created_at + timedelta(microseconds=1), limit=10)
            == 1
        )
        await uow.commit()

    again = await bank.payments.withdraw(Withdraw(client, source, 1, "USD", idempotency_key="old"))
    assert not again.replayed
    assert (await bank.accounts.get(GetAccount(client, source))).balance == 98
