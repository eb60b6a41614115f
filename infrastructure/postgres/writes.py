"""The writes a unit of work buffers, and the statements that send them at commit.

Each table's rows go as arrays (``unnest``), so a batch of movements costs a fixed
number of round trips however many repository calls its use cases made.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, text

from domain.account import Account
from domain.batch import Batch
from domain.errors import TransientConflictError
from domain.hold import Hold
from domain.idempotency import IdempotencyRecord
from domain.transfer import Transfer
from infrastructure.postgres.rows import (
    account_row,
    batch_row,
    entry_row,
    hold_row,
    record_row,
    transfer_row,
)
from infrastructure.postgres.tables import accounts
from infrastructure.postgres.transaction import Transaction


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
    # New holds, as rows (they carry their accounts' owners), and changed ones.
    new_holds: list[dict[str, Any]] = field(default_factory=list)
    holds: dict[uuid.UUID, Hold] = field(default_factory=dict)
    batches: list[Batch] = field(default_factory=list)

    def clear(self) -> None:
        self.accounts.clear()
        self.loaded_versions.clear()
        self.new_accounts.clear()
        self.transfers.clear()
        self.records.clear()
        self.settlements.clear()
        self.new_holds.clear()
        self.holds.clear()
        self.batches.clear()

    def merge(self, other: PendingWrites) -> None:
        """Add ``other``'s writes (a later member's) to these."""
        self.accounts.update(other.accounts)
        self.new_accounts += other.new_accounts
        self.transfers += other.transfers
        self.records += other.records
        self.settlements |= other.settlements
        self.new_holds += other.new_holds
        self.holds.update(other.holds)
        self.batches += other.batches


async def flush(db: Transaction, pending: PendingWrites) -> None:
    """Send the buffered writes in as few round trips as the schema allows.

    New accounts go first (only opening an account makes them). A money movement then
    costs two statements, each table's rows sent as arrays: one writes the balances,
    the transfers and the idempotency records (data-modifying common table
    expressions), the next the entries. Entries wait for a statement of their own
    because their foreign key check on a transfer inserted by the same statement
    makes SERIALIZABLE see read/write conflicts between unrelated transfers.
    """
    if pending.new_accounts:
        await db.execute(insert(accounts), [account_row(a) for a in pending.new_accounts])
    parts: list[str] = []
    parameters: dict[str, list[Any]] = {}
    changed = list(pending.accounts.values())
    if changed:
        parts.append(_UPDATE_ACCOUNTS)
        rows = [account_row(a) for a in changed]
        parameters.update(
            account_ids=[a.id for a in changed],
            loaded_versions=[pending.loaded_versions[a.id] for a in changed],
            balances=[a.balance for a in changed],
            statuses=[a.status.value for a in changed],
            versions=[a.version for a in changed],
            helds=[row["held"] for row in rows],
            limits=[row["overdraft_limit"] for row in rows],
            account_metadata=[json.dumps(row["metadata"]) for row in rows],
        )
    if pending.new_holds:
        parts.append(_INSERT_HOLDS)
        parameters.update(_columns(_json_metadata(pending.new_holds), "new_hold_"))
    if pending.holds:
        parts.append(_UPDATE_HOLDS)
        rows = [hold_row(hold, None, None) for hold in pending.holds.values()]
        parameters.update(_columns(_json_metadata(rows), "changed_hold_"))
    if pending.batches:
        parts.append(_INSERT_BATCHES)
        parameters.update(_columns(batch_row(b, "new_batch_") for b in pending.batches))
    if pending.transfers:
        parts.append(_INSERT_TRANSFERS)
        parameters.update(_columns(transfer_row(t) for t in pending.transfers))
    if pending.records:
        parts.append(_INSERT_RECORDS)
        parameters.update(_columns(record_row(r, "record_") for r in pending.records))
    if parts:
        counted = "(SELECT count(*) FROM updated)" if changed else "0"
        result = await db.execute(text(f"WITH {', '.join(parts)} SELECT {counted}"), parameters)
        # The version guard can only fail if a row changed without its lock; that is
        # treated as a serialization failure, so the unit of work re-runs from scratch.
        if result.scalar_one() != len(changed):
            raise TransientConflictError("an account changed under its lock")
    if pending.transfers:
        lines = (entry_row(entry) for t in pending.transfers for entry in t.entries)
        await db.execute(_INSERT_ENTRIES, _columns(lines))
    pending.clear()


def _json_metadata(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Metadata as JSON text, which ``unnest`` takes as ``jsonb[]``."""
    return [{**row, "metadata": json.dumps(row["metadata"])} for row in rows]


def _columns(rows: Iterable[dict[str, Any]], prefix: str = "") -> dict[str, list[Any]]:
    """Rows as one list per column, for ``unnest``."""
    columns: dict[str, list[Any]] = {}
    for row in rows:
        for name, value in row.items():
            columns.setdefault(f"{prefix}{name}", []).append(value)
    return columns


_UPDATE_ACCOUNTS = """updated AS (
    UPDATE accounts
    SET balance = changes.balance, status = changes.status, version = changes.version,
        held = changes.held, overdraft_limit = changes.overdraft_limit,
        metadata = changes.metadata
    FROM unnest(
        CAST(:account_ids AS uuid[]), CAST(:loaded_versions AS bigint[]),
        CAST(:balances AS bigint[]), CAST(:statuses AS varchar[]), CAST(:versions AS bigint[]),
        CAST(:helds AS bigint[]), CAST(:limits AS bigint[]), CAST(:account_metadata AS jsonb[])
    ) AS changes (id, loaded_version, balance, status, version, held, overdraft_limit, metadata)
    WHERE accounts.id = changes.id AND accounts.version = changes.loaded_version
    RETURNING accounts.id
)"""

_INSERT_TRANSFERS = """new_transfers AS (
    INSERT INTO transfers (
        id, kind, source_account_id, destination_account_id, amount, currency,
        description, status, created_at, hold_id, metadata, batch_id
    )
    SELECT * FROM unnest(
        CAST(:id AS uuid[]), CAST(:kind AS varchar[]), CAST(:source_account_id AS uuid[]),
        CAST(:destination_account_id AS uuid[]), CAST(:amount AS bigint[]),
        CAST(:currency AS char(3)[]), CAST(:description AS varchar[]),
        CAST(:status AS varchar[]), CAST(:created_at AS timestamptz[]),
        CAST(:hold_id AS uuid[]), CAST(:metadata AS jsonb[]), CAST(:batch_id AS uuid[])
    )
)"""

_INSERT_BATCHES = """new_batches AS (
    INSERT INTO batches (id, client_id, atomic, metadata, created_at, answer)
    SELECT * FROM unnest(
        CAST(:new_batch_id AS uuid[]), CAST(:new_batch_client_id AS uuid[]),
        CAST(:new_batch_atomic AS boolean[]), CAST(:new_batch_metadata AS jsonb[]),
        CAST(:new_batch_created_at AS timestamptz[]), CAST(:new_batch_answer AS jsonb[])
    )
)"""

_HOLD_COLUMNS = (
    "id uuid, source_account_id uuid, destination_account_id uuid, source_owner_id uuid,"
    " destination_owner_id uuid, amount bigint, currency char(3), captured_amount bigint,"
    " released_amount bigint, capture_count integer, status varchar, expires_at timestamptz,"
    " description varchar, metadata jsonb, source_available_after bigint,"
    " created_at timestamptz, updated_at timestamptz, version bigint"
)


_HOLD_TYPES = [part.strip().split(" ") for part in _HOLD_COLUMNS.split(",")]
_HOLD_NAMES = ", ".join(name for name, _ in _HOLD_TYPES)


def _unnest_holds(prefix: str) -> str:
    arrays = ", ".join(f"CAST(:{prefix}{name} AS {kind}[])" for name, kind in _HOLD_TYPES)
    return f"unnest({arrays}) AS {prefix}rows ({_HOLD_NAMES})"


_INSERT_HOLDS = f"""new_holds AS (
    INSERT INTO holds ({_HOLD_NAMES})
    SELECT * FROM {_unnest_holds("new_hold_")}
)"""

_UPDATE_HOLDS = f"""changed_holds AS (
    UPDATE holds
    SET captured_amount = changed_hold_rows.captured_amount,
        released_amount = changed_hold_rows.released_amount,
        capture_count = changed_hold_rows.capture_count, status = changed_hold_rows.status,
        expires_at = changed_hold_rows.expires_at, updated_at = changed_hold_rows.updated_at,
        version = changed_hold_rows.version
    FROM {_unnest_holds("changed_hold_")}
    WHERE holds.id = changed_hold_rows.id
)"""

_INSERT_ENTRIES = text(
    """
    INSERT INTO entries (
        id, transfer_id, account_id, amount, currency, balance_after, account_version,
        created_at, available_after
    )
    SELECT * FROM unnest(
        CAST(:id AS uuid[]), CAST(:transfer_id AS uuid[]), CAST(:account_id AS uuid[]),
        CAST(:amount AS bigint[]), CAST(:currency AS char(3)[]),
        CAST(:balance_after AS bigint[]), CAST(:account_version AS bigint[]),
        CAST(:created_at AS timestamptz[]), CAST(:available_after AS bigint[])
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
