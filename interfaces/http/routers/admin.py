"""``/v1/admin``: operator routes, behind the admin token: create API clients, rotate
and revoke their keys."""

from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from application.clients import ClientService
from application.commands import CreateApiClient, RevokeApiKeys, RotateApiKey
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import AdminRoute
from interfaces.http.provide import Provide
from interfaces.http.responses import path_id, problems
from interfaces.http.schemas import (
    CreateClientBody,
    NewClientOut,
    NewKeyOut,
    RevokedClientOut,
    RotateKeyBody,
)

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    route_class=AdminRoute,
    responses=problems(401, 403, 503),
)
Clients = Annotated[ClientService, Depends(Provide[Container.clients])]


@router.post(
    "/clients",
    status_code=201,
    response_model=NewClientOut,
    responses=problems(408, 413, 415, 422),
)
@inject
async def create_client(body: CreateClientBody, clients: Clients) -> JSONResponse:
    created = await clients.create(CreateApiClient(body.name))
    return JSONResponse(render.new_client(created), status_code=201)


@router.post(
    "/clients/{client_id}/keys",
    status_code=201,
    response_model=NewKeyOut,
    responses=problems(404, 408, 413, 415, 422),
)
@inject
async def rotate_client_key(
    client_id: str, clients: Clients, body: RotateKeyBody | None = None
) -> JSONResponse:
    """Issue the client a new API key (shown once). The key it replaces keeps working
    for `overlap_seconds` (default 3600), then answers 401; an older replaced key stops
    at once. On a revoked client, the new key is its only one."""
    overlap = (body or RotateKeyBody()).overlap_seconds
    issued = await clients.rotate_key(RotateApiKey(path_id(client_id), overlap))
    return JSONResponse(render.new_key(issued), status_code=201)


@router.post(
    "/clients/{client_id}/revoke",
    response_model=RevokedClientOut,
    responses=problems(404, 408, 413, 415),
)
@inject
async def revoke_client_keys(client_id: str, clients: Clients) -> JSONResponse:
    """Every key of the client stops working: at once on the process that answers,
    on every other within `BANKING_API_KEY_CACHE_TTL` seconds (default 5). A later
    rotation issues a new key. Revoking again changes nothing."""
    revoked = await clients.revoke_keys(RevokeApiKeys(path_id(client_id)))
    return JSONResponse(render.revoked_client(revoked))
