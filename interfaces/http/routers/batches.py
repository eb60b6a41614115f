"""``/v1/batches``: several transfers in one request, all or none or each on its own."""

# No `from __future__ import annotations`: dependency-injector reads the Annotated
# markers from the live signature.
import uuid
from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from application.batches import BatchService
from application.commands import BatchItem, GetBatch, SubmitBatch
from application.views import ClientIdentity
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import ClientRoute, current_client
from interfaces.http.provide import Provide
from interfaces.http.responses import IdempotencyKey, path_id, problems, replayable
from interfaces.http.schemas import BatchBody, BatchOut, BatchResultsOut
from interfaces.observability import reached_use_case

router = APIRouter(
    prefix="/v1/batches",
    tags=["batches"],
    route_class=ClientRoute,
    responses=problems(401, 503),
)

Client = Annotated[ClientIdentity, Depends(current_client)]
Batches = Annotated[BatchService, Depends(Provide[Container.batches])]


@router.post(
    "",
    status_code=201,
    response_model=BatchOut,
    responses={
        200: {"model": BatchResultsOut, "description": "A batch that is not atomic."},
        **replayable(404, 408, 409, 413, 415, 422),
    },
)
@inject
async def submit_batch(
    request: Request,
    body: BatchBody,
    client: Client,
    batches: Batches,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Apply the transfers in order, in one transaction. Atomic (the default): all or
    none, 201; the first refused item answers its problem with `failed_index`. Not
    atomic: 200 with each item's result."""
    reached_use_case(request.scope, "batch")
    command = SubmitBatch(
        client.id,
        tuple(
            BatchItem(
                uuid.UUID(item.source_account_id),
                uuid.UUID(item.destination_account_id),
                item.amount,
                item.currency,
                item.description,
                item.metadata,
            )
            for item in body.transfers
        ),
        body.atomic,
        idempotency_key,
        body.metadata,
    )
    result = await batches.submit(command)
    headers = {"Idempotent-Replayed": "true"} if result.replayed else None
    status = 201 if result.value.atomic else 200
    return JSONResponse(render.batch(result.value), status_code=status, headers=headers)


@router.get(
    "/{batch_id}",
    response_model=BatchOut,
    responses={
        200: {"model": BatchResultsOut, "description": "A batch that is not atomic."},
        **problems(404),
    },
)
@router.head("/{batch_id}", include_in_schema=False)
@inject
async def get_batch(batch_id: str, client: Client, batches: Batches) -> JSONResponse:
    """The body the batch's POST answered; only for the client that made it."""
    return JSONResponse(render.batch(await batches.get(GetBatch(client.id, path_id(batch_id)))))
