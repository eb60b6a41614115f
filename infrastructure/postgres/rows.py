"""Domain entities to table rows and back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from domain.account import Account, AccountKind, AccountStatus
from domain.idempotency import IdempotencyRecord
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
    )


def record_row(record: IdempotencyRecord, prefix: str = "") -> dict[str, Any]:
    return {
        f"{prefix}client_id": record.client_id,
        f"{prefix}key": record.key,
        f"{prefix}fingerprint": record.fingerprint,
        f"{prefix}outcome": record.outcome,
        f"{prefix}created_at": record.created_at,
    }
