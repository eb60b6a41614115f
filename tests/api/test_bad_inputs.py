"""Bodies docs/api.md calls invalid: each is a 422 ``validation_error`` and moves nothing."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.api.helpers import (
    ADMIN,
    Account,
    assert_problem,
    funded_account,
    json_body,
    new_client,
    open_account,
    unchanged,
)

OMIT = object()

BAD_AMOUNTS: list[Any] = [
    0,
    -1,
    10.5,
    10.0,
    "100",
    True,
    False,
    None,
    10**15 + 1,
    10**30,
    [100],
    {"value": 100},
    OMIT,
]
BAD_CURRENCIES: list[Any] = [
    "usd",
    "Usd",
    "XYZ",
    "XAU",
    "XXX",
    "XTS",
    "",
    "US",
    "USDD",
    " USD",
    840,
    None,
    OMIT,
]
BAD_TEXTS: list[Any] = ["x" * 257, "nul\u0000byte", "lone \ud800 surrogate", "\udfff", 42, ["a"]]
BAD_IDS: list[Any] = [
    "3F2504E0-4F89-11D3-9A0C-0305E82C3301",  # upper case is not canonical
    "3f2504e04f8911d39a0c0305e82c3301",
    "{3f2504e0-4f89-11d3-9a0c-0305e82c3301}",
    "abc",
    "",
    123,
    None,
    OMIT,
]
MALFORMED_JSON = [
    b"",
    b"{",
    b"{not json}",
    b'{"amount": 5, "currency": "USD"',
    b'{"amount": 5, "currency": "USD"} trailing',
    b'{"amount": 1e3, "currency": "USD"}',
    b'{"amount": NaN, "currency": "USD"}',
    b'{"amount": Infinity, "currency": "USD"}',
    b"[]",
    b'[{"amount": 5, "currency": "USD"}]',
    b'"a string"',
    b"42",
    b"null",
    b"\xff\xfe{}",
    b'{"amount": 5, "currency": "USD", "description": "\xff"}',
]


def body_with(base: dict[str, Any], field: str, value: Any) -> dict[str, Any]:
    changed = dict(base)
    if value is OMIT:
        del changed[field]
    else:
        changed[field] = value
    return changed


def money_bodies() -> list[dict[str, Any]]:
    base = {"amount": 5, "currency": "USD", "description": "ok"}
    return [
        *(body_with(base, "amount", value) for value in BAD_AMOUNTS),
        *(body_with(base, "currency", value) for value in BAD_CURRENCIES),
        *(body_with(base, "description", value) for value in BAD_TEXTS),
        {**base, "unknown": 1},
        {**base, "Amount": 5},
        {**base, "source_account_id": None},
        {},
    ]


def transfer_bodies(source: Account, destination: Account) -> list[dict[str, Any]]:
    base = {
        "source_account_id": source.id,
        "destination_account_id": destination.id,
        "amount": 5,
        "currency": "USD",
    }
    return [
        *(body_with(base, "amount", value) for value in BAD_AMOUNTS),
        *(body_with(base, "currency", value) for value in BAD_CURRENCIES),
        *(body_with(base, "description", value) for value in BAD_TEXTS),
        *(body_with(base, "source_account_id", value) for value in BAD_IDS),
        *(body_with(base, "destination_account_id", value) for value in BAD_IDS),
        {**base, "source_account_id": source.id.upper()},
        {**base, "kind": "deposit"},
        {**base, "status": "posted"},
    ]


async def two_accounts(api: httpx.AsyncClient) -> tuple[Account, Account]:
    owner = await new_client(api)
    return await funded_account(api, owner, 100), await funded_account(api, owner, 100)


async def test_invalid_deposit_and_withdrawal_bodies_are_422_and_move_nothing(
    api: httpx.AsyncClient,
) -> None:
    account, other = await two_accounts(api)
    async with unchanged(api, account, other):
        for movement in ["deposits", "withdrawals"]:
            for body in money_bodies():
                response = await api.post(
                    f"/v1/accounts/{account.id}/{movement}", **json_body(body, account.owner)
                )
                assert response.status_code == 422, (movement, body, response.text)
                assert_problem(response, 422, "validation_error")


async def test_invalid_transfer_bodies_are_422_and_move_nothing(api: httpx.AsyncClient) -> None:
    source, destination = await two_accounts(api)
    async with unchanged(api, source, destination):
        for body in transfer_bodies(source, destination):
            response = await api.post("/v1/transfers", **json_body(body, source.owner))
            assert response.status_code == 422, (body, response.text)
            assert_problem(response, 422, "validation_error")


async def test_malformed_json_and_bodies_that_are_not_objects_are_422(
    api: httpx.AsyncClient,
) -> None:
    source, destination = await two_accounts(api)
    paths = [
        "/v1/accounts",
        f"/v1/accounts/{source.id}/deposits",
        f"/v1/accounts/{source.id}/withdrawals",
        "/v1/transfers",
    ]
    async with unchanged(api, source, destination):
        for path in paths:
            for content in MALFORMED_JSON:
                response = await api.post(
                    path,
                    content=content,
                    headers={**source.owner, "Content-Type": "application/json"},
                )
                assert response.status_code == 422, (path, content, response.text)
                assert_problem(response, 422, "validation_error")
    accounts = (await api.get("/v1/accounts", headers=source.owner)).json()["data"]
    assert len(accounts) == 2


async def test_invalid_account_openings_are_422_and_open_nothing(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    base = {"currency": "USD", "reference": "ok"}
    bodies = [
        *(body_with(base, "currency", value) for value in BAD_CURRENCIES),
        body_with(base, "reference", "r" * 129),
        body_with(base, "reference", "nul\u0000"),
        body_with(base, "reference", "\ud800"),
        body_with(base, "reference", 7),
        {**base, "balance": 100},
        {**base, "status": "active"},
        {**base, "owner_id": "x"},
    ]
    for body in bodies:
        response = await api.post("/v1/accounts", **json_body(body, owner))
        assert response.status_code == 422, (body, response.text)
        assert_problem(response, 422, "validation_error")

    assert (await api.get("/v1/accounts", headers=owner)).json()["data"] == []


async def test_invalid_client_creations_are_422_and_create_nothing(
    api: httpx.AsyncClient,
) -> None:
    for body in [
        {},
        {"name": ""},
        {"name": "n" * 65},
        {"name": None},
        {"name": 5},
        {"name": "nul\u0000"},
        {"name": "\ud800"},
        {"name": "acme", "api_key": "mine"},
        ["acme"],
    ]:
        response = await api.post("/v1/admin/clients", **json_body(body, ADMIN))
        assert response.status_code == 422, (body, response.text)
        assert_problem(response, 422, "validation_error")


async def test_lengths_count_code_points_not_bytes(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, reference="\U0001f4b6" * 128)
    fits = "\u00e9" * 256
    too_long = "\u00e9" * 257

    accepted = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 1, "currency": "USD", "description": fits},
        headers=owner,
    )
    refused = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        json={"amount": 1, "currency": "USD", "description": too_long},
        headers=owner,
    )
    named = await api.post("/v1/admin/clients", json={"name": "\u00e9" * 64}, headers=ADMIN)

    assert account.body["reference"] == "\U0001f4b6" * 128
    assert accepted.status_code == 201
    assert_problem(refused, 422, "validation_error")
    assert named.status_code == 201


async def test_a_validation_error_names_the_field_but_never_echoes_a_huge_value(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    secret = "s3cr3t-" * 5000

    response = await api.post(
        f"/v1/accounts/{account.id}/deposits",
        content=json.dumps(
            {"amount": 1, "currency": "USD", "description": secret[:60000]}
        ).encode(),
        headers={**owner, "Content-Type": "application/json"},
    )

    body = assert_problem(response, 422, "validation_error")
    assert "description" in body["detail"]
    assert "s3cr3t-s3cr3t-" not in response.text


async def test_unknown_or_repeated_query_parameters_are_422_and_change_nothing(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await funded_account(api, owner, 100)
    payee = await open_account(api, owner)
    move = {"amount": 5, "currency": "USD"}

    async with unchanged(api, account, payee):
        for method, path, query, body in [
            ("GET", "/v1/accounts", "limt=5", None),
            ("GET", "/v1/accounts", "limit=5&limit=6", None),
            ("GET", f"/v1/accounts/{account.id}", "fields=balance", None),
            ("GET", f"/v1/accounts/{account.id}/entries", "after=&after=", None),
            ("GET", f"/v1/accounts/{account.id}/balance", "asof=2026-01-01T00:00:00Z", None),
            ("GET", "/v1/holds", "state=active", None),
            ("GET", "/v1/holds", f"account_id={account.id}&account_id={payee.id}", None),
            ("POST", f"/v1/accounts/{account.id}/withdrawals", "amount=5", move),
            ("POST", f"/v1/accounts/{account.id}/freeze", "now=1", None),
            ("PATCH", f"/v1/accounts/{account.id}", "dry_run=1", {"overdraft_limit": 9}),
            ("POST", "/v1/accounts", "currency=USD", {"currency": "USD"}),
        ]:
            response = await api.request(method, f"{path}?{query}", json=body, headers=owner)
            assert_problem(response, 422, "validation_error")
    assert len((await api.get("/v1/accounts", headers=owner)).json()["data"]) == 2
