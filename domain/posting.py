"""The domain service that moves money between two accounts."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime

from domain.account import Account
from domain.errors import SameAccountError
from domain.money import Money
from domain.transfer import Entry, Transfer, TransferKind, TransferStatus


def post_transfer(
    *,
    kind: TransferKind,
    source: Account,
    destination: Account,
    money: Money,
    description: str | None,
    new_id: Callable[[], uuid.UUID],
    now: datetime,
) -> Transfer:
    """Debit ``source``, credit ``destination`` and return the posted transfer.

    Checks run in docs/api.md's order: same account, then either side not active, then
    currency, then funds (then the destination's balance ceiling). Every check runs
    before either account changes, so a refusal leaves both untouched.
    """
    if source.id == destination.id:
        raise SameAccountError()
    source.ensure_active()
    destination.ensure_active()
    source.ensure_currency(money)
    destination.ensure_currency(money)
    source.ensure_can_pay(money)
    destination.ensure_can_receive(money)

    transfer_id = new_id()
    source_after = source.debit(money)
    destination_after = destination.credit(money)
    return Transfer(
        id=transfer_id,
        kind=kind,
        source_account_id=source.id,
        destination_account_id=destination.id,
        money=money,
        description=description,
        status=TransferStatus.POSTED,
        created_at=now,
        debit=_entry(new_id(), transfer_id, source, -money.amount, source_after, now),
        credit=_entry(new_id(), transfer_id, destination, money.amount, destination_after, now),
    )


def _entry(
    entry_id: uuid.UUID,
    transfer_id: uuid.UUID,
    account: Account,
    amount: int,
    balance_after: int | None,
    now: datetime,
) -> Entry:
    return Entry(
        id=entry_id,
        transfer_id=transfer_id,
        account_id=account.id,
        amount=amount,
        currency=account.currency,
        balance_after=balance_after,
        account_version=None if account.is_settlement else account.version,
        created_at=now,
    )
