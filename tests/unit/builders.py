"""Builders for domain objects in tests."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

from domain.account import Account, AccountStatus

NOW = datetime(2026, 1, 1, tzinfo=UTC)
OWNER = uuid.UUID(int=1_000)
_ids = itertools.count(1)


def new_id() -> uuid.UUID:
    return uuid.UUID(int=next(_ids))


def an_account(
    *,
    balance: int = 0,
    currency: str = "USD",
    status: AccountStatus = AccountStatus.ACTIVE,
    owner_id: uuid.UUID = OWNER,
) -> Account:
    account = Account.open(
        account_id=new_id(), owner_id=owner_id, currency=currency, reference=None, now=NOW
    )
    account.balance = balance
    account.status = status
    return account
