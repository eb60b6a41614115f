"""``GET /v1/accounts/{id}/balance``: the balance now, and at a moment in the past."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import httpx

from tests.api.helpers import (
    Account,
    assert_problem,
    deposit,
    entries,
    new_client,
    open_account,
    place_hold,
    unknown_id,
)

BALANCE_FIELDS = {"account_id", "currency", "balance", "held", "available", "as_of", "entry_id"}


async def balance_at(api: httpx.AsyncClient, account: Account, as_of: str) -> httpx.Response:
    return await api.get(
        f"/v1/accounts/{account.id}/balance", params={"as_of": as_of}, headers=account.owner
    )


def text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


async def withdraw(api: httpx.AsyncClient, account: Account, amount: int) -> None:
    response = await api.post(
        f"/v1/accounts/{account.id}/withdrawals",
        json={"amount": amount, "currency": "USD"},
        headers=account.owner,
    )
    assert response.status_code == 201, response.text


async def test_the_balance_now_shows_held_available_and_the_newest_entry(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner, "JPY", overdraft_limit=50)
    payee = await open_account(api, owner, "JPY")
    empty = await api.get(f"/v1/accounts/{account.id}/balance", headers=owner)
    await deposit(api, account, 1000)
    await place_hold(api, account, payee, 300, currency="JPY")

    response = await api.get(f"/v1/accounts/{account.id}/balance", headers=owner)

    assert response.status_code == 200, response.text
    assert set(response.json()) == BALANCE_FIELDS
    assert response.json() == {
        "account_id": account.id,
        "currency": "JPY",
        "balance": 1000,
        "held": 300,
        "available": 750,
        "as_of": None,
        "entry_id": (await entries(api, account))[0]["id"],
    }
    assert empty.json() == {
        **response.json(),
        "balance": 0,
        "held": 0,
        "available": 50,
        "entry_id": None,
    }


async def test_as_of_answers_the_balance_after_the_newest_entry_at_or_before_it(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    opened = datetime.now(UTC)
    # Apart in time, so that each entry has its own moment.
    await asyncio.sleep(0.01)
    await deposit(api, account, 500)
    await asyncio.sleep(0.01)
    await withdraw(api, account, 200)
    await asyncio.sleep(0.01)
    await deposit(api, account, 50)
    newest_first = await entries(api, account)
    assert [entry["balance_after"] for entry in newest_first] == [350, 300, 500]

    for entry in newest_first:
        response = await balance_at(api, account, entry["created_at"])
        assert response.status_code == 200, response.text
        assert response.json() == {
            "account_id": account.id,
            "currency": "USD",
            "balance": entry["balance_after"],
            "held": None,
            "available": None,
            "as_of": entry["created_at"],
            "entry_id": entry["id"],
        }
        just_before = datetime.fromisoformat(entry["created_at"]) - timedelta(microseconds=1)
        earlier = (await balance_at(api, account, text(just_before))).json()
        assert earlier["entry_id"] != entry["id"]
    before_any = (await balance_at(api, account, text(opened))).json()
    assert (before_any["balance"], before_any["entry_id"]) == (0, None)
    assert before_any["as_of"] == text(opened)
    now = (await balance_at(api, account, text(datetime.now(UTC)))).json()
    assert (now["balance"], now["entry_id"]) == (350, newest_first[0]["id"])


async def test_as_of_takes_any_offset_and_answers_in_utc(api: httpx.AsyncClient) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    await deposit(api, account, 700)
    entry = (await entries(api, account))[0]
    created = datetime.fromisoformat(entry["created_at"])
    plus_two = created.astimezone(timezone(timedelta(hours=2))).isoformat()
    lower_case = entry["created_at"].replace("T", "t").replace("Z", "z")

    for spelling in (plus_two, lower_case):
        response = await balance_at(api, account, spelling)
        assert response.status_code == 200, (spelling, response.text)
        assert response.json()["as_of"] == entry["created_at"]
        assert (response.json()["balance"], response.json()["entry_id"]) == (700, entry["id"])


async def test_a_malformed_naive_or_future_as_of_is_a_validation_error(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    account = await open_account(api, owner)
    await deposit(api, account, 10)
    future = datetime.now(UTC) + timedelta(minutes=5)

    for as_of in (
        "",
        "yesterday",
        "2026-11-24",
        "2026-11-24T09:30:00",  # no offset: no instant
        "2026-11-24T09:30:00.123456",
        "2026-11-24 09:30:00Z",
        "2026-11-24T09:30Z",
        "2026-02-30T00:00:00Z",
        "2026-11-24T25:00:00Z",
        "2026-11-24T09:30:00+0100",
        "1700000000",
        text(future),
    ):
        assert_problem(await balance_at(api, account, as_of), 422, "validation_error")


async def test_another_clients_or_an_unknown_account_has_no_balance(
    api: httpx.AsyncClient,
) -> None:
    owner = await new_client(api)
    stranger = await new_client(api, "other")
    account = await open_account(api, owner)
    await deposit(api, account, 10)

    for account_id in (account.id, unknown_id(), "not-an-id"):
        for params in ({}, {"as_of": text(datetime.now(UTC))}):
            response = await api.get(
                f"/v1/accounts/{account_id}/balance", params=params, headers=stranger
            )
            assert_problem(response, 404, "account_not_found")
