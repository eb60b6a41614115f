"""The transfer listing use case, whoever calls it: its filters are checked there, not
only by the HTTP layer."""

from typing import Any

import pytest

from application.commands import Deposit, ListTransfers, OpenAccount, TransferFunds
from application.views import PageView, TransferView
from domain.errors import AccountNotFoundError, ValidationError
from domain.pagination import PageRequest
from tests.bank import Bank


@pytest.mark.parametrize(
    "filters",
    [
        {"kind": "pending"},
        {"kind": "Transfer"},
        {"metadata": {"bad key": "x"}},
        {"metadata": {"": "x"}},
        {"metadata": {"k": "\x00"}},
        {"metadata": {f"k{n}": "v" for n in range(51)}},
    ],
)
async def test_a_bad_filter_is_a_validation_error(bank: Bank, filters: dict[str, Any]) -> None:
    client = await bank.new_client()

    with pytest.raises(ValidationError):
        await bank.ledger.list_transfers(ListTransfers(client, PageRequest(), **filters))


async def test_the_filters_keep_their_transfers_and_another_clients_account_is_unknown(
    bank: Bank,
) -> None:
    client = await bank.new_client()
    stranger = await bank.new_client("stranger")
    source = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    payee = (await bank.accounts.open(OpenAccount(client, "USD"))).value.id
    theirs = (await bank.accounts.open(OpenAccount(stranger, "USD"))).value.id
    funded = (await bank.payments.deposit(Deposit(client, source, 100, "USD"))).value
    tagged = (
        await bank.payments.transfer(
            TransferFunds(client, source, payee, 5, "USD", metadata={"order": "7"})
        )
    ).value

    async def listed(**filters: Any) -> PageView[TransferView]:
        return await bank.ledger.list_transfers(ListTransfers(client, PageRequest(), **filters))

    assert [view.id for view in (await listed()).data] == [tagged.id, funded.id]
    assert (await listed(kind="deposit")).data == [funded]
    assert (await listed(account_id=payee)).data == [tagged]
    assert (await listed(metadata={"order": "7"}, kind="transfer")).data == [tagged]
    assert (await listed(metadata={"order": "8"})).data == []
    with pytest.raises(AccountNotFoundError):
        await listed(account_id=theirs)
