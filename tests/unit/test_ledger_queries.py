import itertools
import uuid

import pytest

from application.commands import (
    Deposit,
    GetTransfer,
    ListEntries,
    OpenAccount,
    TransferFunds,
    Withdraw,
)
from domain.errors import AccountNotFoundError, TransferNotFoundError, ValidationError
from domain.pagination import PageRequest
from tests.bank import Bank


async def test_a_transfer_reads_back_exactly_as_it_was_posted(bank: Bank) -> None:
    client = await bank.new_client()
    source = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    destination = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    await bank.payments.deposit(Deposit(client, source, 100, "USD"))
    posted = (
        await bank.payments.transfer(TransferFunds(client, source, destination, 30, "USD"))
    ).value

    assert await bank.ledger.get_transfer(GetTransfer(client, posted.id)) == posted


async def test_each_side_of_a_transfer_sees_only_its_own_balance(bank: Bank) -> None:
    payer = await bank.new_client("payer")
    payee = await bank.new_client("payee")
    stranger = await bank.new_client("stranger")
    source = (await bank.accounts.open(OpenAccount(payer, "USD"))).value.id
    destination = (await bank.accounts.open(OpenAccount(payee, "USD"))).value.id
    await bank.payments.deposit(Deposit(payer, source, 100, "USD"))
    posted = (
        await bank.payments.transfer(TransferFunds(payer, source, destination, 30, "USD"))
    ).value

    as_payee = await bank.ledger.get_transfer(GetTransfer(payee, posted.id))
    assert (as_payee.source_balance_after, as_payee.destination_balance_after) == (None, 30)
    with pytest.raises(TransferNotFoundError):
        await bank.ledger.get_transfer(GetTransfer(stranger, posted.id))
    with pytest.raises(TransferNotFoundError):
        await bank.ledger.get_transfer(GetTransfer(payer, uuid.UUID(int=31337)))


async def test_statement_is_newest_first_with_an_unbroken_balance_chain(bank: Bank) -> None:
    client = await bank.new_client()
    account = (await bank.accounts.open(OpenAccount(client, "JPY"))).value.id
    other = (await bank.accounts.open(OpenAccount(client, "JPY"))).value.id
    amounts = [500, -120, 300, -80, -600]
    for amount in amounts:
        if amount > 0:
            await bank.payments.deposit(Deposit(client, account, amount, "JPY"))
        else:
            await bank.payments.transfer(TransferFunds(client, account, other, -amount, "JPY"))

    entries = []
    cursor = None
    while True:
        page = await bank.ledger.list_entries(ListEntries(client, account, PageRequest(2, cursor)))
        entries += page.data
        cursor = page.next_cursor
        if cursor is None:
            break

    assert [entry.amount for entry in entries] == list(reversed(amounts))
    for newer, older in itertools.pairwise(entries):
        assert newer.balance_after == older.balance_after + newer.amount  # type: ignore[operator]
    assert entries[0].balance_after == 0
    assert entries[-1].balance_after == 500


async def test_a_full_last_page_has_no_next_cursor(bank: Bank) -> None:
    client = await bank.new_client()
    account = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    for _ in range(4):
        await bank.payments.deposit(Deposit(client, account, 1, "USD"))
    first = await bank.ledger.list_entries(ListEntries(client, account, PageRequest(2)))
    last = await bank.ledger.list_entries(
        ListEntries(client, account, PageRequest(2, first.next_cursor))
    )
    assert len(last.data) == 2
    assert last.next_cursor is None


async def test_a_statement_of_someone_elses_account_is_not_found(bank: Bank) -> None:
    owner, stranger = await bank.new_client("owner"), await bank.new_client("stranger")
    account = (await bank.accounts.open(OpenAccount(owner, "USD"))).value.id
    await bank.payments.deposit(Deposit(owner, account, 10, "USD"))
    await bank.payments.withdraw(Withdraw(owner, account, 10, "USD"))
    with pytest.raises(AccountNotFoundError):
        await bank.ledger.list_entries(ListEntries(stranger, account, PageRequest()))


@pytest.mark.parametrize("cursor", ["", "garbage", "!!!!", "eyJzIjoiZW50cmllczp4IiwicCI6WzFdfQ"])
async def test_a_cursor_this_list_did_not_issue_is_refused(bank: Bank, cursor: str) -> None:
    client = await bank.new_client()
    account = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    with pytest.raises(ValidationError):
        await bank.ledger.list_entries(ListEntries(client, account, PageRequest(10, cursor)))


@pytest.mark.parametrize("limit", [0, -1, 201])
def test_a_limit_out_of_range_is_refused(limit: int) -> None:
    with pytest.raises(ValidationError):
        PageRequest(limit)
