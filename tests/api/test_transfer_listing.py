"""``GET /v1/transfers``: the transfers a caller owns either side of, newest first, kept
by account, kind and metadata, a page at a time."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import (
    Account,
    assert_problem,
    deposit,
    funded_account,
    new_client,
    open_account,
    transfer_body,
    unknown_id,
)


async def move(
    api: httpx.AsyncClient, source: Account, destination: Account, amount: int, **fields: Any
) -> dict[str, Any]:
    response = await api.post(
        "/v1/transfers",
        json=transfer_body(source, destination, amount, **fields),
        headers=source.owner,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def withdraw(api: httpx.AsyncClient, account: Account, amount: int) -> dict[str, Any]:
    response = await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": amount, "currency": "USD"},
        headers=account.owner,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def listed(
    api: httpx.AsyncClient, owner: dict[str, str], **params: Any
) -> list[dict[str, Any]]:
    response = await api.get("/v1/transfers", params=params, headers=owner)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    data: list[dict[str, Any]] = response.json()["data"]
    return data


async def ids(api: httpx.AsyncClient, owner: dict[str, str], **params: Any) -> list[str]:
    return [transfer["id"] for transfer in await listed(api, owner, **params)]


async def test_a_caller_sees_the_transfers_it_owns_either_side_of_newest_first(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    other = await new_client(api, "other")
    mine = await open_account(api, owner)
    spare = await open_account(api, owner)
    theirs = await funded_account(api, other, 1_000)
    funded = await deposit(api, mine, 500)
    inside = await move(api, mine, spare, 100)
    incoming = await move(api, theirs, mine, 50)
    outgoing = await move(api, mine, theirs, 20)
    paid_out = await withdraw(api, spare, 30)
    between_theirs = await move(api, theirs, await open_account(api, other), 10)

    shown = await listed(api, owner)

    assert [t["id"] for t in shown] == [
        paid_out["id"],
        outgoing["id"],
        incoming["id"],
        inside["id"],
        funded["id"],
    ]
    for transfer in shown:  # each exactly as a read of it shows it to this caller
        one = await api.get(f"/v1/transfers/{transfer['id']}", headers=owner)
        assert transfer == one.json()
    by_id = {transfer["id"]: transfer for transfer in shown}
    assert (by_id[funded["id"]]["source_account_id"], by_id[funded["id"]]["kind"]) == (
        None,
        "deposit",
    )
    assert by_id[paid_out["id"]]["destination_account_id"] is None
    assert by_id[incoming["id"]]["source_balance_after"] is None  # the other's balance
    assert by_id[incoming["id"]]["destination_balance_after"] == 450
    assert by_id[outgoing["id"]]["destination_balance_after"] is None
    their_deposit = await ids(api, other, kind="deposit")
    assert len(their_deposit) == 1
    assert await ids(api, other) == [
        between_theirs["id"],
        outgoing["id"],
        incoming["id"],
        *their_deposit,
    ]
    assert await ids(api, await new_client(api, "new")) == []


async def test_each_filter_keeps_its_transfers_and_filters_combine_with_and(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    first = await funded_account(api, owner, 10_000)
    second = await open_account(api, owner)
    third = await open_account(api, owner)
    card = await move(api, first, second, 1, metadata={"channel": "card", "shop": "7"})
    wire = await move(api, first, third, 2, metadata={"channel": "wire"})
    other_shop = await move(api, second, third, 1, metadata={"channel": "card", "shop": "8"})
    out = await withdraw(api, third, 1)
    initial = (await ids(api, owner, kind="deposit"))[0]

    assert await ids(api, owner, kind="transfer") == [other_shop["id"], wire["id"], card["id"]]
    assert await ids(api, owner, kind="withdrawal") == [out["id"]]
    assert await ids(api, owner, kind="capture") == []
    assert await ids(api, owner, account_id=second.id) == [other_shop["id"], card["id"]]
    assert await ids(api, owner, account_id=first.id) == [wire["id"], card["id"], initial]
    assert await ids(api, owner, account_id=third.id, kind="withdrawal") == [out["id"]]
    assert await ids(api, owner, **{"metadata[channel]": "card"}) == [
        other_shop["id"],
        card["id"],
    ]
    assert await ids(api, owner, **{"metadata[channel]": "card", "metadata[shop]": "7"}) == [
        card["id"]
    ]
    assert await ids(api, owner, **{"metadata[channel]": "card", "metadata[shop]": "9"}) == []
    assert await ids(api, owner, **{"metadata[channel]": "Card"}) == []  # exact match
    assert await ids(api, owner, **{"metadata[shop]": ""}) == []
    assert await ids(
        api, owner, account_id=third.id, kind="transfer", **{"metadata[channel]": "card"}
    ) == [other_shop["id"]]
    assert await ids(api, owner, account_id=first.id, **{"metadata[channel]": "wire"}) == [
        wire["id"]
    ]


async def test_pages_are_stable_and_a_cursor_serves_only_its_filters(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    other = await new_client(api, "other")
    source = await funded_account(api, owner, 10_000)
    payee = await open_account(api, owner)
    made = [await move(api, source, payee, n, metadata={"batch": "a"}) for n in range(1, 6)]
    newest_first = [transfer["id"] for transfer in reversed(made)]
    filters: dict[str, Any] = {"kind": "transfer", "metadata[batch]": "a"}

    seen: list[str] = []
    cursors: list[str] = []
    params: dict[str, Any] = {"limit": 2, **filters}
    while True:
        response = await api.get("/v1/transfers", params=params, headers=owner)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [transfer["id"] for transfer in page["data"]]
        if page["next_cursor"] is None:
            break
        cursors.append(page["next_cursor"])
        if len(cursors) == 1:  # a newer transfer does not shift the pages after the first
            await move(api, source, payee, 9, metadata={"batch": "a"})
        params = {"limit": 2, "after": page["next_cursor"], **filters}

    assert seen == newest_first
    assert len(cursors) == 2
    for changed in (
        {"kind": "transfer"},
        {"metadata[batch]": "a"},
        {"kind": "transfer", "metadata[batch]": "b"},
        {"kind": "deposit", "metadata[batch]": "a"},
        {**filters, "account_id": source.id},
    ):
        response = await api.get(
            "/v1/transfers", params={"after": cursors[0], **changed}, headers=owner
        )
        assert_problem(response, 422, "validation_error")
    response = await api.get(
        "/v1/transfers", params={"after": cursors[0], **filters}, headers=other
    )
    assert_problem(response, 422, "validation_error")
    forged = cursors[0][:-2] + ("AA" if not cursors[0].endswith("AA") else "BB")
    response = await api.get("/v1/transfers", params={"after": forged, **filters}, headers=owner)
    assert_problem(response, 422, "validation_error")


async def test_bad_parameters_are_refused_and_another_clients_account_does_not_exist(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    theirs = await funded_account(api, stranger, 100)

    for query in (
        "kind=pending",
        "kind=TRANSFER",
        "account_id=not-a-uuid",
        "limit=0",
        "limit=201",
        "after=forged",
        "metadata[bad%20key]=x",
        "metadata[]=x",
        f"metadata[{'k' * 41}]=x",
        "metadata[a]b]=x",
        "metadata[ok]=%00",
        "metadata[ok]=1&metadata[ok]=2",
        "metadata=x",
        "metadata[ok=x",
        "meta[ok]=x",
        "status=posted",
    ):
        response = await api.get(f"/v1/transfers?{query}", headers=owner)
        assert_problem(response, 422, "validation_error")
    for account_id in (theirs.id, unknown_id()):
        response = await api.get("/v1/transfers", params={"account_id": account_id}, headers=owner)
        assert_problem(response, 404, "account_not_found")
    for invalid in ("kind=pending", "metadata[bad%20key]=x"):  # validation comes first
        response = await api.get(f"/v1/transfers?account_id={theirs.id}&{invalid}", headers=owner)
        assert_problem(response, 422, "validation_error")
    # Other routes still take no metadata[...] parameter.
    response = await api.get("/v1/holds?metadata[ok]=x", headers=owner)
    assert_problem(response, 422, "validation_error")
