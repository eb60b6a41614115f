"""The hold aggregate: money reserved on a source for a later transfer to a fixed
destination (a two-phase transfer), and the rules of its life.

A hold is ``active`` until it is captured in full (``captured``), voided (``voided``)
or reaches ``expires_at`` (``expired``). Expiry is exact and needs no write: from
``expires_at`` on, by the clock its unit of work gives it, an active hold behaves as
expired everywhere, and the sweep only writes down what is already true. Always
``amount = captured_amount + released_amount + remaining``.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from domain.account import Account
from domain.errors import (
    CaptureExceedsRemainingError,
    HoldExpiredError,
    HoldNotActiveError,
    SameAccountError,
)
from domain.money import Money


class HoldStatus(StrEnum):
    ACTIVE = "active"
    CAPTURED = "captured"
    VOIDED = "voided"
    EXPIRED = "expired"


@dataclass(eq=False, slots=True)
class Hold:
    id: uuid.UUID
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    money: Money
    captured_amount: int
    released_amount: int
    capture_count: int
    status: HoldStatus
    expires_at: datetime
    description: str | None
    created_at: datetime
    updated_at: datetime
    version: int
    # What the source had available right after the hold was granted (never below 0).
    source_available_after: int
    metadata: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def place(
        cls,
        *,
        hold_id: uuid.UUID,
        source: Account,
        destination: Account,
        money: Money,
        expires_in: timedelta,
        description: str | None,
        metadata: Mapping[str, str],
        now: datetime,
    ) -> Hold:
        """Reserve ``money`` on ``source`` for ``destination``.

        The checks are a transfer's, in the same order (same account, either side not
        active, currency, then ``available``), so a granted hold can always be
        captured as far as funds go. A refusal changes neither account.
        """
        if source.id == destination.id:
            raise SameAccountError()
        source.ensure_active()
        destination.ensure_active()
        source.ensure_currency(money)
        destination.ensure_currency(money)
        source.reserve(money)
        return cls(
            id=hold_id,
            source_account_id=source.id,
            destination_account_id=destination.id,
            money=money,
            captured_amount=0,
            released_amount=0,
            capture_count=0,
            status=HoldStatus.ACTIVE,
            expires_at=now + expires_in,
            description=description,
            created_at=now,
            updated_at=now,
            version=1,
            source_available_after=source.available,
            metadata=dict(metadata),
        )

    @property
    def remaining(self) -> int:
        return self.money.amount - self.captured_amount - self.released_amount

    def has_expired(self, now: datetime) -> bool:
        """The one expiry rule: an active hold is expired at and after ``expires_at``."""
        return self.status is HoldStatus.EXPIRED or (
            self.status is HoldStatus.ACTIVE and now >= self.expires_at
        )

    def as_of(self, now: datetime) -> Hold:
        """The hold as every read shows it at ``now``: expired when its time has come,
        whether or not the sweep has written it, with its remainder released."""
        if self.status is not HoldStatus.ACTIVE or not self.has_expired(now):
            return self
        shown = copy.copy(self)
        shown._lapse()
        return shown

    def ensure_capturable(self, now: datetime) -> None:
        """The hold's own reasons to refuse a capture, in the documented order."""
        if self.has_expired(now):
            raise HoldExpiredError()
        if self.status is not HoldStatus.ACTIVE:
            raise HoldNotActiveError()

    def capture(self, amount: int | None, *, final: bool, now: datetime) -> tuple[int, int]:
        """Capture ``amount`` (all that remains when None); ``final`` releases the rest.
        Returns (captured, released). The accounts' checks come between
        ``ensure_capturable`` and this, as the order of checks says."""
        self.ensure_capturable(now)
        captured = self.remaining if amount is None else amount
        if captured > self.remaining:
            raise CaptureExceedsRemainingError()
        if captured <= 0:
            raise ValueError("a capture moves a positive amount")
        self.captured_amount += captured
        self.capture_count += 1
        released = self.remaining if final else 0
        self.released_amount += released
        if self.remaining == 0:
            self.status = HoldStatus.CAPTURED
        self._touch(now)
        return captured, released

    def void(self, now: datetime) -> int:
        """Release the remainder; returns it. Voiding a voided hold changes nothing."""
        if self.status is HoldStatus.VOIDED:
            return 0
        if self.has_expired(now):
            raise HoldExpiredError()
        if self.status is not HoldStatus.ACTIVE:
            raise HoldNotActiveError()
        released = self.remaining
        self.released_amount += released
        self.status = HoldStatus.VOIDED
        self._touch(now)
        return released

    def extend(self, expires_in: timedelta, now: datetime) -> None:
        """Move the expiry to ``now + expires_in`` when that is later; never earlier."""
        if self.has_expired(now):
            raise HoldExpiredError()
        if self.status is not HoldStatus.ACTIVE:
            raise HoldNotActiveError()
        if now + expires_in > self.expires_at:
            self.expires_at = now + expires_in
            self._touch(now)

    def lapse(self, now: datetime) -> int:
        """Write down an expiry that has happened (the sweep); returns the released
        remainder, 0 when the hold has not expired by ``now`` (never early) or is no
        longer active. Like every read of an expired hold, no new version."""
        if self.status is not HoldStatus.ACTIVE or not self.has_expired(now):
            return 0
        return self._lapse()

    def _lapse(self) -> int:
        released = self.remaining
        self.released_amount += released
        self.status = HoldStatus.EXPIRED
        self.updated_at = self.expires_at
        return released

    def _touch(self, now: datetime) -> None:
        self.version += 1
        self.updated_at = now
