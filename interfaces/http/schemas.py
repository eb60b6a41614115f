"""Request and response bodies. Requests are strict: no coercion, no unknown fields."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, create_model
from pydantic.config import JsonDict

from application.validation import MAX_AMOUNT, MAX_CLIENT_NAME, MAX_DESCRIPTION, MAX_REFERENCE
from application.views import AccountView, EntryView, JsonShape, TransferView
from domain.api_client import MAX_KEY_OVERLAP

CANONICAL_UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"

Amount = Annotated[
    StrictInt, Field(ge=1, le=MAX_AMOUNT, description="Minor units.", examples=[2500])
]
Currency = Annotated[StrictStr, Field(description="ISO 4217, upper case.", examples=["USD"])]
Id = Annotated[
    StrictStr,
    Field(
        pattern=CANONICAL_UUID,
        description="A lower-case UUID.",
        json_schema_extra={"format": "uuid"},
    ),
]
# RFC 3339 in UTC with a `Z` suffix, microseconds when not zero.
Timestamp = Annotated[
    str,
    Field(json_schema_extra={"format": "date-time"}, examples=["2026-11-24T09:30:00.123456Z"]),
]
OptionalTimestamp = Annotated[
    str | None,
    Field(json_schema_extra={"format": "date-time"}, examples=["2026-11-24T10:30:00Z"]),
]
Description = Annotated[StrictStr | None, Field(default=None, max_length=MAX_DESCRIPTION)]


# Response examples, shown in /docs and in the OpenAPI document.
ACCOUNT_EXAMPLE: JsonDict = {
    "id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "currency": "USD",
    "balance": 7500,
    "status": "active",
    "reference": "customer-42",
    "created_at": "2026-11-24T09:30:00.123456Z",
    "version": 3,
}
TRANSFER_EXAMPLE: JsonDict = {
    "id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "kind": "transfer",
    "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "destination_account_id": "5d0c3a52-1f0e-4a55-8a6c-2b9e3c7d4e21",
    "amount": 2500,
    "currency": "USD",
    "description": "rent",
    "status": "posted",
    "source_balance_after": 7500,
    "destination_balance_after": 2500,
    "created_at": "2026-11-24T09:31:00Z",
}
ENTRY_EXAMPLE: JsonDict = {
    "id": "9b2f7f3c-43c5-4d8a-8d0e-5a1f0c9e6b11",
    "transfer_id": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
    "account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "amount": -2500,
    "balance_after": 7500,
    "created_at": "2026-11-24T09:31:00Z",
}


def _example(example: JsonDict) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": [example]})


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class OpenAccountBody(Strict):
    currency: Currency
    reference: Annotated[StrictStr | None, Field(default=None, max_length=MAX_REFERENCE)] = None

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
    name: Annotated[StrictStr, Field(min_length=1, max_length=MAX_CLIENT_NAME)]

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"name": "acme"}]})


def _shape_of(view: type[JsonShape], example: JsonDict) -> type[BaseModel]:
    """The documented schema of a resource, derived from the view whose fields are its
    JSON shape (``application/views.py``): written once, there."""
    fields: dict[str, Any] = {name: (kind, ...) for name, kind in view.field_types().items()}
    name = view.__name__.removesuffix("View") + "Out"
    model: type[BaseModel] = create_model(name, __config__=_example(example), **fields)
    return model


AccountOut = _shape_of(AccountView, ACCOUNT_EXAMPLE)
TransferOut = _shape_of(TransferView, TRANSFER_EXAMPLE)
EntryOut = _shape_of(EntryView, ENTRY_EXAMPLE)


def _page_of(item: type[BaseModel], example: JsonDict) -> type[BaseModel]:
    name = item.__name__.removesuffix("Out") + "Page"
    items: Any = list[item]  # type: ignore[valid-type]
    page: type[BaseModel] = create_model(
        name, __config__=_example(example), data=(items, ...), next_cursor=(str | None, ...)
    )
    return page


AccountPage = _page_of(AccountOut, {"data": [ACCOUNT_EXAMPLE], "next_cursor": "eyJzIjoi.Lw3k"})
EntryPage = _page_of(EntryOut, {"data": [ENTRY_EXAMPLE], "next_cursor": None})


class NewClientOut(BaseModel):
    id: uuid.UUID
    name: str
    api_key: str = Field(description="Shown once; only its hash is stored.")
    created_at: Timestamp

    model_config = _example(
        {
            "id": "3f2b8a61-2c1d-4e5f-9a7b-0c1d2e3f4a5b",
            "name": "acme",
            "api_key": "bk_mZ1eO9sXo8yQ0v3T4cJ7nW2pL5kH6gF1dS8aR0uY3iE",
            "created_at": "2026-11-24T09:00:00Z",
        }
    )


class RotateKeyBody(Strict):
    overlap_seconds: Annotated[
        StrictInt,
        Field(
            ge=0,
            le=int(MAX_KEY_OVERLAP.total_seconds()),
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
    created_at: Timestamp
    previous_key_expires_at: OptionalTimestamp = Field(
        description="Until when the replaced key still works; null if it stopped at once."
    )

    model_config = _example(
        {
            "client_id": "3f2b8a61-2c1d-4e5f-9a7b-0c1d2e3f4a5b",
            "api_key": "bk_Q4wE7rT1yU9iO3pA6sD2fG8hJ5kL0zX4cV7bN1mQ2wE",
            "created_at": "2026-11-24T10:00:00Z",
            "previous_key_expires_at": "2026-11-24T11:00:00Z",
        }
    )


class RevokedClientOut(BaseModel):
    id: uuid.UUID
    name: str
    revoked_at: Timestamp

    model_config = _example(
        {
            "id": "3f2b8a61-2c1d-4e5f-9a7b-0c1d2e3f4a5b",
            "name": "acme",
            "revoked_at": "2026-11-24T10:00:00Z",
        }
    )


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
