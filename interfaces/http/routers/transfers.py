"""``/v1/transfers``: move money between two accounts, read a transfer, list them."""

# No `from __future__ import annotations`: dependency-injector reads the Annotated
# markers from the live signature.
import uuid
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from application.commands import GetTransfer, ListTransfers, TransferFunds
from application.ledger import LedgerQueries
from application.payments import PaymentService
from application.views import ClientIdentity
from domain.pagination import MAX_PAGE_SIZE, PageRequest
from domain.transfer import TransferKind
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import ClientRoute, QueryFamily, current_client
from interfaces.http.provide import Provide
from interfaces.http.responses import (
    IdempotencyKey,
    created,
    metadata_filter,
    path_id,
    problems,
    replayable,
)
from interfaces.http.schemas import CANONICAL_UUID, TransferBody, TransferOut, TransferPage
from interfaces.observability import reached_use_case

router = APIRouter(
    prefix="/v1/transfers",
    tags=["transfers"],
    route_class=ClientRoute,
    responses=problems(401, 404, 503),
)


@router.post(
    "",
    status_code=201,
    response_model=TransferOut,
    responses=replayable(404, 408, 409, 413, 415, 422),
)
@inject
async def create_transfer(
    request: Request,
    body: TransferBody,
    client: Annotated[ClientIdentity, Depends(current_client)],
    payments: Annotated[PaymentService, Depends(Provide[Container.payments])],
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    reached_use_case(request.scope, "transfer")
    command = TransferFunds(
        client.id,
        uuid.UUID(body.source_account_id),
        uuid.UUID(body.destination_account_id),
        body.amount,
        body.currency,
        body.description,
        idempotency_key,
        body.metadata,
    )
    result = await payments.transfer(command)
    return created(result, render.transfer(result.value))


@router.get(
    "",
    response_model=TransferPage,
    responses=problems(422),
    openapi_extra={"parameters": [metadata_filter("transfers")]},
)
@router.head("", include_in_schema=False)
@inject
async def list_transfers(
    client: Annotated[ClientIdentity, Depends(current_client)],
    ledger: Annotated[LedgerQueries, Depends(Provide[Container.ledger])],
    metadata: Annotated[dict[str, str], Depends(QueryFamily("metadata"))],
    account_id: Annotated[
        str | None,
        Query(
            pattern=CANONICAL_UUID,
            description="Only transfers on either side of this account of the caller's.",
            json_schema_extra={"format": "uuid"},
        ),
    ] = None,
    kind: Annotated[TransferKind | None, Query(description="Only transfers of this kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    after: str | None = None,
) -> JSONResponse:
    """Transfers the caller owns either side of, newest first."""
    query = ListTransfers(
        client.id,
        PageRequest(limit, after),
        None if account_id is None else uuid.UUID(account_id),
        None if kind is None else kind.value,
        metadata,
    )
    return JSONResponse(render.page(await ledger.list_transfers(query), render.transfer))


@router.get("/{transfer_id}", response_model=TransferOut)
@router.head("/{transfer_id}", include_in_schema=False)
@inject
async def get_transfer(
    transfer_id: str,
    client: Annotated[ClientIdentity, Depends(current_client)],
    ledger: Annotated[LedgerQueries, Depends(Provide[Container.ledger])],
) -> JSONResponse:
    query = GetTransfer(client.id, path_id(transfer_id))
    return JSONResponse(render.transfer(await ledger.get_transfer(query)))
