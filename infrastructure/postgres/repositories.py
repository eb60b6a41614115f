"""PostgreSQL repositories: Core statements, translated to and from domain entities.

Writes are buffered and sent together at commit, each table's rows as arrays, so a
transfer costs few round trips however many repository calls the use case makes.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Collection, Hashable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    Row,
    func,
    insert,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql import Executable, Select

from domain.account import Account, AccountKind, AccountStatus, settlement_account_id
from domain.api_client import ApiClient
from domain.errors import TransientConflictError, ValidationError
from domain.idempotency import IdempotencyRecord
from domain.money import Money
from domain.pagination import (
    Page,
    PageRequest,
    decode_cursor,
    encode_cursor,
    timestamp_position,
)
from domain.transfer import Entry, Transfer, TransferKind, TransferStatus
from infrastructure.keyed_locks import KeyedLocks
from infrastructure.postgres.errors import translated_errors
from infrastructure.postgres.tables import (
    accounts,
    api_clients,
    entries,
    idempotency_keys,
    transfers,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

logger = logging.getLogger(__name__)


@dataclass
class PendingWrites:
    """What a unit of work has decided to write but not yet sent."""

    accounts: dict[uuid.UUID, Account] = field(default_factory=dict)
    loaded_versions: dict[uuid.UUID, int] = field(default_factory=dict)
    new_accounts: list[Account] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    records: list[IdempotencyRecord] = field(default_factory=list)
    # Settlement currencies whose row this unit of work made sure exists.
    settlements: set[str] = field(default_factory=set)

    def clear(self) -> None:
        self.accounts.clear()
        self.loaded_versions.clear()
        self.new_accounts.clear()
        self.transfers.clear()
        self.records.clear()
        self.settlements.clear()


class Database:
    """The unit of work's connection, with the domain's errors instead of the driver's.

    The connection is checked out at the first statement, so a unit of work waiting for
    an in-process account lock does not sit on a pooled connection.
    """

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self.connection: AsyncConnection | None = None
        self._holds_account_locks = False

    async def execute(self, statement: Executable, parameters: Any = None) -> Any:
        with translated_errors():
            if self.connection is None:
                self.connection = await self._engine.connect()
            return await self.connection.execute(statement, parameters)

    async def lock_across_processes(self, account_ids: Collection[uuid.UUID]) -> None:
        """Wait, before the transaction starts, until no other process's unit of work
        holds any of these accounts.

        At SERIALIZABLE the snapshot is taken by the first statement, so a transaction
        that waits for a row lock inside ``SELECT ... FOR UPDATE`` sees the row changed
        by the holder's commit and fails with a serialization error: on hot accounts
        two processes would abort each other's work over and over. Every money-moving
        unit of work first takes session-level advisory locks on its accounts, outside
        any transaction, so its snapshot is taken after the holder committed. The row
        locks and SERIALIZABLE stay the guarantee; these locks only order the work.
        Released by ``close``.
        """
        if self.connection is not None:
            raise RuntimeError("take the cross-process locks before the first statement")
        if not account_ids:
            return
        with translated_errors():
            self.connection = await self._engine.connect()
            self._holds_account_locks = True
            await self._outside_transaction(
                self.connection, _ADVISORY_LOCK, {"keys": advisory_keys(account_ids)}
            )

    async def _outside_transaction(
        self, connection: AsyncConnection, statement: Executable, parameters: Any = None
    ) -> None:
        """Run ``statement`` in autocommit, then give the connection back its level."""
        level = self._engine.get_execution_options().get("isolation_level")
        if level is None:
            raise RuntimeError("money moves only on an engine with an explicit isolation level")
        await connection.execution_options(isolation_level="AUTOCOMMIT")
        await connection.execute(statement, parameters)
        await connection.commit()
        await connection.execution_options(isolation_level=level)

    async def commit(self) -> None:
        if self.connection is not None:
            with translated_errors():
                await self.connection.commit()

    async def rollback(self) -> None:
        if self.connection is not None:
            with translated_errors():
                await self.connection.rollback()

    async def close(self) -> None:
        """Return the connection, its advisory locks released.

        By now the unit of work's outcome is settled (committed, or failing with its own
        error), so a failure here is logged, not raised: it must neither turn a
        committed transfer into an error nor hide the error in flight. A connection
        that could not be cleaned up, and may still hold advisory locks, is discarded,
        never pooled: ending its session is what releases them.
        """
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            # Unconditionally: after a failed COMMIT the connection is no longer in a
            # transaction but still needs the rollback before its next statement.
            # With nothing to roll back the driver sends nothing.
            await connection.rollback()
            if self._holds_account_locks:
                await self._outside_transaction(connection, _ADVISORY_UNLOCK)
                self._holds_account_locks = False
        except Exception:
            logger.warning("discarding a connection that could not be cleaned up", exc_info=True)
            await _discard(connection)
        except BaseException:  # cancelled: discard, and let the cancellation go on
            await _discard(connection)
            raise
        finally:
            await connection.close()


async def _discard(connection: AsyncConnection) -> None:
    with contextlib.suppress(Exception):
        await connection.invalidate()


# Sorted keys, and PostgreSQL evaluates a volatile select list after the sort: every
# process takes the locks in the same order, so two of them never deadlock.
_ADVISORY_LOCK = text(
    "SELECT pg_advisory_lock(key) FROM unnest(CAST(:keys AS bigint[])) AS key ORDER BY key"
)
_ADVISORY_UNLOCK = text("SELECT pg_advisory_unlock_all()")


def advisory_keys(account_ids: Collection[uuid.UUID]) -> list[int]:
    """An account's advisory lock key: the first 64 bits of its id. Two accounts that
    share a key only wait for each other, which costs time, never correctness."""
    return sorted({int.from_bytes(i.bytes[:8], "big", signed=True) for i in account_ids})


class PostgresAccountRepository:
    def __init__(
        self,
        db: Database,
        pending: PendingWrites,
        known_settlements: set[str],
        account_locks: KeyedLocks,
    ) -> None:
        self._db = db
        self._pending = pending
        self._known_settlements = known_settlements
        self._account_locks = account_locks
        self.held_locks: list[Hashable] = []

    async def add(self, account: Account) -> None:
        self._pending.new_accounts.append(account)

    async def get(self, account_id: uuid.UUID) -> Account | None:
        result = await self._db.execute(select(accounts).where(accounts.c.id == account_id))
        row = result.first()
        return None if row is None else self._loaded(row)

    async def get_many_for_update(
        self, account_ids: Collection[uuid.UUID]
    ) -> dict[uuid.UUID, Account]:
        ids = sorted(set(account_ids))
        await self._lock_in_process(ids)
        result = await self._db.execute(lock_accounts(ids))
        return {row.id: self._loaded(row) for row in result}

    async def _lock_in_process(self, ids: list[uuid.UUID]) -> None:
        """Queue up behind the other units of work on the same accounts, this process's
        and then other processes'.

        Both waits come before the first statement, so the transaction's snapshot is
        taken after them: units of work on the same accounts then never abort each
        other with a serialization failure. Row locks remain the guarantee.
        """
        if set(ids) <= set(self.held_locks):
            return
        if self.held_locks:
            raise RuntimeError("lock all the accounts a unit of work needs in one call")
        self.held_locks = await self._account_locks.acquire(ids)
        await self._db.lock_across_processes(ids)

    async def save(self, account: Account) -> None:
        if account.id not in self._pending.loaded_versions:
            raise ValueError(f"account {account.id} was not loaded in this unit of work")
        self._pending.accounts[account.id] = account

    async def settlement(self, currency: str, now: datetime) -> Account:
        account = Account.settlement(currency=currency, now=now)
        if currency not in self._known_settlements:
            # Idempotent thanks to the deterministic id; after the first commit the
            # process knows the row exists and skips the round trip.
            await self._db.execute(
                pg_insert(accounts).values(_account_row(account)).on_conflict_do_nothing()
            )
            self._pending.settlements.add(currency)
        return account

    async def settlement_balance(self, currency: str) -> int:
        result = await self._db.execute(
            select(func.coalesce(func.sum(entries.c.amount), 0)).where(
                entries.c.account_id == settlement_account_id(currency)
            )
        )
        return int(result.scalar_one())

    async def list_for_owner(self, owner_id: uuid.UUID, page: PageRequest) -> Page[Account]:
        scope = f"accounts:{owner_id}"
        query = (
            select(accounts)
            .where(accounts.c.owner_id == owner_id)
            .order_by(accounts.c.created_at.desc(), accounts.c.id.desc())
            .limit(page.limit + 1)
        )
        if page.after is not None:
            micros, account_id = decode_cursor(scope, page.after, (int, str))
            after = (_from_position(micros), _uuid_from_cursor(account_id))
            query = query.where(tuple_(accounts.c.created_at, accounts.c.id) < after)
        rows = list(await self._db.execute(query))
        items = [self._loaded(row) for row in rows[: page.limit]]
        has_more = len(rows) > page.limit
        next_cursor = (
            encode_cursor(scope, [timestamp_position(items[-1].created_at), str(items[-1].id)])
            if has_more
            else None
        )
        return Page(items=items, next_cursor=next_cursor)

    def _loaded(self, row: Row[Any]) -> Account:
        account = account_from_row(row)
        self._pending.loaded_versions[account.id] = account.version
        return account


class PostgresTransferRepository:
    def __init__(self, db: Database, pending: PendingWrites) -> None:
        self._db = db
        self._pending = pending

    async def add(self, transfer: Transfer) -> None:
        self._pending.transfers.append(transfer)

    async def get(self, transfer_id: uuid.UUID) -> Transfer | None:
        result = await self._db.execute(
            select(transfers, *[c.label(f"entries_{c.name}") for c in entries.c])
            .join(entries, entries.c.transfer_id == transfers.c.id)
            .where(transfers.c.id == transfer_id)
        )
        rows = list(result.mappings())
        if not rows:
            return None
        lines = [_entry_from_row(row, prefix="entries_") for row in rows]
        debit = next(line for line in lines if line.amount < 0)
        credit = next(line for line in lines if line.amount > 0)
        head = rows[0]
        return Transfer(
            id=head["id"],
            kind=TransferKind(head["kind"]),
            source_account_id=head["source_account_id"],
            destination_account_id=head["destination_account_id"],
            money=Money(head["amount"], head["currency"]),
            description=head["description"],
            status=TransferStatus(head["status"]),
            created_at=head["created_at"],
            debit=debit,
            credit=credit,
        )

    async def list_entries(self, account_id: uuid.UUID, page: PageRequest) -> Page[Entry]:
        scope = f"entries:{account_id}"
        query = (
            select(entries)
            .where(entries.c.account_id == account_id)
            .order_by(entries.c.account_version.desc())
            .limit(page.limit + 1)
        )
        if page.after is not None:
            (version,) = decode_cursor(scope, page.after, (int,))
            query = query.where(entries.c.account_version < version)
        rows = list((await self._db.execute(query)).mappings())
        items = [_entry_from_row(row) for row in rows[: page.limit]]
        has_more = len(rows) > page.limit
        last_version = items[-1].account_version if items else None
        next_cursor = (
            encode_cursor(scope, [last_version]) if has_more and last_version is not None else None
        )
        return Page(items=items, next_cursor=next_cursor)


class PostgresApiClientRepository:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def add(self, client: ApiClient) -> None:
        await self._db.execute(
            insert(api_clients).values(
                id=client.id,
                name=client.name,
                key_hash=client.key_hash,
                created_at=client.created_at,
            )
        )

    async def get_by_key_hash(self, key_hash: str) -> ApiClient | None:
        current = api_clients.c.key_hash == key_hash
        previous = api_clients.c.previous_key_hash == key_hash
        row = (await self._db.execute(select(api_clients).where(current | previous))).first()
        return None if row is None else _client_from_row(row)

    async def get(self, client_id: uuid.UUID) -> ApiClient | None:
        result = await self._db.execute(select(api_clients).where(api_clients.c.id == client_id))
        row = result.first()
        return None if row is None else _client_from_row(row)

    async def save(self, client: ApiClient) -> None:
        await self._db.execute(
            update(api_clients)
            .where(api_clients.c.id == client.id)
            .values(
                key_hash=client.key_hash,
                previous_key_hash=client.previous_key_hash,
                previous_key_expires_at=client.previous_key_expires_at,
                revoked_at=client.revoked_at,
            )
        )


def _client_from_row(row: Row[Any]) -> ApiClient:
    return ApiClient(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        created_at=row.created_at,
        previous_key_hash=row.previous_key_hash,
        previous_key_expires_at=row.previous_key_expires_at,
        revoked_at=row.revoked_at,
    )


class PostgresIdempotencyRepository:
    def __init__(self, db: Database, pending: PendingWrites) -> None:
        self._db = db
        self._pending = pending

    async def get(self, client_id: uuid.UUID, key: str) -> IdempotencyRecord | None:
        result = await self._db.execute(
            select(idempotency_keys).where(
                idempotency_keys.c.client_id == client_id, idempotency_keys.c.key == key
            )
        )
        row = result.first()
        if row is None:
            return None
        return IdempotencyRecord(
            client_id=row.client_id,
            key=row.key,
            fingerprint=row.fingerprint,
            outcome=row.outcome,
            created_at=row.created_at,
        )

    async def add(self, record: IdempotencyRecord) -> None:
        self._pending.records.append(record)

    async def purge(self, created_before: datetime) -> int:
        result = await self._db.execute(
            idempotency_keys.delete().where(idempotency_keys.c.created_at < created_before)
        )
        return int(result.rowcount)


def lock_accounts(account_ids: Collection[uuid.UUID]) -> Select[Any]:
    """Load and lock accounts in one statement, in ascending id order: two transactions
    locking the same accounts queue up behind each other instead of deadlocking."""
    return (
        select(accounts)
        .where(accounts.c.id.in_(sorted(set(account_ids))))
        .order_by(accounts.c.id)
        .with_for_update()
    )


async def flush(db: Database, pending: PendingWrites) -> None:
    """Send the buffered writes in as few round trips as the schema allows.

    New accounts go first (only opening an account makes them). A money movement then
    costs two statements, each table's rows sent as arrays: one writes the balances,
    the transfers and the idempotency records (data-modifying common table
    expressions), the next the entries. Entries wait for a statement of their own
    because their foreign key check on a transfer inserted by the same statement
    makes SERIALIZABLE see read/write conflicts between unrelated transfers.
    """
    if pending.new_accounts:
        await db.execute(insert(accounts), [_account_row(a) for a in pending.new_accounts])
    parts: list[str] = []
    parameters: dict[str, list[Any]] = {}
    changed = list(pending.accounts.values())
    if changed:
        parts.append(_UPDATE_ACCOUNTS)
        parameters.update(
            account_ids=[a.id for a in changed],
            loaded_versions=[pending.loaded_versions[a.id] for a in changed],
            balances=[a.balance for a in changed],
            statuses=[a.status.value for a in changed],
            versions=[a.version for a in changed],
        )
    if pending.transfers:
        parts.append(_INSERT_TRANSFERS)
        parameters.update(_columns(_transfer_row(t) for t in pending.transfers))
    if pending.records:
        parts.append(_INSERT_RECORDS)
        parameters.update(_columns(_record_row(r, "record_") for r in pending.records))
    if parts:
        counted = "(SELECT count(*) FROM updated)" if changed else "0"
        result = await db.execute(text(f"WITH {', '.join(parts)} SELECT {counted}"), parameters)
        # The version guard can only fail if a row changed without its lock; that is
        # treated as a serialization failure, so the unit of work re-runs from scratch.
        if result.scalar_one() != len(changed):
            raise TransientConflictError("an account changed under its lock")
    if pending.transfers:
        rows = (_entry_row(entry) for t in pending.transfers for entry in t.entries)
        await db.execute(_INSERT_ENTRIES, _columns(rows))
    pending.clear()


def _columns(rows: Iterable[dict[str, Any]]) -> dict[str, list[Any]]:
    """Rows as one list per column, for ``unnest``."""
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for name, value in row.items():
            columns.setdefault(name, []).append(value)
    return columns


_UPDATE_ACCOUNTS = """updated AS (
    UPDATE accounts
    SET balance = changes.balance, status = changes.status, version = changes.version
    FROM unnest(
        CAST(:account_ids AS uuid[]), CAST(:loaded_versions AS integer[]),
        CAST(:balances AS bigint[]), CAST(:statuses AS varchar[]), CAST(:versions AS integer[])
    ) AS changes (id, loaded_version, balance, status, version)
    WHERE accounts.id = changes.id AND accounts.version = changes.loaded_version
    RETURNING accounts.id
)"""

_INSERT_TRANSFERS = """new_transfers AS (
    INSERT INTO transfers (
        id, kind, source_account_id, destination_account_id, amount, currency,
        description, status, created_at
    )
    SELECT * FROM unnest(
        CAST(:id AS uuid[]), CAST(:kind AS varchar[]), CAST(:source_account_id AS uuid[]),
        CAST(:destination_account_id AS uuid[]), CAST(:amount AS bigint[]),
        CAST(:currency AS char(3)[]), CAST(:description AS varchar[]),
        CAST(:status AS varchar[]), CAST(:created_at AS timestamptz[])
    )
)"""

_INSERT_ENTRIES = text(
    """
    INSERT INTO entries (
        id, transfer_id, account_id, amount, currency, balance_after, account_version,
        created_at
    )
    SELECT * FROM unnest(
        CAST(:id AS uuid[]), CAST(:transfer_id AS uuid[]), CAST(:account_id AS uuid[]),
        CAST(:amount AS bigint[]), CAST(:currency AS char(3)[]),
        CAST(:balance_after AS bigint[]), CAST(:account_version AS integer[]),
        CAST(:created_at AS timestamptz[])
    )
    """
)

_INSERT_RECORDS = """new_records AS (
    INSERT INTO idempotency_keys (client_id, key, fingerprint, outcome, created_at)
    SELECT * FROM unnest(
        CAST(:record_client_id AS uuid[]), CAST(:record_key AS varchar[]),
        CAST(:record_fingerprint AS char(64)[]), CAST(:record_outcome AS text[]),
        CAST(:record_created_at AS timestamptz[])
    )
)"""


def _account_row(account: Account) -> dict[str, Any]:
    return {
        "id": account.id,
        "owner_id": account.owner_id,
        "currency": account.currency,
        "kind": account.kind.value,
        "status": account.status.value,
        "balance": account.balance,
        "version": account.version,
        "reference": account.reference,
        "created_at": account.created_at,
    }


def account_from_row(row: Row[Any]) -> Account:
    return Account(
        id=row.id,
        owner_id=row.owner_id,
        currency=row.currency,
        kind=AccountKind(row.kind),
        status=AccountStatus(row.status),
        balance=row.balance,
        version=row.version,
        reference=row.reference,
        created_at=row.created_at,
    )


def _transfer_row(transfer: Transfer) -> dict[str, Any]:
    return {
        "id": transfer.id,
        "kind": transfer.kind.value,
        "source_account_id": transfer.source_account_id,
        "destination_account_id": transfer.destination_account_id,
        "amount": transfer.money.amount,
        "currency": transfer.money.currency,
        "description": transfer.description,
        "status": transfer.status.value,
        "created_at": transfer.created_at,
    }


def _entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "transfer_id": entry.transfer_id,
        "account_id": entry.account_id,
        "amount": entry.amount,
        "currency": entry.currency,
        "balance_after": entry.balance_after,
        "account_version": entry.account_version,
        "created_at": entry.created_at,
    }


def _entry_from_row(row: Any, prefix: str = "") -> Entry:
    return Entry(
        id=row[f"{prefix}id"],
        transfer_id=row[f"{prefix}transfer_id"],
        account_id=row[f"{prefix}account_id"],
        amount=row[f"{prefix}amount"],
        currency=row[f"{prefix}currency"],
        balance_after=row[f"{prefix}balance_after"],
        account_version=row[f"{prefix}account_version"],
        created_at=row[f"{prefix}created_at"],
    )


def _record_row(record: IdempotencyRecord, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}client_id": record.client_id,
        f"{prefix}key": record.key,
        f"{prefix}fingerprint": record.fingerprint,
        f"{prefix}outcome": record.outcome,
        f"{prefix}created_at": record.created_at,
    }


def _from_position(micros: str | int) -> datetime:
    assert isinstance(micros, int)
    try:
        return _EPOCH + timedelta(microseconds=micros)
    except OverflowError:
        raise ValidationError("the cursor is not one this list issued") from None


def _uuid_from_cursor(value: str | int) -> uuid.UUID:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationError("the cursor is not one this list issued") from None
