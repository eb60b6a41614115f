"""Keyset pages of accounts and entries: limits, cursors, stability."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.api.helpers import (
    Account,
    Headers,
    assert_problem,
    deposit,
    new_client,
    open_account,
)

LISTS = ["accounts", "entries"]


async def list_with_items(api: httpx.AsyncClient, kind: str, count: int) -> tuple[str, Headers]:
    """A list (path) of ``count`` items of one new client; its owner's headers."""
    owner = await new_client(api)
    if kind == "accounts":
        for _ in range(count):
            await open_account(api, owner)
        return "/v1/accounts", owner
    account = await open_account(api, owner)
    for amount in range(1, count + 1):
        await deposit(api, account, amount)
    return f"/v1/accounts/{account.id}/entries", owner


async def add_item(api: httpx.AsyncClient, path: str, owner: Headers) -> None:
    if path == "/v1/accounts":
        await open_account(api, owner)
    else:
        account_id = path.split("/")[3]
        await deposit(api, Account(account_id, owner, {"currency": "USD"}), 7)


async def get_page(
    api: httpx.AsyncClient, path: str, owner: Headers, **params: Any
) -> dict[str, Any]:
    response = await api.get(path, params=params, headers=owner)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    assert set(page) == {"data", "next_cursor"}
    return page


async def walk(api: httpx.AsyncClient, path: str, owner: Headers, limit: int) -> list[list[str]]:
    """Every page's item ids, following the cursors to the end."""
    pages, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor is not None:
            params["after"] = cursor
        page = await get_page(api, path, owner, **params)
        pages.append([item["id"] for item in page["data"]])
        cursor = page["next_cursor"]
        if cursor is None:
            return pages


async def test_a_page_holds_50_items_by_default(api: httpx.AsyncClient) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 51)

        first = await get_page(api, path, owner)
        rest = await get_page(api, path, owner, after=first["next_cursor"])

        assert len(first["data"]) == 50
        assert first["next_cursor"] is not None
        assert len(rest["data"]) == 1
        assert rest["next_cursor"] is None


async def test_next_cursor_is_null_exactly_when_no_further_items_exist(
    api: httpx.AsyncClient,
) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 4)

        assert [len(page) for page in await walk(api, path, owner, limit=2)] == [2, 2]
        assert [len(page) for page in await walk(api, path, owner, limit=3)] == [3, 1]
        assert [len(page) for page in await walk(api, path, owner, limit=4)] == [4]
        assert [len(page) for page in await walk(api, path, owner, limit=200)] == [4]


async def test_an_empty_list_is_one_page_without_a_cursor(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)

    assert await get_page(api, f"/v1/accounts/{account.id}/entries", owner) == {
        "data": [],
        "next_cursor": None,
    }
    other = await new_client(api, "nobody")
    assert await get_page(api, "/v1/accounts", other) == {"data": [], "next_cursor": None}


async def test_walking_the_pages_yields_every_item_once_newest_first(
    api: httpx.AsyncClient,
) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 7)
        everything = [item["id"] for item in (await get_page(api, path, owner))["data"]]

        pages = await walk(api, path, owner, limit=3)

        assert [item for page in pages for item in page] == everything
        assert len(set(everything)) == 7


async def test_items_added_after_the_first_page_never_shift_later_pages(
    api: httpx.AsyncClient,
) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 5)
        before = await walk(api, path, owner, limit=2)
        first = await get_page(api, path, owner, limit=2)

        await add_item(api, path, owner)
        await add_item(api, path, owner)
        second = await get_page(api, path, owner, limit=2, after=first["next_cursor"])
        third = await get_page(api, path, owner, limit=2, after=second["next_cursor"])

        assert [item["id"] for item in second["data"]] == before[1]
        assert [item["id"] for item in third["data"]] == before[2]
        assert third["next_cursor"] is None


async def test_a_limit_outside_1_to_200_is_422_never_clamped(api: httpx.AsyncClient) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 1)
        for limit in [
            "0",
            "201",
            "-1",
            "abc",
            "1.5",
            "",
            "1e2",
            "50x",
            "true",
            "99999999999999999999",
        ]:
            response = await api.get(path, params={"limit": limit}, headers=owner)
            assert response.status_code == 422, f"limit={limit!r}"
            assert_problem(response, 422, "validation_error")


async def test_limits_1_and_200_are_accepted(api: httpx.AsyncClient) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 2)

        assert len((await get_page(api, path, owner, limit=1))["data"]) == 1
        assert len((await get_page(api, path, owner, limit=200))["data"]) == 2


def forged(scope: str, position: list[Any]) -> str:
    raw = json.dumps({"s": scope, "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


GARBAGE_CURSORS = [
    "",
    "abc",
    "!!!!",
    "null",
    "eyJ9",  # base64 of an unfinished JSON object
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
    base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    forged("accounts:x", [1, "x"]),
    "é",
    "A" * 5000,
]


async def test_a_cursor_this_list_did_not_issue_is_422(api: httpx.AsyncClient) -> None:
    for kind in LISTS:
        path, owner = await list_with_items(api, kind, 3)
        for cursor in GARBAGE_CURSORS:
            response = await api.get(path, params={"limit": 1, "after": cursor}, headers=owner)
            assert_problem(response, 422, "validation_error")


async def test_a_cursor_of_another_list_is_422_not_a_page_of_this_one(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    first, second = await open_account(api, owner), await open_account(api, owner)
    for account in (first, second):
        for amount in (1, 2):
            await deposit(api, account, amount)
    accounts_cursor = (await get_page(api, "/v1/accounts", owner, limit=1))["next_cursor"]
    first_entries = f"/v1/accounts/{first.id}/entries"
    entries_cursor = (await get_page(api, first_entries, owner, limit=1))["next_cursor"]
    other = await new_client(api, "other")
    await open_account(api, other)
    await open_account(api, other)
    others_cursor = (await get_page(api, "/v1/accounts", other, limit=1))["next_cursor"]

    foreign = [
        (first_entries, accounts_cursor),
        ("/v1/accounts", entries_cursor),
        (f"/v1/accounts/{second.id}/entries", entries_cursor),
        ("/v1/accounts", others_cursor),
    ]
    for path, cursor in foreign:
        assert cursor is not None
        response = await api.get(path, params={"after": cursor}, headers=owner)
        assert_problem(response, 422, "validation_error")


def re_signed(cursor: str, position: list[Any]) -> str:
    """``cursor`` with its position replaced and its signature kept."""
    payload, _, mac = cursor.partition(".")
    content = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return f"{forged(content['s'], position)}.{mac}"


async def test_a_well_formed_cursor_the_service_did_not_sign_is_422(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    for amount in (1, 2, 3):
        await deposit(api, account, amount)
    path = f"/v1/accounts/{account.id}/entries"
    issued = (await get_page(api, path, owner, limit=1))["next_cursor"]
    assert issued is not None
    scope = f"entries:{account.id}"

    for cursor in [
        # Beyond a 32-bit version: once a 500 from the database, never a page.
        forged(scope, [2147483648]),
        forged(scope, [2**63]),
        forged(scope, [1]),  # in range and well formed, but never issued
        re_signed(issued, [1]),  # an issued cursor whose position was edited
        re_signed(issued, [2147483648]),
        f"{forged(scope, [1])}.{'A' * 22}",
    ]:
        response = await api.get(path, params={"after": cursor}, headers=owner)
        assert_problem(response, 422, "validation_error")

    assert len((await get_page(api, path, owner, after=issued))["data"]) == 2
