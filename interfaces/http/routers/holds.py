"""``/v1/holds``: reserve money for a later transfer, capture, void, extend, read, list."""

# No `from __future__ import annotations`: dependency-injector reads the Annotated
# markers from the live signature.
import uuid
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from application.commands import CaptureHold, ExtendHold, GetHold, ListHolds, PlaceHold, VoidHold
from application.holds import HoldService
from application.views import ClientIdentity
from domain.hold import HoldStatus
from domain.pagination import MAX_PAGE_SIZE, PageRequest
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import ClientRoute, current_client
from interfaces.http.provide import Provide
from interfaces.http.responses import IdempotencyKey, created, path_id, problems, replayable
from interfaces.http.schemas import (
    CANONICAL_UUID,
    CaptureBody,
    ExtendHoldBody,
    HoldBody,
    HoldOut,
    HoldPage,
    TransferOut,
)
from interfaces.observability import reached_use_case

router = APIRouter(
    prefix="/v1/holds",
    tags=["holds"],
    route_class=ClientRoute,
    responses=problems(401, 503),
)
HOLD_CHANGE = problems(404, 408, 413, 415, 422)

Client = Annotated[ClientIdentity, Depends(current_client)]
Holds = Annotated[HoldService, Depends(Provide[Container.holds])]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.post(
    "",
    status_code=201,
    response_model=HoldOut,
    responses=replayable(404, 408, 409, 413, 415, 422),
)
@inject
async def place_hold(
    body: HoldBody,
    client: Client,
    holds: Holds,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Reserve `amount` on the source for the destination: the source's `held` rises and
    its `available` falls; no balance moves. Checked like a transfer."""
    command = PlaceHold(
        client.id,
        uuid.UUID(body.source_account_id),
        uuid.UUID(body.destination_account_id),
        body.amount,
        body.currency,
        body.expires_in_seconds,
        body.description,
        idempotency_key,
        body.metadata,
    )
    result = await holds.place(command)
    return created(result, render.hold(result.value))


@router.get("", response_model=HoldPage, responses=problems(404, 422))
@router.head("", include_in_schema=False)
@inject
async def list_holds(
    client: Client,
    holds: Holds,
    status: Annotated[
        HoldStatus | None, Query(description="Only holds with this status, as read now.")
    ] = None,
    account_id: Annotated[
        str | None,
        Query(
            pattern=CANONICAL_UUID,
            description="Only holds on either side of this account of the caller's.",
            json_schema_extra={"format": "uuid"},
        ),
    ] = None,
    limit: Limit = 50,
    after: str | None = None,
) -> JSONResponse:
    """Holds the caller owns either side of, newest first."""
    query = ListHolds(
        client.id,
        PageRequest(limit, after),
        None if status is None else status.value,
        None if account_id is None else uuid.UUID(account_id),
    )
    return JSONResponse(render.page(await holds.list(query), render.hold))


@router.get("/{hold_id}", response_model=HoldOut, responses=problems(404))
@router.head("/{hold_id}", include_in_schema=False)
@inject
async def get_hold(hold_id: str, client: Client, holds: Holds) -> JSONResponse:
    """For an owner of either side; `expired` as soon as its time has come."""
    view = await holds.get(GetHold(client.id, path_id(hold_id)))
    return JSONResponse(render.hold(view))


@router.post(
    "/{hold_id}/captures",
    status_code=201,
    response_model=TransferOut,
    responses=replayable(404, 408, 409, 413, 415, 422),
)
@inject
async def capture_hold(
    request: Request,
    hold_id: str,
    client: Client,
    holds: Holds,
    body: CaptureBody | None = None,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Move `amount` (all that remains when absent) from the source to the destination
    as a transfer of kind `capture`. `final: true` releases what remains after it."""
    reached_use_case(request.scope, "capture")
    given = body or CaptureBody()
    command = CaptureHold(
        client.id,
        path_id(hold_id),
        given.amount,
        bool(given.final),
        given.description,
        idempotency_key,
        given.metadata,
    )
    result = await holds.capture(command)
    return created(result, render.transfer(result.value))


@router.post("/{hold_id}/void", response_model=HoldOut, responses=HOLD_CHANGE)
@inject
async def void_hold(hold_id: str, client: Client, holds: Holds) -> JSONResponse:
    """Release what remains; voiding a voided hold changes nothing. Allowed while an
    account is frozen."""
    view = await holds.void(VoidHold(client.id, path_id(hold_id)))
    return JSONResponse(render.hold(view))


@router.post("/{hold_id}/extend", response_model=HoldOut, responses=HOLD_CHANGE)
@inject
async def extend_hold(
    hold_id: str, body: ExtendHoldBody, client: Client, holds: Holds
) -> JSONResponse:
    """`expires_at` becomes now + `expires_in_seconds` when that is later; an expiry
    never moves earlier."""
    command = ExtendHold(client.id, path_id(hold_id), body.expires_in_seconds)
    return JSONResponse(render.hold(await holds.extend(command)))
