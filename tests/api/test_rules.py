"""Every row of docs/api.md's rules table over HTTP, and which row wins when several apply.

Each refusal leaves every balance, version, status and entry untouched.
"""

from __future__ import annotations

from typing import Any

import httpx
from dependency_injector import providers

from domain.errors import ConcurrencyConflictError
from interfaces.container import Container
from tests.api.helpers import (
    Account,
    Headers,
    assert_problem,
    funded_account,
    new_client,
    open_account,
    transfer_body,
    unchanged,
    unknown_id,
)


async def refused(
    api: httpx.AsyncClient,
    owner: Headers,
    body: dict[str, Any],
    status: int,
    code: str,
    *accounts: Account,
) -> None:
    async with unchanged(api, *accounts):
        response = await api.post("/v1/transfers", json=body, headers=owner)
    assert_problem(response, status, code)


async def set_status(api: httpx.AsyncClient, account: Account, status: str) -> None:
    action = {"frozen": "freeze", "closed": "close"}[status]
    response = await api.post(f"/v1/accounts/{account.id}/{action}", headers=account.owner)
    assert response.json()["status"] == status, response.text


async def test_a_transfer_from_an_unknown_account_is_404_account_not_found(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    destination = await funded_account(api, owner, 10)
    body = transfer_body(unknown_id(), destination, 5)
    await refused(api, owner, body, 404, "account_not_found", destination)


async def test_a_transfer_to_an_unknown_account_is_404_account_not_found(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10)
    body = transfer_body(source, unknown_id(), 5)
    await refused(api, owner, body, 404, "account_not_found", source)


async def test_a_transfer_to_the_same_account_is_422_same_account(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)
    body = transfer_body(account, account, 5)
    await refused(api, owner, body, 422, "same_account", account)


async def test_a_transfer_touching_a_frozen_or_closed_account_is_422_account_not_active(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for side in ["source", "destination"]:
        for status in ["frozen", "closed"]:
            funds = 0 if (side, status) == ("source", "closed") else 10
            source = await funded_account(api, owner, funds)
            destination = await open_account(api, owner)
            await set_status(api, source if side == "source" else destination, status)
            body = transfer_body(source, destination, 5)
            await refused(api, owner, body, 422, "account_not_active", source, destination)


async def test_a_currency_that_differs_from_either_account_is_422_currency_mismatch(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for source_currency, destination_currency in [("EUR", "USD"), ("USD", "EUR")]:
        source = await funded_account(api, owner, 10, source_currency)
        destination = await open_account(api, owner, destination_currency)
        body = transfer_body(source, destination, 5)  # in USD
        await refused(api, owner, body, 422, "currency_mismatch", source, destination)


async def test_a_transfer_beyond_the_balance_is_422_insufficient_funds(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10)
    destination = await open_account(api, owner)
    body = transfer_body(source, destination, 11)
    await refused(api, owner, body, 422, "insufficient_funds", source, destination)


async def test_a_transfer_of_the_whole_balance_is_allowed(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10)
    destination = await open_account(api, owner)

    response = await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 10), headers=owner
    )

    assert response.status_code == 201
    assert response.json()["source_balance_after"] == 0


async def test_a_transfer_from_another_clients_account_is_404_even_when_all_else_is_wrong(
    api: httpx.AsyncClient,
) -> None:
    owner, thief = await new_client(api), await new_client(api, "thief")
    victim = await funded_account(api, owner, 10)
    await set_status(api, victim, "frozen")
    body = transfer_body(victim, victim, 10**15)  # same account, frozen, no funds
    await refused(api, thief, body, 404, "account_not_found", victim)


async def test_an_unknown_destination_wins_over_same_currency_and_funds_problems(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10, "EUR")
    await set_status(api, source, "frozen")
    body = transfer_body(source, unknown_id(), 50)
    await refused(api, owner, body, 404, "account_not_found", source)


async def test_same_account_wins_over_a_frozen_account_and_the_currency(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10, "EUR")
    await set_status(api, account, "frozen")
    body = transfer_body(account, account, 50)
    await refused(api, owner, body, 422, "same_account", account)


async def test_an_inactive_account_wins_over_the_currency_and_the_funds(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10, "EUR")
    destination = await open_account(api, owner, "JPY")
    await set_status(api, destination, "frozen")
    body = transfer_body(source, destination, 50)
    await refused(api, owner, body, 422, "account_not_active", source, destination)


async def test_a_currency_mismatch_wins_over_insufficient_funds(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    source = await open_account(api, owner, "EUR")
    destination = await open_account(api, owner, "EUR")
    body = transfer_body(source, destination, 50)  # USD, and no money either
    await refused(api, owner, body, 422, "currency_mismatch", source, destination)


async def test_an_invalid_body_wins_over_every_rule(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    body = transfer_body(unknown_id(), unknown_id(), 0)
    await refused(api, owner, body, 422, "validation_error")


async def test_money_cannot_enter_or_leave_a_frozen_or_closed_account(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for status in ["frozen", "closed"]:
        account = await funded_account(api, owner, 0 if status == "closed" else 10)
        await set_status(api, account, status)
        async with unchanged(api, account):
            for movement in ["deposits", "withdrawals"]:
                response = await api.post(
                    f"/v1/accounts/{account.id}/{movement}",
                    json={"amount": 5, "currency": "USD"},
                    headers=owner,
                )
                assert_problem(response, 422, "account_not_active")


async def test_a_deposit_or_withdrawal_in_another_currency_is_422_currency_mismatch(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)

    async with unchanged(api, account):
        for movement in ["deposits", "withdrawals"]:
            response = await api.post(
                f"/v1/accounts/{account.id}/{movement}",
                json={"amount": 5, "currency": "EUR"},
                headers=owner,
            )
            assert_problem(response, 422, "currency_mismatch")


async def test_a_withdrawal_beyond_the_balance_is_422_insufficient_funds(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 10)

    async with unchanged(api, account):
        response = await api.post(
            f"/v1/accounts/{account.id}/withdrawals",
            json={"amount": 11, "currency": "USD"},
            headers=owner,
        )

    assert_problem(response, 422, "insufficient_funds")


async def test_money_movements_on_an_unknown_account_are_404(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    for movement in ["deposits", "withdrawals"]:
        response = await api.post(
            f"/v1/accounts/{unknown_id()}/{movement}",
            json={"amount": 5, "currency": "USD"},
            headers=owner,
        )
        assert_problem(response, 404, "account_not_found")


class Contended:
    """A payment service whose retry budget is always spent."""

    async def transfer(self, command: object) -> None:
        raise ConcurrencyConflictError()


async def test_contention_that_does_not_clear_is_503_concurrency_conflict_with_retry_after(
    api: httpx.AsyncClient, container: Container
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 10)
    destination = await open_account(api, owner)

    with container.payments.override(providers.Object(Contended())):
        response = await api.post(
            "/v1/transfers", json=transfer_body(source, destination, 5), headers=owner
        )

    assert_problem(response, 503, "concurrency_conflict")
    assert response.headers["retry-after"] == "1"
