import uuid

import pytest

from application.commands import (
    CloseAccount,
    Deposit,
    FreezeAccount,
    GetAccount,
    ListAccounts,
    OpenAccount,
    UnfreezeAccount,
)
from domain.errors import (
    AccountNotActiveError,
    AccountNotEmptyError,
    AccountNotFoundError,
    ValidationError,
)
from domain.pagination import PageRequest
from tests.bank import Bank


@pytest.mark.parametrize("currency", ["USD", "JPY", "BHD", "EUR", "CLF"])
async def test_opens_an_account_in_any_active_currency_with_a_minor_unit(
    bank: Bank, currency: str
) -> None:
    client = await bank.new_client()
    view = (await bank.accounts.open(OpenAccount(client, currency, reference="ext-1"))).value
    assert (view.currency, view.balance, view.status, view.version, view.reference) == (
        currency,
        0,
        "active",
        1,
        "ext-1",
    )
    assert await bank.accounts.get(GetAccount(client, view.id)) == view


@pytest.mark.parametrize("currency", ["usd", "XYZ", "XAU", "XXX", "XTS", "", "US"])
async def test_refuses_anything_but_an_active_currency_with_a_minor_unit(
    bank: Bank, currency: str
) -> None:
    client = await bank.new_client()
    with pytest.raises(ValidationError):
        await bank.accounts.open(OpenAccount(client, currency))


@pytest.mark.parametrize("reference", ["x" * 129, "nul\x00", "lone \ud800"])
async def test_refuses_a_bad_reference(bank: Bank, reference: str) -> None:
    client = await bank.new_client()
    with pytest.raises(ValidationError):
        await bank.accounts.open(OpenAccount(client, "USD", reference=reference))


async def test_a_reference_of_128_code_points_and_an_empty_one_are_kept(bank: Bank) -> None:
    client = await bank.new_client()
    long = (await bank.accounts.open(OpenAccount(client, "USD", reference="é" * 128))).value
    empty = (await bank.accounts.open(OpenAccount(client, "USD", reference=""))).value
    assert (long.reference, empty.reference) == ("é" * 128, "")


async def test_another_clients_account_is_indistinguishable_from_an_unknown_one(bank: Bank) -> None:
    owner, stranger = await bank.new_client("owner"), await bank.new_client("stranger")
    account = (await bank.accounts.open(OpenAccount(owner, "USD"))).value
    probes = [(stranger, account.id), (owner, uuid.UUID(int=424242))]
    for client, account_id in probes:
        with pytest.raises(AccountNotFoundError) as error:
            await bank.accounts.get(GetAccount(client, account_id))
        assert error.value.detail == AccountNotFoundError.default_detail
        with pytest.raises(AccountNotFoundError):
            await bank.accounts.freeze(FreezeAccount(client, account_id))
        with pytest.raises(AccountNotFoundError):
            await bank.accounts.unfreeze(UnfreezeAccount(client, account_id))
        with pytest.raises(AccountNotFoundError):
            await bank.accounts.close(CloseAccount(client, account_id))
    assert (await bank.accounts.get(GetAccount(owner, account.id))).version == 1


async def test_freeze_unfreeze_close_lifecycle(bank: Bank) -> None:
    client = await bank.new_client()
    account = (await bank.accounts.open(OpenAccount(client, "USD"))).value
    await bank.payments.deposit(Deposit(client, account.id, 5, "USD"))

    frozen = await bank.accounts.freeze(FreezeAccount(client, account.id))
    assert (frozen.status, frozen.version) == ("frozen", 3)
    assert (await bank.accounts.freeze(FreezeAccount(client, account.id))).version == 3
    with pytest.raises(AccountNotEmptyError):
        await bank.accounts.close(CloseAccount(client, account.id))

    active = await bank.accounts.unfreeze(UnfreezeAccount(client, account.id))
    assert (active.status, active.version) == ("active", 4)
    assert (await bank.accounts.unfreeze(UnfreezeAccount(client, account.id))).version == 4


async def test_closed_is_final(bank: Bank) -> None:
    client = await bank.new_client()
    account = (await bank.accounts.open(OpenAccount(client, "USD"))).value
    await bank.accounts.freeze(FreezeAccount(client, account.id))
    closed = await bank.accounts.close(CloseAccount(client, account.id))
    assert (closed.status, closed.version) == ("closed", 3)
    for change in (bank.accounts.freeze, bank.accounts.unfreeze, bank.accounts.close):
        with pytest.raises(AccountNotActiveError):
            await change(FreezeAccount(client, account.id))  # type: ignore[arg-type]
    assert (await bank.accounts.get(GetAccount(client, account.id))).version == 3


async def test_lists_only_the_callers_accounts_newest_first_closed_included(bank: Bank) -> None:
    me, other = await bank.new_client("me"), await bank.new_client("other")
    opened = [(await bank.accounts.open(OpenAccount(me, "USD"))).value.id for _ in range(5)]
    await bank.accounts.open(OpenAccount(other, "USD"))
    await bank.accounts.close(CloseAccount(me, opened[0]))

    seen: list[uuid.UUID] = []
    cursor = None
    while True:
        page = await bank.accounts.list(ListAccounts(me, PageRequest(limit=2, after=cursor)))
        seen += [account.id for account in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
        assert len(page.data) == 2
    assert seen == list(reversed(opened))


async def test_pages_are_stable_when_accounts_are_added(bank: Bank) -> None:
    client = await bank.new_client()
    opened = [(await bank.accounts.open(OpenAccount(client, "USD"))).value.id for _ in range(4)]
    first = await bank.accounts.list(ListAccounts(client, PageRequest(limit=2)))
    await bank.accounts.open(OpenAccount(client, "USD"))
    second = await bank.accounts.list(ListAccounts(client, PageRequest(2, first.next_cursor)))
    assert [account.id for account in second.data] == [opened[1], opened[0]]
    assert second.next_cursor is None


async def test_a_cursor_from_another_list_is_refused(bank: Bank) -> None:
    me, other = await bank.new_client("me"), await bank.new_client("other")
    for client in (me, other):
        for _ in range(2):
            await bank.accounts.open(OpenAccount(client, "USD"))
    theirs = await bank.accounts.list(ListAccounts(other, PageRequest(limit=1)))
    assert theirs.next_cursor is not None
    with pytest.raises(ValidationError):
        await bank.accounts.list(ListAccounts(me, PageRequest(1, theirs.next_cursor)))
