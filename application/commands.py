"""Commands: what a caller asks the bank to do, as plain data."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from domain.pagination import PageRequest


@dataclass(frozen=True, slots=True)
class OpenAccount:
    client_id: uuid.UUID
    currency: str
    reference: str | None = None
    idempotency_key: str | None = None
    overdraft_limit: int = 0
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Deposit:
    client_id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    currency: str
    description: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class Withdraw:
    client_id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    currency: str
    description: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class TransferFunds:
    client_id: uuid.UUID
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    amount: int
    currency: str
    description: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class FreezeAccount:
    client_id: uuid.UUID
    account_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class UnfreezeAccount:
    client_id: uuid.UUID
    account_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class CloseAccount:
    client_id: uuid.UUID
    account_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class GetAccount:
    client_id: uuid.UUID
    account_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ListAccounts:
    client_id: uuid.UUID
    page: PageRequest
    # Only accounts whose metadata holds every one of these keys with its value.
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class AmendAccount:
    """PATCH: a new limit, and metadata to merge (a None value removes its key)."""

    client_id: uuid.UUID
    account_id: uuid.UUID
    overdraft_limit: int | None = None
    metadata: Mapping[str, str | None] | None = None


@dataclass(frozen=True, slots=True)
class GetBalance:
    client_id: uuid.UUID
    account_id: uuid.UUID
    as_of: datetime | None = None


@dataclass(frozen=True, slots=True)
class PlaceHold:
    client_id: uuid.UUID
    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    amount: int
    currency: str
    expires_in_seconds: int | None = None
    description: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CaptureHold:
    """``amount`` None captures all that remains; ``final`` releases the rest."""

    client_id: uuid.UUID
    hold_id: uuid.UUID
    amount: int | None = None
    final: bool = False
    description: str | None = None
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class VoidHold:
    client_id: uuid.UUID
    hold_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ExtendHold:
    client_id: uuid.UUID
    hold_id: uuid.UUID
    expires_in_seconds: int


@dataclass(frozen=True, slots=True)
class GetHold:
    client_id: uuid.UUID
    hold_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ListHolds:
    client_id: uuid.UUID
    page: PageRequest
    status: str | None = None
    account_id: uuid.UUID | None = None


@dataclass(frozen=True, slots=True)
class GetTransfer:
    client_id: uuid.UUID
    transfer_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class ListTransfers:
    client_id: uuid.UUID
    page: PageRequest
    account_id: uuid.UUID | None = None
    kind: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class ListEntries:
    client_id: uuid.UUID
    account_id: uuid.UUID
    page: PageRequest


@dataclass(frozen=True, slots=True)
class CreateApiClient:
    name: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    api_key: str


@dataclass(frozen=True, slots=True)
class RotateApiKey:
    """Issue a new key; the current one keeps working for ``overlap_seconds``."""

    client_id: uuid.UUID
    overlap_seconds: int


@dataclass(frozen=True, slots=True)
class RevokeApiKeys:
    client_id: uuid.UUID


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One transfer of a batch: a transfer's body, from an account of the batch's client."""

    source_account_id: uuid.UUID
    destination_account_id: uuid.UUID
    amount: int
    currency: str
    description: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class SubmitBatch:
    client_id: uuid.UUID
    items: tuple[BatchItem, ...]
    atomic: bool = True
    idempotency_key: str | None = None
    metadata: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class GetBatch:
    client_id: uuid.UUID
    batch_id: uuid.UUID
