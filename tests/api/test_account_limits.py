"""Overdraft limits, metadata and ``PATCH /v1/accounts/{id}``: what an account shows
(``available = balance - held + overdraft_limit``), what it lets through, and how a
change counts in ``version``."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    Account,
    assert_problem,
    funded_account,
    new_client,
    open_account,
    place_hold,
    read,
    transfer_body,
    unchanged,
    unknown_id,
    with_key,
)


async def patch(api: httpx.AsyncClient, account: Account, body: Any) -> httpx.Response:
    return await api.patch(f"/v1/accounts/{account.id}", json=body, headers=account.owner)


async def withdraw(api: httpx.AsyncClient, account: Account, amount: int) -> httpx.Response:
    return await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": amount, "currency": "USD"},
        headers=account.owner,
    )


async def test_an_account_opens_with_its_limit_and_metadata(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)

    response = await api.post(
        "/v1/accounts",
        json={"currency": "USD", "overdraft_limit": 5000, "metadata": {"segment": "retail"}},
        headers=owner,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert body == {
        **body,
        "balance": 0,
        "held": 0,
        "available": 5000,
        "overdraft_limit": 5000,
        "metadata": {"segment": "retail"},
        "version": 1,
    }
    plain = await open_account(api, owner, overdraft_limit=None, metadata=None)
    assert (plain.body["overdraft_limit"], plain.body["metadata"]) == (0, {})


async def test_available_is_balance_minus_held_plus_the_limit(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, overdraft_limit=1000)
    payee = await open_account(api, owner)
    await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 700, "currency": "USD"},
        headers=owner,
    )
    await place_hold(api, account, payee, 1200)

    body = await read(api, account)

    assert (body["balance"], body["held"], body["overdraft_limit"]) == (700, 1200, 1000)
    assert body["available"] == 700 - 1200 + 1000


async def test_a_debit_of_exactly_available_goes_through_and_one_more_does_not(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, overdraft_limit=1000)
    payee = await open_account(api, owner)
    await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 500, "currency": "USD"},
        headers=owner,
    )

    moved = await api.post("/v1/transfers", json=transfer_body(account, payee, 900), headers=owner)
    assert moved.status_code == 201, moved.text
    assert moved.json()["source_balance_after"] == -400
    async with unchanged(api, account, payee):
        assert_problem(await withdraw(api, account, 601), 422, "insufficient_funds")
        response = await api.post(
            "/v1/transfers", json=transfer_body(account, payee, 601), headers=owner
        )
        assert_problem(response, 422, "insufficient_funds")
    emptied = await withdraw(api, account, 600)
    assert emptied.status_code == 201, emptied.text
    body = await read(api, account)
    assert (body["balance"], body["available"]) == (-1000, 0)
    async with unchanged(api, account):
        assert_problem(await withdraw(api, account, 1), 422, "insufficient_funds")


async def test_a_patch_sets_the_limit_and_counts_one_version(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 300)
    before = await read(api, account)

    response = await patch(api, account, {"overdraft_limit": 2000})

    assert response.status_code == 200, response.text
    body = response.json()
    assert body == {
        **before,
        "overdraft_limit": 2000,
        "available": 2300,
        "version": before["version"] + 1,
    }
    assert await read(api, account) == body
    both = await patch(api, account, {"overdraft_limit": 10, "metadata": {"a": "1"}})
    assert both.json()["version"] == body["version"] + 1
    assert (both.json()["overdraft_limit"], both.json()["metadata"]) == (10, {"a": "1"})


async def test_metadata_merges_a_text_sets_and_null_removes(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, metadata={"keep": "k", "change": "old", "drop": "d"})

    response = await patch(
        api, account, {"metadata": {"change": "new", "drop": None, "add": "", "absent": None}}
    )

    assert response.status_code == 200, response.text
    assert response.json()["metadata"] == {"keep": "k", "change": "new", "add": ""}
    assert response.json()["version"] == 2
    assert (await read(api, account))["metadata"] == {"keep": "k", "change": "new", "add": ""}


async def test_a_patch_that_changes_nothing_keeps_the_version(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, overdraft_limit=100, metadata={"a": "1"})

    no_changes: list[dict[str, Any]] = [
        {"overdraft_limit": 100},
        {"metadata": {"a": "1"}},
        {"metadata": {"missing": None}},
        {"metadata": {}},
        {"overdraft_limit": 100, "metadata": {"a": "1", "gone": None}},
    ]
    async with unchanged(api, account):
        for body in no_changes:
            response = await patch(api, account, body)
            assert response.status_code == 200, (body, response.text)
            assert response.json() == account.body


async def test_a_limit_may_be_lowered_below_what_is_in_use(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, overdraft_limit=1000)
    payee = await open_account(api, owner)
    assert (await withdraw(api, account, 800)).status_code == 201

    response = await patch(api, account, {"overdraft_limit": 500})

    assert response.status_code == 200, response.text
    assert (response.json()["balance"], response.json()["available"]) == (-800, -300)
    async with unchanged(api, account, payee):
        assert_problem(await withdraw(api, account, 1), 422, "insufficient_funds")
        hold = await api.post("/v1/holds", json=transfer_body(account, payee, 1), headers=owner)
        assert_problem(hold, 422, "insufficient_funds")
    await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 301, "currency": "USD"},
        headers=owner,
    )
    assert (await withdraw(api, account, 1)).status_code == 201
    assert (await read(api, account))["available"] == 0


async def test_a_closed_account_cannot_be_patched_but_a_frozen_one_can(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    closed = await open_account(api, owner)
    frozen = await open_account(api, owner)
    assert (await api.post(f"/v1/accounts/{closed.id}/close", headers=owner)).status_code == 200
    assert (await api.post(f"/v1/accounts/{frozen.id}/freeze", headers=owner)).status_code == 200

    async with unchanged(api, closed):
        for body in ({"overdraft_limit": 5}, {"metadata": {"a": "b"}}, {"overdraft_limit": 0}):
            assert_problem(await patch(api, closed, body), 422, "account_not_active")
    response = await patch(api, frozen, {"overdraft_limit": 5})
    assert response.status_code == 200, response.text
    assert (response.json()["status"], response.json()["overdraft_limit"]) == ("frozen", 5)


BAD_PATCHES: list[Any] = [
    {},
    {"overdraft_limit": None},
    {"metadata": None},
    {"overdraft_limit": None, "metadata": None},
    {"overdraft_limit": -1},
    {"overdraft_limit": 10**15 + 1},
    {"overdraft_limit": 1.5},
    {"overdraft_limit": 10.0},
    {"overdraft_limit": "5"},
    {"overdraft_limit": True},
    {"metadata": {f"k{index}": "v" for index in range(51)}},
    {"metadata": {"k" * 41: "v"}},
    {"metadata": {"a key": "v"}},
    {"metadata": {"k": "v" * 501}},
    {"metadata": {"k": "nul\u0000"}},
    {"metadata": {"k": 1}},
    {"metadata": ["k"]},
    {"overdraft_limit": 5, "status": "closed"},
    [],
]


async def test_an_invalid_patch_is_a_validation_error_and_changes_nothing(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, overdraft_limit=7, metadata={"a": "1"})

    async with unchanged(api, account):
        for body in BAD_PATCHES:
            response = await patch(api, account, body)
            assert_problem(response, 422, "validation_error")
        bare = await api.patch(f"/v1/accounts/{account.id}", headers=owner)
        assert_problem(bare, 422, "validation_error")


async def test_another_clients_account_cannot_be_patched(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    account = await open_account(api, owner)

    async with unchanged(api, account):
        for account_id in (account.id, unknown_id(), "not-an-id"):
            response = await api.patch(
                f"/v1/accounts/{account_id}", json={"overdraft_limit": 10**15}, headers=stranger
            )
            assert_problem(response, 404, "account_not_found")


async def test_a_patch_ignores_an_idempotency_key(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)

    for limit in (10, 20):
        response = await api.patch(
            f"/v1/accounts/{account.id}",
            json={"overdraft_limit": limit},
            headers=with_key(owner, "\u0001 malformed"),
        )
        assert response.status_code == 200, response.text
        assert "idempotent-replayed" not in response.headers
    assert (await read(api, account))["overdraft_limit"] == 20


BAD_OPENINGS: list[dict[str, Any]] = [
    {"overdraft_limit": -1},
    {"overdraft_limit": 10**15 + 1},
    {"overdraft_limit": 1.5},
    {"overdraft_limit": "100"},
    {"overdraft_limit": False},
    {"metadata": {"k": None}},
    {"metadata": {f"k{index}": "v" for index in range(51)}},
    {"metadata": {"k" * 41: "v"}},
    {"metadata": {"a b": "v"}},
    {"metadata": {"k": "v" * 501}},
    {"metadata": {"k": "\u0000"}},
]


async def test_an_invalid_limit_or_metadata_opens_nothing(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)

    for fields in BAD_OPENINGS:
        response = await api.post("/v1/accounts", json={"currency": "USD", **fields}, headers=owner)
        assert_problem(response, 422, "validation_error")
    assert (await api.get("/v1/accounts", headers=owner)).json()["data"] == []
    widest = await open_account(api, owner, overdraft_limit=10**15, metadata={"k" * 40: "v" * 500})
    assert widest.body["available"] == 10**15


async def test_movements_carry_their_metadata(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    payee = await open_account(api, owner)

    requests = [
        (f"/v1/accounts/{account.id}/deposits", {"amount": 900, "currency": "USD"}),
        (f"/v1/accounts/{account.id}/withdrawals", {"amount": 100, "currency": "USD"}),
        ("/v1/transfers", transfer_body(account, payee, 100)),
    ]
    for index, (url, body) in enumerate(requests):
        response = await api.post(url, json={**body, "metadata": {"n": str(index)}}, headers=owner)
        assert response.status_code == 201, response.text
        transfer = response.json()
        assert (transfer["metadata"], transfer["hold_id"]) == ({"n": str(index)}, None)
        read_back = await api.get(f"/v1/transfers/{transfer['id']}", headers=owner)
        assert read_back.json() == transfer
        async with unchanged(api, account, payee):
            bad = await api.post(url, json={**body, "metadata": {"n": None}}, headers=owner)
            assert_problem(bad, 422, "validation_error")


async def test_metadata_is_part_of_the_same_request(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    url = f"/v1/accounts/{account.id}/deposits"
    headers = with_key(owner, "deposit-with-metadata")

    first = await api.post(url, json={"amount": 5, "currency": "USD"}, headers=headers)
    sames: list[dict[str, Any]] = [{"metadata": None}, {"metadata": {}}]
    for same in sames:
        again = await api.post(url, json={"amount": 5, "currency": "USD", **same}, headers=headers)
        assert (again.status_code, again.json()) == (201, first.json())
        assert again.headers["idempotent-replayed"] == "true"
    other = await api.post(
        url, json={"amount": 5, "currency": "USD", "metadata": {"a": "b"}}, headers=headers
    )

    assert_problem(other, 422, "idempotency_key_reused")
    assert (await read(api, account))["balance"] == 5
    opened = await api.post(
        "/v1/accounts",
        json={"currency": "USD", "overdraft_limit": 3},
        headers=with_key(owner, "open-1"),
    )
    assert opened.status_code == 201, opened.text
    for changed in ({"overdraft_limit": 4}, {"overdraft_limit": 3, "metadata": {"a": "b"}}):
        response = await api.post(
            "/v1/accounts", json={"currency": "USD", **changed}, headers=with_key(owner, "open-1")
        )
        assert_problem(response, 422, "idempotency_key_reused")
