"""``GET /v1/accounts?metadata[KEY]=VALUE``: exact matches AND-ed, stable pages whose
cursors serve only their filter, and malformed keys refused."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.helpers import Headers, assert_problem, new_client, open_account


async def ids(api: httpx.AsyncClient, owner: Headers, **params: Any) -> list[str]:
    response = await api.get("/v1/accounts", params=params, headers=owner)
    assert response.status_code == 200, response.text
    return [account["id"] for account in response.json()["data"]]


async def test_the_metadata_filter_keeps_exact_matches_of_every_key(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    retail = await open_account(api, owner, metadata={"segment": "retail", "region": "eu"})
    business = await open_account(api, owner, metadata={"segment": "business", "region": "eu"})
    plain = await open_account(api, owner)
    await open_account(api, stranger, metadata={"segment": "retail", "region": "eu"})

    assert await ids(api, owner) == [plain.id, business.id, retail.id]
    assert await ids(api, owner, **{"metadata[region]": "eu"}) == [business.id, retail.id]
    assert await ids(api, owner, **{"metadata[segment]": "retail"}) == [retail.id]
    both = {"metadata[segment]": "retail", "metadata[region]": "eu"}
    assert await ids(api, owner, **both) == [retail.id]
    assert await ids(api, owner, **{"metadata[segment]": "Retail"}) == []
    assert await ids(api, owner, **{"metadata[segment]": ""}) == []
    assert await ids(api, owner, **{"metadata[unknown]": "x"}) == []

    # A PATCH that changes an account's metadata changes what the filter finds.
    response = await api.patch(
        f"/v1/accounts/{plain.id}", json={"metadata": {"region": "eu"}}, headers=owner
    )
    assert response.status_code == 200, response.text
    response = await api.patch(
        f"/v1/accounts/{retail.id}", json={"metadata": {"region": None}}, headers=owner
    )
    assert response.status_code == 200, response.text
    assert await ids(api, owner, **{"metadata[region]": "eu"}) == [plain.id, business.id]


async def test_pages_of_a_filtered_list_and_their_cursors(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    tagged = [(await open_account(api, owner, metadata={"team": "a"})).id for _ in range(5)]
    await open_account(api, owner)
    filters = {"metadata[team]": "a"}

    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, **filters}
        if cursor is not None:
            params["after"] = cursor
        response = await api.get("/v1/accounts", params=params, headers=owner)
        assert response.status_code == 200, response.text
        page = response.json()
        seen += [account["id"] for account in page["data"]]
        if page["next_cursor"] is None:
            break
        if cursor is None:
            first_cursor = page["next_cursor"]
        cursor = page["next_cursor"]

    assert seen == list(reversed(tagged))
    for changed in ({}, {"metadata[team]": "b"}, {"metadata[team]": "a", "metadata[x]": "y"}):
        response = await api.get(
            "/v1/accounts", params={"after": first_cursor, **changed}, headers=owner
        )
        assert_problem(response, 422, "validation_error")


async def test_malformed_metadata_filters_are_refused(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    for query in (
        "metadata[bad%20key]=x",
        "metadata[]=x",
        f"metadata[{'k' * 41}]=x",
        "metadata[ok]=%00",
        "metadata[ok]=1&metadata[ok]=2",
        "metadata=x",
        "metadata[ok=x",
        "segment=retail",
    ):
        response = await api.get(f"/v1/accounts?{query}", headers=owner)
        assert_problem(response, 422, "validation_error")
