import pytest

from domain.account import MAX_BALANCE, Account, AccountStatus
from domain.errors import (
    AccountNotActiveError,
    BalanceLimitExceededError,
    CurrencyMismatchError,
    DomainError,
    InsufficientFundsError,
    SameAccountError,
)
from domain.money import Money
from domain.posting import post_transfer
from domain.transfer import TransferKind, TransferStatus
from tests.unit.builders import NOW, an_account, new_id


def transfer(source: Account, destination: Account, amount: int, currency: str = "USD"):  # type: ignore[no-untyped-def]
    return post_transfer(
        kind=TransferKind.TRANSFER,
        source=source,
        destination=destination,
        money=Money(amount, currency),
        description="rent",
        new_id=new_id,
        now=NOW,
    )


def test_posts_exactly_two_entries_summing_to_zero() -> None:
    source, destination = an_account(balance=1_000), an_account(balance=5)
    posted = transfer(source, destination, 300)

    assert posted.status is TransferStatus.POSTED
    assert [entry.amount for entry in posted.entries] == [-300, 300]
    assert sum(entry.amount for entry in posted.entries) == 0
    assert (posted.debit.account_id, posted.credit.account_id) == (source.id, destination.id)
    assert (posted.debit.balance_after, posted.credit.balance_after) == (700, 305)
    assert (source.balance, destination.balance) == (700, 305)
    assert (posted.debit.account_version, posted.credit.account_version) == (2, 2)


def test_deposit_from_settlement_leaves_settlement_without_running_balance() -> None:
    settlement = Account.settlement(currency="USD", now=NOW)
    customer = an_account()
    posted = post_transfer(
        kind=TransferKind.DEPOSIT,
        source=settlement,
        destination=customer,
        money=Money(50, "USD"),
        description=None,
        new_id=new_id,
        now=NOW,
    )
    assert (posted.debit.balance_after, posted.debit.account_version) == (None, None)
    assert (posted.credit.balance_after, customer.balance) == (50, 50)


def test_same_account_is_refused() -> None:
    account = an_account(balance=100)
    with pytest.raises(SameAccountError):
        transfer(account, account, 1)


# Each case has several faults at once; the first row of docs/api.md's table wins.
@pytest.mark.parametrize(
    ("source_kwargs", "destination_kwargs", "currency", "amount", "expected"),
    [
        (
            {"status": AccountStatus.FROZEN},
            {"currency": "EUR"},
            "USD",
            10**6,
            AccountNotActiveError,
        ),
        (
            {},
            {"status": AccountStatus.CLOSED, "currency": "EUR"},
            "USD",
            10**6,
            AccountNotActiveError,
        ),
        ({}, {"currency": "EUR"}, "USD", 10**6, CurrencyMismatchError),
        ({"currency": "EUR"}, {}, "USD", 10**6, CurrencyMismatchError),
        ({}, {}, "USD", 10**6, InsufficientFundsError),
    ],
)
def test_checks_run_in_the_order_of_the_rules_table_and_change_nothing(
    source_kwargs: dict[str, object],
    destination_kwargs: dict[str, object],
    currency: str,
    amount: int,
    expected: type[DomainError],
) -> None:
    source = an_account(balance=100, **source_kwargs)  # type: ignore[arg-type]
    destination = an_account(balance=7, **destination_kwargs)  # type: ignore[arg-type]
    with pytest.raises(expected):
        transfer(source, destination, amount, currency)
    assert (source.balance, source.version) == (100, 1)
    assert (destination.balance, destination.version) == (7, 1)


def test_a_transfer_that_would_overflow_the_destination_is_refused_before_any_change() -> None:
    source, destination = an_account(balance=10), an_account(balance=MAX_BALANCE)
    with pytest.raises(BalanceLimitExceededError):
        transfer(source, destination, 1)
    assert (source.balance, source.version, destination.version) == (10, 1, 1)
