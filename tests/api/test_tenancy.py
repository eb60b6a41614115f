"""Tenancy: another client's account answers exactly like one that does not exist, except
that anyone may pay into it."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    Account,
    Headers,
    assert_problem,
    balance,
    deposit,
    funded_account,
    new_client,
    open_account,
    transfer_body,
    unchanged,
    unknown_id,
)

MOVE = {"amount": 5, "currency": "USD"}


def attempts(theirs: Account, mine: Account) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every operation on ``theirs`` (method, path, body), with ``mine`` where a second
    account is needed."""
    return [
        ("GET", f"/v1/accounts/{theirs.id}", None),
        ("GET", f"/v1/accounts/{theirs.id}/entries", None),
        ("POST", f"/v1/accounts/{theirs.id}/freeze", None),
        ("POST", f"/v1/accounts/{theirs.id}/unfreeze", None),
        ("POST", f"/v1/accounts/{theirs.id}/close", None),
        ("POST", f"/v1/accounts/{theirs.id}/deposits", MOVE),
        ("POST", f"/v1/accounts/{theirs.id}/withdrawals", MOVE),
        ("POST", "/v1/transfers", transfer_body(theirs, mine, 5)),
    ]


async def tenants(api: httpx.AsyncClient) -> tuple[Headers, Account, Account]:
    """A caller with a funded account, and another client's funded account."""
    me, them = await new_client(api, "me"), await new_client(api, "them")
    return me, await funded_account(api, me, 100), await funded_account(api, them, 100)


async def test_every_operation_on_another_clients_account_is_the_404_of_an_unknown_one(
    api: httpx.AsyncClient,
) -> None:
    me, mine, theirs = await tenants(api)
    nobody = Account(unknown_id(), me, {"currency": "USD"})

    async with unchanged(api, mine, theirs):
        for (method, path, body), (_, unknown_path, unknown_body) in zip(
            attempts(theirs, mine), attempts(nobody, mine), strict=True
        ):
            response = await api.request(method, path, json=body, headers=me)
            unknown = await api.request(method, unknown_path, json=unknown_body, headers=me)
            assert_problem(response, 404, "account_not_found")
            assert response.json() == unknown.json(), (method, path)
            assert theirs.id not in response.text


async def test_a_transfer_between_two_other_accounts_is_the_404_of_an_unknown_transfer(
    api: httpx.AsyncClient,
) -> None:
    me, them = await new_client(api, "me"), await new_client(api, "them")
    source = await funded_account(api, them, 100)
    destination = await open_account(api, them)
    posted = await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 10), headers=them
    )
    theirs = await deposit(api, source, 1)

    for transfer_id in (posted.json()["id"], theirs["id"]):
        response = await api.get(f"/v1/transfers/{transfer_id}", headers=me)
        unknown = await api.get(f"/v1/transfers/{unknown_id()}", headers=me)
        assert_problem(response, 404, "transfer_not_found")
        assert response.json() == unknown.json()


async def test_another_clients_accounts_never_appear_in_the_callers_list(
    api: httpx.AsyncClient,
) -> None:
    me, mine, _ = await tenants(api)

    page = (await api.get("/v1/accounts", headers=me)).json()

    assert [account["id"] for account in page["data"]] == [mine.id]


async def test_paying_into_another_clients_account_works_without_revealing_its_balance(
    api: httpx.AsyncClient,
) -> None:
    me, mine, theirs = await tenants(api)

    response = await api.post("/v1/transfers", json=transfer_body(mine, theirs, 30), headers=me)

    assert response.status_code == 201, response.text
    assert response.json()["source_balance_after"] == 70
    assert response.json()["destination_balance_after"] is None
    fetched = await api.get(f"/v1/transfers/{response.json()['id']}", headers=me)
    assert fetched.json() == response.json()
    assert await balance(api, theirs) == 130
    assert await balance(api, mine) == 70


async def test_paying_into_another_clients_frozen_or_closed_account_is_account_not_active(
    api: httpx.AsyncClient,
) -> None:
    me, them = await new_client(api, "me"), await new_client(api, "them")
    mine = await funded_account(api, me, 100)
    for action in ["freeze", "close"]:
        theirs = await open_account(api, them)
        await api.post(f"/v1/accounts/{theirs.id}/{action}", headers=them)

        async with unchanged(api, mine, theirs):
            response = await api.post(
                "/v1/transfers", json=transfer_body(mine, theirs, 30), headers=me
            )

        assert_problem(response, 422, "account_not_active")
        assert theirs.id not in response.text


async def test_paying_into_another_clients_account_of_another_currency_is_currency_mismatch(
    api: httpx.AsyncClient,
) -> None:
    me, them = await new_client(api, "me"), await new_client(api, "them")
    mine = await funded_account(api, me, 100)
    theirs = await open_account(api, them, "EUR")

    async with unchanged(api, mine, theirs):
        response = await api.post("/v1/transfers", json=transfer_body(mine, theirs, 30), headers=me)

    assert_problem(response, 422, "currency_mismatch")


async def test_the_payee_sees_the_incoming_entry_and_the_payer_sees_only_its_own(
    api: httpx.AsyncClient,
) -> None:
    me, mine, theirs = await tenants(api)
    posted = await api.post("/v1/transfers", json=transfer_body(mine, theirs, 30), headers=me)

    payee_lines = (await api.get(f"/v1/accounts/{theirs.id}/entries", headers=theirs.owner)).json()
    payer_lines = (await api.get(f"/v1/accounts/{mine.id}/entries", headers=me)).json()

    assert payee_lines["data"][0]["transfer_id"] == posted.json()["id"]
    assert (payee_lines["data"][0]["amount"], payee_lines["data"][0]["balance_after"]) == (30, 130)
    assert {line["account_id"] for line in payer_lines["data"]} == {mine.id}
