"""Check the README's invariants against the database; used by tests and operators."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection

# Each query returns one row per violation, as (subject, detail).
_CHECKS = {
    "per currency, the sum of all balances including settlement is 0": """
        SELECT a.currency, sum(a.balance) + coalesce(max(s.total), 0)
        FROM accounts a
        LEFT JOIN (
            SELECT e.currency, sum(e.amount) AS total
            FROM entries e JOIN accounts sa ON sa.id = e.account_id
            WHERE sa.kind = 'settlement' GROUP BY e.currency
        ) s ON s.currency = a.currency
        WHERE a.kind = 'customer'
        GROUP BY a.currency
        HAVING sum(a.balance) + coalesce(max(s.total), 0) <> 0
    """,
    "every entry's currency has a customer or settlement sum of 0": """
        SELECT currency, sum(amount) FROM entries GROUP BY currency HAVING sum(amount) <> 0
    """,
    "a customer balance equals the sum of its entries": """
        SELECT a.id::text, a.balance::text || ' vs ' || coalesce(sum(e.amount), 0)::text
        FROM accounts a LEFT JOIN entries e ON e.account_id = a.id
        WHERE a.kind = 'customer'
        GROUP BY a.id, a.balance
        HAVING a.balance <> coalesce(sum(e.amount), 0)
    """,
    "the newest entry's balance_after equals the balance": """
        SELECT a.id::text, a.balance::text || ' vs ' || e.balance_after::text
        FROM accounts a
        JOIN LATERAL (
            SELECT balance_after FROM entries
            WHERE account_id = a.id ORDER BY account_version DESC LIMIT 1
        ) e ON true
        WHERE a.kind = 'customer' AND e.balance_after IS DISTINCT FROM a.balance
    """,
    "balance_after forms an unbroken chain": """
        SELECT account_id::text, account_version::text
        FROM (
            SELECT account_id, account_version, amount, balance_after,
                   lag(balance_after) OVER w AS previous
            FROM entries
            WHERE account_version IS NOT NULL
            WINDOW w AS (PARTITION BY account_id ORDER BY account_version)
        ) chain
        WHERE balance_after <> coalesce(previous, 0) + amount
    """,
    "no customer balance is negative": """
        SELECT id::text, balance::text FROM accounts WHERE kind = 'customer' AND balance < 0
    """,
    "every transfer has exactly two entries, -amount and +amount": """
        SELECT t.id::text, count(e.id)::text || ' entries'
        FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        GROUP BY t.id, t.amount
        HAVING count(e.id) <> 2
            OR coalesce(sum(e.amount), 1) <> 0
            OR max(e.amount) <> t.amount
    """,
}


@dataclass(frozen=True, slots=True)
class Violation:
    invariant: str
    subject: str
    detail: str


async def find_violations(connection: AsyncConnection) -> list[Violation]:
    """Every broken invariant, in one consistent snapshot of the books."""
    violations = []
    for invariant in _CHECKS:
        violations += await check(connection, invariant)
    return violations


async def check(connection: AsyncConnection, invariant: str) -> list[Violation]:
    """The violations of one of ``invariants()``; several checks compare the same books
    only when they share one REPEATABLE READ transaction on ``connection``."""
    # The service's transactions turn sequential scans off (see transaction.py);
    # these queries read whole tables, where a sequential scan is the right plan.
    await connection.execute(text("SET LOCAL enable_seqscan = on"))
    result = await connection.execute(text(_CHECKS[invariant]))
    return [Violation(invariant, str(subject), str(detail)) for subject, detail in result]


def invariants() -> list[str]:
    return list(_CHECKS)
