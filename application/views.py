"""Results: what a use case hands back, as plain data shaped like docs/api.md's resources."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from domain.account import Account
from domain.pagination import Page
from domain.transfer import Entry, Transfer, TransferKind

S = TypeVar("S")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Completed(Generic[T]):
    """A result, and whether it is the replay of an earlier attempt with the same key."""

    value: T
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class AccountView:
    id: uuid.UUID
    currency: str
    balance: int
    status: str
    reference: str | None
    created_at: datetime
    version: int

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            id=account.id,
            currency=account.currency,
            balance=account.balance,
            status=account.status.value,
            reference=account.reference,
            created_at=account.created_at,
            version=account.version,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "currency": self.currency,
            "balance": self.balance,
            "status": self.status,
            "reference": self.reference,
            "created_at": timestamp(self.created_at),
            "version": self.version,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> AccountView:
        return cls(
            id=uuid.UUID(data["id"]),
            currency=data["currency"],
            balance=data["balance"],
            status=data["status"],
            reference=data["reference"],
            created_at=datetime.fromisoformat(data["created_at"]),
            version=data["version"],
        )


@dataclass(frozen=True, slots=True)
class TransferView:
    """A transfer as one caller may see it.

    The settlement side of a deposit or withdrawal is shown as None, and a balance
    after is shown only for an account the caller owns.
    """

    id: uuid.UUID
    kind: str
    source_account_id: uuid.UUID | None
    destination_account_id: uuid.UUID | None
    amount: int
    currency: str
    description: str | None
    status: str
    source_balance_after: int | None
    destination_balance_after: int | None
    created_at: datetime

    @classmethod
    def of(cls, transfer: Transfer, *, owns_source: bool, owns_destination: bool) -> TransferView:
        is_deposit = transfer.kind is TransferKind.DEPOSIT
        is_withdrawal = transfer.kind is TransferKind.WITHDRAWAL
        return cls(
            id=transfer.id,
            kind=transfer.kind.value,
            source_account_id=None if is_deposit else transfer.source_account_id,
            destination_account_id=None if is_withdrawal else transfer.destination_account_id,
            amount=transfer.money.amount,
            currency=transfer.money.currency,
            description=transfer.description,
            status=transfer.status.value,
            source_balance_after=transfer.debit.balance_after if owns_source else None,
            destination_balance_after=transfer.credit.balance_after if owns_destination else None,
            created_at=transfer.created_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "kind": self.kind,
            "source_account_id": _optional_str(self.source_account_id),
            "destination_account_id": _optional_str(self.destination_account_id),
            "amount": self.amount,
            "currency": self.currency,
            "description": self.description,
            "status": self.status,
            "source_balance_after": self.source_balance_after,
            "destination_balance_after": self.destination_balance_after,
            "created_at": timestamp(self.created_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TransferView:
        return cls(
            id=uuid.UUID(data["id"]),
            kind=data["kind"],
            source_account_id=_optional_uuid(data["source_account_id"]),
            destination_account_id=_optional_uuid(data["destination_account_id"]),
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            status=data["status"],
            source_balance_after=data["source_balance_after"],
            destination_balance_after=data["destination_balance_after"],
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class EntryView:
    id: uuid.UUID
    transfer_id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    balance_after: int | None
    created_at: datetime

    @classmethod
    def of(cls, entry: Entry) -> EntryView:
        return cls(
            id=entry.id,
            transfer_id=entry.transfer_id,
            account_id=entry.account_id,
            amount=entry.amount,
            balance_after=entry.balance_after,
            created_at=entry.created_at,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "transfer_id": str(self.transfer_id),
            "account_id": str(self.account_id),
            "amount": self.amount,
            "balance_after": self.balance_after,
            "created_at": timestamp(self.created_at),
        }


@dataclass(frozen=True, slots=True)
class PageView(Generic[T]):
    data: list[T]
    next_cursor: str | None


def page_view(page: Page[S], item_view: Callable[[S], T]) -> PageView[T]:
    return PageView(data=[item_view(item) for item in page.items], next_cursor=page.next_cursor)


@dataclass(frozen=True, slots=True)
class ClientIdentity:
    id: uuid.UUID
    name: str


@dataclass(frozen=True, slots=True)
class NewApiClient:
    """The only time the API key is ever shown."""

    id: uuid.UUID
    name: str
    api_key: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class NewApiKey:
    """A rotated client's new key, shown this once, and the end of the old one's overlap."""

    client_id: uuid.UUID
    api_key: str
    created_at: datetime
    previous_key_expires_at: datetime | None


@dataclass(frozen=True, slots=True)
class RevokedClient:
    id: uuid.UUID
    name: str
    revoked_at: datetime


def timestamp(moment: datetime) -> str:
    """RFC 3339 in UTC with a Z, microseconds always shown: the API's one format."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _optional_str(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _optional_uuid(value: str | None) -> uuid.UUID | None:
    return None if value is None else uuid.UUID(value)
