import pytest

from domain.account import MAX_BALANCE, Account, AccountKind, AccountStatus, settlement_account_id
from domain.errors import (
    AccountNotActiveError,
    AccountNotEmptyError,
    BalanceLimitExceededError,
    CurrencyMismatchError,
    InsufficientFundsError,
    ValidationError,
)
from domain.money import Money
from tests.unit.builders import NOW, OWNER, an_account, new_id


def test_opens_active_at_zero_balance_and_version_one() -> None:
    account = Account.open(
        account_id=new_id(), owner_id=OWNER, currency="JPY", reference="r", now=NOW
    )
    assert (account.status, account.balance, account.version) == (AccountStatus.ACTIVE, 0, 1)
    assert account.kind is AccountKind.CUSTOMER
    assert account.is_owned_by(OWNER)


def test_credit_and_debit_change_balance_and_bump_version_once_each() -> None:
    account = an_account()
    assert account.credit(Money(500, "USD")) == 500
    assert account.debit(Money(200, "USD")) == 300
    assert (account.balance, account.version) == (300, 3)


def test_a_customer_balance_never_goes_below_zero() -> None:
    account = an_account(balance=100)
    with pytest.raises(InsufficientFundsError):
        account.debit(Money(101, "USD"))
    assert (account.balance, account.version) == (100, 1)
    assert account.debit(Money(100, "USD")) == 0


@pytest.mark.parametrize("status", [AccountStatus.FROZEN, AccountStatus.CLOSED])
def test_only_an_active_account_moves_money(status: AccountStatus) -> None:
    account = an_account(balance=100, status=status)
    with pytest.raises(AccountNotActiveError):
        account.debit(Money(1, "USD"))
    with pytest.raises(AccountNotActiveError):
        account.credit(Money(1, "USD"))
    assert (account.balance, account.version) == (100, 1)


def test_money_in_another_currency_is_refused() -> None:
    account = an_account(balance=100)
    with pytest.raises(CurrencyMismatchError):
        account.credit(Money(1, "EUR"))
    with pytest.raises(CurrencyMismatchError):
        account.debit(Money(1, "EUR"))


@pytest.mark.parametrize("amount", [0, -1])
def test_amounts_must_be_positive(amount: int) -> None:
    account = an_account(balance=100)
    with pytest.raises(ValidationError):
        account.credit(Money(amount, "USD"))
    with pytest.raises(ValidationError):
        account.debit(Money(amount, "USD"))


def test_freeze_and_unfreeze_bump_version_and_repeat_as_no_ops() -> None:
    account = an_account()
    account.freeze()
    assert (account.status, account.version) == (AccountStatus.FROZEN, 2)
    account.freeze()
    assert account.version == 2
    account.unfreeze()
    assert (account.status, account.version) == (AccountStatus.ACTIVE, 3)
    account.unfreeze()
    assert account.version == 3


@pytest.mark.parametrize("status", [AccountStatus.ACTIVE, AccountStatus.FROZEN])
def test_closes_only_at_zero_balance(status: AccountStatus) -> None:
    full = an_account(balance=1, status=status)
    with pytest.raises(AccountNotEmptyError):
        full.close()
    assert full.status is status

    empty = an_account(status=status)
    empty.close()
    assert (empty.status, empty.version) == (AccountStatus.CLOSED, 2)


@pytest.mark.parametrize("change", [Account.freeze, Account.unfreeze, Account.close])
def test_closed_is_final(change) -> None:  # type: ignore[no-untyped-def]
    account = an_account(status=AccountStatus.CLOSED)
    with pytest.raises(AccountNotActiveError):
        change(account)
    assert (account.status, account.version) == (AccountStatus.CLOSED, 1)


def test_a_settlement_account_may_go_negative_and_keeps_no_balance_of_its_own() -> None:
    settlement = Account.settlement(currency="USD", now=NOW)
    assert settlement.id == settlement_account_id("USD")
    assert settlement.debit(Money(10**15, "USD")) is None
    assert settlement.credit(Money(5, "USD")) is None
    assert (settlement.balance, settlement.version) == (0, 1)
    assert not settlement.is_owned_by(OWNER)


def test_settlement_ids_differ_per_currency_and_are_stable() -> None:
    assert settlement_account_id("USD") == settlement_account_id("USD")
    assert settlement_account_id("USD") != settlement_account_id("EUR")


def test_a_customer_balance_never_exceeds_the_ceiling() -> None:
    account = an_account(balance=MAX_BALANCE - 5)
    with pytest.raises(BalanceLimitExceededError):
        account.credit(Money(6, "USD"))
    assert (account.balance, account.version) == (MAX_BALANCE - 5, 1)
    assert account.credit(Money(5, "USD")) == MAX_BALANCE
