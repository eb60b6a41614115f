"""Small helpers shared by the routers."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import Header
from fastapi.responses import JSONResponse

from application.views import Completed
from domain.errors import ValidationError
from interfaces.http.problems import PROBLEM_MEDIA_TYPE
from interfaces.http.schemas import CANONICAL_UUID

_CANONICAL = re.compile(CANONICAL_UUID)
# RFC 3339's date-time: a full date, a full time and an offset, which is not optional
# (a time without one names no instant). Digits past microseconds are cut off.
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\d[Tt]\d\d:\d\d:\d\d(\.\d{1,9})?([Zz]|[+-]\d\d:\d\d)", re.ASCII
)

# What each error status means on the routes that document it (docs/api.md's codes).
_MEANINGS = {
    401: "No or a wrong credential (`unauthorized`).",
    403: "An API client's key on an admin route (`forbidden`).",
    404: "The account, transfer, hold or API client does not exist (or, for an account,"
    " a transfer or a hold, belongs to another API client).",
    408: "The body did not arrive within the read timeout (`request_timeout`); the"
    " connection is closed.",
    409: "The first request with this `Idempotency-Key` is still in flight.",
    413: "The body is over the size limit (`payload_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    422: "The request is invalid (`validation_error`) or a business rule refused it.",
    500: "An unexpected error (`internal_error`); quote `correlation_id` to the operator.",
    503: "Contention did not clear (`concurrency_conflict`) or the database is unavailable"
    " (`service_unavailable`); retry after `Retry-After` seconds.",
}
_HEADERS = {
    401: {"WWW-Authenticate": {"schema": {"type": "string"}, "description": "`Bearer`"}},
    503: {"Retry-After": {"schema": {"type": "string"}, "description": "Seconds."}},
}
REPLAYED = {
    "Idempotent-Replayed": {
        "schema": {"type": "string", "enum": ["true"]},
        "description": "Present on a repeat of a request with the same `Idempotency-Key`.",
    }
}


# Checked by the application (docs/api.md's rules), described here for the OpenAPI schema.
IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Makes the request take effect at most once, scoped to the API client:"
        " a repeat answers the first outcome with `Idempotent-Replayed: true`; another"
        " request under the same key is 422 `idempotency_key_reused`.",
        json_schema_extra={"minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7E]+$"},
        examples=["order-4711-payout"],
    ),
]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for these error statuses: RFC 9457 problems."""
    return {
        status: {
            "description": _MEANINGS[status],
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
            **({"headers": _HEADERS[status]} if status in _HEADERS else {}),
        }
        for status in statuses
    }


def replayable(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``problems(*statuses)`` of a route that honours ``Idempotency-Key``: a repeat
    answers its stored outcome, success or refusal, with ``Idempotent-Replayed``."""
    responses = problems(*statuses)
    for status in (404, 422):
        if status in responses:
            responses[status]["headers"] = REPLAYED
    return {201: {"headers": REPLAYED}, **responses}


# Every account and transfer id is random (version 4); ids named in this namespace are
# version 5, so none of them is ever an existing account or transfer.
_MALFORMED = uuid.UUID("6f0b6c1e-3d5a-4c59-9a57-1b0e2f4d8c33")


def path_id(value: str) -> uuid.UUID:
    """The id in a path; a malformed one becomes an id nothing has, one per spelling.

    The request then goes on exactly as with an unknown id: the same 404, and under an
    ``Idempotency-Key`` that 404 is stored and replayed like any other outcome (docs/api.md),
    instead of leaving the key free for a different request.
    """
    if _CANONICAL.fullmatch(value):
        return uuid.UUID(value)
    return uuid.uuid5(_MALFORMED, value)


def instant(value: str, name: str) -> datetime:
    """An RFC 3339 timestamp of a query, with its offset; anything else is a
    ``validation_error``."""
    if _RFC3339.fullmatch(value):
        try:
            return datetime.fromisoformat(value.upper())
        except ValueError:  # a well-formed but impossible date or time, like February 30
            pass
    raise ValidationError(
        f"{name} must be an RFC 3339 timestamp with an offset, like 2026-11-24T09:30:00Z"
    )


def created(result: Completed[Any], body: dict[str, Any]) -> JSONResponse:
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    return JSONResponse(body, status_code=201, headers=headers)


def metadata_filter(things: str) -> dict[str, Any]:
    """The OpenAPI parameter ``metadata[KEY]=VALUE``, any number of keys (the deepObject
    style), of a list of ``things``; ``QueryFamily("metadata")`` reads it."""
    return {
        "name": "metadata",
        "in": "query",
        "style": "deepObject",
        "explode": True,
        "description": f"Only {things} whose metadata has KEY set to VALUE, for every KEY given.",
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
    }
