"""Request and response bodies. Requests are strict: no coercion, no unknown fields."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr, create_model
from pydantic.config import JsonDict

from application.validation import (
    MAX_AMOUNT,
    MAX_CLIENT_NAME,
    MAX_DESCRIPTION,
    MAX_HOLD_SECONDS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE,
    MAX_OVERDRAFT_LIMIT,
    MAX_REFERENCE,
)
from application.views import (
    AccountView,
    BalanceView,
    EntryView,
    HoldView,
    JsonShape,
    TransferView,
)
from domain.api_client import MAX_KEY_OVERLAP
from domain.batch import MAX_BATCH_ITEMS

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
OverdraftLimit = Annotated[
    StrictInt | None,
    Field(
        default=None,
        ge=0,
        le=MAX_OVERDRAFT_LIMIT,
        description="Minor units the balance may go below zero.",
        examples=[10000],
    ),
]
HoldSeconds = Annotated[
    StrictInt, Field(ge=1, le=MAX_HOLD_SECONDS, description="Seconds from now.", examples=[3600])
]
# The shape of metadata; the application checks the rest (key characters, NUL).
_MetadataKey = Annotated[StrictStr, Field(pattern=r"^[A-Za-z0-9_.-]{1,40}$")]
_MetadataValue = Annotated[StrictStr, Field(max_length=MAX_METADATA_VALUE)]
_METADATA_DESCRIPTION = (
    f"At most {MAX_METADATA_KEYS} keys of 1 to 40 characters of `A-Z a-z 0-9 _ . -`, each"
    f" to a text of at most {MAX_METADATA_VALUE} characters; `null` is `{{}}`."
)
Metadata = Annotated[
    dict[_MetadataKey, _MetadataValue] | None,
    Field(
        default=None,
        max_length=MAX_METADATA_KEYS,
        description=_METADATA_DESCRIPTION,
        examples=[{"order_id": "4711"}],
    ),
]
MetadataChanges = Annotated[
    dict[_MetadataKey, _MetadataValue | None] | None,
    Field(
        default=None,
        max_length=MAX_METADATA_KEYS,
        description="Merged into the account's metadata: a text sets its key, `null` removes it.",
        examples=[{"segment": "retail", "legacy_id": None}],
    ),
]


# Response examples, shown in /docs and in the OpenAPI document.
ACCOUNT_EXAMPLE: JsonDict = {
    "id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "currency": "USD",
    "balance": 7500,
    "held": 1000,
    "available": 16500,
    "overdraft_limit": 10000,
    "status": "active",
    "reference": "customer-42",
    "metadata": {"segment": "retail"},
    "created_at": "2026-11-24T09:30:00.123456Z",
    "version": 5,
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
    "hold_id": None,
    "batch_id": None,
    "metadata": {"invoice": "2026-118"},
    "created_at": "2026-11-24T09:31:00Z",
}
HOLD_EXAMPLE: JsonDict = {
    "id": "1e4d8c7a-5b3f-4a21-9c6e-8f0a2b4d6e13",
    "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "destination_account_id": "5d0c3a52-1f0e-4a55-8a6c-2b9e3c7d4e21",
    "amount": 5000,
    "currency": "USD",
    "captured_amount": 2000,
    "released_amount": 0,
    "remaining_amount": 3000,
    "capture_count": 1,
    "status": "active",
    "expires_at": "2026-12-01T09:32:00Z",
    "description": "hotel deposit",
    "metadata": {"booking": "B-9921"},
    "created_at": "2026-11-24T09:32:00Z",
    "updated_at": "2026-11-25T11:00:00Z",
    "version": 2,
}
BALANCE_EXAMPLE: JsonDict = {
    "account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
    "currency": "USD",
    "balance": 7500,
    "held": None,
    "available": None,
    "as_of": "2026-11-24T12:00:00Z",
    "entry_id": "9b2f7f3c-43c5-4d8a-8d0e-5a1f0c9e6b11",
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
    overdraft_limit: OverdraftLimit = None
    metadata: Metadata = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "currency": "USD",
                    "reference": "customer-42",
                    "overdraft_limit": 10000,
                    "metadata": {"segment": "retail"},
                }
            ]
        },
    )


class AmendAccountBody(Strict):
    overdraft_limit: OverdraftLimit = None
    metadata: MetadataChanges = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"overdraft_limit": 5000, "metadata": {"segment": "business"}}]
        },
    )


class MoveMoneyBody(Strict):
    amount: Amount
    currency: Currency
    description: Description = None
    metadata: Metadata = None

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
    metadata: Metadata = None

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
                    "metadata": {"invoice": "2026-118"},
                }
            ]
        },
    )


class BatchBody(Strict):
    atomic: StrictBool = Field(
        default=True,
        description="`true`: all transfers or none. `false`: each stands or falls alone.",
    )
    transfers: Annotated[
        list[TransferBody],
        Field(
            min_length=1,
            max_length=MAX_BATCH_ITEMS,
            description="Applied in order, each against what the ones before it left.",
        ),
    ]
    metadata: Metadata = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "atomic": True,
                    "transfers": [
                        {
                            "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
                            "destination_account_id": "5d0c3a52-1f0e-4a55-8a6c-2b9e3c7d4e21",
                            "amount": 9000,
                            "currency": "USD",
                            "description": "seller",
                        },
                        {
                            "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
                            "destination_account_id": "8a1f2e3d-4c5b-4a69-8877-665544332211",
                            "amount": 1000,
                            "currency": "USD",
                            "description": "fee",
                        },
                    ],
                    "metadata": {"order_id": "4711"},
                }
            ]
        },
    )


class HoldBody(Strict):
    source_account_id: Id
    destination_account_id: Id
    amount: Amount
    currency: Currency
    expires_in_seconds: HoldSeconds | None = Field(
        default=None, description="Seconds from now; `null` is 604800 (7 days)."
    )
    description: Description = None
    metadata: Metadata = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_account_id": "0b5a4c1e-8f57-4c1b-9d7e-3a8f0f0f2c11",
                    "destination_account_id": "5d0c3a52-1f0e-4a55-8a6c-2b9e3c7d4e21",
                    "amount": 5000,
                    "currency": "USD",
                    "expires_in_seconds": 604800,
                    "description": "hotel deposit",
                    "metadata": {"booking": "B-9921"},
                }
            ]
        },
    )


class CaptureBody(Strict):
    amount: Amount | None = Field(
        default=None, description="Minor units; `null` is all that remains."
    )
    final: StrictBool | None = Field(
        default=None, description="`true` releases what remains after this capture."
    )
    description: Description = None
    metadata: Metadata = None

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"amount": 2000, "final": False}]},
    )


class ExtendHoldBody(Strict):
    expires_in_seconds: HoldSeconds

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"expires_in_seconds": 86400}]}
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
HoldOut = _shape_of(HoldView, HOLD_EXAMPLE)
BalanceOut = _shape_of(BalanceView, BALANCE_EXAMPLE)


def _page_of(item: type[BaseModel], example: JsonDict) -> type[BaseModel]:
    name = item.__name__.removesuffix("Out") + "Page"
    items: Any = list[item]  # type: ignore[valid-type]
    page: type[BaseModel] = create_model(
        name, __config__=_example(example), data=(items, ...), next_cursor=(str | None, ...)
    )
    return page


AccountPage = _page_of(AccountOut, {"data": [ACCOUNT_EXAMPLE], "next_cursor": "eyJzIjoi.Lw3k"})
EntryPage = _page_of(EntryOut, {"data": [ENTRY_EXAMPLE], "next_cursor": None})
HoldPage = _page_of(HoldOut, {"data": [HOLD_EXAMPLE], "next_cursor": None})
TransferPage = _page_of(TransferOut, {"data": [TRANSFER_EXAMPLE], "next_cursor": None})


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
    failed_index: int | None = Field(
        default=None,
        description="Only when an atomic batch was refused: the 0-based item that broke a rule.",
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


_BATCH_HEAD: JsonDict = {"id": "2d6f8a10-3b5c-4e7d-9f1a-2b3c4d5e6f70"}
_BATCH_TAIL: JsonDict = {"metadata": {"order_id": "4711"}, "created_at": "2026-11-24T09:31:00Z"}


class BatchOut(BaseModel):
    """An atomic batch: every transfer was made."""

    id: uuid.UUID
    atomic: bool
    transfers: list[TransferOut]  # type: ignore[valid-type]
    metadata: dict[str, str]
    created_at: Timestamp

    model_config = _example(
        {**_BATCH_HEAD, "atomic": True, "transfers": [TRANSFER_EXAMPLE], **_BATCH_TAIL}
    )


class BatchResultOut(BaseModel):
    """One item of a batch that is not atomic: 201 and its transfer, or the status and
    problem that refused it."""

    status: int
    transfer: TransferOut | None = None  # type: ignore[valid-type]
    error: Problem | None = None


class BatchResultsOut(BaseModel):
    """A batch that is not atomic: each item's result, in order."""

    id: uuid.UUID
    atomic: bool
    results: list[BatchResultOut]
    metadata: dict[str, str]
    created_at: Timestamp

    model_config = _example(
        {
            **_BATCH_HEAD,
            "atomic": False,
            "results": [
                {"status": 201, "transfer": TRANSFER_EXAMPLE},
                {
                    "status": 422,
                    "error": {
                        "type": "https://banking.example/problems/insufficient-funds",
                        "title": "Insufficient funds",
                        "status": 422,
                        "detail": "The amount exceeds what the account has available.",
                        "code": "insufficient_funds",
                    },
                },
            ],
            **_BATCH_TAIL,
        }
    )
