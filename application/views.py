"""Results: what a use case hands back, as plain data shaped like docs/api.md's resources."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from enum import Enum
from types import NoneType, UnionType
from typing import Any, Generic, Self, TypeVar, get_args, get_type_hints

from domain.account import Account, AccountStatus
from domain.hold import Hold, HoldStatus
from domain.pagination import Page
from domain.transfer import Entry, Transfer, TransferKind, TransferStatus

S = TypeVar("S")
T = TypeVar("T")


class JsonShape:
    """A view whose fields are its resource's JSON shape, the one representation of it:
    the API writes ``to_json``, an idempotent replay is stored as it and read back with
    ``from_json``, and the OpenAPI schema is derived from the same fields
    (``interfaces/http/schemas.py``). Ids are strings, timestamps RFC 3339 in UTC with a
    Z, enumerations their values."""

    __slots__ = ()

    def to_json(self) -> dict[str, Any]:
        return {field.name: _encode(getattr(self, field.name)) for field in fields(self)}  # type: ignore[arg-type]

    @classmethod
    def field_types(cls) -> dict[str, Any]:
        """Each field's type, in order: the shape that the API documents."""
        hints = get_type_hints(cls)
        return {field.name: hints[field.name] for field in fields(cls)}  # type: ignore[arg-type]

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Self:
        data = cls.completed(data)
        hints = get_type_hints(cls)
        return cls(
            **{field.name: _decode(hints[field.name], data[field.name]) for field in fields(cls)}  # type: ignore[arg-type]
        )

    @classmethod
    def completed(cls, data: dict[str, Any]) -> dict[str, Any]:
        """``data`` with the fields a stored outcome from an older release lacks."""
        return data


@dataclass(frozen=True, slots=True)
class Completed(Generic[T]):
    """A result, and whether it is the replay of an earlier attempt with the same key."""

    value: T
    replayed: bool = False


@dataclass(frozen=True, slots=True)
class AccountView(JsonShape):
    id: uuid.UUID
    currency: str
    balance: int
    held: int
    available: int
    overdraft_limit: int
    status: AccountStatus
    reference: str | None
    metadata: dict[str, str]
    created_at: datetime
    version: int

    @classmethod
    def completed(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Stored before holds and limits existed: what they were then.
        return {
            "held": 0,
            "available": data["balance"],
            "overdraft_limit": 0,
            "metadata": {},
        } | data

    @classmethod
    def of(cls, account: Account) -> AccountView:
        return cls(
            id=account.id,
            currency=account.currency,
            balance=account.balance,
            held=account.held,
            available=account.available,
            overdraft_limit=account.overdraft_limit,
            status=account.status,
            reference=account.reference,
            metadata=dict(account.metadata),
            created_at=account.created_at,
            version=account.version,
        )


@dataclass(frozen=True, slots=True)
class BalanceView(JsonShape):
    """An account's balance now (``as_of`` None), or right after its last entry created
    at or before ``as_of``, when ``held`` and ``available`` are not known (None)."""

    account_id: uuid.UUID
    currency: str
    balance: int
    held: int | None
    available: int | None
    as_of: datetime | None
    entry_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class HoldView(JsonShape):
    """A hold as every read shows it at one time: expired once its time has come."""

    id: uuid.UUID
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    amount: int
    currency: str
    captured_amount: int
    released_amount: int
    remaining_amount: int
    capture_count: int
    status: HoldStatus
    expires_at: datetime
    description: str | None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    version: int

    @classmethod
    def of(cls, hold: Hold, now: datetime) -> HoldView:
        shown = hold.as_of(now)
        return cls(
            id=shown.id,
            source_account_id=shown.source_account_id,
            destination_account_id=shown.destination_account_id,
            amount=shown.money.amount,
            currency=shown.money.currency,
            captured_amount=shown.captured_amount,
            released_amount=shown.released_amount,
            remaining_amount=shown.remaining,
            capture_count=shown.capture_count,
            status=shown.status,
            expires_at=shown.expires_at,
            description=shown.description,
            metadata=dict(shown.metadata),
            created_at=shown.created_at,
            updated_at=shown.updated_at,
            version=shown.version,
        )


@dataclass(frozen=True, slots=True)
class TransferView(JsonShape):
    """A transfer as one caller may see it.

    The settlement side of a deposit or withdrawal is shown as None, and a balance
    after is shown only for an account the caller owns.
    """

    id: uuid.UUID
    kind: TransferKind
    source_account_id: uuid.UUID | None
    destination_account_id: uuid.UUID | None
    amount: int
    currency: str
    description: str | None
    status: TransferStatus
    source_balance_after: int | None
    destination_balance_after: int | None
    hold_id: uuid.UUID | None
    batch_id: uuid.UUID | None
    metadata: dict[str, str]
    created_at: datetime

    @classmethod
    def completed(cls, data: dict[str, Any]) -> dict[str, Any]:
        # Stored before holds, batches and metadata existed: what they were then.
        return {"hold_id": None, "batch_id": None, "metadata": {}} | data

    @classmethod
    def of(cls, transfer: Transfer, *, owns_source: bool, owns_destination: bool) -> TransferView:
        is_deposit = transfer.kind is TransferKind.DEPOSIT
        is_withdrawal = transfer.kind is TransferKind.WITHDRAWAL
        return cls(
            id=transfer.id,
            kind=transfer.kind,
            source_account_id=None if is_deposit else transfer.source_account_id,
            destination_account_id=None if is_withdrawal else transfer.destination_account_id,
            amount=transfer.money.amount,
            currency=transfer.money.currency,
            description=transfer.description,
            status=transfer.status,
            source_balance_after=transfer.debit.balance_after if owns_source else None,
            destination_balance_after=transfer.credit.balance_after if owns_destination else None,
            hold_id=transfer.hold_id,
            batch_id=transfer.batch_id,
            metadata=dict(transfer.metadata),
            created_at=transfer.created_at,
        )


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule's refusal, as a client is told it: its code and detail."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class BatchView:
    """A batch as its client was answered: one outcome per item, in order (a transfer,
    or in a batch that is not atomic, a refusal)."""

    id: uuid.UUID
    atomic: bool
    outcomes: tuple[TransferView | Refusal, ...]
    metadata: dict[str, str]
    created_at: datetime

    @property
    def transfers(self) -> list[TransferView]:
        return [outcome for outcome in self.outcomes if isinstance(outcome, TransferView)]

    def to_json(self) -> dict[str, Any]:
        """The form that is stored (the batch's answer, an idempotent replay)."""
        return {
            "id": str(self.id),
            "atomic": self.atomic,
            "outcomes": [
                {"transfer": outcome.to_json()}
                if isinstance(outcome, TransferView)
                else {"error": {"code": outcome.code, "detail": outcome.detail}}
                for outcome in self.outcomes
            ],
            "metadata": self.metadata,
            "created_at": timestamp(self.created_at),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BatchView:
        return cls(
            id=uuid.UUID(data["id"]),
            atomic=data["atomic"],
            outcomes=tuple(
                TransferView.from_json(outcome["transfer"])
                if "transfer" in outcome
                else Refusal(outcome["error"]["code"], outcome["error"]["detail"])
                for outcome in data["outcomes"]
            ),
            metadata=data["metadata"],
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class EntryView(JsonShape):
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


def _encode(value: object) -> object:
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        return timestamp(value)
    if isinstance(value, Enum):
        return value.value
    return value


def _decode(hint: Any, value: object) -> object:
    if value is None:
        return None
    if isinstance(hint, UnionType):  # X | None
        (hint,) = (arg for arg in get_args(hint) if arg is not NoneType)
    if hint is uuid.UUID:
        return uuid.UUID(str(value))
    if hint is datetime:
        return datetime.fromisoformat(str(value))
    if isinstance(hint, type) and issubclass(hint, Enum):
        return hint(value)
    return value
