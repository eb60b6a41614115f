"""``/v1/accounts``: open, read, list, freeze, unfreeze, close, fund, withdraw, statement."""

from typing import Annotated

from dependency_injector.wiring import Provide, inject
from fastapi import APIRouter, Depends, Header, Query
from fastapi.responses import JSONResponse

from application.accounts import AccountService
from application.commands import (
    CloseAccount,
    Deposit,
    FreezeAccount,
    GetAccount,
    ListAccounts,
    ListEntries,
    OpenAccount,
    UnfreezeAccount,
    Withdraw,
)
from application.ledger import LedgerQueries
from application.payments import PaymentService
from application.views import ClientIdentity
from domain.errors import AccountNotFoundError
from domain.pagination import PageRequest
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import ClientRoute, current_client
from interfaces.http.responses import ERRORS, created, path_id
from interfaces.http.schemas import (
    AccountOut,
    AccountPage,
    EntryPage,
    MoveMoneyBody,
    OpenAccountBody,
    TransferOut,
)

router = APIRouter(
    prefix="/v1/accounts", tags=["accounts"], route_class=ClientRoute, responses=ERRORS
)

Client = Annotated[ClientIdentity, Depends(current_client)]
Accounts = Annotated[AccountService, Depends(Provide[Container.accounts])]
Payments = Annotated[PaymentService, Depends(Provide[Container.payments])]
Ledger = Annotated[LedgerQueries, Depends(Provide[Container.ledger])]
IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key")]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.post("", status_code=201, response_model=AccountOut)
@inject
async def open_account(
    body: OpenAccountBody,
    client: Client,
    accounts: Accounts,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = OpenAccount(client.id, body.currency, body.reference, idempotency_key)
    result = await accounts.open(command)
    return created(result, render.account(result.value))


@router.get("", response_model=AccountPage)
@inject
async def list_accounts(
    client: Client, accounts: Accounts, limit: Limit = 50, after: str | None = None
) -> JSONResponse:
    page = await accounts.list(ListAccounts(client.id, PageRequest(limit, after)))
    return JSONResponse(render.page(page, render.account))


@router.get("/{account_id}", response_model=AccountOut)
@inject
async def get_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    view = await accounts.get(GetAccount(client.id, path_id(account_id, AccountNotFoundError)))
    return JSONResponse(render.account(view))


@router.post("/{account_id}/freeze", response_model=AccountOut)
@inject
async def freeze_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = FreezeAccount(client.id, path_id(account_id, AccountNotFoundError))
    return JSONResponse(render.account(await accounts.freeze(command)))


@router.post("/{account_id}/unfreeze", response_model=AccountOut)
@inject
async def unfreeze_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = UnfreezeAccount(client.id, path_id(account_id, AccountNotFoundError))
    return JSONResponse(render.account(await accounts.unfreeze(command)))


@router.post("/{account_id}/close", response_model=AccountOut)
@inject
async def close_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = CloseAccount(client.id, path_id(account_id, AccountNotFoundError))
    return JSONResponse(render.account(await accounts.close(command)))


@router.post("/{account_id}/deposits", status_code=201, response_model=TransferOut)
@inject
async def deposit(
    account_id: str,
    body: MoveMoneyBody,
    client: Client,
    payments: Payments,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = Deposit(
        client.id,
        path_id(account_id, AccountNotFoundError),
        body.amount,
        body.currency,
        body.description,
        idempotency_key,
    )
    result = await payments.deposit(command)
    return created(result, render.transfer(result.value))


@router.post("/{account_id}/withdrawals", status_code=201, response_model=TransferOut)
@inject
async def withdraw(
    account_id: str,
    body: MoveMoneyBody,
    client: Client,
    payments: Payments,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = Withdraw(
        client.id,
        path_id(account_id, AccountNotFoundError),
        body.amount,
        body.currency,
        body.description,
        idempotency_key,
    )
    result = await payments.withdraw(command)
    return created(result, render.transfer(result.value))


@router.get("/{account_id}/entries", response_model=EntryPage)
@inject
async def list_entries(
    account_id: str, client: Client, ledger: Ledger, limit: Limit = 50, after: str | None = None
) -> JSONResponse:
    query = ListEntries(
        client.id, path_id(account_id, AccountNotFoundError), PageRequest(limit, after)
    )
    return JSONResponse(render.page(await ledger.list_entries(query), render.entry))
