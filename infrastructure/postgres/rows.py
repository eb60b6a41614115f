"""Domain entities to table rows and back."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Row

from domain.account import Account, AccountKind, AccountStatus
from domain.batch import Batch
from domain.hold import Hold, HoldStatus
from domain.idempotency import IdempotencyRecord
from domain.money import Money
from domain.transfer import Entry, Transfer


def account_row(account: Account) -> dict[str, Any]:
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
        # Stored, ``held`` counts every hold written as active, expired ones included.
        "held": account.held + account.lapsed_held,
        "overdraft_limit": account.overdraft_limit,
        "metadata": dict(account.metadata),
    }


def account_from_row(row: Row[Any]) -> Account:
    """``row`` carries ``lapsed_held`` (``accounts.py``): what the holds that expired by
    the unit of work's clock still reserve in the stored ``held``."""
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
        held=row.held - row.lapsed_held,
        overdraft_limit=row.overdraft_limit,
        metadata=row.metadata,
        lapsed_held=row.lapsed_held,
    )


def hold_row(hold: Hold, source_owner_id: Any, destination_owner_id: Any) -> dict[str, Any]:
    return {
        "id": hold.id,
        "source_account_id": hold.source_account_id,
        "destination_account_id": hold.destination_account_id,
        "source_owner_id": source_owner_id,
        "destination_owner_id": destination_owner_id,
        "amount": hold.money.amount,
        "currency": hold.money.currency,
        "captured_amount": hold.captured_amount,
        "released_amount": hold.released_amount,
        "capture_count": hold.capture_count,
        "status": hold.status.value,
        "expires_at": hold.expires_at,
        "description": hold.description,
        "metadata": dict(hold.metadata),
        "source_available_after": hold.source_available_after,
        "created_at": hold.created_at,
        "updated_at": hold.updated_at,
        "version": hold.version,
    }


def hold_from_row(row: Any) -> Hold:
    return Hold(
        id=row.id,
        source_account_id=row.source_account_id,
        destination_account_id=row.destination_account_id,
        money=Money(row.amount, row.currency),
        captured_amount=row.captured_amount,
        released_amount=row.released_amount,
        capture_count=row.capture_count,
        status=HoldStatus(row.status),
        expires_at=row.expires_at,
        description=row.description,
        created_at=row.created_at,
        updated_at=row.updated_at,
        version=row.version,
        source_available_after=row.source_available_after,
        metadata=row.metadata,
    )


def transfer_row(transfer: Transfer) -> dict[str, Any]:
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
        "hold_id": transfer.hold_id,
        "metadata": json.dumps(dict(transfer.metadata)),
        "batch_id": transfer.batch_id,
    }


def batch_row(batch: Batch, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}id": batch.id,
        f"{prefix}client_id": batch.client_id,
        f"{prefix}atomic": batch.atomic,
        f"{prefix}metadata": json.dumps(dict(batch.metadata)),
        f"{prefix}created_at": batch.created_at,
        f"{prefix}answer": batch.answer,
    }


def entry_row(entry: Entry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "transfer_id": entry.transfer_id,
        "account_id": entry.account_id,
        "amount": entry.amount,
        "currency": entry.currency,
        "balance_after": entry.balance_after,
        "account_version": entry.account_version,
        "created_at": entry.created_at,
        "available_after": entry.available_after,
    }


def entry_from_row(row: Any, prefix: str = "") -> Entry:
    return Entry(
        id=row[f"{prefix}id"],
        transfer_id=row[f"{prefix}transfer_id"],
        account_id=row[f"{prefix}account_id"],
        amount=row[f"{prefix}amount"],
        currency=row[f"{prefix}currency"],
        balance_after=row[f"{prefix}balance_after"],
        account_version=row[f"{prefix}account_version"],
        created_at=row[f"{prefix}created_at"],
        available_after=row[f"{prefix}available_after"],
    )


def record_row(record: IdempotencyRecord, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}client_id": record.client_id,
        f"{prefix}key": record.key,
        f"{prefix}fingerprint": record.fingerprint,
        f"{prefix}outcome": record.outcome,
        f"{prefix}created_at": record.created_at,
    }
