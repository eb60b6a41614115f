"""After every cell: the README's invariants, and money conservation.

- every invariant of `infrastructure.postgres.reconciliation` (what `banking
  reconcile` checks), in one REPEATABLE READ snapshot;
- transfers between customers create and destroy no money: the customers' total is
  exactly what the opening deposits put in;
- the transfers in the database, captures of holds included, are exactly those the
  system reported committed (none lost, none doubled).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench.plan import OPENING_BALANCE
from infrastructure.postgres.engine import psycopg_url
from infrastructure.postgres.reconciliation import find_violations


def reconcile(url: str, accounts: int, committed_so_far: int) -> dict[str, Any]:
    started = time.perf_counter()
    result = asyncio.run(_reconcile(url))
    violations = result.pop("violations")
    customer_total, transfers = result["customer_total"], result["transfers"]
    result.update(
        invariants_hold=not violations,
        violations=[f"{v.invariant}: {v.subject} {v.detail}" for v in violations[:10]],
        violation_count=len(violations),
        money_conserved=customer_total == accounts * OPENING_BALANCE,
        expected_transfers=committed_so_far,
        transfers_match=transfers == committed_so_far,
        seconds=round(time.perf_counter() - started, 2),
    )
    result["ok"] = bool(
        result["invariants_hold"] and result["money_conserved"] and result["transfers_match"]
    )
    return result


async def _reconcile(url: str) -> dict[str, Any]:
    engine = create_async_engine(psycopg_url(url), poolclass=NullPool)
    try:
        async with engine.connect() as connection:
            snapshot = await connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
            violations = await find_violations(snapshot)
            totals = await snapshot.execute(
                text(
                    "SELECT (SELECT coalesce(sum(balance), 0) FROM accounts"
                    "        WHERE kind = 'customer'),"
                    "       (SELECT count(*) FROM transfers"
                    "        WHERE kind IN ('transfer', 'capture'))"
                )
            )
            customer_total, transfers = totals.one()
    finally:
        await engine.dispose()
    return {
        "violations": violations,
        "customer_total": int(customer_total),
        "transfers": int(transfers),
    }
