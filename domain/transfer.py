"""Transfers and the ledger entries they post."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from domain.money import Money


class TransferKind(StrEnum):
    TRANSFER = "transfer"
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    CAPTURE = "capture"
    PAYOUT = "payout"


class TransferStatus(StrEnum):
    POSTED = "posted"


@dataclass(frozen=True, slots=True)
class Entry:
    """One line of an account's ledger: a signed amount and the balance it left.

    ``account_version`` is the account's version right after this entry, so a
    customer account's entries are ordered exactly as they were applied, and
    ``available_after`` what the account had available right after it (reconciliation
    checks that no debit took it below zero). A settlement account keeps no running
    balance: these fields are None there.
    """

    id: uuid.UUID
    transfer_id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    currency: str
    balance_after: int | None
    account_version: int | None
    created_at: datetime
    available_after: int | None = None


@dataclass(frozen=True, slots=True)
class Transfer:
    """A posted money movement: exactly one debit entry and one credit entry summing to zero."""

    id: uuid.UUID
    kind: TransferKind
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    money: Money
    description: str | None
    status: TransferStatus
    created_at: datetime
    debit: Entry
    credit: Entry
    hold_id: uuid.UUID | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    batch_id: uuid.UUID | None = None

    def __post_init__(self) -> None:
        if self.debit.amount + self.credit.amount != 0 or self.credit.amount != self.money.amount:
            raise ValueError("a transfer's entries must be -amount and +amount")
        if (self.debit.account_id, self.credit.account_id) != (
            self.source_account_id,
            self.destination_account_id,
        ):
            raise ValueError("a transfer's entries must post to its own two accounts")

    @property
    def entries(self) -> tuple[Entry, Entry]:
        return (self.debit, self.credit)
