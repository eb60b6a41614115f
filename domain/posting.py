"""The domain services that move money between two accounts: a transfer, and the
capture of a hold."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import datetime

from domain.account import Account
from domain.errors import SameAccountError
from domain.hold import Hold
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
    metadata: Mapping[str, str] | None = None,
    batch_id: uuid.UUID | None = None,
) -> Transfer:
    """Debit ``source``, credit ``destination`` and return the posted transfer (one of
    the batch ``batch_id``, if given).

    Checks run in docs/api.md's order: same account, then either side not active, then
    currency, then funds (``available``; then the destination's balance ceiling). Every
    check runs before either account changes, so a refusal leaves both untouched.
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
    return _transfer(
        transfer_id, kind, source, destination, money, description, metadata, None, now,
        source_after, destination_after, new_id, batch_id=batch_id,
    )  # fmt: skip


def capture_hold(
    *,
    hold: Hold,
    source: Account,
    destination: Account,
    amount: int | None,
    final: bool,
    description: str | None,
    metadata: Mapping[str, str] | None,
    new_id: Callable[[], uuid.UUID],
    now: datetime,
) -> Transfer:
    """Move captured money from the hold's source to its destination.

    Checks in the documented order: the hold (expired, then not active), then either
    account not active, then the amount against what remains (then the destination's
    ceiling). A capture never fails for funds: the money was reserved at the hold.
    """
    hold.ensure_capturable(now)
    source.ensure_active()
    destination.ensure_active()
    money = Money(hold.remaining if amount is None else amount, hold.money.currency)
    if money.amount <= hold.remaining:
        destination.ensure_can_receive(money)
    captured, released = hold.capture(amount, final=final, now=now)
    transfer_id = new_id()
    source_after = source.settle_hold(captured=captured, released=released)
    destination_after = destination.credit(money)
    return _transfer(
        transfer_id, TransferKind.CAPTURE, source, destination, money, description, metadata,
        hold.id, now, source_after, destination_after, new_id,
    )  # fmt: skip


def _transfer(
    transfer_id: uuid.UUID,
    kind: TransferKind,
    source: Account,
    destination: Account,
    money: Money,
    description: str | None,
    metadata: Mapping[str, str] | None,
    hold_id: uuid.UUID | None,
    now: datetime,
    source_after: int | None,
    destination_after: int | None,
    new_id: Callable[[], uuid.UUID],
    *,
    batch_id: uuid.UUID | None = None,
) -> Transfer:
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
        hold_id=hold_id,
        metadata=dict(metadata or {}),
        batch_id=batch_id,
    )


def _entry(
    entry_id: uuid.UUID,
    transfer_id: uuid.UUID,
    account: Account,
    amount: int,
    balance_after: int | None,
    now: datetime,
) -> Entry:
    customer = not account.is_settlement
    return Entry(
        id=entry_id,
        transfer_id=transfer_id,
        account_id=account.id,
        amount=amount,
        currency=account.currency,
        balance_after=balance_after,
        account_version=account.version if customer else None,
        created_at=now,
        available_after=account.available if customer else None,
    )
