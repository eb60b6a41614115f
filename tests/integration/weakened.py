"""The PostgreSQL write path with its guarantee taken away, for detector tests.

A test that claims "this cannot happen" proves little unless the same test fails
when the protection is gone. ``weaken`` takes it away from the given executors, layer
by layer, so that only the guarantee could have kept concurrent units of work apart:

- money moves at READ COMMITTED instead of SERIALIZABLE;
- accounts are read with a plain SELECT: no ``FOR UPDATE``;
- the lock strategy waits for nothing before the snapshot (stripes are not taken);
- batches no longer wait for each other in the process, and each pauses (``pause``
  seconds) after reading its accounts, so that batches interleave between their reads
  and their writes;
- changed accounts are written back one by one in id order (so that the weakened
  units of work lose updates instead of deadlocking) and without the version guard,
  which would turn a lost update into a retry;
- the unique ``(account, version)`` of entries is dropped, which would otherwise
  refuse the second of two units of work that wrote the same account version.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from datetime import datetime

import pytest
from sqlalchemy import TextClause, text
from sqlalchemy.ext.asyncio import AsyncEngine

from infrastructure.postgres import executor as executor_module
from infrastructure.postgres.executor import Batch, TransactionExecutor
from infrastructure.postgres.locking import LOCK_ACCOUNTS, PortableLocks
from infrastructure.postgres.transaction import Transaction
from infrastructure.postgres.writes import PendingWrites, flush


async def weaken(
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    *executors: TransactionExecutor,
    pause: float = 0.005,
    keep_version_guard: bool = False,
) -> None:
    """``keep_version_guard`` leaves the last two layers in place (the version guard
    and the unique entry version): isolation and row locks alone are taken away."""
    if not keep_version_guard:
        async with engine.begin() as connection:
            await connection.execute(
                text("ALTER TABLE entries DROP CONSTRAINT uq_entries_account_id_account_version")
            )
    for executor in executors:
        monkeypatch.setattr(executor, "isolation", "READ COMMITTED")
        monkeypatch.setattr(executor, "strategy", PortableLocks())
        monkeypatch.setattr(executor, "_stall_after", 0.0)
        monkeypatch.setattr(executor, "_max_in_flight", 64)

    original_load = Batch.load

    async def slow_load(self: Batch, account_ids: Collection[uuid.UUID]) -> list[uuid.UUID]:
        loaded = await original_load(self, account_ids)
        await asyncio.sleep(pause)
        return loaded

    async def unguarded_flush(db: Transaction, pending: PendingWrites) -> None:
        for account in sorted(pending.accounts.values(), key=lambda account: account.id):
            await db.execute(
                text(
                    "UPDATE accounts SET balance = :b, status = :s, version = :v, held = :h,"
                    " overdraft_limit = :l WHERE id = :id"
                ),
                {
                    "b": account.balance,
                    "s": account.status.value,
                    "v": account.version,
                    "h": account.held + account.lapsed_held,
                    "l": account.overdraft_limit,
                    "id": account.id,
                },
            )
        pending.accounts.clear()  # what is left to write carries no version guard
        await flush(db, pending)

    monkeypatch.setattr(executor_module, "lock_accounts", plain_select)
    monkeypatch.setattr(Batch, "load", slow_load)
    if not keep_version_guard:
        monkeypatch.setattr(executor_module, "flush", unguarded_flush)


def plain_select(account_ids: Collection[uuid.UUID], now: datetime | None) -> TextClause:
    """``locking.lock_accounts`` without its ``FOR UPDATE``."""
    unlocked = text(LOCK_ACCOUNTS.replace("FOR UPDATE OF accounts", ""))  # all it takes away
    return unlocked.bindparams(ids=sorted(set(account_ids)), now=now)
