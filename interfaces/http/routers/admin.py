"""``/v1/admin``: operator routes, behind the admin token."""

from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from application.clients import ClientService
from application.commands import CreateApiClient
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import AdminRoute
from interfaces.http.provide import Provide
from interfaces.http.responses import problems
from interfaces.http.schemas import CreateClientBody, NewClientOut

router = APIRouter(
    prefix="/v1/admin",
    tags=["admin"],
    route_class=AdminRoute,
    responses=problems(401, 403, 503),
)


@router.post(
    "/clients",
    status_code=201,
    response_model=NewClientOut,
    responses=problems(408, 413, 415, 422),
)
@inject
async def create_client(
    body: CreateClientBody,
    clients: Annotated[ClientService, Depends(Provide[Container.clients])],
) -> JSONResponse:
    created = await clients.create(CreateApiClient(body.name))
    return JSONResponse(render.new_client(created), status_code=201)
