"""How a money-moving transaction locks its accounts, and the strategies that make it
wait for other transactions on the same accounts before its snapshot.

The guarantee is the same under every strategy: SERIALIZABLE, the accounts loaded with
``SELECT ... FOR UPDATE`` in ascending id order, the version guard at flush, and the
retry. A strategy only decides whether a transaction queues before its snapshot. At
SERIALIZABLE the snapshot is taken by the first statement that needs one, so a
transaction that waits for a row lock inside ``FOR UPDATE`` then sees the row changed
by the holder's commit and fails with a serialization error: on hot accounts,
transactions would abort each other over and over. Queuing first avoids that.

- ``stripes`` (the default): right after ``BEGIN``, ``LOCK TABLE`` on the lock stripes
  of the transaction's accounts, in sorted order. A stripe is one of a fixed number of
  empty tables, chosen by hashing the account id. ``LOCK`` takes no snapshot, so the
  snapshot comes after the wait. It is transaction-scoped, so it works through a
  transaction-mode PgBouncer. Two accounts on one stripe only wait for each other,
  which costs time, never correctness.
- ``portable``: nothing but the guarantee. What an engine without ``LOCK TABLE`` gets.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import datetime
from typing import Any, Literal, Protocol

from sqlalchemy import BigInteger, ColumnElement, TextClause, cast, func, select, text

from infrastructure.postgres.tables import LOCK_STRIPES, LOCK_STRIPES_SCHEMA, accounts, holds

AccountLocks = Literal["stripes", "portable"]


class LockStrategy(Protocol):
    def before_snapshot(self, account_ids: Collection[uuid.UUID]) -> list[str]:
        """Statements that run right after ``BEGIN``, before the snapshot."""
        ...


class StripeLocks:
    def before_snapshot(self, account_ids: Collection[uuid.UUID]) -> list[str]:
        if not account_ids:
            return []
        names = ", ".join(stripe_table(stripe) for stripe in stripes(account_ids))
        return [f"LOCK TABLE {names} IN EXCLUSIVE MODE"]


class PortableLocks:
    def before_snapshot(self, account_ids: Collection[uuid.UUID]) -> list[str]:
        return []


def lock_strategy(name: AccountLocks) -> LockStrategy:
    return StripeLocks() if name == "stripes" else PortableLocks()


def stripes(account_ids: Collection[uuid.UUID]) -> list[int]:
    """Sorted, so that every transaction takes its stripes in the same order and two of
    them never deadlock."""
    return sorted({int.from_bytes(i.bytes[:8], "big") % LOCK_STRIPES for i in account_ids})


def stripe_table(stripe: int) -> str:
    return f"{LOCK_STRIPES_SCHEMA}.s{stripe:04d}"


# Written out once, not built per call: this runs in every transaction that moves money.
# ``:now`` NULL reads the database's clock, once (a CTE with a volatile function is
# never inlined); given, it is the batch's clock from an earlier lock.
LOCK_ACCOUNTS = """
WITH clock AS (SELECT coalesce(CAST(:now AS timestamptz), clock_timestamp()) AS now)
SELECT accounts.*, clock.now AS clock, (
    SELECT CAST(coalesce(sum(amount - captured_amount - released_amount), 0) AS bigint)
    FROM holds
    WHERE source_account_id = accounts.id AND status = 'active' AND expires_at <= clock.now
) AS lapsed_held
FROM accounts CROSS JOIN clock
WHERE accounts.id = ANY(CAST(:ids AS uuid[]))
ORDER BY accounts.id
FOR UPDATE OF accounts
"""
_LOCK_ACCOUNTS = text(LOCK_ACCOUNTS)


def lock_accounts(account_ids: Collection[uuid.UUID], now: datetime | None) -> TextClause:
    """Load and lock accounts in one statement, in ascending id order: two transactions
    locking the same accounts queue up behind each other instead of deadlocking.

    Each row carries the transaction's clock (``clock``) and what holds that expired by
    it still reserve (``lapsed_held``, as ``account_columns`` computes it). ``now`` None
    reads the database's clock in this statement, once: after the snapshot, so after the
    commit of every earlier change to these accounts (a change committed later fails
    this transaction with a serialization error instead), and an account's entries
    never go back in time.
    """
    return _LOCK_ACCOUNTS.bindparams(ids=sorted(set(account_ids)), now=now)


def account_columns(now: ColumnElement[datetime]) -> list[Any]:
    """An account's columns, and ``lapsed_held``: the remainders of its holds stored as
    active whose expiry has come by ``now`` (``Hold.has_expired``: at and after
    ``expires_at``). One range of a partial index, usually empty."""
    remainders = func.sum(holds.c.amount - holds.c.captured_amount - holds.c.released_amount)
    lapsed = (
        # sum() of bigint is numeric: back to bigint, or Python gets a Decimal.
        select(cast(func.coalesce(remainders, 0), BigInteger))
        .where(
            holds.c.source_account_id == accounts.c.id,
            holds.c.status == "active",
            holds.c.expires_at <= now,
        )
        .scalar_subquery()
    )
    return [accounts, lapsed.label("lapsed_held")]
