"""The hold aggregate and what a hold changes on its accounts: every rule and transition."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from domain.account import Account, AccountStatus
from domain.errors import (
    AccountNotActiveError,
    AccountNotEmptyError,
    CaptureExceedsRemainingError,
    CurrencyMismatchError,
    DomainError,
    HoldExpiredError,
    HoldNotActiveError,
    InsufficientFundsError,
    SameAccountError,
)
from domain.hold import Hold, HoldStatus
from domain.money import Money
from domain.posting import capture_hold
from domain.transfer import TransferKind
from tests.unit.builders import NOW, an_account, new_id

DAY = timedelta(days=1)
EXPIRES_AT = NOW + DAY
TICK = timedelta(microseconds=1)


def state(*objects: Account | Hold) -> list[dict[str, Any]]:
    """Every field of every object, to prove that a refusal changed nothing."""
    return [dataclasses.asdict(thing) for thing in objects]


def place(source: Account, destination: Account, amount: int, currency: str = "USD") -> Hold:
    return Hold.place(
        hold_id=new_id(),
        source=source,
        destination=destination,
        money=Money(amount, currency),
        expires_in=DAY,
        description="deposit for a car",
        metadata={"order": "42"},
        now=NOW,
    )


def a_hold(amount: int = 300, balance: int = 1_000) -> tuple[Hold, Account, Account]:
    source, destination = an_account(balance=balance), an_account()
    return place(source, destination, amount), source, destination


def capture(
    hold: Hold, source: Account, destination: Account, amount: int | None, final: bool = False
) -> Any:
    return capture_hold(
        hold=hold,
        source=source,
        destination=destination,
        amount=amount,
        final=final,
        description=None,
        metadata=None,
        new_id=new_id,
        now=NOW + timedelta(hours=1),
    )


def assert_sums(hold: Hold) -> None:
    assert hold.money.amount == hold.captured_amount + hold.released_amount + hold.remaining
    assert hold.remaining >= 0


# --- placing -------------------------------------------------------------------------


def test_placing_reserves_the_amount_on_the_source_without_moving_its_balance() -> None:
    hold, source, destination = a_hold(300, balance=1_000)

    assert (hold.status, hold.version, hold.remaining) == (HoldStatus.ACTIVE, 1, 300)
    assert (hold.captured_amount, hold.released_amount, hold.capture_count) == (0, 0, 0)
    assert (hold.expires_at, hold.created_at, hold.updated_at) == (EXPIRES_AT, NOW, NOW)
    assert (hold.source_account_id, hold.destination_account_id) == (source.id, destination.id)
    assert hold.metadata == {"order": "42"}
    assert (source.balance, source.held, source.available, source.version) == (1_000, 300, 700, 2)
    assert hold.source_available_after == 700
    assert (destination.balance, destination.held, destination.version) == (0, 0, 1)


def test_a_hold_may_take_all_that_is_available_and_no_more() -> None:
    source, destination = an_account(balance=500), an_account()
    place(source, destination, 500)
    assert source.available == 0
    before = state(source, destination)

    with pytest.raises(InsufficientFundsError):
        place(source, destination, 1)
    assert state(source, destination) == before


def test_funds_for_a_hold_are_judged_on_available_including_the_overdraft_limit() -> None:
    source, destination = an_account(balance=100), an_account()
    source.overdraft_limit = 50
    place(source, destination, 120)
    assert (source.held, source.available) == (120, 30)

    with pytest.raises(InsufficientFundsError):
        place(source, destination, 31)
    place(source, destination, 30)
    assert source.available == 0


def faulty(fault: str) -> tuple[Account, Account]:
    """A source and destination with ``fault`` and every fault later in the order; the
    source has nothing available, the last fault of all."""
    source = an_account(balance=0)
    if fault == "same_account":
        source.status = AccountStatus.FROZEN
        return source, source
    destination = an_account(currency="JPY")
    if fault == "account_not_active":
        destination.status = AccountStatus.FROZEN
    return source, destination


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("same_account", SameAccountError),
        ("account_not_active", AccountNotActiveError),
        ("currency_mismatch", CurrencyMismatchError),
    ],
)
def test_placing_checks_in_the_transfer_order_and_a_refusal_changes_nothing(
    fault: str, error: type[DomainError]
) -> None:
    source, destination = faulty(fault)
    before = state(source, destination)

    with pytest.raises(error):
        place(source, destination, 10)
    assert state(source, destination) == before


def test_placing_from_a_frozen_source_is_refused_before_the_currency() -> None:
    source, destination = an_account(balance=1_000), an_account()
    source.status = AccountStatus.FROZEN
    before = state(source, destination)
    with pytest.raises(AccountNotActiveError):
        place(source, destination, 10, "JPY")
    assert state(source, destination) == before


def test_a_currency_other_than_the_sources_is_refused_before_funds() -> None:
    source, destination = an_account(balance=0), an_account()
    with pytest.raises(CurrencyMismatchError):
        place(source, destination, 10, "JPY")
    with pytest.raises(InsufficientFundsError):
        place(source, destination, 10, "USD")
    assert (source.held, source.version) == (0, 1)


# --- capturing -----------------------------------------------------------------------


def test_partial_captures_move_money_and_keep_the_hold_active() -> None:
    hold, source, destination = a_hold(300, balance=1_000)

    first = capture(hold, source, destination, 100)
    second = capture(hold, source, destination, 50)

    assert (hold.status, hold.captured_amount, hold.released_amount) == (
        HoldStatus.ACTIVE,
        150,
        0,
    )
    assert (hold.remaining, hold.capture_count, hold.version) == (150, 2, 3)
    assert hold.updated_at == NOW + timedelta(hours=1)
    assert (source.balance, source.held, source.available) == (850, 150, 700)
    assert destination.balance == 150
    assert first.kind is TransferKind.CAPTURE
    assert first.hold_id == hold.id
    assert [entry.amount for entry in first.entries] == [-100, 100]
    assert (second.debit.balance_after, second.credit.balance_after) == (850, 150)
    assert_sums(hold)


def test_each_capture_bumps_each_accounts_version_exactly_once() -> None:
    hold, source, destination = a_hold(300)
    versions = (source.version, destination.version)

    transfer = capture(hold, source, destination, 100)

    assert (source.version, destination.version) == (versions[0] + 1, versions[1] + 1)
    assert (transfer.debit.account_version, transfer.credit.account_version) == (
        source.version,
        destination.version,
    )
    assert transfer.debit.available_after == source.available


def test_a_final_capture_releases_the_rest() -> None:
    hold, source, destination = a_hold(300, balance=1_000)

    capture(hold, source, destination, 100, final=True)

    assert (hold.status, hold.captured_amount, hold.released_amount, hold.remaining) == (
        HoldStatus.CAPTURED,
        100,
        200,
        0,
    )
    assert (source.balance, source.held, source.available) == (900, 0, 900)
    assert destination.balance == 100
    assert_sums(hold)


def test_capturing_everything_captures_the_hold() -> None:
    hold, source, destination = a_hold(300)
    capture(hold, source, destination, 100)

    transfer = capture(hold, source, destination, None)  # all that remains

    assert transfer.money == Money(200, "USD")
    assert (hold.status, hold.captured_amount, hold.released_amount, hold.remaining) == (
        HoldStatus.CAPTURED,
        300,
        0,
        0,
    )
    assert (source.balance, source.held) == (700, 0)
    assert_sums(hold)


def test_a_capture_never_fails_for_funds_even_once_the_limit_is_lowered() -> None:
    source, destination = an_account(balance=0), an_account()
    source.overdraft_limit = 500
    hold = place(source, destination, 500)
    source.amend(overdraft_limit=0)

    capture(hold, source, destination, None)

    assert (source.balance, source.held, source.available) == (-500, 0, -500)


def test_capturing_more_than_remains_is_refused_and_changes_nothing() -> None:
    hold, source, destination = a_hold(300)
    capture(hold, source, destination, 250)
    before = state(hold, source, destination)

    with pytest.raises(CaptureExceedsRemainingError):
        capture(hold, source, destination, 51)
    assert state(hold, source, destination) == before


@pytest.mark.parametrize("side", ["source", "destination"])
def test_a_capture_needs_both_accounts_active(side: str) -> None:
    hold, source, destination = a_hold(300)
    (source if side == "source" else destination).status = AccountStatus.FROZEN
    before = state(hold, source, destination)

    with pytest.raises(AccountNotActiveError):
        capture(hold, source, destination, 10)
    assert state(hold, source, destination) == before


def test_an_expired_hold_is_refused_before_inactive_accounts_and_the_amount() -> None:
    hold, source, destination = a_hold(300)
    source.status = AccountStatus.FROZEN
    before = state(hold, source, destination)

    with pytest.raises(HoldExpiredError):
        capture_hold(
            hold=hold, source=source, destination=destination, amount=10_000, final=False,
            description=None, metadata=None, new_id=new_id, now=EXPIRES_AT,
        )  # fmt: skip
    assert state(hold, source, destination) == before


@pytest.mark.parametrize("end", ["captured", "voided"])
def test_a_captured_or_voided_hold_cannot_be_captured(end: str) -> None:
    hold, source, destination = a_hold(300)
    if end == "captured":
        capture(hold, source, destination, None)
    else:
        source.settle_hold(captured=0, released=hold.void(NOW))
    source.status = AccountStatus.FROZEN  # the hold's own state is checked first
    before = state(hold, source, destination)

    with pytest.raises(HoldNotActiveError):
        capture(hold, source, destination, 1)
    assert state(hold, source, destination) == before


# --- voiding -------------------------------------------------------------------------


def test_voiding_releases_the_remainder() -> None:
    hold, source, destination = a_hold(300, balance=1_000)
    capture(hold, source, destination, 100)
    version = source.version

    released = hold.void(NOW + timedelta(hours=2))
    source.settle_hold(captured=0, released=released)

    assert released == 200
    assert (hold.status, hold.captured_amount, hold.released_amount, hold.remaining) == (
        HoldStatus.VOIDED,
        100,
        200,
        0,
    )
    assert (hold.version, hold.updated_at) == (3, NOW + timedelta(hours=2))
    assert (source.balance, source.held, source.available, source.version) == (
        900,
        0,
        900,
        version + 1,
    )
    assert_sums(hold)


def test_voiding_a_voided_hold_changes_nothing() -> None:
    hold, _, _ = a_hold()
    hold.void(NOW)
    before = state(hold)

    assert hold.void(NOW + timedelta(hours=1)) == 0
    assert state(hold) == before


def test_a_voided_hold_stays_voided_after_its_expiry() -> None:
    hold, _, _ = a_hold()
    hold.void(NOW)
    assert hold.void(EXPIRES_AT + DAY) == 0
    assert hold.as_of(EXPIRES_AT + DAY).status is HoldStatus.VOIDED
    assert not hold.has_expired(EXPIRES_AT + DAY)


def test_a_captured_hold_cannot_be_voided() -> None:
    hold, source, destination = a_hold()
    capture(hold, source, destination, None)
    before = state(hold)

    with pytest.raises(HoldNotActiveError):
        hold.void(NOW)
    assert state(hold) == before


def test_an_expired_hold_cannot_be_voided() -> None:
    hold, _, _ = a_hold()
    before = state(hold)
    with pytest.raises(HoldExpiredError):
        hold.void(EXPIRES_AT)
    assert state(hold) == before


# --- extending -----------------------------------------------------------------------


def test_extending_moves_the_expiry_later_with_a_new_version() -> None:
    hold, _, _ = a_hold()
    now = NOW + timedelta(hours=12)

    hold.extend(timedelta(days=2), now)

    assert (hold.expires_at, hold.version, hold.updated_at) == (now + timedelta(days=2), 2, now)


@pytest.mark.parametrize("expires_in", [timedelta(hours=1), DAY - timedelta(hours=12)])
def test_an_expiry_never_moves_earlier_and_then_nothing_changes(expires_in: timedelta) -> None:
    hold, _, _ = a_hold()
    before = state(hold)

    hold.extend(expires_in, NOW + timedelta(hours=12))  # at most the current expiry

    assert state(hold) == before


def test_an_expired_hold_cannot_be_extended() -> None:
    hold, _, _ = a_hold()
    before = state(hold)
    with pytest.raises(HoldExpiredError):
        hold.extend(2 * DAY, EXPIRES_AT)
    assert state(hold) == before


@pytest.mark.parametrize("end", ["captured", "voided"])
def test_a_captured_or_voided_hold_cannot_be_extended(end: str) -> None:
    hold, source, destination = a_hold()
    if end == "captured":
        capture(hold, source, destination, None)
    else:
        hold.void(NOW)
    before = state(hold)
    with pytest.raises(HoldNotActiveError):
        hold.extend(DAY, NOW)
    assert state(hold) == before


# --- expiry --------------------------------------------------------------------------


def test_expiry_is_exact_not_a_microsecond_early() -> None:
    hold, _, _ = a_hold()

    assert not hold.has_expired(EXPIRES_AT - TICK)
    assert hold.as_of(EXPIRES_AT - TICK) is hold
    hold.ensure_capturable(EXPIRES_AT - TICK)
    assert hold.has_expired(EXPIRES_AT)
    with pytest.raises(HoldExpiredError):
        hold.ensure_capturable(EXPIRES_AT)


def test_a_hold_read_at_its_expiry_shows_expired_with_the_remainder_released() -> None:
    hold, source, destination = a_hold(300)
    capture(hold, source, destination, 100)
    before = state(hold)

    shown = hold.as_of(EXPIRES_AT)

    assert (shown.status, shown.captured_amount, shown.released_amount, shown.remaining) == (
        HoldStatus.EXPIRED,
        100,
        200,
        0,
    )
    assert (shown.version, shown.updated_at) == (hold.version, EXPIRES_AT)
    assert_sums(shown)
    assert state(hold) == before  # a read writes nothing


def test_lapse_never_releases_early_and_returns_zero_when_not_due() -> None:
    hold, _, _ = a_hold(300)
    before = state(hold)

    assert hold.lapse(EXPIRES_AT - TICK) == 0
    assert state(hold) == before


def test_lapse_writes_the_expiry_without_a_new_version() -> None:
    hold, _, _ = a_hold(300)

    assert hold.lapse(EXPIRES_AT + DAY) == 300

    assert (hold.status, hold.released_amount, hold.remaining) == (HoldStatus.EXPIRED, 300, 0)
    assert (hold.version, hold.updated_at) == (1, EXPIRES_AT)
    assert hold.lapse(EXPIRES_AT + 2 * DAY) == 0  # written once
    assert hold.as_of(EXPIRES_AT + DAY).status is HoldStatus.EXPIRED
    assert_sums(hold)


@pytest.mark.parametrize("end", ["captured", "voided"])
def test_lapse_leaves_captured_and_voided_holds_alone(end: str) -> None:
    hold, source, destination = a_hold(300)
    if end == "captured":
        capture(hold, source, destination, 100, final=True)
    else:
        hold.void(NOW)
    before = state(hold)

    assert hold.lapse(EXPIRES_AT + DAY) == 0
    assert state(hold) == before


def test_amount_is_always_captured_plus_released_plus_remaining() -> None:
    steps: list[Callable[[Hold, Account, Account], object]] = [
        lambda h, s, d: capture(h, s, d, 1),
        lambda h, s, d: capture(h, s, d, 98),
        lambda h, s, d: h.extend(2 * DAY, NOW + timedelta(hours=1)),
        lambda h, s, d: capture(h, s, d, 1, final=True),
    ]
    hold, source, destination = a_hold(1_000)
    for step in steps:
        step(hold, source, destination)
        assert_sums(hold)
        assert_sums(hold.as_of(EXPIRES_AT + 3 * DAY))
    assert (hold.captured_amount, hold.released_amount) == (100, 900)


# --- the account's side --------------------------------------------------------------


def test_available_is_balance_minus_held_plus_the_overdraft_limit() -> None:
    account = an_account(balance=100)
    account.held, account.overdraft_limit = 30, 50
    assert account.available == 120
    account.balance = -40
    assert account.available == -20


def test_a_debit_may_take_the_overdraft_down_to_exactly_available() -> None:
    account = an_account(balance=100)
    account.overdraft_limit = 50
    with pytest.raises(InsufficientFundsError):
        account.debit(Money(151, "USD"))
    assert account.debit(Money(150, "USD")) == -50
    assert account.available == 0


def test_reserve_and_settle_bump_the_version_exactly_once_each() -> None:
    account = an_account(balance=1_000)
    account.reserve(Money(300, "USD"))
    assert (account.held, account.version) == (300, 2)

    assert account.settle_hold(captured=0, released=100) == 1_000
    assert (account.balance, account.held, account.version) == (1_000, 200, 3)

    assert account.settle_hold(captured=150, released=50) == 850
    assert (account.balance, account.held, account.version) == (850, 0, 4)


def test_a_refused_reserve_changes_nothing() -> None:
    account = an_account(balance=100)
    before = state(account)
    with pytest.raises(InsufficientFundsError):
        account.reserve(Money(101, "USD"))
    with pytest.raises(CurrencyMismatchError):
        account.reserve(Money(1, "JPY"))
    account.status = AccountStatus.FROZEN
    with pytest.raises(AccountNotActiveError):
        account.reserve(Money(1, "USD"))
    account.status = AccountStatus.ACTIVE
    assert state(account) == before


def test_settling_more_than_is_held_is_a_programming_error() -> None:
    account = an_account(balance=1_000)
    account.reserve(Money(100, "USD"))
    with pytest.raises(ValueError, match="reserved"):
        account.settle_hold(captured=60, released=41)
    assert (account.balance, account.held, account.version) == (1_000, 100, 2)


def test_a_lapse_changes_nothing_visible_and_no_version() -> None:
    account = an_account(balance=1_000)
    account.lapsed_held = 300
    before = (account.balance, account.held, account.available, account.version)

    account.lapse(200)

    assert account.lapsed_held == 100
    assert (account.balance, account.held, account.available, account.version) == before
    with pytest.raises(ValueError, match="expired holds"):
        account.lapse(101)


def test_amend_merges_metadata_removes_on_none_and_bumps_the_version_once() -> None:
    account = an_account()
    account.amend(metadata={"a": "1", "b": "2"})
    assert (account.metadata, account.version) == ({"a": "1", "b": "2"}, 2)

    account.amend(overdraft_limit=500, metadata={"b": None, "c": "3", "missing": None})

    assert (account.metadata, account.overdraft_limit, account.version) == (
        {"a": "1", "c": "3"},
        500,
        3,
    )


def test_amend_replaces_the_metadata_so_copies_do_not_share_changes() -> None:
    account = an_account()
    account.amend(metadata={"a": "1"})
    earlier = account.metadata
    account.amend(metadata={"a": "2"})
    assert (earlier, account.metadata) == ({"a": "1"}, {"a": "2"})


@pytest.mark.parametrize(
    "change",
    [
        {"overdraft_limit": 100},
        {"metadata": {"a": "1"}},
        {"metadata": {"gone": None}},
        {"overdraft_limit": 100, "metadata": {"a": "1", "gone": None}},
        {},
    ],
)
def test_an_amend_that_changes_nothing_keeps_the_version(change: dict[str, Any]) -> None:
    account = an_account()
    account.amend(overdraft_limit=100, metadata={"a": "1"})
    before = state(account)

    account.amend(**change)

    assert state(account) == before


def test_lowering_the_limit_below_what_is_in_use_is_allowed() -> None:
    account = an_account(balance=0)
    account.overdraft_limit = 500
    account.debit(Money(400, "USD"))

    account.amend(overdraft_limit=0)

    assert (account.balance, account.available) == (-400, -400)
    with pytest.raises(InsufficientFundsError):
        account.debit(Money(1, "USD"))


def test_a_frozen_account_may_be_amended_but_a_closed_one_not() -> None:
    account = an_account()
    account.freeze()
    account.amend(overdraft_limit=10)
    assert (account.overdraft_limit, account.version) == (10, 3)
    account.amend(overdraft_limit=0)
    account.close()
    before = state(account)

    with pytest.raises(AccountNotActiveError):
        account.amend(metadata={"a": "1"})
    assert state(account) == before


def test_closing_needs_nothing_held() -> None:
    hold, source, _ = a_hold(300, balance=300)
    source.balance = 0  # as if the balance had gone while the hold stays
    before = state(source)

    with pytest.raises(AccountNotEmptyError):
        source.close()
    assert state(source) == before
    source.settle_hold(captured=0, released=hold.void(NOW))
    source.close()
    assert source.status is AccountStatus.CLOSED
