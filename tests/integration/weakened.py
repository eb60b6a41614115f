"""The PostgreSQL unit of work with its isolation taken away, for detector tests.

A test that claims "this cannot happen" proves little unless the same test fails
when the protection is gone. ``weaken`` takes it away from the given storages, layer
by layer, so that only isolation could have kept concurrent units of work apart:

- money moves at READ COMMITTED instead of SERIALIZABLE;
- accounts are read with a plain SELECT: no ``FOR UPDATE``, no in-process lock and no
  advisory lock to queue on (on the plain path and in a group-commit batch alike);
- each read yields to the event loop (``pause`` seconds) before the work goes on, so
  other tasks interleave between a unit of work's read and its write;
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
from typing import Any

import pytest
from sqlalchemy import Select, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.account import Account
from infrastructure.postgres import group_commit, repositories, unit_of_work
from infrastructure.postgres.repositories import PendingWrites
from infrastructure.postgres.tables import accounts
from infrastructure.postgres.unit_of_work import PostgresStorage


async def weaken(
    engine: AsyncEngine,
    monkeypatch: pytest.MonkeyPatch,
    *storages: PostgresStorage,
    pause: float = 0,
    keep_version_guard: bool = False,
) -> None:
    """``keep_version_guard`` leaves the last two layers in place (the version guard
    and the unique entry version): isolation and row locks alone are taken away."""
    if not keep_version_guard:
        async with engine.begin() as connection:
            await connection.execute(
                text("ALTER TABLE entries DROP CONSTRAINT uq_entries_account_id_account_version")
            )
    weak_engine = engine.execution_options(isolation_level="READ COMMITTED")
    for storage in storages:
        storage.serializable = weak_engine

    original_get = repositories.PostgresAccountRepository.get
    original_batch_lock = group_commit._Batch.lock

    async def slow_get(
        self: repositories.PostgresAccountRepository, account_id: uuid.UUID
    ) -> Account | None:
        account = await original_get(self, account_id)
        await asyncio.sleep(pause)
        return account

    async def unlocked(
        self: repositories.PostgresAccountRepository, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        loaded = {account_id: await self.get(account_id) for account_id in sorted(set(account_ids))}
        return {account_id: account for account_id, account in loaded.items() if account}

    async def slow_batch_lock(self: Any, account_ids: Collection[uuid.UUID]) -> None:
        await original_batch_lock(self, account_ids)
        await asyncio.sleep(pause)

    async def no_advisory_locks(self: Any, account_ids: Collection[uuid.UUID]) -> None:
        return None

    original_flush = repositories.flush

    async def unguarded_flush(db: repositories.Database, pending: PendingWrites) -> None:
        for account in sorted(pending.accounts.values(), key=lambda account: account.id):
            await db.execute(
                text("UPDATE accounts SET balance = :b, status = :s, version = :v WHERE id = :id"),
                {
                    "b": account.balance,
                    "s": account.status.value,
                    "v": account.version,
                    "id": account.id,
                },
            )
        pending.accounts.clear()  # what is left to write carries no version guard
        await original_flush(db, pending)

    monkeypatch.setattr(repositories.PostgresAccountRepository, "get", slow_get)
    monkeypatch.setattr(repositories.PostgresAccountRepository, "get_many_for_update", unlocked)
    monkeypatch.setattr(repositories.Database, "lock_across_processes", no_advisory_locks)
    if not keep_version_guard:
        for module in (unit_of_work, group_commit):
            monkeypatch.setattr(module, "flush", unguarded_flush)
    monkeypatch.setattr(group_commit, "lock_accounts", plain_select)
    monkeypatch.setattr(group_commit._Batch, "lock", slow_batch_lock)


def plain_select(account_ids: Collection[uuid.UUID]) -> Select[Any]:
    """``repositories.lock_accounts`` without its ``FOR UPDATE``."""
    ids = sorted(set(account_ids))
    return select(accounts).where(accounts.c.id.in_(ids)).order_by(accounts.c.id)
