"""Check the ledger's invariants against the database; used by tests and operators
(``banking reconcile``)."""

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
    "no debit took an account below its available": """
        SELECT e.id::text, 'available after ' || e.available_after::text
        FROM entries e JOIN transfers t ON t.id = e.transfer_id
        WHERE e.amount < 0 AND e.available_after < 0
            -- A capture spends what its hold reserved: it does not change available.
            AND t.kind NOT IN ('capture', 'payout')
        UNION ALL
        SELECT id::text, 'hold left available ' || source_available_after::text
        FROM holds WHERE source_available_after < 0
    """,
    "entries' created_at never decreases along an account's order": """
        SELECT account_id::text, account_version::text
        FROM (
            SELECT account_id, account_version, created_at,
                   lag(created_at) OVER w AS previous
            FROM entries
            WHERE account_version IS NOT NULL
            WINDOW w AS (PARTITION BY account_id ORDER BY account_version)
        ) timeline
        WHERE created_at < previous
    """,
    # Stored, held counts the holds written as active, expired ones included until the
    # sweep writes their release; every read subtracts those whose expiry has come, so
    # what it shows is the sum over active, unexpired holds.
    "held equals the remainders of the account's active holds": """
        SELECT a.id::text, a.held::text || ' vs ' || coalesce(
            sum(h.amount - h.captured_amount - h.released_amount), 0)::text
        FROM accounts a
        LEFT JOIN holds h ON h.source_account_id = a.id AND h.status = 'active'
        GROUP BY a.id, a.held
        HAVING a.held <> coalesce(sum(h.amount - h.captured_amount - h.released_amount), 0)
    """,
    "every hold's amounts add up, and its captures are its transfers": """
        SELECT h.id::text, h.captured_amount::text || ' captured in ' || h.capture_count::text
            || ' vs transfers ' || coalesce(sum(t.amount), 0)::text || ' in '
            || count(t.id)::text
        FROM holds h LEFT JOIN transfers t ON t.hold_id = h.id
        GROUP BY h.id
        HAVING h.captured_amount + h.released_amount > h.amount
            OR (h.status = 'active') <> (h.captured_amount + h.released_amount < h.amount)
            OR h.captured_amount <> coalesce(sum(t.amount), 0)
            OR h.capture_count <> count(t.id)
    """,
    "every transfer has exactly two entries, -amount and +amount": """
        SELECT t.id::text, count(e.id)::text || ' entries'
        FROM transfers t LEFT JOIN entries e ON e.transfer_id = t.id
        GROUP BY t.id, t.amount
        HAVING count(e.id) <> 2
            OR coalesce(sum(e.amount), 1) <> 0
            OR max(e.amount) <> t.amount
    """,
    # transfers.batch_id has no foreign key (migration 0008 says why): checked here.
    "every transfer's batch exists, and made it for its own client": """
        SELECT t.id::text, 'batch ' || t.batch_id::text || CASE WHEN b.id IS NULL
            THEN ' does not exist' ELSE ' was made by another client' END
        FROM transfers t
        JOIN accounts a ON a.id = t.source_account_id
        LEFT JOIN batches b ON b.id = t.batch_id
        WHERE t.batch_id IS NOT NULL
          AND (b.id IS NULL OR b.client_id IS DISTINCT FROM a.owner_id)
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
