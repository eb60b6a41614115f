"""The account aggregate: a balance in one currency and the rules that guard it."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.errors import (
    AccountNotActiveError,
    AccountNotEmptyError,
    BalanceLimitExceededError,
    CurrencyMismatchError,
    InsufficientFundsError,
    ValidationError,
)
from domain.money import Money

# Settlement account ids are derived from the currency, so every process agrees on
# them without a lookup and creating one twice is harmless.
_SETTLEMENT_NAMESPACE = uuid.UUID("6f1d3c2a-4b5e-4f60-8a7b-9c0d1e2f3a4b")


class AccountStatus(StrEnum):
    ACTIVE = "active"
    FROZEN = "frozen"
    CLOSED = "closed"


class AccountKind(StrEnum):
    CUSTOMER = "customer"
    SETTLEMENT = "settlement"


# A customer balance stays well inside a signed 64-bit integer (the database column),
# so no sequence of deposits can overflow it.
MAX_BALANCE = 10**18


def settlement_account_id(currency: str) -> uuid.UUID:
    return uuid.uuid5(_SETTLEMENT_NAMESPACE, currency)


@dataclass(eq=False, slots=True)
class Account:
    """An account and its rules.

    - Only an active account sends or receives money.
    - ``available = balance - held + overdraft_limit`` is what a debit or a new hold may
      take; a customer balance never goes above ``MAX_BALANCE``.
    - ``held`` is what the account's active, unexpired holds still reserve, as of the
      clock of the unit of work that loaded it. ``lapsed_held`` is what holds that
      expired by that clock still reserve in storage until the expiry sweep (or the next
      change of the account) writes their release: it counts nowhere.
    - ``version`` is 1 at opening and grows by one with every change of balance, held
      amount, status, limit or metadata; an expiry changes ``held`` without a version.
    - Closing needs a zero balance and nothing held; closed is final.
    - A settlement account (one per currency: the outside world) may go negative and
      keeps no balance of its own: its balance is the sum of its entries, so deposits
      and withdrawals never contend on its row (docs/adr/003-settlement-account.md).
    """

    id: uuid.UUID
    owner_id: uuid.UUID | None
    currency: str
    kind: AccountKind
    status: AccountStatus
    balance: int
    version: int
    reference: str | None
    created_at: datetime
    held: int = 0
    overdraft_limit: int = 0
    # Replaced, never changed in place: copies of an account share it.
    metadata: Mapping[str, str] = field(default_factory=dict)
    lapsed_held: int = 0

    @classmethod
    def open(
        cls,
        *,
        account_id: uuid.UUID,
        owner_id: uuid.UUID,
        currency: str,
        reference: str | None,
        now: datetime,
        overdraft_limit: int = 0,
        metadata: Mapping[str, str] | None = None,
    ) -> Account:
        return cls(
            id=account_id,
            owner_id=owner_id,
            currency=currency,
            kind=AccountKind.CUSTOMER,
            status=AccountStatus.ACTIVE,
            balance=0,
            version=1,
            reference=reference,
            created_at=now,
            overdraft_limit=overdraft_limit,
            metadata=dict(metadata or {}),
        )

    @classmethod
    def settlement(cls, *, currency: str, now: datetime) -> Account:
        return cls(
            id=settlement_account_id(currency),
            owner_id=None,
            currency=currency,
            kind=AccountKind.SETTLEMENT,
            status=AccountStatus.ACTIVE,
            balance=0,
            version=1,
            reference=None,
            created_at=now,
        )

    @property
    def is_settlement(self) -> bool:
        return self.kind is AccountKind.SETTLEMENT

    @property
    def available(self) -> int:
        """What a debit or a new hold may take (a settlement account has no bound)."""
        return self.balance - self.held + self.overdraft_limit

    def is_owned_by(self, client_id: uuid.UUID) -> bool:
        return self.kind is AccountKind.CUSTOMER and self.owner_id == client_id

    def ensure_active(self) -> None:
        if self.status is not AccountStatus.ACTIVE:
            # No status in the text: a payer must not learn more than "cannot receive".
            raise AccountNotActiveError()

    def ensure_currency(self, money: Money) -> None:
        if money.currency != self.currency:
            # No currency in the text: it may be another client's account.
            raise CurrencyMismatchError()

    def ensure_can_pay(self, money: Money) -> None:
        if not money.is_positive:
            raise ValidationError("amount must be positive")
        if not self.is_settlement and money.amount > self.available:
            raise InsufficientFundsError()

    def ensure_can_receive(self, money: Money) -> None:
        if not money.is_positive:
            raise ValidationError("amount must be positive")
        if not self.is_settlement and self.balance + money.amount > MAX_BALANCE:
            raise BalanceLimitExceededError()

    def debit(self, money: Money) -> int | None:
        """Take money out; returns the balance after, or None for a settlement account."""
        self.ensure_active()
        self.ensure_currency(money)
        self.ensure_can_pay(money)
        return self._apply(-money.amount)

    def credit(self, money: Money) -> int | None:
        """Put money in; returns the balance after, or None for a settlement account."""
        self.ensure_active()
        self.ensure_currency(money)
        self.ensure_can_receive(money)
        return self._apply(money.amount)

    def reserve(self, money: Money) -> None:
        """Hold ``money`` for a later capture: it leaves ``available``, not ``balance``."""
        self.ensure_active()
        self.ensure_currency(money)
        self.ensure_can_pay(money)
        self.held += money.amount
        self.version += 1

    def settle_hold(self, *, captured: int, released: int) -> int | None:
        """A hold of this account was captured (``captured`` leaves the balance) and/or
        released; either way the amount stops being held. Never refused for funds: the
        money was reserved when the hold was granted. Returns the balance after."""
        if captured < 0 or released < 0 or captured + released > self.held:
            raise ValueError("a hold can settle only what it reserved")
        self.held -= captured + released
        if captured:
            return self._apply(-captured)
        self.version += 1
        return self.balance

    def lapse(self, amount: int) -> None:
        """An expired hold's release is written: nothing visible changes, no version."""
        if not 0 <= amount <= self.lapsed_held:
            raise ValueError("only what expired holds reserved can lapse")
        self.lapsed_held -= amount

    def amend(
        self,
        *,
        overdraft_limit: int | None = None,
        metadata: Mapping[str, str | None] | None = None,
    ) -> None:
        """Change the limit and merge metadata (a None value removes its key), as one
        change. Lowering the limit below what is in use is allowed: the account then
        takes no debit larger than its ``available``. Nothing changed, no new version."""
        if self.status is AccountStatus.CLOSED:
            raise AccountNotActiveError("the account is closed")
        limit = self.overdraft_limit if overdraft_limit is None else overdraft_limit
        merged = dict(self.metadata)
        for key, value in (metadata or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if limit == self.overdraft_limit and merged == self.metadata:
            return
        self.overdraft_limit = limit
        self.metadata = merged
        self.version += 1

    def _apply(self, delta: int) -> int | None:
        if self.is_settlement:
            return None
        self.balance += delta
        self.version += 1
        return self.balance

    def freeze(self) -> None:
        """Stop the account sending and receiving. Freezing a frozen account changes nothing."""
        self._ensure_not_closed()
        if self.status is AccountStatus.ACTIVE:
            self._set_status(AccountStatus.FROZEN)

    def unfreeze(self) -> None:
        """Let the account move money again. Unfreezing an active account changes nothing."""
        self._ensure_not_closed()
        if self.status is AccountStatus.FROZEN:
            self._set_status(AccountStatus.ACTIVE)

    def close(self) -> None:
        """Close for good: only at a zero balance with nothing held, from active or frozen."""
        self._ensure_not_closed()
        if self.balance != 0 or self.held != 0:
            raise AccountNotEmptyError()
        self._set_status(AccountStatus.CLOSED)

    def _ensure_not_closed(self) -> None:
        if self.status is AccountStatus.CLOSED:
            raise AccountNotActiveError("the account is closed")

    def _set_status(self, status: AccountStatus) -> None:
        self.status = status
        self.version += 1
