"""``/v1/batches``: atomic and independent batches over HTTP, their bodies, refusals with
``failed_index``, validation of the whole body first, idempotency, reads and tenancy."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.helpers import (
    CANONICAL_UUID,
    RFC3339_UTC,
    Account,
    Headers,
    assert_problem,
    funded_account,
    new_client,
    open_account,
    read,
    transfer_body,
    unchanged,
    unknown_id,
    with_key,
)


async def three(api: httpx.AsyncClient) -> tuple[Account, Account, Account]:
    owner = await new_client(api)
    return (
        await funded_account(api, owner, 100),
        await open_account(api, owner),
        await open_account(api, owner),
    )


async def submit(
    api: httpx.AsyncClient, owner: Headers, *items: dict[str, Any], **fields: Any
) -> httpx.Response:
    return await api.post("/v1/batches", json={"transfers": list(items), **fields}, headers=owner)


async def test_an_atomic_batch_answers_201_with_each_transfer_in_order(
    api: httpx.AsyncClient,
) -> None:
    a, b, c = await three(api)

    response = await submit(
        api,
        a.owner,
        transfer_body(a, b, 100, description="in", metadata={"leg": "1"}),
        transfer_body(b, c, 60),
        metadata={"order": "4711"},
    )

    assert response.status_code == 201, response.text
    batch = response.json()
    assert set(batch) == {"id", "atomic", "transfers", "metadata", "created_at"}
    assert CANONICAL_UUID.fullmatch(batch["id"])
    assert RFC3339_UTC.fullmatch(batch["created_at"])
    assert (batch["atomic"], batch["metadata"]) == (True, {"order": "4711"})
    first, second = batch["transfers"]
    assert (first["amount"], first["source_balance_after"], first["destination_balance_after"]) == (
        100,
        0,
        100,
    )
    assert (first["description"], first["metadata"]) == ("in", {"leg": "1"})
    assert (second["source_balance_after"], second["destination_balance_after"]) == (40, 60)
    assert {first["batch_id"], second["batch_id"]} == {batch["id"]}
    assert {first["kind"], second["kind"]} == {"transfer"}
    assert [(await read(api, x))["balance"] for x in (a, b, c)] == [0, 40, 60]
    # A transfer read on its own is the one the batch answered.
    alone = await api.get(f"/v1/transfers/{second['id']}", headers=a.owner)
    assert alone.json() == second
    # And the batch reads back as the POST answered it.
    again = await api.get(f"/v1/batches/{batch['id']}", headers=a.owner)
    assert (again.status_code, again.json()) == (200, batch)


async def test_the_first_refused_item_answers_its_problem_with_failed_index(
    api: httpx.AsyncClient,
) -> None:
    a, b, c = await three(api)

    async with unchanged(api, a, b, c):
        response = await submit(
            api,
            a.owner,
            transfer_body(a, b, 50),
            transfer_body(b, c, 60),
            transfer_body(a, unknown_id(), 1),
        )
        problem = assert_problem(response, 422, "insufficient_funds")
        assert problem["failed_index"] == 1

        response = await submit(
            api, a.owner, transfer_body(a, b, 1), transfer_body(a, unknown_id(), 1)
        )
        assert assert_problem(response, 404, "account_not_found")["failed_index"] == 1

    listed = await api.get("/v1/transfers", params={"account_id": b.id}, headers=a.owner)
    assert listed.json()["data"] == []


async def test_an_independent_batch_answers_200_with_each_items_result(
    api: httpx.AsyncClient,
) -> None:
    a, b, c = await three(api)

    response = await submit(
        api,
        a.owner,
        transfer_body(a, b, 70),
        transfer_body(a, c, 70),
        transfer_body(a, unknown_id(), 1),
        transfer_body(a, c, 30),
        atomic=False,
    )

    assert response.status_code == 200, response.text
    batch = response.json()
    assert set(batch) == {"id", "atomic", "results", "metadata", "created_at"}
    assert batch["atomic"] is False
    statuses = [result["status"] for result in batch["results"]]
    assert statuses == [201, 422, 404, 201]
    assert batch["results"][1]["error"]["code"] == "insufficient_funds"
    assert batch["results"][1]["error"]["status"] == 422
    assert set(batch["results"][1]["error"]) == {"type", "title", "status", "detail", "code"}
    assert batch["results"][2]["error"]["code"] == "account_not_found"
    assert batch["results"][3]["transfer"]["batch_id"] == batch["id"]
    assert [(await read(api, x))["balance"] for x in (a, b, c)] == [0, 70, 30]
    again = await api.get(f"/v1/batches/{batch['id']}", headers=a.owner)
    assert (again.status_code, again.json()) == (200, batch)


@pytest.mark.parametrize(
    "body",
    [
        {"transfers": []},
        {},
        {"transfers": "no"},
        {"transfers": [{"amount": 1}]},
        {"atomic": "yes", "transfers": []},
        {"atomic": 1, "transfers": []},
        {"transfers": [], "extra": 1},
        {"transfers": [], "metadata": {"k": 1}},
        {"transfers": [], "metadata": ["a"]},
    ],
)
async def test_a_malformed_batch_is_a_validation_error(
    api: httpx.AsyncClient, body: dict[str, Any]
) -> None:
    a, b, _ = await three(api)
    if body.get("transfers") == []:
        body = {**body, "transfers": [transfer_body(a, b, 1)]} if len(body) > 1 else body
    async with unchanged(api, a, b):
        response = await api.post("/v1/batches", json=body, headers=a.owner)
        problem = assert_problem(response, 422, "validation_error")
    assert "failed_index" not in problem


async def test_an_invalid_item_anywhere_or_101_items_applies_nothing(
    api: httpx.AsyncClient,
) -> None:
    a, b, c = await three(api)
    good = transfer_body(a, b, 1)
    bad_items = [
        transfer_body(a, c, 0),
        transfer_body(a, c, 1, currency="usd"),
        transfer_body(a, c, 1, metadata={"k": "x" * 501}),
        transfer_body(a, c, 1, metadata={"k": "\u0000"}),
        transfer_body(a, c, 1, metadata={"bad key": "v"}),
        transfer_body(a, c, 1, metadata={"k": 5}),
        transfer_body(a, c, 1, unknown_field=True),
        transfer_body("not-a-uuid", c, 1),
    ]
    async with unchanged(api, a, b, c):
        for bad in bad_items:
            response = await submit(api, a.owner, good, good, bad, atomic=False)
            problem = assert_problem(response, 422, "validation_error")
            assert "failed_index" not in problem, bad
        response = await submit(api, a.owner, *[good] * 101)
        assert_problem(response, 422, "validation_error")
        response = await submit(api, a.owner)
        assert_problem(response, 422, "validation_error")
    response = await submit(api, a.owner, *[good] * 100)
    assert response.status_code == 201, response.text
    assert len(response.json()["transfers"]) == 100


async def test_a_key_replays_the_batch_and_its_refusal(api: httpx.AsyncClient) -> None:
    a, b, c = await three(api)
    items = [transfer_body(a, b, 10), transfer_body(a, c, 10)]
    keyed = with_key(a.owner, "batch-1")

    first = await api.post("/v1/batches", json={"transfers": items}, headers=keyed)
    second = await api.post("/v1/batches", json={"transfers": items}, headers=keyed)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert second.headers["idempotent-replayed"] == "true"
    assert [(await read(api, x))["balance"] for x in (a, b, c)] == [80, 10, 10]
    reused = await api.post(
        "/v1/batches", json={"transfers": items, "atomic": False}, headers=keyed
    )
    assert_problem(reused, 422, "idempotency_key_reused")

    refused_items = {"transfers": [transfer_body(a, b, 1), transfer_body(a, b, 10_000)]}
    refused_key = with_key(a.owner, "batch-2")
    for replayed in (False, True):
        response = await api.post("/v1/batches", json=refused_items, headers=refused_key)
        assert assert_problem(response, 422, "insufficient_funds")["failed_index"] == 1
        assert ("idempotent-replayed" in response.headers) is replayed
    assert [(await read(api, x))["balance"] for x in (a, b, c)] == [80, 10, 10]


async def test_only_the_batchs_client_reads_it_and_payees_see_their_transfers(
    api: httpx.AsyncClient,
) -> None:
    a, b, _ = await three(api)
    other = await new_client(api)
    payee = await open_account(api, other)
    response = await submit(api, a.owner, transfer_body(a, b, 1), transfer_body(a, payee, 2))
    batch = response.json()

    for path in (f"/v1/batches/{batch['id']}", f"/v1/batches/{unknown_id()}", "/v1/batches/x"):
        assert_problem(await api.get(path, headers=other), 404, "batch_not_found")
    paid = await api.get(f"/v1/transfers/{batch['transfers'][1]['id']}", headers=other)
    assert paid.status_code == 200
    assert (paid.json()["batch_id"], paid.json()["source_balance_after"]) == (batch["id"], None)
    assert batch["transfers"][1]["destination_balance_after"] is None
