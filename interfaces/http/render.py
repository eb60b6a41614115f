"""Results as docs/api.md's JSON: RFC 3339 UTC timestamps with a Z, ids as strings."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from application.views import (
    AccountView,
    EntryView,
    NewApiClient,
    NewApiKey,
    PageView,
    RevokedClient,
    TransferView,
)


def timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def account(view: AccountView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "currency": view.currency,
        "balance": view.balance,
        "status": view.status,
        "reference": view.reference,
        "created_at": timestamp(view.created_at),
        "version": view.version,
    }


def transfer(view: TransferView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "kind": view.kind,
        "source_account_id": _optional(view.source_account_id),
        "destination_account_id": _optional(view.destination_account_id),
        "amount": view.amount,
        "currency": view.currency,
        "description": view.description,
        "status": view.status,
        "source_balance_after": view.source_balance_after,
        "destination_balance_after": view.destination_balance_after,
        "created_at": timestamp(view.created_at),
    }


def entry(view: EntryView) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "transfer_id": str(view.transfer_id),
        "account_id": str(view.account_id),
        "amount": view.amount,
        "balance_after": view.balance_after,
        "created_at": timestamp(view.created_at),
    }


def page(view: PageView[Any], item: Any) -> dict[str, Any]:
    return {"data": [item(element) for element in view.data], "next_cursor": view.next_cursor}


def new_client(view: NewApiClient) -> dict[str, Any]:
    return {
        "id": str(view.id),
        "name": view.name,
        "api_key": view.api_key,
        "created_at": timestamp(view.created_at),
    }


def new_key(view: NewApiKey) -> dict[str, Any]:
    expires = view.previous_key_expires_at
    return {
        "client_id": str(view.client_id),
        "api_key": view.api_key,
        "created_at": timestamp(view.created_at),
        "previous_key_expires_at": None if expires is None else timestamp(expires),
    }


def revoked_client(view: RevokedClient) -> dict[str, Any]:
    return {"id": str(view.id), "name": view.name, "revoked_at": timestamp(view.revoked_at)}


def _optional(value: object) -> str | None:
    return None if value is None else str(value)
