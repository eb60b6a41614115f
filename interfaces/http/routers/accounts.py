"""``/v1/accounts``: open, read, list, amend, freeze, unfreeze, close, fund, withdraw,
statement, balance."""

from typing import Annotated

from dependency_injector.wiring import inject
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from application.accounts import AccountService
from application.commands import (
    AmendAccount,
    CloseAccount,
    Deposit,
    FreezeAccount,
    GetAccount,
    GetBalance,
    ListAccounts,
    ListEntries,
    OpenAccount,
    UnfreezeAccount,
    Withdraw,
)
from application.ledger import LedgerQueries
from application.payments import PaymentService
from application.views import ClientIdentity
from domain.pagination import MAX_PAGE_SIZE, PageRequest
from interfaces.container import Container
from interfaces.http import render
from interfaces.http.guards import ClientRoute, QueryFamily, current_client
from interfaces.http.provide import Provide
from interfaces.http.responses import (
    IdempotencyKey,
    created,
    instant,
    metadata_filter,
    path_id,
    problems,
    replayable,
)
from interfaces.http.schemas import (
    AccountOut,
    AccountPage,
    AmendAccountBody,
    BalanceOut,
    EntryPage,
    MoveMoneyBody,
    OpenAccountBody,
    TransferOut,
)
from interfaces.observability import reached_use_case

router = APIRouter(
    prefix="/v1/accounts",
    tags=["accounts"],
    route_class=ClientRoute,
    responses=problems(401, 503),
)
# A body sent to a route that takes none is still size- and type-checked.
STATUS_CHANGE = problems(404, 408, 413, 415, 422)
MOVE_MONEY = replayable(404, 408, 409, 413, 415, 422)

Client = Annotated[ClientIdentity, Depends(current_client)]
Accounts = Annotated[AccountService, Depends(Provide[Container.accounts])]
Payments = Annotated[PaymentService, Depends(Provide[Container.payments])]
Ledger = Annotated[LedgerQueries, Depends(Provide[Container.ledger])]
Limit = Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)]


@router.post(
    "",
    status_code=201,
    response_model=AccountOut,
    responses=replayable(408, 409, 413, 415, 422),
)
@inject
async def open_account(
    body: OpenAccountBody,
    client: Client,
    accounts: Accounts,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    command = OpenAccount(
        client.id,
        body.currency,
        body.reference,
        idempotency_key,
        overdraft_limit=0 if body.overdraft_limit is None else body.overdraft_limit,
        metadata=body.metadata,
    )
    result = await accounts.open(command)
    return created(result, render.account(result.value))


@router.get(
    "",
    response_model=AccountPage,
    responses=problems(422),
    openapi_extra={"parameters": [metadata_filter("accounts")]},
)
@router.head("", include_in_schema=False)
@inject
async def list_accounts(
    client: Client,
    accounts: Accounts,
    metadata: Annotated[dict[str, str], Depends(QueryFamily("metadata"))],
    limit: Limit = 50,
    after: str | None = None,
) -> JSONResponse:
    """The caller's accounts, closed ones included, newest first."""
    query = ListAccounts(client.id, PageRequest(limit, after), metadata)
    page = await accounts.list(query)
    return JSONResponse(render.page(page, render.account))


@router.get("/{account_id}", response_model=AccountOut, responses=problems(404))
@router.head("/{account_id}", include_in_schema=False)
@inject
async def get_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    view = await accounts.get(GetAccount(client.id, path_id(account_id)))
    return JSONResponse(render.account(view))


@router.patch("/{account_id}", response_model=AccountOut, responses=STATUS_CHANGE)
@inject
async def amend_account(
    account_id: str, body: AmendAccountBody, client: Client, accounts: Accounts
) -> JSONResponse:
    """Set the overdraft limit and merge metadata (a `null` value removes its key), as
    one change; at least one of the two. A change that changes nothing keeps `version`."""
    command = AmendAccount(client.id, path_id(account_id), body.overdraft_limit, body.metadata)
    return JSONResponse(render.account(await accounts.amend(command)))


@router.post("/{account_id}/freeze", response_model=AccountOut, responses=STATUS_CHANGE)
@inject
async def freeze_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = FreezeAccount(client.id, path_id(account_id))
    return JSONResponse(render.account(await accounts.freeze(command)))


@router.post("/{account_id}/unfreeze", response_model=AccountOut, responses=STATUS_CHANGE)
@inject
async def unfreeze_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = UnfreezeAccount(client.id, path_id(account_id))
    return JSONResponse(render.account(await accounts.unfreeze(command)))


@router.post("/{account_id}/close", response_model=AccountOut, responses=STATUS_CHANGE)
@inject
async def close_account(account_id: str, client: Client, accounts: Accounts) -> JSONResponse:
    command = CloseAccount(client.id, path_id(account_id))
    return JSONResponse(render.account(await accounts.close(command)))


@router.post(
    "/{account_id}/deposits", status_code=201, response_model=TransferOut, responses=MOVE_MONEY
)
@inject
async def deposit(
    request: Request,
    account_id: str,
    body: MoveMoneyBody,
    client: Client,
    payments: Payments,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    reached_use_case(request.scope, "deposit")
    command = Deposit(
        client.id,
        path_id(account_id),
        body.amount,
        body.currency,
        body.description,
        idempotency_key,
        body.metadata,
    )
    result = await payments.deposit(command)
    return created(result, render.transfer(result.value))


@router.post(
    "/{account_id}/withdrawals", status_code=201, response_model=TransferOut, responses=MOVE_MONEY
)
@inject
async def withdraw(
    request: Request,
    account_id: str,
    body: MoveMoneyBody,
    client: Client,
    payments: Payments,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    reached_use_case(request.scope, "withdrawal")
    command = Withdraw(
        client.id,
        path_id(account_id),
        body.amount,
        body.currency,
        body.description,
        idempotency_key,
        body.metadata,
    )
    result = await payments.withdraw(command)
    return created(result, render.transfer(result.value))


@router.get("/{account_id}/entries", response_model=EntryPage, responses=problems(404, 422))
@router.head("/{account_id}/entries", include_in_schema=False)
@inject
async def list_entries(
    account_id: str, client: Client, ledger: Ledger, limit: Limit = 50, after: str | None = None
) -> JSONResponse:
    query = ListEntries(client.id, path_id(account_id), PageRequest(limit, after))
    return JSONResponse(render.page(await ledger.list_entries(query), render.entry))


@router.get("/{account_id}/balance", response_model=BalanceOut, responses=problems(404, 422))
@router.head("/{account_id}/balance", include_in_schema=False)
@inject
async def get_balance(
    account_id: str,
    client: Client,
    accounts: Accounts,
    as_of: Annotated[
        str | None,
        Query(
            description="An RFC 3339 timestamp with its offset, not in the future: the"
            " balance right after the account's last entry created at or before it.",
            examples=["2026-11-24T12:00:00Z"],
        ),
    ] = None,
) -> JSONResponse:
    moment = None if as_of is None else instant(as_of, "as_of")
    query = GetBalance(client.id, path_id(account_id), moment)
    return JSONResponse(render.balance(await accounts.balance(query)))
