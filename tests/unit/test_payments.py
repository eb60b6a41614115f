"""docs/api.md's rules table, at the application level, on the in-memory unit of work."""

import uuid

import pytest

from application.commands import (
    CloseAccount,
    Deposit,
    FreezeAccount,
    GetAccount,
    OpenAccount,
    TransferFunds,
    Withdraw,
)
from domain.errors import (
    AccountNotActiveError,
    AccountNotFoundError,
    CurrencyMismatchError,
    DomainError,
    InsufficientFundsError,
    SameAccountError,
    ValidationError,
)
from tests.bank import Bank


async def open_funded(
    bank: Bank, client: uuid.UUID, amount: int, currency: str = "USD"
) -> uuid.UUID:
    account = (await bank.accounts.open(OpenAccount(client, currency))).value
    if amount:
        await bank.payments.deposit(Deposit(client, account.id, amount, currency))
    return account.id


async def balance(bank: Bank, client: uuid.UUID, account_id: uuid.UUID) -> int:
    return (await bank.accounts.get(GetAccount(client, account_id))).balance


async def test_transfer_moves_money_and_reports_both_balances_to_their_owner(bank: Bank) -> None:
    client = await bank.new_client()
    source = await open_funded(bank, client, 1_000)
    destination = await open_funded(bank, client, 0)

    result = await bank.payments.transfer(
        TransferFunds(client, source, destination, 250, "USD", "rent")
    )

    view = result.value
    assert not result.replayed
    assert (view.kind, view.amount, view.currency, view.description) == (
        "transfer",
        250,
        "USD",
        "rent",
    )
    assert (view.source_account_id, view.destination_account_id) == (source, destination)
    assert (view.source_balance_after, view.destination_balance_after) == (750, 250)
    assert await balance(bank, client, source) == 750
    assert await balance(bank, client, destination) == 250


async def test_paying_another_clients_account_hides_its_balance(bank: Bank) -> None:
    payer, payee = await bank.new_client("payer"), await bank.new_client("payee")
    source = await open_funded(bank, payer, 100)
    destination = await open_funded(bank, payee, 40)

    view = (
        await bank.payments.transfer(TransferFunds(payer, source, destination, 60, "USD"))
    ).value

    assert (view.source_balance_after, view.destination_balance_after) == (40, None)
    assert await balance(bank, payee, destination) == 100


async def test_deposit_and_withdrawal_hide_the_settlement_side(bank: Bank) -> None:
    client = await bank.new_client()
    account = await open_funded(bank, client, 0, "BHD")

    deposit = (await bank.payments.deposit(Deposit(client, account, 5_000, "BHD"))).value
    withdrawal = (await bank.payments.withdraw(Withdraw(client, account, 1_500, "BHD"))).value

    assert (deposit.kind, deposit.source_account_id, deposit.destination_account_id) == (
        "deposit",
        None,
        account,
    )
    assert (deposit.source_balance_after, deposit.destination_balance_after) == (None, 5_000)
    assert (withdrawal.kind, withdrawal.source_account_id, withdrawal.destination_account_id) == (
        "withdrawal",
        account,
        None,
    )
    assert (withdrawal.source_balance_after, withdrawal.destination_balance_after) == (3_500, None)


class TestRulesTable:
    """Each violation leaves every balance untouched; the first applicable row wins."""

    @pytest.fixture
    async def setup(self, bank: Bank) -> dict[str, uuid.UUID]:
        me, other = await bank.new_client("me"), await bank.new_client("other")
        ids = {
            "me": me,
            "other": other,
            "mine": await open_funded(bank, me, 100),
            "mine2": await open_funded(bank, me, 10),
            "mine_eur": await open_funded(bank, me, 0, "EUR"),
            "theirs": await open_funded(bank, other, 5),
            "theirs_eur": await open_funded(bank, other, 0, "EUR"),
            "frozen": await open_funded(bank, me, 0),
            "theirs_frozen": await open_funded(bank, other, 0),
            "closed": await open_funded(bank, me, 0),
            "unknown": uuid.UUID(int=999_999),
        }
        await bank.accounts.freeze(FreezeAccount(me, ids["frozen"]))
        await bank.accounts.freeze(FreezeAccount(other, ids["theirs_frozen"]))
        await bank.accounts.close(CloseAccount(me, ids["closed"]))
        return ids

    @pytest.mark.parametrize(
        ("source", "destination", "amount", "currency", "expected"),
        [
            ("mine", "mine2", 0, "USD", ValidationError),
            ("mine", "mine2", 10**15 + 1, "USD", ValidationError),
            ("mine", "mine2", 1, "XYZ", ValidationError),
            ("theirs", "mine", 1, "USD", AccountNotFoundError),
            ("unknown", "mine", 1, "USD", AccountNotFoundError),
            ("mine", "unknown", 1, "USD", AccountNotFoundError),
            ("theirs", "theirs", 1, "USD", AccountNotFoundError),
            ("mine", "mine", 1, "USD", SameAccountError),
            ("mine", "frozen", 10**6, "EUR", AccountNotActiveError),
            ("frozen", "mine", 1, "USD", AccountNotActiveError),
            ("mine", "closed", 1, "USD", AccountNotActiveError),
            ("mine", "theirs_frozen", 1, "USD", AccountNotActiveError),
            ("mine", "mine_eur", 10**6, "USD", CurrencyMismatchError),
            ("mine", "theirs_eur", 1, "USD", CurrencyMismatchError),
            ("mine", "mine2", 1, "EUR", CurrencyMismatchError),
            ("mine", "mine2", 101, "USD", InsufficientFundsError),
        ],
    )
    async def test_transfer_violations(
        self,
        bank: Bank,
        setup: dict[str, uuid.UUID],
        source: str,
        destination: str,
        amount: int,
        currency: str,
        expected: type[DomainError],
    ) -> None:
        before = await self.balances(bank, setup)
        with pytest.raises(expected):
            await bank.payments.transfer(
                TransferFunds(setup["me"], setup[source], setup[destination], amount, currency)
            )
        assert await self.balances(bank, setup) == before

    @pytest.mark.parametrize(
        ("operation", "account", "amount", "currency", "expected"),
        [
            ("deposit", "theirs", 1, "USD", AccountNotFoundError),
            ("deposit", "unknown", 1, "USD", AccountNotFoundError),
            ("deposit", "frozen", 1, "EUR", AccountNotActiveError),
            ("deposit", "closed", 1, "USD", AccountNotActiveError),
            ("deposit", "mine", 1, "EUR", CurrencyMismatchError),
            ("deposit", "mine", 1, "usd", ValidationError),
            ("withdraw", "theirs", 1, "USD", AccountNotFoundError),
            ("withdraw", "frozen", 10**6, "EUR", AccountNotActiveError),
            ("withdraw", "mine", 1, "EUR", CurrencyMismatchError),
            ("withdraw", "mine", 101, "USD", InsufficientFundsError),
            ("withdraw", "mine", -5, "USD", ValidationError),
        ],
    )
    async def test_deposit_and_withdrawal_violations(
        self,
        bank: Bank,
        setup: dict[str, uuid.UUID],
        operation: str,
        account: str,
        amount: int,
        currency: str,
        expected: type[DomainError],
    ) -> None:
        before = await self.balances(bank, setup)
        command = Deposit if operation == "deposit" else Withdraw
        run = bank.payments.deposit if operation == "deposit" else bank.payments.withdraw
        with pytest.raises(expected):
            await run(command(setup["me"], setup[account], amount, currency))  # type: ignore[arg-type]
        assert await self.balances(bank, setup) == before

    @staticmethod
    async def balances(bank: Bank, ids: dict[str, uuid.UUID]) -> dict[str, tuple[int, int]]:
        result = {}
        for name in ("mine", "mine2", "mine_eur", "frozen", "closed"):
            view = await bank.accounts.get(GetAccount(ids["me"], ids[name]))
            result[name] = (view.balance, view.version)
        for name in ("theirs", "theirs_eur", "theirs_frozen"):
            view = await bank.accounts.get(GetAccount(ids["other"], ids[name]))
            result[name] = (view.balance, view.version)
        return result
