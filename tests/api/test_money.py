"""Deposits, withdrawals, transfers and the statement of entries they write."""

from __future__ import annotations

import itertools
from typing import Any

import httpx

from tests.api.helpers import (
    CANONICAL_UUID,
    RFC3339_UTC,
    assert_problem,
    balance,
    deposit,
    entries,
    funded_account,
    new_client,
    open_account,
    read,
    transfer_body,
    unknown_id,
)

TRANSFER_FIELDS = {
    "id",
    "kind",
    "source_account_id",
    "destination_account_id",
    "amount",
    "currency",
    "description",
    "status",
    "source_balance_after",
    "destination_balance_after",
    "hold_id",
    "batch_id",
    "metadata",
    "created_at",
}
ENTRY_FIELDS = {"id", "transfer_id", "account_id", "amount", "balance_after", "created_at"}


async def test_a_deposit_answers_201_with_no_source_and_the_balance_after(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)

    response = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 2500, "currency": "USD", "description": "top-up"},
        headers=owner,
    )

    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert set(body) == TRANSFER_FIELDS
    assert CANONICAL_UUID.fullmatch(body["id"])
    assert RFC3339_UTC.fullmatch(body["created_at"])
    assert body == {
        **body,
        "kind": "deposit",
        "source_account_id": None,
        "destination_account_id": account.id,
        "amount": 2500,
        "currency": "USD",
        "description": "top-up",
        "status": "posted",
        "source_balance_after": None,
        "destination_balance_after": 2500,
        "hold_id": None,
        "batch_id": None,
        "metadata": {},
    }
    assert (await read(api, account))["balance"] == 2500


async def test_a_withdrawal_answers_201_with_no_destination_and_the_balance_after(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 1000)

    response = await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": 300, "currency": "USD"},
        headers=owner,
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == TRANSFER_FIELDS
    assert body == {
        **body,
        "kind": "withdrawal",
        "source_account_id": account.id,
        "destination_account_id": None,
        "amount": 300,
        "description": None,
        "status": "posted",
        "source_balance_after": 700,
        "destination_balance_after": None,
        "hold_id": None,
        "batch_id": None,
        "metadata": {},
    }
    assert await balance(api, account) == 700


async def test_a_transfer_between_own_accounts_shows_both_balances_after(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 1000)
    destination = await funded_account(api, owner, 5)

    response = await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 1000), headers=owner
    )

    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == TRANSFER_FIELDS
    assert body == {
        **body,
        "kind": "transfer",
        "source_account_id": source.id,
        "destination_account_id": destination.id,
        "amount": 1000,
        "currency": "USD",
        "description": None,
        "status": "posted",
        "source_balance_after": 0,
        "destination_balance_after": 1005,
        "hold_id": None,
        "batch_id": None,
        "metadata": {},
    }
    assert (await balance(api, source), await balance(api, destination)) == (0, 1005)


async def test_amounts_are_integer_minor_units_of_any_currency_up_to_10_15(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    for currency, amount in [("JPY", 1), ("BHD", 1_234_567), ("USD", 10**15)]:
        account = await open_account(api, owner, currency)

        posted = await deposit(api, account, amount)

        assert (posted["amount"], posted["currency"]) == (amount, currency)
        assert await balance(api, account) == amount


async def test_a_posts_201_body_and_a_later_get_of_the_same_resource_are_identical(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await open_account(api, owner, reference="a")
    destination = await open_account(api, owner)
    posted: list[dict[str, Any]] = [
        await deposit(api, source, 900),
        (
            await api.post(
                "/v1/transfers",
                json=transfer_body(source, destination, 400, description="rent"),
                headers=owner,
            )
        ).json(),
        (
            await api.post(
                f"/v1/accounts/{destination.id}/withdrawals",
                json={"amount": 150, "currency": "USD", "description": ""},
                headers=owner,
            )
        ).json(),
    ]

    for transfer in posted:
        fetched = await api.get(f"/v1/transfers/{transfer['id']}", headers=owner)
        assert fetched.status_code == 200
        assert fetched.json() == transfer
    assert await read(api, source) != source.body  # the account moved on since
    opened = await open_account(api, owner, "BHD")
    assert await read(api, opened) == opened.body


async def test_every_movement_writes_entries_newest_first_in_an_unbroken_chain(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    other = await open_account(api, owner)
    first = await deposit(api, account, 1000)
    out = await api.post("/v1/transfers", json=transfer_body(account, other, 250), headers=owner)
    back = await api.post("/v1/transfers", json=transfer_body(other, account, 50), headers=owner)
    last = await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": 100, "currency": "USD"},
        headers=owner,
    )

    lines = await entries(api, account)

    assert [line["transfer_id"] for line in lines] == [
        last.json()["id"],
        back.json()["id"],
        out.json()["id"],
        first["id"],
    ]
    assert [line["amount"] for line in lines] == [-100, 50, -250, 1000]
    assert [line["balance_after"] for line in lines] == [700, 800, 750, 1000]
    for newer, older in itertools.pairwise(lines):
        assert newer["balance_after"] == older["balance_after"] + newer["amount"]
    assert lines[0]["balance_after"] == await balance(api, account)
    for line in lines:
        assert set(line) == ENTRY_FIELDS
        assert line["account_id"] == account.id
        assert CANONICAL_UUID.fullmatch(line["id"])
        assert RFC3339_UTC.fullmatch(line["created_at"])
    assert [line["amount"] for line in await entries(api, other)] == [-50, 250]


async def test_a_transfer_writes_exactly_two_entries_that_cancel_out(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    source = await funded_account(api, owner, 80)
    destination = await open_account(api, owner)
    posted = await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 30), headers=owner
    )

    legs = [
        line
        for account in (source, destination)
        for line in await entries(api, account)
        if line["transfer_id"] == posted.json()["id"]
    ]

    assert sorted(line["amount"] for line in legs) == [-30, 30]
    assert legs[0]["created_at"] == legs[1]["created_at"] == posted.json()["created_at"]


async def test_the_owner_of_the_receiving_side_sees_the_transfer_with_only_its_balance(
    api: httpx.AsyncClient,
) -> None:
    payer, payee = await new_client(api, "payer"), await new_client(api, "payee")
    source = await funded_account(api, payer, 500)
    destination = await funded_account(api, payee, 20)
    posted = await api.post(
        "/v1/transfers", json=transfer_body(source, destination, 120), headers=payer
    )

    seen_by_payee = await api.get(f"/v1/transfers/{posted.json()['id']}", headers=payee)

    assert seen_by_payee.status_code == 200
    assert seen_by_payee.json() == {
        **posted.json(),
        "source_balance_after": None,
        "destination_balance_after": 140,
    }


async def test_an_unknown_or_malformed_transfer_id_is_404_transfer_not_found(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    unknown = await api.get(f"/v1/transfers/{unknown_id()}", headers=owner)
    malformed = await api.get("/v1/transfers/12345", headers=owner)

    assert_problem(unknown, 404, "transfer_not_found")
    assert_problem(malformed, 404, "transfer_not_found")
    assert malformed.json() == unknown.json()


async def test_an_empty_description_is_kept_and_an_absent_or_null_one_is_null(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    longest = "ü" * 256
    described = [
        await api.post(
            f"/v1/accounts/{account.id}/deposits",
            json={"amount": 1, "currency": "USD", **fields},
            headers=owner,
        )
        for fields in ({"description": longest}, {"description": ""}, {"description": None}, {})
    ]

    assert [response.status_code for response in described] == [201] * 4
    assert [response.json()["description"] for response in described] == [
        longest,
        "",
        None,
        None,
    ]


async def test_money_leaves_and_enters_only_through_the_posted_amounts(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    accounts = [await open_account(api, owner) for _ in range(3)]
    await deposit(api, accounts[0], 1000)
    moves = [(0, 1, 300), (1, 2, 100), (0, 2, 200), (2, 0, 50)]
    for source, destination, amount in moves:
        response = await api.post(
            "/v1/transfers",
            json=transfer_body(accounts[source], accounts[destination], amount),
            headers=owner,
        )
        assert response.status_code == 201

    balances = [await balance(api, account) for account in accounts]

    assert balances == [550, 200, 250]
    assert sum(balances) == 1000
