"""Request and response bodies. Requests are strict: no coercion, no unknown fields."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Amount = Annotated[StrictInt, Field(ge=1, le=10**15, description="Minor units.", examples=[2500])]
Currency = Annotated[StrictStr, Field(description="ISO 4217, upper case.", examples=["USD"])]
Id = Annotated[StrictStr, Field(pattern=CANONICAL_UUID, description="A lower-case UUID.")]
Description = Annotated[StrictStr | None, Field(default=None, max_length=256)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenAccountBody(Strict):
    currency: Currency
    reference: Annotated[StrictStr | None, Field(default=None, max_length=128)] = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"currency": "USD", "reference": "customer-42"}]},
    )


class MoveMoneyBody(Strict):
    amount: Amount
    currency: Currency
    description: Description = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"amount": 2500, "currency": "USD", "description": "top-up"}]
        },
    )


class TransferBody(Strict):
    source_account_id: Id
    destination_account_id: Id
    amount: Amount
    currency: Currency
    description: Description = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
                    "destination_account_id": "5d0c3a52-1f0e-4a55-8a6c-2b9e3c7d4e21",
                    "amount": 1250,
                    "currency": "USD",
                    "description": "rent",
                }
            ]
        },
    )


class CreateClientBody(Strict):
    name: Annotated[StrictStr, Field(min_length=1, max_length=64)]

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "acme"}]})


class AccountOut(BaseModel):
    id: uuid.UUID
    currency: str
    balance: int
    status: Literal["active", "frozen", "closed"]
    reference: str | None
    created_at: str = Field(examples=["2026-11-24T09:30:00.123456Z"])
    version: int


class TransferOut(BaseModel):
    id: uuid.UUID
    kind: Literal["transfer", "deposit", "withdrawal"]
    source_account_id: uuid.UUID | None
    destination_account_id: uuid.UUID | None
    amount: int
    currency: str
    description: str | None
    status: Literal["posted"]
    source_balance_after: int | None
    destination_balance_after: int | None
    created_at: str


class EntryOut(BaseModel):
    id: uuid.UUID
    transfer_id: uuid.UUID
    account_id: uuid.UUID
    amount: int
    balance_after: int | None
    created_at: str


class AccountPage(BaseModel):
    data: list[AccountOut]
    next_cursor: str | None


class EntryPage(BaseModel):
    data: list[EntryOut]
    next_cursor: str | None


class NewClientOut(BaseModel):
    id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")
    created_at: str


class RotateKeyBody(Strict):
    overlap_seconds: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=604_800,
            description="How long the replaced key keeps working: 0 ends it at once; at"
            " most 7 days.",
        ),
    ] = 3600

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"overlap_seconds": 3600}]}
    )


class NewKeyOut(BaseModel):
    client_id: uuid.UUID
    api_key: str = Field(description="Shown once; only its hash is stored.")
    created_at: str
    previous_key_expires_at: str | None = Field(
        description="Until when the replaced key still works; null if it stopped at once."
    )


class RevokedClientOut(BaseModel):
    id: uuid.UUID
    name: str
    revoked_at: str


class Problem(BaseModel):
    """An RFC 9457 problem; `code` is the stable, machine-readable part."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    correlation_id: str | None = Field(
        default=None, description="Only on `internal_error`: quote it to the operator."
    )

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "https://banking.example/problems/insufficient-funds",
                    "title": "Insufficient funds",
                    "status": 422,
                    "detail": "the balance would go below zero",
                    "code": "insufficient_funds",
                }
            ]
        }
    )
